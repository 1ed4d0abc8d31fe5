"""One fleet's measurements for `bench/run.py`, each repeated and paired with its baseline.

Every fleetc here is a fresh process from the frozen copy (`frozen_code`), started in a
directory of the run (never the checkout: ``-m`` would import the live package from there).
Each timing is repeated (``repeat`` >= 3) and kept as a `summary` (median, min, the runs);
a baseline is measured in the same loop, interleaved, so a busy machine slows both alike:

- render: iteration i renders cold into a fresh ``cold-i/rendered``, copies that tree with
  ``cp -r`` into a fresh ``copy-i`` (the file half of the floor), re-renders ``cold-1``
  unchanged (it must write nothing) and, at full sizes, re-renders ``cold-1`` after one
  policy changed (alternately changed and changed back, so every run is a one-policy change);
- the floor's other half, in-process: C ``json.dumps`` of the distinct objects fleetc
  compiled (`distinct_objects`), repeated;
- validate (a comment changed before every run: a cache miss) and explain (after one
  warm-up: a cache hit) interleaved with a bare ``python -c pass``;
- diff of a one-policy change, and ``kubectl kustomize`` of a sample of cluster directories.

Nothing is deleted before the run ends (see `bench/run.py` on ext4 and deleted inodes).
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    distinct_objects,
    editor,
    json_floor,
    ratio,
    run_child,
    stamps,
    summary,
    tree_bytes,
)

BARE = [sys.executable, "-c", "pass"]


def python_m(*args: str) -> list[str]:
    return [sys.executable, "-m", "compiler", *args]


def edit_one_policy(text: str) -> str:
    """The fleet with its first allow policy turned into a deny: one policy changed."""
    changed = text.replace("      action: allow\n", "      action: deny\n", 1)
    assert changed != text, "the generated fleet has no allow policy"
    return changed


def against_start_up(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    repeat: int,
    before: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`argv` repeated, each run followed by a bare interpreter start-up; `before` runs first
    every time (untimed)."""
    runs, bares, rss = [], [], 0
    for _ in range(repeat):
        if before is not None:
            before()
        child = run_child(argv, cwd=cwd, env=env)
        runs.append(child.seconds)
        rss = max(rss, child.rss)
        bares.append(run_child(BARE, cwd=cwd).seconds)
    out = {"seconds": summary(runs), "rss": rss, "python_pass": summary(bares)}
    out["ratio"] = ratio(out["seconds"], out["python_pass"])
    return out


def validate(work: Path, text: str, env: dict[str, str], repeat: int) -> dict[str, Any]:
    """``fleetc validate``, a cache miss every run (the pre-commit path on a changed fleet)."""
    home = work / "validate"
    home.mkdir()
    (home / "fleet.yaml").write_text(text)
    edit = editor(home / "fleet.yaml")
    argv = python_m("validate", "fleet.yaml")
    run_child(argv, cwd=home, env=env)  # warm the page cache
    return against_start_up(argv, home, env, repeat, before=edit)


def contoso(work: Path, fleet: Path, env: dict[str, str], repeat: int) -> dict[str, Any]:
    """``fleetc validate`` of the example fleet (CEL guardrails), after one warm-up run."""
    argv = python_m("validate", str(fleet))
    run_child(argv, cwd=work, env=env)
    return against_start_up(argv, work, env, repeat)


def _written(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, int]:
    """Files new or rewritten (mtime or inode changed), and files removed."""
    written = sum(1 for path, stamp in after.items() if before.get(path) != stamp)
    return written, len(before.keys() - after.keys())


