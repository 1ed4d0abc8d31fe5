"""The targets of issue 8 judged on a `bench/run.py` result, and the table it prints.

A target whose fleet size was not part of the run (``--quick``, ``--only``) is reported as
not measured (``ok: None``), never as passed.
"""

from __future__ import annotations

from typing import Any

MIB = 1 << 20
VALIDATE_RATIO = 25.0
FLOOR_RATIO = 5.0
LARGE_SECONDS = 60.0
LARGE_BYTES = 2 << 30
RERENDER_SPEEDUP = 5.0
DIFF_RATIO = 2.5
LINEAR_GROWTH = 2.0  # in-process cost per output MB, larger output / smaller, >= 50 clusters


def _key(r: dict[str, Any]) -> tuple[int, int, int, bool]:
    s = r["size"]
    return s["clusters"], s["services"], s["policies"], s["cel"]


def _find(sizes: list[dict[str, Any]], key: tuple[int, int, int, bool]) -> dict[str, Any] | None:
    return next((r for r in sizes if _key(r) == key), None)


def _target(name: str, value: str, goal: str, ok: bool | None) -> dict[str, Any]:
    return {"target": name, "value": value, "goal": goal, "ok": ok}


def evaluate(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    r = _find(sizes, (50, 500, 200, False))
    out.append(
        _target(
            "validate 50/500/200 vs python -c pass",
            f"{r['validate']['ratio']:.1f}x" if r else "-",
            f"<= {VALIDATE_RATIO:g}x",
            r["validate"]["ratio"] <= VALIDATE_RATIO if r else None,
        )
    )
    r = _find(sizes, (255, 5000, 2000, False))
    kust = r["kustomize"]["seconds"] if r else None
    out.append(
        _target(
            "render 255/5000/2000 vs kustomize build",
            f"{r['render']['cold_s'] / kust:.2f}x" if r and kust else "-",
            "<= 1x",
            r["render"]["cold_s"] <= kust if r and kust else None,
        )
    )
    out.append(
        _target(
            "render 255/5000/2000 vs libyaml floor",
            f"{r['render']['cold_s'] / r['inproc']['floor_s']:.2f}x" if r else "-",
            f"<= {FLOOR_RATIO:g}x",
            r["render"]["cold_s"] <= FLOOR_RATIO * r["inproc"]["floor_s"] if r else None,
        )
    )
    r = _find(sizes, (511, 20000, 5000, False))
    out.append(
        _target(
            "render 511/20000/5000 time",
            f"{r['render']['cold_s']:.1f} s" if r else "-",
            f"<= {LARGE_SECONDS:g} s",
            r["render"]["cold_s"] <= LARGE_SECONDS if r else None,
        )
    )
    out.append(
        _target(
            "render 511/20000/5000 peak RSS (+ helper)",
            f"{peak(r) / MIB:.0f} MiB" if r else "-",
            f"<= {LARGE_BYTES // MIB} MiB",
            peak(r) <= LARGE_BYTES if r else None,
        )
    )
    # re-render and diff: judged at the largest size run (start-up dominates small fleets)
    biggest = max(sizes, key=lambda s: s["render"]["bytes"]) if sizes else None
    if biggest:
        rr = biggest["render"]
        label = _label(biggest)
        out.append(
            _target(
                f"unchanged re-render {label} speed-up",
                f"{rr['cold_s'] / rr['unchanged_s']:.1f}x",
                f">= {RERENDER_SPEEDUP:g}x",
                rr["cold_s"] >= RERENDER_SPEEDUP * rr["unchanged_s"],
            )
        )
        d = biggest["diff"]["seconds"]
        out.append(
            _target(
                f"diff {label} vs one cold render",
                f"{d / rr['cold_s']:.2f}x",
                f"<= {DIFF_RATIO:g}x",
                d <= DIFF_RATIO * rr["cold_s"],
            )
        )
    rewritten = sum(s["render"]["unchanged_rewritten"] for s in sizes)
    out.append(_target("unchanged re-render writes", f"{rewritten} files", "0", rewritten == 0))
    # Judged one way: the cost per MB may fall as fleets grow (more is shared between
    # clusters), it must not rise. Growth = the worst ratio of a larger output's cost per MB
    # to a smaller one's.
    ordered = sorted(
        (s for s in sizes if s["size"]["clusters"] >= 50 and not s["size"]["cel"]),
        key=lambda s: s["render"]["bytes"],
    )
    costs = [per_mb(s) for s in ordered]
    name = "linear: compile+serialize s/MB growth"
    if len(costs) >= 2:
        growth = max(
            costs[j] / costs[i] for i in range(len(costs)) for j in range(i + 1, len(costs))
        )
        ok = growth <= LINEAR_GROWTH
        out.append(_target(name, f"{growth:.2f}", f"<= {LINEAR_GROWTH:g}", ok))
    else:
        out.append(_target(name, "-", "", None))
    return out


def peak(r: dict[str, Any]) -> int:
    """A cold render's peak memory: fleetc's own plus its staging helper's."""
    return int(r["render"]["cold_rss"] + r["render"].get("helper_rss", 0))


def per_mb(r: dict[str, Any]) -> float:
    """In-process compile + serialize seconds per MB of output (start-up excluded)."""
    ip = r["inproc"]
    seconds = float(ip["compile_s"]) + float(ip["serialize_s"])
    return seconds / (float(r["render"]["bytes"]) / 1e6)


def _label(r: dict[str, Any]) -> str:
    s = r["size"]
    return f"{s['clusters']}/{s['services']}/{s['policies']}" + ("+cel" if s["cel"] else "")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(results: dict[str, Any]) -> str:
    cols = [
        ("fleet", 19),
        ("out MB", 7),
        ("files", 7),
        ("valid s", 7),
        ("cold s", 7),
        ("rss MiB", 7),
        ("again s", 7),
        ("diff s", 7),
        ("expl s", 7),
        ("load s", 7),
        ("q ms", 6),
        ("comp s", 7),
        ("ser s", 6),
        ("floor s", 8),
        ("kust s", 8),
        ("s/MB", 5),
    ]
    lines = [" ".join(f"{name:>{w}}" for name, w in cols)]
    notes = []
    for r in results["sizes"]:
        rr, ip, k = r["render"], r["inproc"], r["kustomize"]
        kust = _s(k["seconds"]) + ("*" if k["sampled"] and k["sampled"] < k["dirs"] else "")
        floor = _s(ip["floor_s"]) + ("*" if ip["floor_sampled"] else "")
        cells = [
            _label(r),
            f"{rr['bytes'] / 1e6:.1f}",
            str(rr["files"]),
            _s(r["validate"]["seconds"]["median"]),
            _s(rr["cold_s"]),
            f"{rr['cold_rss'] / MIB:.0f}",
            _s(rr["unchanged_s"]),
            _s(r["diff"]["seconds"]),
            _s(r["explain"]["seconds"]),
            _s(ip["explain_load_s"]),
            f"{ip['explain_query_s'] * 1000:.1f}",
            _s(ip["compile_s"]),
            _s(ip["serialize_s"]),
            floor,
            kust,
            f"{per_mb(r):.3f}",
        ]
        lines.append(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, cols, strict=True)))
        if k["sampled"] and k["sampled"] < k["dirs"]:
            notes.append(
                f"* {_label(r)}: kustomize built {k['sampled']} of {k['dirs']} cluster dirs"
                f" ({k['sample_s']:.2f} s), extrapolated by count"
            )
        if ip["floor_sampled"]:
            notes.append(f"* {_label(r)}: floor dumped a sample of objects, scaled by count")
        v = r["validate"]
        if "python_pass" in v:
            notes.append(
                f"validate {_label(r)}: median {v['seconds']['median']:.3f} s,"
                f" python -c pass median {v['python_pass']['median']:.3f} s"
            )
    lines += notes
    lines.append(
        "cold/again = render into an empty dir / unchanged re-render (subprocesses, start-up"
        " included); expl = explain subprocess; load/q = in-process check+resolve / one"
        " query; comp/ser = in-process compile / serialize; s/MB = (comp+ser) per output MB"
    )
    lines.append("")
    lines.append(f"{'target':<44} {'value':>12} {'goal':>12}  ok")
    for t in results["targets"]:
        ok = {True: "pass", False: "FAIL", None: "not measured"}[t["ok"]]
        lines.append(f"{t['target']:<44} {t['value']:>12} {t['goal']:>12}  {ok}")
    lines.append(
        f"commit {results['commit']}, python {results['python']}, {results['cpus']} cpus,"
        f" load {results['loadavg_before'][0]:.2f} -> {results['loadavg_after'][0]:.2f},"
        f" wall {results['wall_s']:.0f} s"
    )
    return "\n".join(lines)
