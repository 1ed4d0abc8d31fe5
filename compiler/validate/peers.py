"""Policy peers beyond the fleet's pods: entities, CIDRs, DNS names and L7 rules.

What Cilium refuses or silently ignores is caught here, at the offending key or item: FQDN
and L7 rules on a deny (Cilium has neither), DNS names as a source, a policy with no fleet
pods on either side (fleetc enforces rules at pods), CIDRs that name pod or node addresses
(those carry identities, so a CIDR rule never matches them), exceptions outside their
CIDRs, L7 rules without TCP ports, and HTTP regexes RE2 (Envoy's engine) cannot compile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from compiler.diagnostics import Diagnostics, Related
from compiler.load import Document, Path, format_path
from compiler.model import Fleet, PortRange
from compiler.model.fleet import Peer, Policy

POLICIES: Path = ("spec", "policies")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _policies(fleet: Fleet) -> Iterator[tuple[Path, Policy]]:
    for i, policy in enumerate(fleet.spec.policies):
        yield (*POLICIES, i), policy


def _kind(peer: Peer) -> str:
    kinds = peer.kinds
    return kinds[0] if kinds else "workloads"


def check_peer_kinds(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """DNS names only in ``to``; FQDN and L7 rules only on allow; one side in the fleet."""
    for here, policy in _policies(fleet):
        if policy.from_.fqdns is not None:
            path = (*here, "from", "fqdns")
            diags.error(
                "policy-fqdns-in-from",
                "'fqdns' names destinations only: a DNS lookup says where traffic goes, not"
                " where it comes from",
                doc.key_position(path),
                path=format_path(path),
                hint="for traffic from outside the fleet write from: {cidrs: [...]} or"
                " from: {entities: [world]}",
            )
        if policy.action == "deny" and policy.to.fqdns is not None:
            path = (*here, "to", "fqdns")
            diags.error(
                "policy-deny-fqdns",
                "'fqdns' only in an allow rule: Cilium has no DNS-based deny",
                doc.key_position(path),
                path=format_path(path),
                hint="deny the addresses (to: {cidrs: [...]}), or set defaults.egress: deny and"
                " allow only the names that may be reached",
            )
        if policy.action == "deny" and policy.to.http is not None:
            path = (*here, "to", "http")
            diags.error(
                "policy-deny-http",
                "'http' only in an allow rule: Cilium has no L7 deny",
                doc.key_position(path),
                path=format_path(path),
                hint="allow the requests that may pass: on the rule's ports every other request"
                " of its sources is then refused",
            )
        if not policy.from_.in_fleet and not policy.to.in_fleet:
            path = (*here, "from")
            diags.error(
                "policy-no-fleet-side",
                f"a policy needs a fleet side: from ({_kind(policy.from_)}) and to"
                f" ({_kind(policy.to)}) both lie outside the fleet's pods",
                doc.key_position(path),
                path=format_path(path),
                related=[Related(doc.key_position((*here, "to")), "the other side is here")],
                hint="fleetc enforces a rule at the fleet's pods: name a service or workloads"
                " (namespace, selector, clusters) on one side",
            )


def _minus(net: Network, excepts: list[Network]) -> list[Network]:
    """`net` less every range in `excepts`, as disjoint CIDRs."""
    rest = [net]
    for out in excepts:
        kept: list[Network] = []
        for piece in rest:
            if piece.version != out.version or not piece.overlaps(out):
                kept.append(piece)
            elif not piece.subnet_of(out):  # type: ignore[arg-type]
                kept.extend(piece.address_exclude(out))  # type: ignore[arg-type]
        rest = kept
    return rest


def _ranges(fleet: Fleet) -> dict[str, list[tuple[str, Network, Path]]]:
    """kind (pod, node, service) -> (cluster, range, where it is declared), in file order."""
    out: dict[str, list[tuple[str, Network, Path]]] = {"pod": [], "node": [], "service": []}
    for i, cluster in enumerate(fleet.spec.clusters):
        for kind, key, cidrs in (
            ("pod", "podCIDRs", cluster.podCIDRs),
            ("node", "nodeCIDRs", cluster.nodeCIDRs),
            ("service", "serviceCIDRs", cluster.serviceCIDRs),
        ):
            for j, cidr in enumerate(cidrs):
                path = ("spec", "clusters", i, key, j)
                out[kind].append((cluster.name, ipaddress.ip_network(cidr), path))
    return out


_CIDR_FINDINGS = {
    "pod": (
        "policy-cidr-pod-range",
        "error",
        "those pods have identities: name them as workloads (namespace/selector/clusters),"
        " or list their ranges under except",
    ),
    "node": (
        "policy-cidr-node-range",
        "error",
        "use the host or remote-node entity, or list the node ranges under except",
    ),
    "service": (
        "policy-cidr-service-range",
        "warning",
        "service addresses are translated to their backends before policy is applied, so a"
        " CIDR rule never sees them: name the service or its workloads",
    ),
}


def check_cidrs(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """`cidrs` (less their exceptions) outside the fleet's ranges; exceptions inside a CIDR."""
    ranges: dict[str, list[tuple[str, Network, Path]]] | None = None
    for here, policy in _policies(fleet):
        for side, peer in (("from", policy.from_), ("to", policy.to)):
            if peer.cidrs is None:
                continue
            ranges = ranges if ranges is not None else _ranges(fleet)
            nets = [ipaddress.ip_network(c) for c in peer.cidrs]
            excepts = [ipaddress.ip_network(e) for e in peer.except_ or ()]
            for k, (cidr, net) in enumerate(zip(peer.cidrs, nets, strict=True)):
                rest = _minus(net, excepts)
                for kind, (code, severity, hint) in _CIDR_FINDINGS.items():
                    hits = [
                        (name, other, path)
                        for name, other, path in ranges[kind]
                        if any(p.version == other.version and p.overlaps(other) for p in rest)
                    ]
                    if not hits:
                        continue
                    where = (*here, side, "cidrs", k)
                    report = diags.error if severity == "error" else diags.warning
                    listed = ", ".join(f"{other} of cluster {name!r}" for name, other, _ in hits)
                    report(
                        code,
                        f"{cidr} overlaps the {kind} range{'s' if len(hits) > 1 else ''} {listed}",
                        doc.position(where),
                        path=format_path(where),
                        related=[
                            Related(doc.position(path), f"{kind} range {other} of {name!r} is here")
                            for name, other, path in hits
                        ],
                        hint=hint,
                    )
            for k, (text, out) in enumerate(zip(peer.except_ or (), excepts, strict=True)):
                if any(n.version == out.version and out.subnet_of(n) for n in nets):  # type: ignore[arg-type]
                    continue
                where = (*here, side, "except", k)
                diags.error(
                    "policy-cidr-except-outside",
                    f"except {text} is not inside any of the cidrs ({', '.join(peer.cidrs)})",
                    doc.position(where),
                    path=format_path(where),
                    hint="an exception removes addresses from one of the cidrs: list a range"
                    " inside one, or drop it",
                )


