"""Helpers shared by the emit, render, crash and commit tests: tree snapshots and subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = (".fleetc/cache.json",)
"""fleetc's git-ignored private files: not part of the output a user or Flux sees."""


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symlinks as ``-> target``), minus fleetc's private cache."""
    tree: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*filenames, *(d for d in dirnames if os.path.islink(Path(dirpath, d)))]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if rel in PRIVATE:
                continue
            if path.is_symlink():
                tree[rel] = b"-> " + os.readlink(path).encode()
            else:
                tree[rel] = path.read_bytes()
    return tree


def directories(root: Path) -> set[str]:
    """Every directory under `root`, relative (to catch empty-directory litter)."""
    return {
        Path(dirpath, d).relative_to(root).as_posix()
        for dirpath, dirnames, _ in os.walk(root)
        for d in dirnames
    }


def fleetc(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (the way CI and pre-commit run it)."""
    inherited = {k: v for k, v in os.environ.items() if k != "FLEETC_TEST_CRASH_AT"}
    full_env = {**inherited, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def require_renderers() -> None:
    """The CLI tests need the whole pipeline; the renderers land separately from the writer."""
    import importlib

    from tests.conftest import missing

    try:
        module = importlib.import_module("compiler.render")
    except ImportError:
        module = None
    if module is None or not hasattr(module, "render"):
        missing("compiler.render.render is not available yet (renderers not merged)")


def at_once(cwd: Path, *args: str, runs: int = 2) -> tuple[list[int], list[str]]:
    """Start `runs` fleetc processes with `args` together; their exit codes and stderr."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "compiler", *args],
            cwd=cwd,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(runs)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    return [proc.returncode for proc in procs], errors