def render(work: Path, text: str, env: dict[str, str], repeat: int, full: bool) -> dict[str, Any]:
    """Cold renders into fresh directories, each followed by ``cp -r`` of its tree into a
    fresh directory; at `full` sizes also unchanged and one-policy-change re-renders."""
    argv = python_m("render", "fleet.yaml", "--out", "rendered")
    edited = edit_one_policy(text) if full else text
    cold, copy, again, change = [], [], [], []
    cold_rss, again_rewritten, change_files = 0, 0, []
    home = work / "cold-1"
    for i in range(1, repeat + 1):
        fresh = work / f"cold-{i}"
        fresh.mkdir()
        (fresh / "fleet.yaml").write_text(text)
        child = run_child(argv, cwd=fresh, env=env)
        cold.append(child.seconds)
        cold_rss = max(cold_rss, child.rss)
        # the floor's file half: the same tree, copied by the system's cp into a new directory
        cp = ["cp", "-r", str(fresh / "rendered"), str(work / f"copy-{i}")]
        copy.append(run_child(cp, cwd=work).seconds)
        if not full:
            continue
        before = stamps(home / "rendered")
        again.append(run_child(argv, cwd=home, env=env).seconds)
        again_rewritten += sum(_written(before, stamps(home / "rendered")))
        (home / "fleet.yaml").write_text(edited if i % 2 else text)
        before = stamps(home / "rendered")
        change.append(run_child(argv, cwd=home, env=env).seconds)
        change_files.append(_written(before, stamps(home / "rendered")))
    last = work / f"cold-{repeat}" / "rendered"  # rendered from `text`, never re-rendered
    split = tree_bytes(last)
    out: dict[str, Any] = {
        "cold": summary(cold),
        "cold_rss": cold_rss,
        "cp": summary(copy),
        "files": len(stamps(last)),
        "bytes": sum(split.values()),
        "bytes_by_top": split,
    }
    if full:
        out["unchanged"] = summary(again)
        out["unchanged_rewritten"] = again_rewritten
        out["policy_change"] = summary(change)
        out["policy_change_written"] = [w for w, _ in change_files]
        out["policy_change_removed"] = [r for _, r in change_files]
    return out


def diff(work: Path, text: str, env: dict[str, str], repeat: int) -> dict[str, Any]:
    """``fleetc diff --base HEAD`` of a one-policy change in a git repo, repeated."""
    home = work / "diff"
    home.mkdir()

    def git(*args: str) -> None:
        ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run(["git", *ident, *args], cwd=home, check=True, capture_output=True)

    (home / "fleet.yaml").write_text(text)
    git("init", "-q", "-b", "main")
    git("add", "fleet.yaml")
    git("commit", "-qm", "fleet")
    (home / "fleet.yaml").write_text(edit_one_policy(text))
    argv = python_m("diff", "fleet.yaml", "--base", "HEAD", "-o", "json")
    runs, rss, keys = [], 0, []
    for _ in range(repeat):
        child = run_child(argv, cwd=home, env=env)
        runs.append(child.seconds)
        rss = max(rss, child.rss)
        keys = sorted(json.loads(child.stdout))
    return {"seconds": summary(runs), "rss": rss, "report_keys": keys}


def explain(work: Path, query: list[str], env: dict[str, str], repeat: int) -> dict[str, Any]:
    """``fleetc explain`` of one flow: the first run (a cache miss), then repeated hits."""
    argv = python_m("explain", "fleet.yaml", *query)
    first = run_child(argv, cwd=work, env=env)
    out = against_start_up(argv, work, env, repeat)
    out["query"] = query
    out["first_s"] = first.seconds
    return out


