"""`fleetc render [FLEET] --out DIR [--check]`: compile and write DIR atomically.

Exit codes: 0 written or already up to date; 1 the fleet has errors (diagnostics printed,
nothing written, DIR not even created) or, with ``--check``, DIR is not what FLEET compiles
to; 2 usage problems, including a DIR that holds files fleetc does not own.

``--check -o json`` prints one JSON object on stdout: whether DIR is current, the stale,
missing and extra paths, and the findings. ``--check --drift-only`` prints only the drift:
the pre-commit hook runs it beside ``fleetc validate``, which already prints the findings.
On a terminal (not in a pipe, not under CI) a line on stderr shows progress.

The fleet file is named in generated headers and in the manifest by `source_name`: one clean
relative path however it was spelled, so output carries no machine paths and the same fleet
renders the same bytes. The manifest's source digest is of the fleet's meaning (`meaning`).
"""

from __future__ import annotations

import argparse
import contextlib
import posixpath
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from compiler import __version__
from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.commands.common import (
    add_fleet_argument,
    add_output_argument,
    collect,
    collecting,
    meaning,
    print_diagnostics,
    read_fleet,
    source_name,
)
from compiler.diagnostics import Diagnostic, Diagnostics, FleetError
from compiler.emit.write import Output, OutputError, locked

if TYPE_CHECKING:
    from compiler.load import Source
    from compiler.pipeline import Compiled
    from compiler.report.terminal import Progress
    from compiler.rollout.tree import Stage

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser, *, check: bool = True) -> None:
    add_fleet_argument(parser)
    parser.add_argument(
        "--out", default="rendered", metavar="DIR", help="output directory (default: rendered/)"
    )
    if check:
        parser.add_argument(
            "--check", action="store_true", help="write nothing; exit 1 when DIR is not current"
        )
        parser.add_argument(
            "--drift-only",
            action="store_true",
            help="with --check: print only what is not current, not the fleet's findings",
        )
    else:
        parser.set_defaults(check=False, drift_only=False)
    parser.add_argument(
        "--wave",
        metavar="NAME",
        help="move only the clusters of the waves up to NAME; the rest keep DIR's files",
    )
    add_output_argument(parser)


def source_label(path: str) -> str:
    """How headers and the manifest name the fleet file (see `source_name`)."""
    return source_name(path)


def _check_flux_path(compiled: Compiled, out: Path, diags: Diagnostics) -> None:
    """Warn when the Flux Kustomizations would look for the output somewhere else than DIR.

    Their ``spec.path`` comes from ``spec.flux.path`` (repository-relative); DIR is compared
    with it relative to the working directory, where fleet repositories run fleetc (their
    root). DIR outside the working directory is not judged.
    """
    try:
        where = out.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return
    expected = compiled.resolved.flux.path
    if posixpath.normpath(expected) == posixpath.normpath(where):
        return
    doc = compiled.checked.doc
    path = ("spec", "flux", "path")
    at = doc.position(path) if doc.exists(path) else doc.key_position(("spec",))
    diags.warning(
        "flux-path-mismatch",
        f"the Flux Kustomizations read the output from {expected} (spec.flux.path), but it is"
        f" rendered into ./{where}",
        at,
        hint=f"set spec.flux.path: ./{where}, or render with --out {expected}",
    )


@dataclass(frozen=True)
class Rendered:
    """What a render did, for the command that asked for it (render or commit)."""

    out: Path
    label: str
    changed: int
    removed: int


@dataclass(frozen=True)
class Tree:
    """A compiled fleet's output, and its findings: the compiler's, and the object sizes
    judged while the output is serialized (so only once `files` has been consumed)."""

    files: Iterator[tuple[str, bytes]]
    """Every owned file as (path, bytes), serialized as it is consumed (`stream`); raises
    `FleetError` at its end when an object is too large, before any consumer commits."""
    compiled: tuple[Diagnostic, ...]
    sized: Diagnostics
    sources: dict[str, Source]

    @property
    def findings(self) -> tuple[Diagnostic, ...]:
        """Warnings and notes: the fast path prints them again instead of compiling."""
        return self.compiled + tuple(self.sized)

    def report(self, output: str) -> int:
        """Print every finding once, sorted; the exit code they call for."""
        diags = Diagnostics()
        diags.extend(self.findings)
        return print_diagnostics(diags, self.sources, output)


