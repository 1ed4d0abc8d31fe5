"""`bench.targets.evaluate` judges issue 17's and issue 8's targets on result dicts: pass,
fail, and "not measured" (never pass) for sizes a run left out."""

from __future__ import annotations

from typing import Any

import pytest

from bench.common import summary
from bench.measure import floor
from bench.targets import LARGE_BYTES, evaluate

GIB = 1 << 30


def timing(median: float) -> dict[str, Any]:
    return summary([median * 0.9, median, median * 1.2])


def size(
    c: int,
    s: int,
    p: int,
    *,
    cel: bool = False,
    full: bool = True,
    cold: float = 10.0,
    cp: float = 5.0,
    json_s: float = 2.0,
    out_bytes: int = 100_000_000,
    rss: int = GIB,
    validate: float = 1.0,
    start: float = 0.05,
    explain: float = 0.2,
    output: float | None = None,
) -> dict[str, Any]:
    """One size's result as `bench/run.py` writes it, with the figures the targets read."""
    render: dict[str, Any] = {
        "cold": timing(cold),
        "cold_rss": rss,
        "helper_rss": 50 << 20,
        "cp": timing(cp),
        "files": 1000,
        "bytes": out_bytes,
        "bytes_by_top": {"clusters/": out_bytes - 1000, ".fleetc/": 1000},
    }
    if full:
        render |= {
            "unchanged": timing(cold / 10),
            "unchanged_rewritten": 0,
            "policy_change": timing(cold / 2),
            "policy_change_written": [7, 7, 7],
            "policy_change_removed": [0, 0, 0],
        }
    inproc = {"compile": timing(cold / 3), "serialize": timing(cold / 4), "json": timing(json_s)}
    if output is not None:
        inproc["output"] = timing(output)
    out: dict[str, Any] = {
        "size": {"clusters": c, "services": s, "policies": p, "cel": cel, "full": full},
        "render": render,
        "inproc": inproc,
        "floor": floor(render, inproc),
    }
    if full:
        pass_ = timing(start)
        out["validate"] = {
            "seconds": timing(validate),
            "python_pass": pass_,
            "ratio": {"median": validate / start, "min": validate / start},
        }
        out["explain"] = {
            "seconds": timing(explain),
            "ratio": {"median": explain / start, "min": explain / start},
        }
        out["diff"] = {"seconds": timing(cold)}
        out["kustomize"] = {"dirs": 10, "sampled": 10, "seconds": timing(cold * 2)}
    return out


def rows(sizes: list[dict[str, Any]], contoso: float | None = None) -> dict[str, dict[str, Any]]:
    results: dict[str, Any] = {"sizes": sizes}
    if contoso is not None:
        results["contoso_validate"] = {"ratio": {"median": contoso, "min": contoso}}
    return {r["target"]: r for r in evaluate(results)}


def judged(table: dict[str, dict[str, Any]], prefix: str) -> bool | None:
    (row,) = [r for name, r in table.items() if name.startswith(prefix) and r["judged"]]
    return row["ok"]  # type: ignore[no-any-return]


def test_nothing_run_is_not_measured_and_never_passes() -> None:
    table = rows([])
    assert all(r["ok"] is None for r in table.values())
    assert all(r["value"] == "-" for r in table.values() if r["judged"])
    assert any(name.startswith("4 output bytes") for name in table)
    assert any(name.startswith("5 render 511") for name in table)


@pytest.mark.parametrize(("large", "ok"), [(229, True), (230, True), (231, False), (330, False)])
def test_output_growth_is_judged_on_bytes_of_the_pair(large: int, ok: bool) -> None:
    small = size(128, 2500, 1000, full=False, out_bytes=100_000_000, cold=4.0)
    big = size(256, 5000, 2000, full=False, out_bytes=large * 1_000_000, cold=9.0)
    table = rows([small, big])
    assert judged(table, "4 output bytes") is ok
    time_row = table["4 cold render time, the same pair"]
    assert not time_row["judged"] and time_row["value"].startswith("2.25x")
    assert any(name.startswith("4   clusters/") for name in table)


