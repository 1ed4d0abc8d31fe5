"""Constrained scalar types of fleet.yaml: names, CIDRs, ports, versions.

Each is a plain ``str`` (or ``int``) after validation, so the JSON Schema stays simple and the
data stays what the user wrote. Errors are `PydanticCustomError`s whose context may carry a
``hint``; the model stage turns that into the diagnostic's hint.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CLUSTER_NAME = r"^([a-z0-9][-a-z0-9]*)?[a-z0-9]$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
PORT_SPEC = r"^([0-9]{1,5})(-([0-9]{1,5}))?/(TCP|UDP|SCTP|ANY)$"
VERSION = r"^1\.[0-9]{1,2}$"

# Matched with fullmatch: with re.match, '$' also matches before a trailing newline, so
# "web\n" would pass as a name and a newline would reach a rendered key.
_DNS1123 = re.compile(DNS1123_LABEL)
_CLUSTER = re.compile(CLUSTER_NAME)
_PORT = re.compile(PORT_SPEC)
_LABEL_KEY = re.compile(LABEL_KEY)
_LABEL_VALUE = re.compile(LABEL_VALUE)


SHOWN = 120
"""Characters of a bad value quoted in a message; a 60 KB value is not echoed in full."""


def _shown(value: str) -> str:
    """`value` quoted for a message, cut to `SHOWN` characters with its length said."""
    if len(value) <= SHOWN:
        return repr(value)
    return f"{value[:SHOWN]!r}... ({len(value)} characters)"


def _dns1123(value: str) -> str:
    if len(value) > 63 and _DNS1123.fullmatch(value):
        raise PydanticCustomError(
            "dns1123",
            "{value} is {length} characters long; a DNS-1123 label has at most 63",
            {"value": _shown(value), "length": len(value)},
        )
    if not _DNS1123.fullmatch(value):
        raise PydanticCustomError(
            "dns1123",
            "{value} is not a DNS-1123 label (lower-case letters, digits and '-',"
            " starting and ending with a letter or digit, at most 63 characters)",
            {"value": _shown(value), "hint": _dns_hint(value)},
        )
    return value


def _dns_hint(value: str) -> str:
    fixed = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
    return f"try {fixed!r}" if fixed and fixed != value else ""


def _cluster_name(value: str) -> str:
    if value == "default":
        raise PydanticCustomError(
            "cluster_name", "'default' is reserved by Cilium and cannot name a cluster", {}
        )
    if len(value) > 32 and _CLUSTER.fullmatch(value):
        raise PydanticCustomError(
            "cluster_name",
            "{value} is {length} characters long; a cluster name has at most 32",
            {"value": _shown(value), "length": len(value)},
        )
    if not _CLUSTER.fullmatch(value):
        raise PydanticCustomError(
            "cluster_name",
            "{value} is not a valid cluster name (at most 32 lower-case letters, digits"
            " and '-', starting and ending with a letter or digit)",
            {"value": _shown(value), "hint": _dns_hint(value)[:40]},
        )
    return value


def _zoned(value: str, kind: str) -> None:
    """Refuse an IPv6 zone (``fe80::1%eth0``): Python's ipaddress accepts one, but a zone
    names an interface on one host and means nothing in a policy or a guard seed."""
    if "%" in value:
        raise PydanticCustomError(
            kind,
            "{value} has an IPv6 zone (the part from '%'); zones name a host's interface and"
            " are not allowed here",
            {
                "value": _shown(value),
                "hint": f"write {value.split('%')[0]}"
                + (f"/{value.rsplit('/', 1)[1]}" if "/" in value else ""),
            },
        )


def _cidr(value: str) -> str:
    _zoned(value, "cidr")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "cidr",
            "{value} is not a CIDR such as 10.1.0.0/16 or fd00:1::/64",
            {"value": _shown(value)},
        ) from None
    if "/" not in value:
        raise PydanticCustomError(
            "cidr",
            "{value} has no prefix length",
            {
                "value": _shown(value),
                "hint": f"add the prefix length, such as {value}/16"
                if net.version == 4
                else f"add the prefix length, such as {value}/64",
            },
        )
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        mapped = net.network_address.ipv4_mapped
        hint = f"write {mapped}/{net.prefixlen - 96}" if net.prefixlen >= 96 else ""
        raise PydanticCustomError(
            "cidr",
            "{value} is an IPv4-mapped IPv6 range; write the IPv4 CIDR",
            {"value": _shown(value), "hint": hint},
        )
    if str(net) != value:
        if net.network_address != ipaddress.ip_network(value.split("/")[0]).network_address:
            raise PydanticCustomError(
                "cidr_host_bits",
                "{value} has host bits set",
                {"value": _shown(value), "hint": f"did you mean {net}?"},
            )
        raise PydanticCustomError(
            "cidr_canonical",
            "{value} is not in canonical form",
            {"value": _shown(value), "hint": f"write {net}"},
        )
    if net.prefixlen == 0:
        raise PydanticCustomError(
            "cidr", "{value} covers every address; a cluster range cannot", {"value": _shown(value)}
        )
    return value


def _ip(value: str) -> str:
    _zoned(value, "ip")
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise PydanticCustomError(
            "ip", "{value} is not an IP address", {"value": _shown(value)}
        ) from None
    if str(addr) != value:
        raise PydanticCustomError(
            "ip",
            "{value} is not in canonical form",
            {"value": _shown(value), "hint": f"write {addr}"},
        )
    return value


def _port_spec(value: str) -> str:
    match = _PORT.fullmatch(value)
    if not match:
        raise PydanticCustomError(
            "port_spec",
            "{value} is not a port such as 443/TCP, 53/UDP or 8000-8100/TCP",
            {"value": _shown(value), "hint": _port_hint(value)},
        )
    low = int(match.group(1))
    high = int(match.group(3)) if match.group(3) else low
    if not 1 <= low <= 65535 or not 1 <= high <= 65535:
        raise PydanticCustomError(
            "port_spec", "port {value} is out of range 1-65535", {"value": _shown(value)}
        )
    if high < low:
        raise PydanticCustomError(
            "port_spec",
            "port range {value} ends before it starts",
            {"value": _shown(value), "hint": f"write {high}-{low}/{match.group(4)}"},
        )
    return value


def _port_hint(value: str) -> str:
    if re.fullmatch(r"[0-9]+(-[0-9]+)?", value):
        return f"add the protocol: {value}/TCP"
    match = re.fullmatch(r"([0-9]+(?:-[0-9]+)?)/(tcp|udp|sctp|any)", value)
    if match:
        return f"protocols are upper case: {match.group(1)}/{match.group(2).upper()}"
    return ""


def _qualified_name(value: str, kind: str, what: str) -> str:
    """Kubernetes' qualified name (label and annotation keys): an optional DNS-1123 subdomain
    prefix of at most 253 characters and '/', then a name of at most 63 characters of
    letters, digits, '-', '_' and '.', starting and ending with a letter or digit."""
    prefix, _, name = value.rpartition("/")
    if len(name) > 63 or len(prefix) > 253 or not _LABEL_KEY.fullmatch(value):
        raise PydanticCustomError(
            kind,
            "{value} is not a valid Kubernetes " + what + " (an optional DNS subdomain prefix"
            " and '/', then at most 63 letters, digits, '-', '_' or '.')",
            {"value": _shown(value)},
        )
    return value


def _label_key(value: str) -> str:
    return _qualified_name(value, "label_key", "label key")


def _annotation_key(value: str) -> str:
    return _qualified_name(value, "annotation_key", "annotation key")


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        raise PydanticCustomError(
            "label_value", "{value} is not a valid Kubernetes label value", {"value": _shown(value)}
        )
    return value


# The validators check everything and give the hints; the schema keywords are for editors and
# other tools only. (Constraints written as Field(pattern=...) after a validator would be
# checked a second time in Python and left out of the JSON Schema.)
Name = Annotated[
    str,
    AfterValidator(_dns1123),
    Field(json_schema_extra={"pattern": DNS1123_LABEL, "maxLength": 63}),
]
ClusterName = Annotated[
    str,
    AfterValidator(_cluster_name),
    Field(
        json_schema_extra={"pattern": CLUSTER_NAME, "maxLength": 32, "not": {"const": "default"}}
    ),
]
CIDR = Annotated[str, AfterValidator(_cidr), Field(description="a CIDR in canonical form")]
IP = Annotated[str, AfterValidator(_ip)]
PortSpec = Annotated[
    str,
    AfterValidator(_port_spec),
    Field(examples=["443/TCP", "53/UDP"], json_schema_extra={"pattern": PORT_SPEC}),
]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[
    str,
    AfterValidator(_label_value),
    Field(json_schema_extra={"pattern": LABEL_VALUE, "maxLength": 63}),
]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(json_schema_extra={"propertyNames": {"pattern": LABEL_KEY, "maxLength": 317}}),
]
AnnotationKey = Annotated[str, AfterValidator(_annotation_key)]
Annotations = Annotated[
    dict[AnnotationKey, str],
    Field(json_schema_extra={"propertyNames": {"pattern": LABEL_KEY, "maxLength": 317}}),
]
Version = Annotated[str, Field(pattern=VERSION, examples=["1.19"])]

ENTITIES = (
    "world",
    "kube-apiserver",
    "host",
    "remote-node",
    "health",
    "ingress",
    "cluster",
    "all",
)
"""Cilium's entities a policy may name (Cilium's own list, less init, unmanaged and none)."""

FQDN_NAME = r"^([-a-zA-Z0-9_]+[.]?)+$"
FQDN_PATTERN = r"^([-a-zA-Z0-9_*]+[.]?)+$"
# FQDN_PATTERN as Cilium's CRD writes it backtracks exponentially on a long bad name; this is
# the same language (characters and single dots, not starting with a dot) in linear time.
_FQDN_CHARS = re.compile(r"[-a-zA-Z0-9_*.]+")


def _entity(value: str) -> str:
    if value not in ENTITIES:
        import difflib

        close = difflib.get_close_matches(value, ENTITIES, n=1, cutoff=0.5)
        raise PydanticCustomError(
            "entity",
            "{value} is not an entity fleetc knows ({known})",
            {
                "value": repr(value[:100]),
                "known": ", ".join(ENTITIES),
                "hint": f"did you mean {close[0]!r}?" if close else "",
            },
        )
    return value


def _fqdn(value: str) -> str:
    """A name or pattern as Cilium's toFQDNs accepts it (``matchName``/``matchPattern``)."""
    if len(value) > 255 or not _FQDN_CHARS.fullmatch(value):
        raise PydanticCustomError(
            "fqdn",
            "{value} is not a DNS name or pattern Cilium accepts (letters, digits, '-', '_',"
            " '*' wildcards and dots, at most 255 characters)",
            {"value": repr(value[:100]), "hint": _fqdn_hint(value)},
        )
    if value.startswith(".") or ".." in value:
        raise PydanticCustomError(
            "fqdn", "{value} has an empty label", {"value": repr(value[:100])}
        )
    if "**" in (value[3:] if value.startswith("**.") else value) or value.rstrip(".") == "**":
        raise PydanticCustomError(
            "fqdn",
            "{value}: '**' is only valid as the prefix '**.' (every subdomain level)",
            {"value": repr(value[:100]), "hint": "write **.example.com or *.example.com"},
        )
    if value != value.lower():
        raise PydanticCustomError(
            "fqdn",
            "{value} has upper-case letters; DNS names are matched without case",
            {"value": repr(value[:100]), "hint": f"write {value.lower()!r}"},
        )
    return value


def _fqdn_hint(value: str) -> str:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return f"an IP address is no DNS name: write to: {{cidrs: [{ip}/{ip.max_prefixlen}]}}"
    if "://" in value:
        return "name the host only, without a scheme: " + repr(
            value.split("://", 1)[1].split("/")[0]
        )
    if "/" in value or ":" in value:
        return "name the host only, without a path or port (ports go under to.ports)"
    return ""


Entity = Annotated[str, AfterValidator(_entity), Field(json_schema_extra={"enum": list(ENTITIES)})]
FQDN = Annotated[
    str,
    AfterValidator(_fqdn),
    Field(
        examples=["api.stripe.com", "*.stripe.com"],
        json_schema_extra={"pattern": FQDN_PATTERN, "maxLength": 255},
    ),
]

Protocol = Literal["TCP", "UDP", "SCTP"]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


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
