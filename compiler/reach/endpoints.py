"""From an endpoint as written (``ns/service@cluster``, ``ns/k=v@cluster``) to an abstract pod.

Parsing the text is `compiler.validate.endpoints`' job; this module gives the parsed form its
meaning against a resolved fleet: a service stands for its pods (its selector's labels) in
that cluster, a workload set for a pod carrying exactly the labels written.
"""

from __future__ import annotations

from compiler.reach.model import Endpoint
from compiler.resolve.model import ResolvedFleet
from compiler.validate.endpoints import Endpoint as Written
from compiler.validate.endpoints import EndpointError, parse_endpoint
from compiler.validate.names import did_you_mean


class UnknownEndpoint(ValueError):
    """The endpoint is well-formed but names a cluster or service the fleet does not have."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def endpoint_for(resolved: ResolvedFleet, written: Written) -> Endpoint:
    """The abstract pod `written` stands for; UnknownEndpoint when a name does not resolve."""
    clusters = [c.name for c in resolved.clusters]
    if written.cluster not in clusters:
        raise UnknownEndpoint(
            f"unknown cluster {written.cluster!r}", did_you_mean(written.cluster, clusters)
        )
    if written.service is None:
        return Endpoint(written.cluster, written.namespace, written.labels)
    ref = f"{written.namespace}/{written.service}"
    services = {s.ref: s for s in resolved.services}
    service = services.get(ref)
    if service is None:
        raise UnknownEndpoint(f"unknown service {ref!r}", did_you_mean(ref, services))
    if written.cluster not in service.clusters:
        raise UnknownEndpoint(
            f"service {ref} does not run in cluster {written.cluster!r}",
            f"{ref} runs in " + ", ".join(service.clusters),
        )
    return Endpoint(written.cluster, service.namespace, service.selector)


def parse(resolved: ResolvedFleet, text: str) -> Endpoint:
    """`parse_endpoint` then `endpoint_for`; raises EndpointError or UnknownEndpoint."""
    return endpoint_for(resolved, parse_endpoint(text))


__all__ = ["EndpointError", "UnknownEndpoint", "endpoint_for", "parse"]
