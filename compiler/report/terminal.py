"""What fleetc does differently on a terminal: colour in diagnostics, progress on long runs.

Both go to stderr and only to a person watching it: never in a pipe, a file or under ``CI``
(logs keep escape codes and carriage returns forever). ``NO_COLOR`` (any value) turns colour
off and ``FORCE_COLOR`` (non-empty, not ``0``) turns it on even in a pipe, as
https://no-color.org and https://force-color.org describe; ``NO_COLOR`` wins.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO


def _ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def interactive(stream: TextIO) -> bool:
    """A person is watching `stream`: a terminal, outside CI, not TERM=dumb."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not _ci() and os.environ.get("TERM") != "dumb"


def colour(stream: TextIO) -> bool:
    """Whether to colour what goes to `stream`."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return interactive(stream)


_CODES = {"error": "1;31", "warning": "1;33", "note": "1;36", "bold": "1", "dim": "2"}


def paint(text: str, style: str, enabled: bool) -> str:
    """`text` in `style` (see `_CODES`) when `enabled`."""
    return f"\x1b[{_CODES[style]}m{text}\x1b[0m" if enabled else text


class Progress:
    """One line on stderr that updates in place, cleared when the run ends; silent unless a
    person is watching (see `interactive`). Use as a context manager around the long part."""

    INTERVAL = 0.1
    """Seconds between redraws of a counter: redrawing per file would cost more than the file."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._shown = False
        self._last = 0.0

    @classmethod
    def for_stderr(cls) -> Progress:
        return cls(sys.stderr if interactive(sys.stderr) else None)

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def say(self, message: str) -> None:
        if self._stream is None:
            return
        width = 79
        self._stream.write(f"\r\x1b[Kfleetc: {message[:width]}…")
        self._stream.flush()
        self._shown = True

    def count(self, message: str, done: int) -> None:
        """`message` with a running count, redrawn at most every `INTERVAL` seconds."""
        if self._stream is None:
            return
        now = time.monotonic()
        if now - self._last >= self.INTERVAL:
            self._last = now
            self.say(f"{message} {done}")

    def clear(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.clear()