def kustomize(out: Path, sample: int, repeat: int) -> dict[str, Any]:
    """``kubectl kustomize`` of up to `sample` cluster directories, `repeat` rounds; the total
    for every directory is extrapolated from the sample by count."""
    kubectl = shutil.which("kubectl")
    roots = sorted(p.parent for p in (out / "clusters").glob("*/kustomization.yaml"))
    if kubectl is None or not roots:
        return {"dirs": len(roots), "sampled": 0, "seconds": None}
    step = max(1, len(roots) // sample)
    picked = roots[::step][:sample]
    rounds = []
    for _ in range(repeat):
        times = [run_child([kubectl, "kustomize", str(root)], cwd=out).seconds for root in picked]
        # every directory is built by its own kubectl run, as a user (or Flux) would
        rounds.append(statistics.fmean(times) * len(roots))
    return {"dirs": len(roots), "sampled": len(picked), "seconds": summary(rounds)}


def in_process(
    data: bytes, repeat: int, full: bool, work: Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    """compile / pack / serialize / the floor's json half, repeated; with `work`, the output
    phase as `fleetc render` runs it (pack, serialize, write into a fresh directory under
    `work`, kept); at `full` sizes also explain's load (check + resolve) and query
    in-process. Returns the figures and one explain query."""
    from compiler import __version__
    from compiler.diagnostics import Diagnostics
    from compiler.emit.serialize import stream
    from compiler.emit.write import locked
    from compiler.pipeline import compile_fleet

    compiles, packs, serializes, outputs, dumps = [], [], [], [], []
    files: Any = ()
    name = ""
    for run in range(repeat):
        files = []  # the previous compile's output goes before the next one is built
        gc.collect()
        diags = Diagnostics()
        started = time.perf_counter()
        compiled = compile_fleet(data, "fleet.yaml", diags)
        compiles.append(time.perf_counter() - started)
        assert compiled is not None, diags.sorted()[:5]
        name = compiled.checked.fleet.metadata.name
        started = time.perf_counter()
        files = compiled.written()
        packs.append(time.perf_counter() - started)
        # consumed and dropped as it comes, as `fleetc render` does
        started = time.perf_counter()
        sum(len(b) for _, b in stream(files, name, "fleet.yaml", data, __version__))
        serializes.append(time.perf_counter() - started)
        if work is not None:
            out = work / f"output-{run + 1}"
            started = time.perf_counter()
            with locked(out, create=True) as output:
                output.write(stream(compiled.written(), name, "fleet.yaml", data, __version__))
            outputs.append(time.perf_counter() - started)
        del compiled
    objects = distinct_objects([f.content for f in files])
    dicts = sum(1 for f in files if isinstance(f.content, dict))
    del files
    for _ in range(repeat):
        dumps.append(json_floor(objects))
    figures: dict[str, Any] = {
        "compile": summary(compiles),
        "pack": summary(packs),
        "serialize": summary(serializes),
        "json": summary(dumps),
        "objects": dicts,
        "distinct_objects": len(objects),
    }
    if outputs:
        figures["output"] = summary(outputs)
    del objects
    gc.collect()
    if not full:
        return figures, []
    load, query = _explain_in_process(data, repeat)
    figures.update(load)
    return figures, query


def _explain_in_process(data: bytes, repeat: int) -> tuple[dict[str, Any], list[str]]:
    from compiler.commands.explain import enforcing_objects
    from compiler.diagnostics import Diagnostics
    from compiler.pipeline import check
    from compiler.reach import Endpoint, decide
    from compiler.resolve import resolve

    loads = []
    resolved: Any = None
    for _ in range(repeat):
        resolved = None
        started = time.perf_counter()
        checked = check(data, "fleet.yaml", Diagnostics())
        assert checked is not None
        resolved = resolve(checked.doc, checked.fleet, Diagnostics())
        loads.append(time.perf_counter() - started)
    src_svc, dst_svc = resolved.services[0], resolved.services[-1]
    port = dst_svc.ports[0]
    src = Endpoint(src_svc.clusters[0], src_svc.namespace, src_svc.selector)
    dst = Endpoint(dst_svc.clusters[0], dst_svc.namespace, dst_svc.selector)
    queries = []
    for _ in range(max(5, repeat)):
        started = time.perf_counter()
        decision = decide(resolved, src, dst, port.protocol, port.port)
        enforcing_objects(resolved, decision, src, dst)
        queries.append(time.perf_counter() - started)
    query = [
        *("--from", f"{src_svc.namespace}/{src_svc.name}@{src_svc.clusters[0]}"),
        *("--to", f"{dst_svc.namespace}/{dst_svc.name}@{dst_svc.clusters[0]}"),
        *("--port", f"{port.port}/{port.protocol}"),
    ]
    return {"explain_load": summary(loads), "explain_query": summary(queries)}, query


def floor(render_figures: dict[str, Any], inproc: dict[str, Any]) -> dict[str, Any]:
    """The floor (``cp -r`` + json) and cold render, one-policy re-render against it."""
    cp, js = render_figures["cp"], inproc["json"]
    total = {"median": cp["median"] + js["median"], "min": cp["min"] + js["min"]}
    out: dict[str, Any] = {"seconds": total, "cold_ratio": ratio(render_figures["cold"], total)}
    if "output" in inproc:
        # what the floor models: everything after the fleet is compiled (pack, serialize,
        # write), against copying the tree and dumping its objects
        out["output_ratio"] = ratio(inproc["output"], total)
    if "policy_change" in render_figures:
        out["policy_change_ratio"] = ratio(render_figures["policy_change"], total)
    return out