def compile_tree(
    data: bytes, label: str, output: str, out: Path | None = None, stage: Stage | None = None
) -> Tree | None:
    """Compile FLEET; on errors print its diagnostics and return None. Otherwise nothing is
    printed yet: consume `Tree.files`, then `Tree.report`."""
    from compiler.emit.serialize import stream
    from compiler.load import Source
    from compiler.pipeline import compile_fleet
    from compiler.report.terminal import Progress
    from compiler.validate.budget import ObjectSizes

    diags = Diagnostics()
    progress = Progress.for_stderr()
    with progress:
        progress.say(f"compiling {label}")
        compiled = compile_fleet(data, label, diags)
    if compiled is not None and out is not None:
        _check_flux_path(compiled, out, diags)
    sources = {label: Source(label, data.decode("utf-8", "replace"))}
    if compiled is None or diags.has_errors:
        print_diagnostics(diags, sources, output)
        return None
    sizes = ObjectSizes(compiled.checked.doc, compiled.checked.fleet)
    name = compiled.checked.fleet.metadata.name
    files = stream(
        compiled.written(), name, label, meaning(compiled.checked.fleet), __version__, sizes
    )
    if stage is not None:  # a staged rollout: see compiler.rollout.tree
        from compiler.rollout.tree import UnknownWave

        try:
            files = stage.apply(compiled.checked.fleet, files)
        except UnknownWave as exc:
            raise UsageError(str(exc)) from None
    judged = _judged(files, sizes.diags, progress)
    return Tree(judged, tuple(diags.sorted()), sizes.diags, sources)


def _judged(
    files: Iterator[tuple[str, bytes]], sized: Diagnostics, progress: Progress
) -> Iterator[tuple[str, bytes]]:
    with progress:  # cleared before anything else is printed, whatever the consumer does
        for done, item in enumerate(files, 1):
            progress.count("serializing and writing files:", done)
            yield item
    if sized.has_errors:
        raise FleetError(sized)


def consume(tree: Tree, use: Callable[[Iterator[tuple[str, bytes]]], T], output: str) -> T | None:
    """`use(tree.files)`, then print every finding; None when an object was too large (the
    consumer saw `FleetError` before its end: nothing was written)."""
    try:
        result = use(tree.files)
    except FleetError:
        tree.report(output)
        return None
    except BaseException:
        tree.report(output)  # what was found so far, before the reason the write failed
        raise
    tree.report(output)
    return result


def render(args: argparse.Namespace, then: Callable[[Output, Rendered], int] | None = None) -> int:
    """Render FLEET into ``args.out`` under its lock, then run `then` still holding the lock."""
    data = read_fleet(args.fleet)
    label = source_label(args.fleet)
    out = Path(args.out)
    from compiler.emit.cache import render_key

    # where the output goes is part of the key: the flux-path-mismatch warning depends on it
    stage = _stage(args, data)
    options = {"cwd": str(Path.cwd()), "out": str(out.absolute())}
    options.update({"wave": stage.wave or "", "commit": stage.commit or ""})
    key = render_key(label, data, options)
    try:
        if out.is_dir():
            # Recovery waits until the fleet compiled: with errors, nothing at all is written.
            with locked(out, create=False, recover=False) as output:
                stage.dir = output
                return _render_locked(output, data, label, key, args, then, stage=stage)
        if out.exists() or out.is_symlink():
            raise UsageError(f"{out} exists and is not a directory")
        tree = compile_tree(data, label, args.output, out, stage)
        if tree is None:
            return EXIT_FINDINGS
        if args.check:
            paths = consume(tree, lambda files: [path for path, _ in files], args.output)
            if paths is not None:
                _print_drift([], paths, [], False, args.output, stage.behind)
            return EXIT_FINDINGS
        created = [out, *(p for p in out.absolute().parents if not p.exists())]
        with locked(out, create=True) as output:
            status = _render_locked(output, data, label, key, args, then, tree)
            if status == EXIT_FINDINGS:  # an object too large: no DIR left behind either
                for empty in created:  # deepest first; rmdir only ever removes empty ones
                    with contextlib.suppress(OSError):
                        empty.rmdir()
        return status
    except OutputError as exc:
        raise UsageError(str(exc)) from None


