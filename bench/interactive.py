"""Benchmark the interactive commands against the interpreter's own start-up.

`fleetc validate` of the example fleet (the pre-commit path: contoso, with CEL guardrails and
expectations), `validate` of 50/500/200, and `fleetc explain` of one flow of 255/5000/2000:
each a fresh process, interleaved with a bare ``python -c pass`` of the same interpreter so a
busy machine slows both alike. Figures are medians and minimums of ``--repeat`` runs, and each
median as a ratio to the start-up median measured in the same run.

``--base DIR`` also measures another checkout (its ``compiler/`` package, frozen like this
one's), interleaved with this one, to compare a change with what it replaces:

    git worktree add /tmp/base <rev>
    .venv/bin/python bench/interactive.py --base /tmp/base [--repeat 7]
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

from bench.common import run_child  # noqa: E402
from bench.fleetgen import generate  # noqa: E402


def frozen(tree: Path, work: Path, label: str) -> dict[str, str]:
    """An environment running ``python -m compiler`` from a copy of `tree`'s package."""
    import os

    target = work / label / "compiler"
    shutil.copytree(tree / "compiler", target, ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(work / label), "PYTHONDONTWRITEBYTECODE": ""}


def first_flow(text: str) -> tuple[str, str]:
    """Two service endpoints of a generated fleet: the first service to the second."""
    import yaml  # type: ignore[import-untyped]

    spec = yaml.safe_load(text)["spec"]
    a, b = spec["services"][0], spec["services"][1]
    return (
        f"{a['namespace']}/{a['name']}@{a['clusters'][0]}",
        f"{b['namespace']}/{b['name']}@{b['clusters'][0]}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--base", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleetc-bench-interactive-"))
    try:
        trees = {"head": frozen(ROOT, work, "head")}
        if args.base is not None:
            trees = {"base": frozen(args.base.resolve(), work, "base"), **trees}
        big = work / "255" / "fleet.yaml"
        big.parent.mkdir()
        big.write_text(generate(255, 5000, 2000))
        mid = work / "50" / "fleet.yaml"
        mid.parent.mkdir()
        mid.write_text(generate(50, 500, 200))
        src, dst = first_flow(big.read_text())
        py = [sys.executable, "-m", "compiler"]
        cases = {
            "validate contoso": [*py, "validate", str(ROOT / "fleets/contoso/fleet.yaml")],
            "validate 50/500/200": [*py, "validate", str(mid)],
            "explain 255/5000/2000": [
                *py,
                "explain",
                str(big),
                "--from",
                src,
                "--to",
                dst,
                "--port",
                "1/TCP",
            ],
        }
        bare = [sys.executable, "-c", "pass"]
        for env in trees.values():  # warm-up: caches (CEL tables, page cache) as users have them
            for argv in cases.values():
                run_child(argv, env=env, check=False)
        samples: dict[str, list[float]] = {"python -c pass": []}
        for _ in range(args.repeat):
            samples["python -c pass"].append(run_child(bare).seconds)
            for name, argv in cases.items():
                for label, env in trees.items():
                    child = run_child(argv, env=env, check=False)
                    if child.status not in (0, 1):
                        raise SystemExit(f"{label} {name}: exit {child.status}\n{child.stderr!r}")
                    samples.setdefault(f"{name} [{label}]", []).append(child.seconds)
        start = statistics.median(samples["python -c pass"])
        print(f"{'case':40} {'median s':>9} {'min s':>7} {'x start-up':>10}")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"{name:40} {median:9.3f} {min(values):7.3f} {median / start:10.1f}")
        print(f"python {sys.version.split()[0]}, repeat {args.repeat}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
