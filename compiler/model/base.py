"""The base of every fleet.yaml model: strict, closed, and titled for people.

JSON Schema titles are what editors show next to a key, so they read as words ("Pod CIDRs",
"Mesh Endpoint"), not as the capitalised identifier pydantic would make of ``podCIDRs``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

_WORDS = {
    "api": "API",
    "cel": "CEL",
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "fqdns": "FQDNs",
    "http": "HTTP",
    "id": "ID",
    "ip": "IP",
    "ips": "IPs",
    "ipv6": "IPv6",
    "mcs": "MCS",
    "ref": "Reference",
    "tls": "TLS",
}


def human_title(name: str) -> str:
    """``podCIDRs`` -> ``Pod CIDRs``, ``HTTPRule`` -> ``HTTP Rule``, ``from_`` -> ``From``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.strip("_"))
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z]{2,})", r"\1 \2", spaced)
    words = [_WORDS.get(word.lower(), word[:1].upper() + word[1:]) for word in spaced.split()]
    return " ".join(words)


def _field_title(name: str, info: Any) -> str:
    return human_title(info.alias or name)


def _model_title(model: type) -> str:
    return human_title(model.__name__)


class Strict(BaseModel):
    """No silent coercion (``id: "1"`` is an error), no unknown keys, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        field_title_generator=_field_title,
        model_title_generator=_model_title,
    )
