"""Benchmark `fleetc validate` as users run it: a fresh process per run, on synthetic fleets.

Two cases (targets from the project's issue 2):

- *pre-commit*: 50 clusters / 500 services / 200 policies, no CEL (~140 KB). Compared with
  the start-up of a bare ``python -c pass`` measured in the same run, interleaved, so a busy
  machine slows both alike. Target: median ratio <= 25.
- *large*: 511 clusters / 20,000 services / 5,000 policies. Target: < 5 s and < 1 GiB peak
  RSS (from ``wait4``, the child's own rusage).

``--profile`` adds ``python -X importtime`` and cProfile of the pre-commit case. Results go
to ``bench/results/validate.json`` (git-ignored) and a table on stdout.

    .venv/bin/python bench/validate.py [--repeat 7] [--skip-large] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, run_child, summary  # noqa: E402
from bench.common import fleetc_argv as fleetc  # noqa: E402
from bench.fleetgen import generate  # noqa: E402

RATIO_TARGET = 25.0
LARGE_SECONDS = 5.0
LARGE_BYTES = 1 << 30


def timed(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, exit status and peak RSS in bytes of one child process."""
    child = run_child(argv, check=False)
    return child.seconds, child.status, child.rss


def bench_small(workdir: Path, repeat: int) -> dict[str, Any]:
    fleet = workdir / "small" / "fleet.yaml"
    fleet.parent.mkdir()
    fleet.write_text(generate(50, 500, 200))
    validate = [*fleetc(), "validate", str(fleet)]
    baseline = [sys.executable, "-c", "pass"]
    for argv in (validate, baseline):  # warm the page cache and .pyc files
        timed(argv)
    runs: list[float] = []
    bare: list[float] = []
    for _ in range(repeat):
        seconds, status, _ = timed(validate)
        if status != 0:
            raise SystemExit(f"fleetc validate exited {status} on the generated fleet")
        runs.append(seconds)
        bare.append(timed(baseline)[0])
    ratio_median = statistics.median(runs) / statistics.median(bare)
    ratio_min = min(runs) / min(bare)
    return {
        "fleet": {"clusters": 50, "services": 500, "policies": 200, "bytes": fleet.stat().st_size},
        "validate_s": summary(runs),
        "python_pass_s": summary(bare),
        "ratio_median": ratio_median,
        "ratio_min": ratio_min,
        "target_ratio": RATIO_TARGET,
        # a busy machine can flatter either ratio; hold the worse of the two to the target
        "ok": max(ratio_median, ratio_min) <= RATIO_TARGET,
    }


def bench_large(workdir: Path, repeat: int) -> dict[str, Any]:
    fleet = workdir / "large" / "fleet.yaml"
    fleet.parent.mkdir()
    started = time.perf_counter()
    fleet.write_text(generate(511, 20_000, 5_000))
    generated = time.perf_counter() - started
    runs: list[float] = []
    peak = 0
    for _ in range(repeat):
        seconds, status, rss = timed([*fleetc(), "validate", str(fleet)])
        if status != 0:
            raise SystemExit(f"fleetc validate exited {status} on the generated large fleet")
        runs.append(seconds)
        peak = max(peak, rss)
    result = {
        "fleet": {
            "clusters": 511,
            "services": 20_000,
            "policies": 5_000,
            "bytes": fleet.stat().st_size,
        },
        "generate_s": generated,
        "validate_s": summary(runs),
        "peak_rss_bytes": peak,
        "target_s": LARGE_SECONDS,
        "target_rss_bytes": LARGE_BYTES,
    }
    result["ok"] = min(runs) < LARGE_SECONDS and peak < LARGE_BYTES
    return result


def profile(workdir: Path) -> str:
    """Top of ``-X importtime`` (cumulative) and of cProfile for the pre-commit case."""
    fleet = workdir / "small" / "fleet.yaml"
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    imports = subprocess.run(
        [sys.executable, "-m", "compiler", "validate", str(fleet)],
        capture_output=True,
        text=True,
        env=env,
    ).stderr
    rows = []
    for line in imports.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top_imports = "\n".join(f"{us / 1000:8.1f} ms {name}" for us, name in sorted(rows)[-25:][::-1])
    stats = workdir / "validate.prof"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(stats),
            "-m",
            "compiler",
            "validate",
            str(fleet),
        ],
        capture_output=True,
        check=False,
    )
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(str(stats), stream=out).sort_stats("cumulative").print_stats(30)
    body = out.getvalue()
    body = body[body.find("   ncalls") :]
    return f"== import time (cumulative, top 25) ==\n{top_imports}\n\n== cProfile ==\n{body}"


def table(results: dict[str, Any]) -> str:
    lines = [f"{'case':<34} {'min':>9} {'median':>9} {'target':>14}  ok"]
    small = results.get("small")
    if small:
        v, p = small["validate_s"], small["python_pass_s"]
        kb = small["fleet"]["bytes"] // 1024
        lines.append(f"{f'validate 50/500/200 ({kb} KB)':<34} {v['min']:9.3f} {v['median']:9.3f}")
        lines.append(f"{'python -c pass':<34} {p['min']:9.3f} {p['median']:9.3f}")
        lines.append(
            f"{'ratio':<34} {small['ratio_min']:9.1f} {small['ratio_median']:9.1f}"
            f" {'<= ' + str(RATIO_TARGET):>14}  {'yes' if small['ok'] else 'NO'}"
        )
    large = results.get("large")
    if large:
        v = large["validate_s"]
        mb = large["fleet"]["bytes"] / 1e6
        lines.append(
            f"{f'validate 511/20000/5000 ({mb:.1f} MB)':<34} {v['min']:9.3f} {v['median']:9.3f}"
            f" {'< 5 s':>14}  {'yes' if v['min'] < LARGE_SECONDS else 'NO'}"
        )
        rss = large["peak_rss_bytes"] / (1 << 20)
        lines.append(
            f"{'  peak RSS (MiB)':<34} {rss:9.0f} {'':>9} {'< 1024':>14}"
            f"  {'yes' if large['peak_rss_bytes'] < LARGE_BYTES else 'NO'}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--large-repeat", type=int, default=2)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results["small"] = bench_small(workdir, args.repeat)
        if not args.skip_large:
            results["large"] = bench_large(workdir, args.large_repeat)
        if args.profile:
            report = profile(workdir)
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "validate-profile.txt").write_text(report)
            print(report)
    results["loadavg_after"] = os.getloadavg()
    results["self_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validate.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"load average before/after: {results['loadavg_before']} / {results['loadavg_after']}")
    print(f"results: {RESULTS / 'validate.json'}")
    ok = results["small"]["ok"] and results.get("large", {"ok": True})["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