def test_output_growth_needs_both_sizes_of_the_pair() -> None:
    # 255/5000/2000 is not 256/5000/2000: the pair is at equal density per cluster
    table = rows([size(128, 2500, 1000, full=False), size(255, 5000, 2000)])
    assert judged(table, "4 output bytes") is None


@pytest.mark.parametrize(("out", "ok"), [(10.0, True), (10.5, True), (10.6, False), (20.0, False)])
def test_the_output_phase_is_judged_against_cp_and_json_at_255(out: float, ok: bool) -> None:
    table = rows([size(255, 5000, 2000, cold=30.0, cp=5.0, json_s=2.0, output=out)])  # floor 7 s
    assert judged(table, "5 output phase 255/5000/2000 / floor") is ok
    whole = table["5   whole cold render (compile included) / floor"]
    assert not whole["judged"] and whole["value"].startswith("4.29x")  # 30 / 7, reported


def test_without_an_output_phase_figure_target_5_is_not_measured() -> None:
    table = rows([size(255, 5000, 2000, cold=1.0, cp=5.0, json_s=2.0)])
    assert judged(table, "5 output phase 255/5000/2000 / floor") is None


def test_floor_at_other_sizes_is_reported_not_judged() -> None:
    others = [size(100, 2000, 500, cold=50.0), size(255, 5000, 2000, cel=True, cold=50.0)]
    table = rows(others)
    assert judged(table, "5 output phase 255/5000/2000 / floor") is None
    reported = [r for name, r in table.items() if name.startswith("5 cold render 100/")]
    assert reported and not reported[0]["judged"] and reported[0]["ok"] is None


@pytest.mark.parametrize(
    ("cold", "rss", "time_ok", "rss_ok"),
    [
        (59.0, GIB, True, True),
        (61.0, GIB, False, True),
        (30.0, LARGE_BYTES - (10 << 20), True, False),  # the helper's 50 MiB tips it over
    ],
)
def test_large_render_time_and_memory(cold: float, rss: int, time_ok: bool, rss_ok: bool) -> None:
    table = rows([size(511, 20000, 5000, cold=cold, rss=rss)])
    assert judged(table, "5 render 511/20000/5000 time") is time_ok
    assert judged(table, "5 render 511/20000/5000 peak RSS") is rss_ok


def test_interactive_targets() -> None:
    passing = rows(
        [size(255, 5000, 2000, explain=0.4), size(511, 20000, 5000, validate=2.4)], contoso=4.9
    )
    assert judged(passing, "1 explain") is True
    assert judged(passing, "2 validate contoso") is True
    assert judged(passing, "3 validate 511") is True
    failing = rows(
        [size(255, 5000, 2000, explain=0.6), size(511, 20000, 5000, validate=2.6)], contoso=5.1
    )
    assert judged(failing, "1 explain") is False
    assert judged(failing, "2 validate contoso") is False
    assert judged(failing, "3 validate 511") is False
    # a render-only 511 (no validate measured) leaves target 3 not measured
    assert judged(rows([size(511, 20000, 5000, full=False)]), "3 validate 511") is None


def test_policy_change_rerender_is_reported_at_the_largest_full_size() -> None:
    table = rows([size(10, 200, 50, out_bytes=10), size(100, 2000, 500, out_bytes=1000)])
    row = table["6 one-policy re-render 100/2000/500 / cold"]
    assert not row["judged"] and row["value"].startswith("0.50x")
    assert table["6   files written"]["value"] == "7-7 of 1000 files"


def test_issue_8_targets_still_judged() -> None:
    table = rows([size(50, 500, 200, validate=1.0), size(255, 5000, 2000, cold=10.0)])
    assert judged(table, "validate 50/500/200") is True  # 20x start-up
    assert judged(table, "render 255/5000/2000 / kustomize") is True
    assert judged(table, "unchanged re-render writes") is True
    slow = size(255, 5000, 2000)
    slow["render"]["unchanged_rewritten"] = 3
    assert judged(rows([slow]), "unchanged re-render writes") is False