def _render_locked(
    output: Output,
    data: bytes,
    label: str,
    key: str,
    args: argparse.Namespace,
    then: Callable[[Output, Rendered], int] | None,
    tree: Tree | None = None,
    stage: Stage | None = None,
) -> int:
    if tree is None and output.up_to_date(key, refresh=not args.check):
        _print_remembered(output, data, label, args.output)
        if args.check:
            return EXIT_OK
        output.recover()  # no journal (up_to_date checked), but maybe debris to sweep
        _status(f"{output.root} is up to date")
        return then(output, Rendered(output.root, label, 0, 0)) if then else EXIT_OK
    if tree is None:
        tree = compile_tree(data, label, args.output, output.root, stage)
        if tree is None:
            return EXIT_FINDINGS
    if args.check:
        drift = consume(tree, output.drift, args.output)
        if drift is None:
            return EXIT_FINDINGS
        if drift.clean:
            return EXIT_OK
        behind = stage.behind if stage is not None else []
        _print_drift(drift.stale, drift.missing, drift.extra, drift.pending, args.output, behind)
        return EXIT_FINDINGS
    output.recover()
    plan = consume(tree, output.write, args.output)
    if plan is None:
        return EXIT_FINDINGS
    output.remember(key, [remembered(d) for d in tree.findings])
    if plan.empty:
        _status(f"{output.root} is up to date")
    else:
        removed = len(plan.delete)
        _status(f"{output.root}: wrote {len(plan.write)} file(s), removed {removed}")
    done = Rendered(output.root, label, len(plan.write), len(plan.delete))
    return then(output, done) if then else EXIT_OK


def _stage(args: argparse.Namespace, data: bytes) -> Stage:
    """The rollout of this render. The fleet file's commit is looked up only when the fleet
    may declare waves (it is recorded per cluster, and part of the fast path's key)."""
    from compiler.rollout.tree import Stage

    commit = None
    if b"waves" in data:
        import hashlib

        from compiler.emit.git import source_state

        commit = source_state(Path(args.fleet), hashlib.sha256(data).hexdigest()).commit
    return Stage(getattr(args, "wave", None), commit, None)


def remembered(d: Diagnostic) -> dict[str, Any]:
    from compiler.report.json import as_data

    return {**as_data(d), "redact": d.redact}


def _print_remembered(output: Output, data: bytes, label: str, fmt: str) -> None:
    """Print the findings of the render the fast path stands in for, as it printed them."""
    from compiler.load import Source
    from compiler.report.json import from_data

    diags = Diagnostics()
    diags.extend(from_data(item) for item in output.remembered())
    print_diagnostics(diags, {label: Source(label, data.decode("utf-8", "replace"))}, fmt)


def _status(message: str) -> None:
    print(f"fleetc: {message}", file=sys.stderr)


def _print_drift(
    stale: tuple[str, ...] | list[str],
    missing: tuple[str, ...] | list[str],
    extra: tuple[str, ...] | list[str],
    pending: bool,
    output: str,
    behind: list[str] | None = None,
) -> None:
    """``kind: path`` lines, grouped by kind, paths sorted; on stdout unless it carries JSON.
    Clusters at another fleet revision than FLEET (a staged rollout) come first."""
    collected = collecting()
    if collected is not None:  # --check -o json or --drift-only: `run` prints the document
        collected.extra.update(
            stale=sorted(stale), missing=sorted(missing), extra=sorted(extra), interrupted=pending
        )
        if behind:
            collected.extra.update(behind=list(behind))
    if collected is not None and output == "json":
        count = len(stale) + len(missing) + len(extra) + int(pending)
        _status(f"output is not current ({count} difference(s))")
        return
    lines = [f"behind: {name}" for name in behind or ()]
    lines += [f"stale: {path}" for path in sorted(stale)]
    lines += [f"missing: {path}" for path in sorted(missing)]
    lines += [f"extra: {path}" for path in sorted(extra)]
    if pending:
        lines.insert(0, "interrupted: an earlier render did not finish (run fleetc render)")
    stream = sys.stdout if output == "text" else sys.stderr
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()
    _status(f"output is not current ({len(lines)} difference(s))")


def run(args: argparse.Namespace) -> int:
    if not args.check or (args.output != "json" and not args.drift_only):
        if args.drift_only:
            raise UsageError("--drift-only goes with --check")
        return render(args)
    with collect() as found:
        status = render(args)
    if args.output == "json":
        import json

        from compiler.report.json import as_data

        drift = {"stale": [], "missing": [], "extra": [], "interrupted": False, **found.extra}
        doc = {
            "current": status == EXIT_OK,
            "compared": bool(found.extra) or status == EXIT_OK,
            **drift,
            "diagnostics": [as_data(d) for d in found.diagnostics],
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif status != EXIT_OK and not found.extra:
        _status(
            f"{source_name(args.fleet)} has errors, so {args.out} was not compared"
            " (fleetc validate shows them)"
        )
    return status
