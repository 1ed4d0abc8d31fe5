"""The benchmark machinery on tiny fleets, so `make bench` cannot rot between full runs.

Runs `bench/run.py` end to end on a 3-cluster fleet (every measurement, the targets, the
table, the JSON) and `bench.measure.render` alone, looking at the directories it keeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import measure, run
from bench.common import frozen_code, tree_bytes
from bench.fleetgen import generate

pytestmark = pytest.mark.slow


def test_run_measures_a_tiny_fleet_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--only", "3/12/6", "--repeat", "3", "--kustomize", "1"]
    status = run.main([*argv, "--results", str(tmp_path), "--label", "t"])
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "run-t.json").read_text())
    (r,) = results["sizes"]
    assert r["size"]["clusters"] == 3 and results["repeat"] == 3
    render = r["render"]
    for timing in (
        render["cold"],
        render["cp"],
        render["unchanged"],
        render["policy_change"],
        r["inproc"]["json"],
        r["validate"]["python_pass"],
        r["explain"]["seconds"],
        r["diff"]["seconds"],
        results["contoso_validate"]["seconds"],
    ):
        assert len(timing["runs"]) == 3 and timing["min"] <= timing["median"] <= timing["max"]
    assert render["unchanged_rewritten"] == 0
    assert all(n > 0 for n in render["policy_change_written"])
    assert max(render["policy_change_written"]) < render["files"]
    assert sum(render["bytes_by_top"].values()) == render["bytes"]
    assert "clusters/" in render["bytes_by_top"] and ".fleetc/" in render["bytes_by_top"]
    assert r["inproc"]["distinct_objects"] <= r["inproc"]["objects"]
    assert r["floor"]["seconds"]["median"] > 0
    # the targets of sizes not run are not measured; the exit status follows the FAILs
    targets = {t["target"]: t for t in results["targets"]}
    assert targets["4 output bytes 256/5000/2000 / 128/2500/1000"]["ok"] is None
    assert targets["5 output phase 255/5000/2000 / floor"]["ok"] is None
    assert r["inproc"]["output"]["median"] > 0 and "output_ratio" in r["floor"]
    assert status == (1 if any(t["ok"] is False for t in results["targets"]) else 0)
    assert "not measured" in printed and "5 cold render 3/12/6 / floor" in printed


def test_render_keeps_every_tree_and_copies_what_it_wrote(tmp_path: Path) -> None:
    env = frozen_code(tmp_path)
    text = generate(3, 12, 6, seed=0)
    figures = measure.render(tmp_path, text, env, repeat=3, full=False)
    trees = [tmp_path / f"cold-{i}" / "rendered" for i in (1, 2, 3)]
    copies = [tmp_path / f"copy-{i}" for i in (1, 2, 3)]
    assert all(t.is_dir() for t in trees + copies)  # nothing deleted during the run
    assert {tuple(tree_bytes(t).items()) for t in trees + copies} == {
        tuple(figures["bytes_by_top"].items())
    }
    assert "unchanged" not in figures and len(figures["cold"]["runs"]) == 3


def test_sizes_parse_and_the_targets_selection_holds_the_judged_sizes() -> None:
    assert run.parse_size("255/5000/2000") == run.Size(255, 5000, 2000)
    assert run.parse_size("128/2500/1000").full is False
    assert run.parse_size("7/30/9+cel") == run.Size(7, 30, 9, cel=True)
    with pytest.raises(Exception, match="not a size"):
        run.parse_size("255")
    labels = {s.label for s in run.TARGETS}
    assert labels == {"128/2500/1000", "256/5000/2000", "255/5000/2000"}
    assert all(s in run.FULL for s in run.TARGETS)