def check_fqdns(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """DNS names that mean more, or less, than they seem to."""
    for here, policy in _policies(fleet):
        for k, name in enumerate(policy.to.fqdns or ()):
            where = (*here, "to", "fqdns", k)
            if name.rstrip(".") in ("*", "**.*"):
                diags.warning(
                    "policy-fqdn-any",
                    f"{name!r} matches every DNS name: the sources may reach any address a"
                    " lookup returns",
                    doc.position(where),
                    path=format_path(where),
                    hint="name the domains (*.example.com), or write to: {entities: [world]} if"
                    " any address is meant",
                )
            elif _is_ip(name.rstrip(".")):
                diags.error(
                    "policy-fqdn-ip",
                    f"{name} is an IP address, not a DNS name: no lookup answers for it, so the"
                    " rule never matches",
                    doc.position(where),
                    path=format_path(where),
                    hint=f"write to: {{cidrs: [{_host_cidr(name.rstrip('.'))}]}}",
                )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_cidr(text: str) -> str:
    ip = ipaddress.ip_address(text)
    return f"{ip}/{ip.max_prefixlen}"


def check_http(doc: Document, fleet: Fleet, diags: Diagnostics) -> None:
    """L7 rules on TCP ports (the proxy is bound to ports), with regexes RE2 compiles."""
    services = {f"{s.namespace}/{s.name}": s for s in fleet.spec.services}
    for here, policy in _policies(fleet):
        target = policy.to
        if target.http is None:
            continue
        at = (*here, "to", "http")
        if target.ports is not None:
            for k, spec in enumerate(target.ports):
                protocol = PortRange.parse(spec).protocol
                if protocol != "TCP":
                    where = (*here, "to", "ports", k)
                    diags.error(
                        "policy-http-protocol",
                        f"an http rule needs TCP ports; {spec} is {protocol}",
                        doc.position(where),
                        path=format_path(where),
                        related=[Related(doc.key_position(at), "the http rule is here")],
                        hint="write the TCP ports the requests use, and put other ports in a"
                        " policy of their own",
                    )
        elif target.service is None or target.service in services:
            service = services.get(target.service) if target.service else None
            ports = service.ports if service else []
            if not ports:
                diags.error(
                    "policy-http-no-ports",
                    "an http rule needs ports: Cilium's proxy sees only the ports a rule names",
                    doc.key_position(at),
                    path=format_path(at),
                    hint="add to.ports, such as ports: [8080/TCP]",
                )
            for port in ports:
                if port.protocol != "TCP":
                    diags.error(
                        "policy-http-protocol",
                        f"an http rule needs TCP ports; service {target.service} also has"
                        f" {port.port}/{port.protocol}",
                        doc.key_position(at),
                        path=format_path(at),
                        hint="list the TCP ports the requests use under to.ports",
                    )
        for k, rule in enumerate(target.http):
            for field, pattern in (("method", rule.method), ("path", rule.path)):
                if pattern is None:
                    continue
                problem = regex_error(pattern)
                if problem is not None:
                    where = (*at, k, field)
                    diags.error(
                        "policy-http-regex",
                        f"http {field} {pattern!r} is not a regular expression Envoy accepts:"
                        f" {problem}",
                        doc.position(where),
                        path=format_path(where),
                        hint="Cilium's proxy uses RE2 syntax: no look-around or back-references;"
                        r" escape a literal '(', '[' or '.' with '\'",
                    )


@cache
def _re2() -> tuple[Any, Any] | None:
    """google-re2 (Envoy's regex engine) with error logging off, if it is installed."""
    try:
        import re2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - cel-python brings it
        return None
    options = re2.Options()
    options.log_errors = False  # it would write to stderr from C++
    return re2, options


def regex_error(pattern: str) -> str | None:
    """Why RE2 rejects `pattern` (None when it compiles). Without RE2, Python's `re` judges."""
    engine = _re2()
    if engine is not None:
        re2, options = engine
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            return detail.decode() if isinstance(detail, bytes) else str(detail)
        return None
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    return None


CHECKS: tuple[Callable[[Document, Fleet, Diagnostics], None], ...] = (
    check_peer_kinds,
    check_cidrs,
    check_fqdns,
    check_http,
)
