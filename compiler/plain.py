"""Scalar patterns and the parsed port range, without pydantic.

The model validates with these; explain, reach and the resolved fleet's cache use them too,
and those must not pay for building the pydantic models (``import compiler.model`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CLUSTER_NAME = r"^([a-z0-9][-a-z0-9]*)?[a-z0-9]$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
PORT_SPEC = r"^([0-9]{1,5})(-([0-9]{1,5}))?/(TCP|UDP|SCTP|ANY)$"
VERSION = r"^1\.[0-9]{1,2}$"

_PORT = re.compile(PORT_SPEC)


@dataclass(frozen=True, order=True)
class PortRange:
    """A parsed port spec: ``443/TCP`` -> (TCP, 443, 443). ``ANY`` matches every protocol."""

    protocol: str
    low: int
    high: int

    @classmethod
    def parse(cls, spec: str) -> PortRange:
        match = _PORT.fullmatch(spec)
        if not match:
            raise ValueError(spec)
        low = int(match.group(1))
        high = int(match.group(3)) if match.group(3) else low
        return cls(match.group(4), low, high)

    def __str__(self) -> str:
        ports = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{ports}/{self.protocol}"

    def contains(self, protocol: str, port: int) -> bool:
        return self.protocol in ("ANY", protocol) and self.low <= port <= self.high


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)
