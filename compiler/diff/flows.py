"""Connectivity changes between two resolved fleets: flows newly allowed or newly denied.

The flows compared are between probe endpoints: every service's pods in each of its clusters,
and every namespaced workload set a policy names, on the ports that matter to the destination
(its service ports, or the ports policies name). Only pairs a change can affect are asked:
those on either side of a policy that differs between the two fleets, or every pair when the
defaults, clusters or services changed. The reachability model decides each one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compiler.model.types import PortRange
from compiler.reach import Endpoint, decide, in_set
from compiler.resolve.model import Policy, ResolvedFleet, WorkloadSet


@dataclass(frozen=True, order=True)
class FlowChange:
    source: str
    destination: str
    port: str
    source_cluster: str
    destination_cluster: str
    before: bool
    after: bool
    rule_before: str
    rule_after: str


@dataclass(frozen=True, order=True)
class _Probe:
    label: str
    endpoint: Endpoint
    ports: tuple[PortRange, ...]


def _probes(fleet: ResolvedFleet, clusters: set[str]) -> list[_Probe]:
    policy_ports: dict[tuple[str, str | None], set[PortRange]] = {}
    for policy in fleet.policies:
        if not isinstance(policy.destination, WorkloadSet):
            continue
        for name in policy.destination.clusters:
            key = (name, policy.destination.namespace)
            policy_ports.setdefault(key, set()).update(policy.ports or ())
    probes: dict[str, _Probe] = {}
    for service in fleet.services:
        ports = tuple(sorted({PortRange(p.protocol, p.port, p.port) for p in service.ports}))
        for name in service.clusters:
            if name in clusters:
                label = f"{service.ref}@{name}"
                ep = Endpoint(name, service.namespace, service.selector)
                probes[label] = _Probe(label, ep, ports)
    for policy in fleet.policies:
        for ws in (policy.source, policy.destination):
            if not isinstance(ws, WorkloadSet) or ws.namespace is None or ws.service is not None:
                continue
            selector = ws.selector or ()
            written = ",".join(f"{k}={v}" for k, v in selector)
            for name in ws.clusters:
                if name not in clusters:
                    continue
                label = f"{ws.namespace}/{written}@{name}" if written else f"{ws.namespace}@{name}"
                ports = tuple(sorted(policy_ports.get((name, ws.namespace), set())))
                probes.setdefault(
                    label, _Probe(label, Endpoint(name, ws.namespace, selector), ports)
                )
    return [probes[k] for k in sorted(probes)]


def _signature(policy: Policy) -> tuple[object, ...]:
    return (policy.name, policy.action, policy.source, policy.destination, policy.ports)


def _changed_policies(base: ResolvedFleet, head: ResolvedFleet) -> list[Policy]:
    before = {_signature(p): p for p in base.policies}
    after = {_signature(p): p for p in head.policies}
    return [before[k] for k in before.keys() - after.keys()] + [
        after[k] for k in after.keys() - before.keys()
    ]


def _everything_changed(base: ResolvedFleet, head: ResolvedFleet) -> bool:
    return (
        base.default_ingress != head.default_ingress
        or base.default_egress != head.default_egress
        or base.services != head.services
        or base.managed_namespaces != head.managed_namespaces
    )


def _pairs(
    probes: list[_Probe], changed: Iterable[Policy], everything: bool
) -> Iterable[tuple[_Probe, _Probe]]:
    if everything:
        for src in probes:
            for dst in probes:
                if src is not dst:
                    yield src, dst
        return
    seen: set[tuple[str, str]] = set()
    for policy in sorted(changed, key=lambda p: p.name):
        src_side, dst_side = policy.source, policy.destination
        sources = [
            p for p in probes if isinstance(src_side, WorkloadSet) and in_set(p.endpoint, src_side)
        ]
        destinations = [
            p for p in probes if isinstance(dst_side, WorkloadSet) and in_set(p.endpoint, dst_side)
        ]
        for src in sources:
            for dst in destinations:
                if src is not dst and (src.label, dst.label) not in seen:
                    seen.add((src.label, dst.label))
                    yield src, dst


def diff_flows(
    base: ResolvedFleet | None, head: ResolvedFleet | None, limit: int
) -> tuple[list[FlowChange], bool]:
    """Flows whose verdict differs; and whether the `limit` on decisions cut the search."""
    if base is None or head is None:
        return [], False
    clusters = {c.name for c in base.clusters} & {c.name for c in head.clusters}
    probes = sorted(set(_probes(base, clusters)) | set(_probes(head, clusters)))
    by_label: dict[str, _Probe] = {}
    for probe in probes:  # the same label may carry other ports on each side: merge them
        old = by_label.get(probe.label)
        ports = tuple(sorted(set(probe.ports) | set(old.ports if old else ())))
        by_label[probe.label] = _Probe(probe.label, probe.endpoint, ports)
    merged = [by_label[k] for k in sorted(by_label)]
    changes: list[FlowChange] = []
    asked = 0
    for src, dst in _pairs(merged, _changed_policies(base, head), _everything_changed(base, head)):
        for port in dst.ports or (PortRange("TCP", 1, 65535),):
            asked += 1
            if asked > limit:
                return sorted(changes), True
            before = decide(base, src.endpoint, dst.endpoint, port.protocol, port.low)
            after = decide(head, src.endpoint, dst.endpoint, port.protocol, port.low)
            if before.allowed != after.allowed:
                changes.append(
                    FlowChange(
                        src.label,
                        dst.label,
                        str(PortRange(port.protocol, port.low, port.low)),
                        src.endpoint.cluster,
                        dst.endpoint.cluster,
                        before.allowed,
                        after.allowed,
                        before.reason,
                        after.reason,
                    )
                )
    return sorted(changes), False
