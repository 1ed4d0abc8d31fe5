"""Where DIR may not be, and how a failing filesystem is reported.

`refuse_system_root` runs before DIR is created, locked or walked: ``--out /`` would
otherwise walk the whole filesystem before refusing it for holding files fleetc does not own.
Refused: ``/`` and every directory directly under it (``/usr``, ``/etc``, ``/home``,
``/tmp``...), a few well-known system trees one level further down (``/usr/local``,
``/var/lib``...), the user's home directory and any ancestor of it. A real output lives
inside a repository, always deeper than any of these. The path is resolved first, so a
symlink or ``..`` cannot dress one up as something else.

`environment_error` turns an ``OSError`` (a read-only or full filesystem, a permission) into
the usage-level error fleetc reports with exit 2, naming the path: it is the machine's
state, not a bug in fleetc.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from compiler.emit.fs import OutputError

_SYSTEM_TREES = frozenset(
    f"/{top}/{sub}"
    for top, subs in {
        "usr": ("bin", "lib", "lib64", "local", "sbin", "share", "include", "src"),
        "var": ("lib", "log", "cache", "spool", "tmp", "run", "mail", "www"),
        "etc": (),
    }.items()
    for sub in subs
)


def refuse_system_root(out: Path) -> None:
    """Raise OutputError when `out` is (or resolves to) a system directory or a home."""
    resolved = Path(os.path.realpath(out))
    home = os.environ.get("HOME") or os.path.expanduser("~")
    homes = {Path(os.path.realpath(home))} if home and home != "~" else set()
    reason = ""
    if len(resolved.parts) <= 2:  # "/" or "/usr", "/etc", "/home", "/tmp", ...
        reason = "the filesystem root or a top-level system directory"
    elif str(resolved) in _SYSTEM_TREES:
        reason = "a system directory"
    elif any(resolved == h or resolved in h.parents for h in homes):
        reason = "your home directory (or above it)"
    if reason:
        raise OutputError(
            f"refusing --out {out}: {resolved} is {reason}; fleetc owns every file in its "
            "output directory, so give a directory of its own (e.g. rendered/ in your repo)"
        )


_KNOWN = {
    errno.EROFS: "the filesystem is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "a directory is where fleetc writes a file (remove it)",
}


def environment_error(exc: OSError, root: Path) -> OutputError:
    """An OutputError (exit 2) for a filesystem failure while working on DIR `root`."""
    what = _KNOWN.get(exc.errno or 0) or exc.strerror or str(exc)
    # a rename names its target second: that is where a directory can be in the way
    filename = exc.filename2 if exc.filename2 is not None else exc.filename
    name = os.fsdecode(filename) if filename is not None else ""
    if os.path.isabs(name):
        return OutputError(f"cannot write {name}: {what} (output directory {root})")
    # a name relative to a directory descriptor: somewhere under DIR
    at = f" (at {name})" if name else ""
    return OutputError(f"cannot write in output directory {root}: {what}{at}")
