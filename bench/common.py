"""Helpers shared by the benchmarks: timed child processes, a frozen copy of fleetc, floors.

Children are timed with ``os.wait4`` so each one reports its own peak RSS (``ru_maxrss``),
not the benchmark's. The fleetc children run from a private copy of the package
(`frozen_code`): render's fast path keys on fleetc's own code, so an edit to the checkout
while a benchmark runs would otherwise force a full re-render and spoil the measurement.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

T = TypeVar("T")


@dataclass(frozen=True)
class Child:
    """One finished child process: wall seconds, exit status, peak RSS, captured output."""

    seconds: float
    status: int
    rss: int
    stdout: bytes
    stderr: bytes


def run_child(
    argv: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Child:
    """Run `argv`, timing it from spawn to reap; `check` fails loudly on a non-zero exit."""
    # Output goes to unnamed files, not pipes: nothing can block on a full pipe, and wait4
    # reaps the child itself so its rusage is the child's own peak RSS.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out_file, stderr=err_file)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if check and child.returncode != 0:
        tail = err.decode("utf-8", "replace")[-3000:]
        raise SystemExit(f"{' '.join(argv[:4])} ... exited {child.returncode}:\n{tail}")
    return Child(elapsed, child.returncode, usage.ru_maxrss * 1024, out, err)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one in-process call, and its result."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def summary(samples: list[float]) -> dict[str, float]:
    return {"min": min(samples), "median": statistics.median(samples), "max": max(samples)}


def fleetc_argv() -> list[str]:
    """fleetc as users start it: the console script next to this Python, else ``-m``."""
    script = Path(sys.executable).with_name("fleetc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "compiler"]


def frozen_code(work: Path) -> dict[str, str]:
    """An environment running ``python -m compiler`` from a private copy of the package."""
    target = work / "code" / "compiler"
    if not target.exists():
        shutil.copytree(ROOT / "compiler", target, ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(work / "code")}


def stamps(root: Path) -> dict[str, tuple[int, int]]:
    """mtime and inode of every file under `root`: a rewrite changes one or the other."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = Path(dirpath, name).stat()
            out[os.path.join(dirpath, name)] = (st.st_mtime_ns, st.st_ino)
    return out


def libyaml_floor(objects: list[dict[str, Any]]) -> tuple[str, float]:
    """Seconds to dump `objects` with libyaml alone, in one stream: the serialization floor."""
    try:
        import yaml  # type: ignore[import-untyped]

        dumper = yaml.CSafeDumper

        def dump() -> None:
            # one stream for all objects: the cheapest way to drive libyaml from Python
            yaml.dump_all(objects, Dumper=dumper, default_flow_style=False, sort_keys=True)

        return "PyYAML CSafeDumper", timed(dump)[0]
    except (ImportError, AttributeError):
        import io

        from ruamel.yaml import YAML

        yaml_rt = YAML(typ="safe", pure=False)

        def dump_ruamel() -> None:
            yaml_rt.dump_all(objects, io.StringIO())

        return "ruamel C emitter", timed(dump_ruamel)[0]


def git_sha() -> str:
    """The checkout's commit, with ``-dirty`` when tracked files differ from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "compiler"], cwd=ROOT, check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")
