"""Endpoints as written in expectations and `fleetc explain`: where a flow starts or ends.

``ns/service@cluster`` names a declared service in one cluster; ``ns@cluster`` is every pod of
a namespace and ``ns/app=x,tier=y@cluster`` the pods with those labels (a workload set).
Outside the fleet's pods: ``world``, ``cidr:IP``, ``fqdn:NAME``, and ``kube-apiserver@c``,
``host@c``, ``remote-node@c`` for a cluster's node-side entities. ``*@cluster`` (and
``*/key=value@cluster``) is a pod in a namespace fleet.yaml never names (so those three words are
read as entities, never as namespace names, before an ``@``).
`parse_endpoint` only checks the shape; whether the names resolve is `validate`'s business.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from compiler.plain import CLUSTER_NAME, DNS1123_LABEL, LABEL_KEY, LABEL_VALUE

_NAME = re.compile(DNS1123_LABEL)
_CLUSTER = re.compile(CLUSTER_NAME)
_KEY = re.compile(LABEL_KEY)
_VALUE = re.compile(LABEL_VALUE)
_DNS_NAME = re.compile(
    r"[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?(\.[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?)*"
)


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint; exactly one of `service` and `labels` is meaningful."""

    namespace: str
    cluster: str
    service: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        what = self.namespace
        if self.service is not None:
            what += f"/{self.service}"
        elif self.labels:
            what += "/" + ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{what}@{self.cluster}"


NODE_KINDS = ("kube-apiserver", "host", "remote-node")


@dataclass(frozen=True)
class Special:
    """An endpoint that is not a pod: `kind` is world, cidr, fqdn (`value`: the address or
    name) or one of NODE_KINDS (`value`: the cluster)."""

    kind: str
    value: str = ""

    @property
    def cluster(self) -> str | None:
        return self.value if self.kind in NODE_KINDS else None

    def __str__(self) -> str:
        if self.kind == "world":
            return "world"
        if self.kind in NODE_KINDS:
            return f"{self.kind}@{self.value}"
        return f"{self.kind}:{self.value}"


def fleet_range(
    address: str, clusters: Iterable[tuple[str, Sequence[str], Sequence[str]]]
) -> tuple[str, str, str] | None:
    """Where a ``cidr:`` address lies inside the fleet, given each cluster's (name, pod
    ranges, node ranges): (kind of range, cluster, hint), or None when it is outside. Such an
    address has an identity in the mesh, so it is no ``cidr:`` peer."""
    ip = ipaddress.ip_address(address)
    for name, pods, nodes in clusters:
        for kind, ranges, hint in (
            ("pod", pods, f"name the pods, e.g. NAMESPACE@{name}"),
            ("node", nodes, f"write host@{name} or remote-node@{name}"),
        ):
            if any(ip in ipaddress.ip_network(r) for r in ranges):
                return kind, name, hint
    return None


class EndpointError(ValueError):
    """A malformed endpoint; `offset` is where in the text the problem starts (0-based)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


FORMS = (
    "ns/service@cluster, ns@cluster, ns/key=value,...@cluster, world, cidr:IP, fqdn:NAME,"
    " kube-apiserver@cluster, host@cluster or remote-node@cluster"
)


def parse_endpoint(text: str) -> Endpoint | Special:
    """``payments/payments@eu-payments`` -> Endpoint; raise EndpointError saying what is wrong."""
    if text == "world":
        return Special("world")
    if text.startswith("cidr:"):
        return Special("cidr", _address(text[5:], 5))
    if text.startswith("fqdn:"):
        return Special("fqdn", _name(text[5:], 5))
    what, at, cluster = text.rpartition("@")
    if at and what in NODE_KINDS:
        if len(cluster) > 32 or not _CLUSTER.match(cluster):
            raise EndpointError(f"{cluster!r} is not a valid cluster name", len(what) + 1)
        return Special(what, cluster)
    return _pod(text)


def _address(text: str, offset: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise EndpointError(
            f"{text[:100]!r} is not an IP address (write cidr:203.0.113.7)", offset
        ) from None
    if "%" in text:
        raise EndpointError(f"{text[:100]!r}: an address with a zone is not a peer", offset)
    return str(address)


def _name(text: str, offset: int) -> str:
    name = text.lower().rstrip(".")
    if not name or len(name) > 253 or not _DNS_NAME.fullmatch(name):
        raise EndpointError(
            f"{text[:100]!r} is not a DNS name (write fqdn:api.example.com)", offset
        )
    return name


def _pod(text: str) -> Endpoint:
    what, at, cluster = text.rpartition("@")
    if not at:
        raise EndpointError(f"{text!r} names no cluster; end it with @cluster", len(text))
    cluster_at = len(what) + 1
    if not cluster:
        raise EndpointError(f"{text!r} names no cluster after '@'", cluster_at)
    if len(cluster) > 32 or not _CLUSTER.match(cluster):
        raise EndpointError(f"{cluster!r} is not a valid cluster name", cluster_at)
    namespace, slash, rest = what.partition("/")
    if namespace != "*" and (len(namespace) > 63 or not _NAME.match(namespace)):
        raise EndpointError(f"{namespace!r} is not a valid namespace name", 0)
    if namespace == "*" and slash and "=" not in rest:
        raise EndpointError("'*' stands for a namespace fleet.yaml never names: no service", 0)
    if not slash:
        return Endpoint(namespace, cluster)
    rest_at = len(namespace) + 1
    if "=" not in rest:
        if len(rest) > 63 or not _NAME.match(rest):
            raise EndpointError(f"{rest!r} is not a valid service name", rest_at)
        return Endpoint(namespace, cluster, service=rest)
    labels: dict[str, str] = {}
    offset = rest_at
    for pair in rest.split(","):
        key, eq, value = pair.partition("=")
        if not eq:
            raise EndpointError(f"{pair!r} is not a label written key=value", offset)
        if len(key.rsplit("/", 1)[-1]) > 63 or not _KEY.match(key):
            raise EndpointError(f"{key!r} is not a valid label key", offset)
        if len(value) > 63 or not _VALUE.match(value):
            raise EndpointError(f"{value!r} is not a valid label value", offset + len(key) + 1)
        if key in labels:
            raise EndpointError(f"label {key!r} is given twice", offset)
        labels[key] = value
        offset += len(pair) + 1
    return Endpoint(namespace, cluster, labels=tuple(sorted(labels.items())))
