"""Benchmark the interactive commands against the interpreter's own start-up (issue 17).

Each case is a fresh process, interleaved with a bare ``python -c pass`` of the same
interpreter so a busy machine slows both alike; figures are the median and minimum of
``--repeat`` runs (at least 3), each median also as a ratio to the start-up median of the
same run. The targets are judged here, each printed with pass or fail:

1. ``explain`` of one flow of 255/5,000/2,000, after one warm-up: <= 10x start-up;
2. ``validate`` of the example fleet with CEL guardrails (contoso): <= 5x start-up;
3. ``validate`` of 511/20,000/5,000: <= 2.5 s (``--skip-large`` leaves it out).

fleetc keeps what a clean fleet checked and resolved to in its cache (keyed by the fleet's
bytes), so a repeated run of unchanged bytes is a cache hit: targets 1 and 2 are judged on
that, as a user meets them. The *edited* rows change a comment before every run, so every
run is a miss (the pre-commit path on a fleet just changed); target 3 is judged on misses.
Every fleetc here gets a cache directory of this run, so results do not depend on what the
user's cache holds.

``--base DIR`` also measures another checkout (its ``compiler/`` package, frozen like this
one's), interleaved with this one, to compare a change with what it replaces:

    git worktree add /tmp/base <rev>
    .venv/bin/python bench/interactive.py --base /tmp/base [--repeat 5] [--skip-large]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import editor, run_child  # noqa: E402
from bench.fleetgen import generate  # noqa: E402

START = "python -c pass"
TARGETS = {  # case -> (limit, "x" for a ratio to start-up or "s" for seconds)
    "explain 255/5000/2000": (10.0, "x"),
    "validate contoso": (5.0, "x"),
    "validate 511/20000/5000 edited": (2.5, "s"),
}


def frozen(tree: Path, work: Path, label: str) -> dict[str, str]:
    """An environment running ``python -m compiler`` from a copy of `tree`'s package, with a
    cache directory of its own. Children run in the work directory: ``-m`` puts the working
    directory first on the path, and from a checkout it would run that checkout's package."""
    import os

    target = work / label / "compiler"
    shutil.copytree(tree / "compiler", target, ignore=shutil.ignore_patterns("__pycache__"))
    cache = work / label / "cache"
    cache.mkdir(mode=0o700)
    return {
        **os.environ,
        "PYTHONPATH": str(work / label),
        "PYTHONDONTWRITEBYTECODE": "",
        "XDG_CACHE_HOME": str(cache),
    }


def first_flow(text: str) -> tuple[str, str]:
    """Two service endpoints of a generated fleet: the first service to the second."""
    import yaml  # type: ignore[import-untyped]

    spec = yaml.safe_load(text)["spec"]
    a, b = spec["services"][0], spec["services"][1]
    return (
        f"{a['namespace']}/{a['name']}@{a['clusters'][0]}",
        f"{b['namespace']}/{b['name']}@{b['clusters'][0]}",
    )


def verdict(name: str, median: float, start: float) -> str:
    for case, (limit, unit) in TARGETS.items():
        if name.startswith(f"{case} [head]"):
            value = median / start if unit == "x" else median
            ok = "PASS" if value <= limit else "FAIL"
            return f"target <= {limit:g}{unit}: {ok}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--skip-large", action="store_true", help="leave out 511/20000/5000")
    args = parser.parse_args()
    repeat = max(3, args.repeat)
    work = Path(tempfile.mkdtemp(prefix="fleetc-bench-interactive-"))
    try:
        trees = {"head": frozen(ROOT, work, "head")}
        if args.base is not None:
            trees = {"base": frozen(args.base.resolve(), work, "base"), **trees}
        fleets = work / "fleets"
        fleets.mkdir()
        big, mid, edited = fleets / "255.yaml", fleets / "50.yaml", fleets / "contoso-edited.yaml"
        big.write_text(generate(255, 5000, 2000))
        mid.write_text(generate(50, 500, 200))
        shutil.copyfile(ROOT / "fleets/contoso/fleet.yaml", edited)
        edits = [editor(edited)]
        src, dst = first_flow(big.read_text())
        py = [sys.executable, "-m", "compiler"]
        cases = {
            "validate contoso": [*py, "validate", str(ROOT / "fleets/contoso/fleet.yaml")],
            "validate contoso edited": [*py, "validate", str(edited)],
            "validate 50/500/200": [*py, "validate", str(mid)],
            "explain 255/5000/2000": [
                *py,
                *["explain", str(big), "--from", src, "--to", dst, "--port", "1/TCP"],
            ],
        }
        if not args.skip_large:
            large = fleets / "511.yaml"
            large.write_text(generate(511, 20000, 5000))
            cases["validate 511/20000/5000 edited"] = [*py, "validate", str(large)]
            edits.append(editor(large))
        for env in trees.values():  # warm-up: caches (CEL tables, page cache) as users have them
            for argv in cases.values():
                run_child(argv, cwd=work, env=env, check=False)
        samples: dict[str, list[float]] = {START: []}
        for _ in range(repeat):
            samples[START].append(run_child([sys.executable, "-c", "pass"], cwd=work).seconds)
            for name, argv in cases.items():
                for label, env in trees.items():
                    for edit in edits:
                        edit()
                    child = run_child(argv, cwd=work, env=env, check=False)
                    if child.status not in (0, 1):
                        raise SystemExit(f"{label} {name}: exit {child.status}\n{child.stderr!r}")
                    samples.setdefault(f"{name} [{label}]", []).append(child.seconds)
        start = statistics.median(samples[START])
        print(f"{'case':40} {'median s':>9} {'min s':>7} {'x start-up':>10}")
        for name, values in samples.items():
            median = statistics.median(values)
            print(
                f"{name:40} {median:9.3f} {min(values):7.3f} {median / start:10.1f}"
                f"  {verdict(name, median, start)}".rstrip()
            )
        print(f"python {sys.version.split()[0]}, repeat {repeat}; 'edited': a cache miss every run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
