"""Services, policies, guardrails and expectations: duplicates, references that must resolve,
ports that must exist. Each check is a plain function ``(doc, fleet, diags) -> None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.diagnostics import Diagnostics
from compiler.load import Document, Path, format_path
from compiler.model import Fleet, PortRange, Service
from compiler.model.fleet import ClusterLabelSelector, Peer, Target
from compiler.validate.endpoints import FORMS, EndpointError, Special, fleet_range, parse_endpoint
from compiler.validate.names import ServiceSuggestions, Suggestions
from compiler.validate.positions import first_here, inside
from compiler.validate.selectors import match_labels

SERVICES: Path = ("spec", "services")
POLICIES: Path = ("spec", "policies")


def _services(fleet: Fleet) -> dict[str, Service]:
    """``ns/name`` -> the first service declared under it (duplicates are reported apart)."""
    out: dict[str, Service] = {}
    for service in fleet.spec.services:
        out.setdefault(f"{service.namespace}/{service.name}", service)
    return out


def _unknown_cluster(
    doc: Document, known: Suggestions, name: str, path: Path, diags: Diagnostics
) -> None:
    """Report `name` at `path` unless it is one of the `known` cluster names."""
    if name not in known:
        diags.error(
            "ref-unknown-cluster",
            f"unknown cluster {name!r}",
            doc.position(path),
            path=format_path(path),
            hint=known(name),
        )


def _cluster_names(fleet: Fleet) -> Suggestions:
    """The fleet's cluster names, also as "did you mean" answers (built once per check)."""
    return Suggestions(c.name for c in fleet.spec.clusters)


