"""From an endpoint as written (``ns/service@cluster``, ``ns/k=v@cluster``, ``world``, ...) to
what the reachability model reasons about: an abstract pod, an outside address or a node.

Parsing the text is `compiler.validate.endpoints`' job; this module gives the parsed form its
meaning against a resolved fleet: a service stands for its pods (its selector's labels) in
that cluster, a workload set for a pod carrying exactly the labels written.
"""

from __future__ import annotations

from compiler.reach.model import DNS_NAMESPACE, Endpoint, Node, Outside, Party
from compiler.resolve.model import ResolvedFleet
from compiler.validate.endpoints import Endpoint as Written
from compiler.validate.endpoints import EndpointError, Special, fleet_range, parse_endpoint
from compiler.validate.names import did_you_mean


class UnknownEndpoint(ValueError):
    """The endpoint is well-formed but names a cluster or service the fleet does not have."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def endpoint_for(resolved: ResolvedFleet, written: Written | Special) -> Party:
    """What `written` stands for; UnknownEndpoint when a name does not resolve."""
    clusters = [c.name for c in resolved.clusters]
    if isinstance(written, Special):
        return _special(resolved, written, clusters)
    if written.cluster not in clusters:
        raise UnknownEndpoint(
            f"unknown cluster {written.cluster!r}", did_you_mean(written.cluster, clusters)
        )
    if written.service is None:
        namespace = written.namespace
        if namespace == "*":
            namespace = unnamed_namespace(resolved)
        return Endpoint(written.cluster, namespace, written.labels)
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


def unnamed_namespace(*revisions: ResolvedFleet) -> str:
    """A namespace no revision of the fleet names anywhere, nor kube-dns's: what
    ``*@cluster`` stands for (in `explain` and, over both revisions, in `diff`)."""
    taken = {DNS_NAMESPACE}
    for resolved in revisions:
        taken.update(resolved.system_namespaces)
        taken.update(s.namespace for s in resolved.services)
        for _cluster, names in resolved.managed_namespaces:
            taken.update(names)
        for policy in resolved.policies:
            for side in (policy.source, policy.destination):
                namespace = getattr(side, "namespace", None)
                if namespace is not None:
                    taken.add(namespace)
    name, n = "fleetc-unnamed", 0
    while name in taken:
        n += 1
        name = f"fleetc-unnamed-{n}"
    return name


def _special(resolved: ResolvedFleet, written: Special, clusters: list[str]) -> Party:
    if written.cluster is not None:
        if written.cluster not in clusters:
            raise UnknownEndpoint(
                f"unknown cluster {written.cluster!r}", did_you_mean(written.cluster, clusters)
            )
        return Node(written.kind, written.cluster)
    if written.kind == "cidr":
        _outside_the_fleet(resolved, written.value)
    return Outside(written.kind, written.value)


def _outside_the_fleet(resolved: ResolvedFleet, address: str) -> None:
    """A pod or node address has an identity in the mesh: it is not a `cidr:` peer."""
    inside = fleet_range(address, ((c.name, c.pod_cidrs, c.node_cidrs) for c in resolved.clusters))
    if inside is not None:
        kind, cluster, hint = inside
        raise UnknownEndpoint(f"{address} is in the {kind} range of cluster {cluster}", hint)


def parse(resolved: ResolvedFleet, text: str) -> Party:
    """`parse_endpoint` then `endpoint_for`; raises EndpointError or UnknownEndpoint."""
    return endpoint_for(resolved, parse_endpoint(text))


__all__ = ["EndpointError", "UnknownEndpoint", "endpoint_for", "parse"]
