"""Helpers shared by the benchmarks: timed child processes, a frozen copy of fleetc, floors.

Children are timed with ``os.wait4`` so each one reports its own peak RSS (``ru_maxrss``),
not the benchmark's. The fleetc children run from a private copy of the package
(`frozen_code`): render's fast path keys on fleetc's own code, so an edit to the checkout
while a benchmark runs would otherwise force a full re-render and spoil the measurement.
"""

from __future__ import annotations

import compileall
import json
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


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, min and max of repeated timings, with the samples themselves."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "runs": list(samples),
    }


def ratio(num: dict[str, Any], den: dict[str, Any]) -> dict[str, float]:
    """Two summaries compared: median to median and min to min (each measured in this run)."""
    return {
        "median": num["median"] / den["median"],
        "min": num["min"] / den["min"],
    }


def fleetc_argv() -> list[str]:
    """fleetc as users start it: the console script next to this Python, else ``-m``."""
    script = Path(sys.executable).with_name("fleetc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "compiler"]


def frozen_code(work: Path) -> dict[str, str]:
    """An environment running ``python -m compiler`` from a private copy of the package, with
    a cache directory of this run (so figures do not depend on what the user's cache holds).

    Children must run with a working directory outside the checkout: ``-m`` puts the working
    directory first on the path, ahead of PYTHONPATH, and from the checkout it would run the
    live package instead of the copy.
    """
    target = work / "code" / "compiler"
    if not target.exists():
        shutil.copytree(ROOT / "compiler", target, ignore=shutil.ignore_patterns("__pycache__"))
        # byte-compiled once here, so no measured child pays for compiling fleetc's modules
        compileall.compile_dir(target, quiet=1)
    cache = work / "code" / "cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "PYTHONPATH": str(work / "code"), "XDG_CACHE_HOME": str(cache)}


def stamps(root: Path) -> dict[str, tuple[int, int]]:
    """mtime and inode of every file under `root`: a rewrite changes one or the other."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = Path(dirpath, name).stat()
            out[os.path.join(dirpath, name)] = (st.st_mtime_ns, st.st_ino)
    return out


def distinct_objects(contents: list[Any]) -> list[dict[str, Any]]:
    """The dict contents of compiled files, each object once: by identity, then by content."""
    by_id = {id(c): c for c in contents if isinstance(c, dict)}
    seen: set[str] = set()
    out = []
    for obj in by_id.values():
        key = json.dumps(obj, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


def json_floor(objects: list[dict[str, Any]]) -> float:
    """Seconds for C ``json.dumps`` of each object: serializing them at C speed, no more."""
    dumps = json.dumps  # default arguments: the C encoder, no indent, keys as they are
    return timed(lambda: [dumps(obj) for obj in objects])[0]


def tree_bytes(root: Path) -> dict[str, int]:
    """Bytes of every file under `root`, by top-level entry (``clusters/``, ``.fleetc/``...).

    Nothing about the layout is assumed: whatever `root` holds is counted under its first
    path component (a directory gets a trailing ``/``), files directly in `root` under ``./``.
    """
    split: dict[str, int] = {}
    for dirpath, _, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        top = f"{rel[0]}/" if rel else "./"
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            split[top] = split.get(top, 0) + st.st_size
    return dict(sorted(split.items()))


def editor(path: Path) -> Callable[[], None]:
    """A function that changes a comment at the end of `path`: the next run is a cache miss."""
    text = path.read_text()
    count = [0]

    def edit() -> None:
        count[0] += 1
        path.write_text(f"{text}# edit {count[0]}\n")

    return edit


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