def check_services(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """One declaration per ns/name, clusters that exist (once each), distinct ports."""
    known = _cluster_names(fleet)
    first: dict[str, int] = {}
    for i, service in enumerate(fleet.spec.services):
        here = (*SERVICES, i)
        ref = f"{service.namespace}/{service.name}"
        if ref in first:
            diags.error(
                "service-duplicate",
                f"service {ref} is declared twice",
                doc.position((*here, "name")),
                path=format_path((*here, "name")),
                related=[first_here(doc, (*SERVICES, first[ref], "name"))],
                hint="declare it once and list every cluster it runs in under clusters",
            )
        else:
            first[ref] = i
        listed: dict[str, int] = {}
        for j, name in enumerate(service.clusters):
            path = (*here, "clusters", j)
            if name in listed:
                diags.error(
                    "service-duplicate-cluster",
                    f"cluster {name!r} is listed twice for service {ref}",
                    doc.position(path),
                    path=format_path(path),
                    related=[first_here(doc, (*here, "clusters", listed[name]))],
                )
                continue
            listed[name] = j
            _unknown_cluster(doc, known, name, path, diags)
        names: dict[str, int] = {}
        numbers: dict[tuple[int, str], int] = {}
        for j, port in enumerate(service.ports):
            path = (*here, "ports", j)
            if port.name is not None:
                if port.name in names:
                    diags.error(
                        "service-port-duplicate",
                        f"port name {port.name!r} is used twice in service {ref}",
                        doc.position((*path, "name")),
                        path=format_path((*path, "name")),
                        related=[first_here(doc, (*here, "ports", names[port.name], "name"))],
                    )
                else:
                    names[port.name] = j
            key = (port.port, port.protocol)
            if key in numbers:
                diags.error(
                    "service-port-duplicate",
                    f"port {port.port}/{port.protocol} is declared twice in service {ref}",
                    doc.position((*path, "port")),
                    path=format_path((*path, "port")),
                    related=[first_here(doc, (*here, "ports", numbers[key], "port"))],
                )
            else:
                numbers[key] = j


def check_policies(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Unique names; services and clusters that resolve; ports that the target has."""
    services = _services(fleet)
    suggest = ServiceSuggestions(services)
    # many policies share a selector; each is matched against every cluster once
    matches: dict[str, bool] = {}
    known = _cluster_names(fleet)
    labels_hint = _labels_hint(fleet)
    first: dict[str, int] = {}
    for i, policy in enumerate(fleet.spec.policies):
        here = (*POLICIES, i)
        if policy.name in first:
            diags.error(
                "policy-duplicate-name",
                f"policy name {policy.name!r} is used twice",
                doc.position((*here, "name")),
                path=format_path((*here, "name")),
                related=[first_here(doc, (*POLICIES, first[policy.name], "name"))],
            )
        else:
            first[policy.name] = i
        for side, peer in (("from", policy.from_), ("to", policy.to)):
            _check_peer(
                doc, fleet, (known, suggest, labels_hint), matches, peer, (*here, side), diags
            )
        _check_ports(doc, services, policy.to, (*here, "to"), diags)


def _check_peer(
    doc: Document,
    fleet: Fleet,
    names: tuple[Suggestions, ServiceSuggestions, str | None],
    matches: dict[str, bool],
    peer: Peer,
    here: Path,
    diags: Diagnostics,
) -> None:
    known, services, labels_hint = names
    if peer.service is not None and peer.service not in services:
        diags.error(
            "ref-unknown-service",
            f"unknown service {peer.service!r}",
            doc.position((*here, "service")),
            path=format_path((*here, "service")),
            hint=services(peer.service),
        )
    selector = peer.clusters
    if selector is None:
        return
    path = (*here, "clusters")
    if isinstance(selector, list):
        for k, name in enumerate(selector):
            _unknown_cluster(doc, known, name, (*path, k), diags)
        if not selector:
            diags.warning(
                "policy-selector-empty",
                "an empty cluster list selects no cluster; this side of the policy is empty",
                doc.key_position(path),
                path=format_path(path),
            )
        return
    if not isinstance(selector, ClusterLabelSelector) or selector.cel is not None:
        return  # CEL selectors are checked by compiler.validate.cel
    key = selector.model_dump_json()
    if key not in matches:
        matches[key] = any(match_labels(selector, c.labels) for c in fleet.spec.clusters)
    if not matches[key]:
        diags.warning(
            "policy-selector-empty",
            "this cluster selector matches no cluster; the policy has no effect here",
            doc.key_position(path),
            path=format_path(path),
            hint=labels_hint,
        )


def _labels_hint(fleet: Fleet) -> str | None:
    pairs = sorted({f"{k}={v}" for c in fleet.spec.clusters for k, v in c.labels.items()})
    if not pairs:
        return "no cluster has labels"
    shown = ", ".join(pairs[:8]) + (", ..." if len(pairs) > 8 else "")
    return f"cluster labels in this fleet: {shown}"


def _check_ports(
    doc: Document, services: dict[str, Service], target: Target, here: Path, diags: Diagnostics
) -> None:
    if target.ports is None:
        return
    if not target.kinds:
        diags.error(
            "policy-ports-no-target",
            "'to.ports' needs a target: a service, workloads (clusters, namespace or selector),"
            " entities, cidrs or fqdns",
            doc.key_position((*here, "ports")),
            path=format_path((*here, "ports")),
            hint="name the service (to: {service: ns/name, ports: [...]}) or the workloads",
        )
        return
    service = services.get(target.service) if target.service else None
    if service is None:
        return
    exposed = [PortRange(p.protocol, p.port, p.port) for p in service.ports]
    for j, spec in enumerate(target.ports):
        wanted = PortRange.parse(spec)
        if _covered(wanted, exposed):
            continue
        has = ", ".join(_port_label(p.port, p.protocol, p.name) for p in service.ports)
        has = f"{target.service} has {has}" if has else f"{target.service} declares no ports"
        # The rule still applies to the port on the service's pods; the spelled-out workload
        # set says that without pretending the Service carries it.
        diags.warning(
            "policy-port-not-in-service",
            f"port {spec} is not a port of service {target.service}",
            doc.position((*here, "ports", j)),
            path=format_path((*here, "ports", j)),
            hint=f"{has}; to reach other ports of its pods write the workload set:"
            f" {_workload_set(service)}",
        )


def _workload_set(service: Service) -> str:
    selector = ", ".join(f"{k}: {v}" for k, v in sorted(service.selector.items()))
    clusters = ", ".join(service.clusters)
    return f"{{namespace: {service.namespace}, selector: {{{selector}}}, clusters: [{clusters}]}}"


def _port_label(port: int, protocol: str, name: str | None) -> str:
    return f"{port}/{protocol}" + (f" ({name})" if name else "")


def _covered(wanted: PortRange, exposed: Sequence[PortRange]) -> bool:
    """Every port of `wanted` is a port of the service (for its protocol, or any for ANY)."""
    if wanted.high - wanted.low >= 65535:
        return False
    ports = {p.low for p in exposed if wanted.protocol in ("ANY", p.protocol)}
    return all(port in ports for port in range(wanted.low, wanted.high + 1))


def check_guardrails(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    first: dict[str, int] = {}
    for i, guardrail in enumerate(fleet.spec.guardrails):
        if guardrail.name in first:
            diags.error(
                "guardrail-duplicate-name",
                f"guardrail name {guardrail.name!r} is used twice",
                doc.position(("spec", "guardrails", i, "name")),
                path=format_path(("spec", "guardrails", i, "name")),
                related=[first_here(doc, ("spec", "guardrails", first[guardrail.name], "name"))],
            )
        else:
            first[guardrail.name] = i


def check_expectations(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """Endpoints well-formed and resolving: the cluster exists, the service runs there."""
    services = _services(fleet)
    known = _cluster_names(fleet)
    suggest = ServiceSuggestions(services)
    names: dict[str, int] = {}
    for i, expectation in enumerate(fleet.spec.expectations):
        here = ("spec", "expectations", i)
        if expectation.name is not None:
            if expectation.name in names:
                diags.error(
                    "expectation-duplicate-name",
                    f"expectation name {expectation.name!r} is used twice",
                    doc.position((*here, "name")),
                    path=format_path((*here, "name")),
                    related=[
                        first_here(doc, ("spec", "expectations", names[expectation.name], "name"))
                    ],
                )
            else:
                names[expectation.name] = i
        for side, text in (("from", expectation.from_), ("to", expectation.to)):
            _check_endpoint(doc, fleet, (known, suggest), services, text, (*here, side), diags)


def _check_endpoint(
    doc: Document,
    fleet: Fleet,
    suggestions: tuple[Suggestions, ServiceSuggestions],
    services: dict[str, Service],
    text: str,
    path: Path,
    diags: Diagnostics,
) -> None:
    try:
        endpoint = parse_endpoint(text)
    except EndpointError as exc:
        diags.error(
            "expectation-endpoint-invalid",
            exc.message,
            inside(doc, path, text, exc.offset),
            path=format_path(path),
            hint=f"write {FORMS}",
        )
        return
    names, suggest = suggestions
    if isinstance(endpoint, Special):
        _check_special(doc, fleet, names, endpoint, text, path, diags)
        return
    cluster_at = text.rindex("@") + 1
    if endpoint.cluster not in names:
        diags.error(
            "ref-unknown-cluster",
            f"unknown cluster {endpoint.cluster!r}",
            inside(doc, path, text, cluster_at),
            path=format_path(path),
            hint=names(endpoint.cluster),
        )
    if endpoint.service is None:
        return
    ref = f"{endpoint.namespace}/{endpoint.service}"
    service = services.get(ref)
    if service is None:
        diags.error(
            "ref-unknown-service",
            f"unknown service {ref!r}",
            doc.position(path),
            path=format_path(path),
            hint=suggest(ref),
        )
    elif endpoint.cluster in names and endpoint.cluster not in service.clusters:
        diags.error(
            "ref-service-not-in-cluster",
            f"service {ref} does not run in cluster {endpoint.cluster!r}",
            inside(doc, path, text, cluster_at),
            path=format_path(path),
            hint=f"{ref} runs in " + ", ".join(service.clusters),
        )


def _check_special(
    doc: Document,
    fleet: Fleet,
    names: Suggestions,
    endpoint: Special,
    text: str,
    path: Path,
    diags: Diagnostics,
) -> None:
    """A node entity's cluster exists; a ``cidr:`` address is outside every fleet range."""
    if endpoint.cluster is not None:
        if endpoint.cluster not in names:
            diags.error(
                "ref-unknown-cluster",
                f"unknown cluster {endpoint.cluster!r}",
                inside(doc, path, text, text.rindex("@") + 1),
                path=format_path(path),
                hint=names(endpoint.cluster),
            )
        return
    if endpoint.kind != "cidr":
        return
    found = fleet_range(
        endpoint.value, ((c.name, c.podCIDRs, c.nodeCIDRs) for c in fleet.spec.clusters)
    )
    if found is not None:
        kind, cluster, hint = found
        diags.error(
            "expectation-endpoint-invalid",
            f"{endpoint.value} is in the {kind} range of cluster {cluster}; a cidr: endpoint is"
            " an address outside the fleet",
            inside(doc, path, text, 5),
            path=format_path(path),
            hint=hint,
        )


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    check_services,
    check_policies,
    check_guardrails,
    check_expectations,
)
