"""Endpoints as written in expectations and `fleetc explain`: where a flow starts or ends.

``ns/service@cluster`` names a declared service in one cluster; ``ns@cluster`` is every pod of
a namespace and ``ns/app=x,tier=y@cluster`` the pods with those labels (a workload set).
`parse_endpoint` only checks the shape; whether the names resolve is `validate`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compiler.model.types import CLUSTER_NAME, DNS1123_LABEL, LABEL_KEY, LABEL_VALUE

_NAME = re.compile(DNS1123_LABEL)
_CLUSTER = re.compile(CLUSTER_NAME)
_KEY = re.compile(LABEL_KEY)
_VALUE = re.compile(LABEL_VALUE)


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


class EndpointError(ValueError):
    """A malformed endpoint; `offset` is where in the text the problem starts (0-based)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


FORMS = "ns/service@cluster, ns@cluster or ns/key=value,...@cluster"


def parse_endpoint(text: str) -> Endpoint:
    """``payments/payments@eu-payments`` -> Endpoint; raise EndpointError saying what is wrong."""
    what, at, cluster = text.rpartition("@")
    if not at:
        raise EndpointError(f"{text!r} names no cluster; end it with @cluster", len(text))
    cluster_at = len(what) + 1
    if not cluster:
        raise EndpointError(f"{text!r} names no cluster after '@'", cluster_at)
    if len(cluster) > 32 or not _CLUSTER.match(cluster):
        raise EndpointError(f"{cluster!r} is not a valid cluster name", cluster_at)
    namespace, slash, rest = what.partition("/")
    if len(namespace) > 63 or not _NAME.match(namespace):
        raise EndpointError(f"{namespace!r} is not a valid namespace name", 0)
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
