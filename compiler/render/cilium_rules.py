"""Cilium's rules for network policies beyond what the CRD schema can say.

The agent rejects (or, worse, silently misreads) policies that break these, yet the API server
accepts them. fleetc never means to write one, so `check_policy` treats a violation as a bug in
the compiler: it raises `CiliumRuleError` and the command ends with an internal error instead
of writing output that would fail in the cluster.

Checked: a policy has a subject and at least one non-empty rule list; one peer kind per rule
(``toEndpoints`` or ``toCIDR`` or ``toEntities`` ...); ICMP rules never beside ``toPorts``; no
L7 rules on deny rules nor on port 0; DNS rules only on egress and only on port 53; at most 40
ports per port rule; ports and ranges in bounds; no duplicate rules; an empty rule only as
Cilium's "deny everything" idiom; every endpoint peer names its cluster.
"""

from __future__ import annotations

import json
from typing import Any

MAX_PORTS = 40
CLUSTER_KEYS = ("io.cilium.k8s.policy.cluster", "k8s:io.cilium.k8s.policy.cluster")
RULE_LISTS = ("ingress", "ingressDeny", "egress", "egressDeny")
PEERS = {
    "ingress": (
        "fromEndpoints",
        "fromCIDR",
        "fromCIDRSet",
        "fromEntities",
        "fromGroups",
        "fromNodes",
    ),
    "egress": (
        "toEndpoints",
        "toCIDR",
        "toCIDRSet",
        "toEntities",
        "toServices",
        "toFQDNs",
        "toGroups",
        "toNodes",
    ),
}


class CiliumRuleError(Exception):
    """A rendered policy breaks one of Cilium's rules: a bug in fleetc, never a user error."""


def _fail(obj: dict[str, Any], where: str, message: str) -> None:
    meta = obj.get("metadata", {})
    name = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
    raise CiliumRuleError(f"{obj.get('kind')} {name}: {where}: {message}")


def check_policy(obj: dict[str, Any]) -> None:
    """Raise CiliumRuleError when `obj` (a CNP or CCNP) breaks a rule Cilium enforces."""
    spec = obj.get("spec")
    specs = obj.get("specs")
    if (spec is None) == (specs is None):
        _fail(obj, "spec", "a policy has exactly one of spec and specs")
    rules = [spec] if spec is not None else list(specs or [])
    if not rules:
        _fail(obj, "specs", "empty list")
    for i, rule in enumerate(rules):
        _check_rule(obj, rule, "spec" if spec is not None else f"specs[{i}]")


def _check_rule(obj: dict[str, Any], rule: dict[str, Any], where: str) -> None:
    if ("endpointSelector" in rule) == ("nodeSelector" in rule):
        _fail(obj, where, "needs exactly one of endpointSelector and nodeSelector")
    present = [name for name in RULE_LISTS if name in rule]
    if not present:
        _fail(obj, where, "no ingress, ingressDeny, egress or egressDeny rules")
    default_deny = rule.get("enableDefaultDeny", {})
    for name in present:
        items = rule[name]
        at = f"{where}.{name}"
        if not items:
            _fail(obj, at, "an empty rule list is invalid")
        if len(items) > 1:
            keys = [json.dumps(item, sort_keys=True) for item in items]
            if len(set(keys)) != len(keys):
                _fail(obj, at, "duplicate rules")
        for j, item in enumerate(items):
            if not item:
                direction = name.removesuffix("Deny")
                if name.endswith("Deny") or len(items) != 1 or not default_deny.get(direction):
                    _fail(
                        obj,
                        f"{at}[{j}]",
                        "an empty rule is only valid as the single rule of a default-deny",
                    )
                continue
            _check_item(obj, name, item, f"{at}[{j}]")


def _check_item(obj: dict[str, Any], name: str, item: dict[str, Any], at: str) -> None:
    direction = name.removesuffix("Deny")
    deny = name.endswith("Deny")
    peers = [p for p in PEERS[direction] if p in item]
    if len(peers) > 1:
        _fail(obj, at, f"one peer kind per rule, found {', '.join(peers)}")
    for selector in item.get("toEndpoints", []) + item.get("fromEndpoints", []):
        keys = set(selector.get("matchLabels", {})) | {
            e["key"] for e in selector.get("matchExpressions", [])
        }
        if not keys & set(CLUSTER_KEYS):
            _fail(obj, at, "endpoint peer without io.cilium.k8s.policy.cluster")
    if "icmps" in item and "toPorts" in item:
        _fail(obj, at, "ICMP rules cannot be combined with toPorts")
    for k, port_rule in enumerate(item.get("toPorts", [])):
        _check_ports(obj, direction, deny, port_rule, f"{at}.toPorts[{k}]")


def _check_ports(
    obj: dict[str, Any], direction: str, deny: bool, port_rule: dict[str, Any], at: str
) -> None:
    ports = port_rule.get("ports", [])
    if len(ports) > MAX_PORTS:
        _fail(obj, at, f"{len(ports)} ports; Cilium allows at most {MAX_PORTS} per rule")
    numbers = []
    for port in ports:
        text = str(port.get("port", "0"))
        number = int(text) if text.isdigit() else -1
        if not 0 <= number <= 65535:
            _fail(obj, at, f"port {text!r} is not a number in 0-65535")
        end = port.get("endPort")
        if end is not None and not number <= end <= 65535:
            _fail(obj, at, f"endPort {end} is below port {number} or above 65535")
        numbers.append(number)
    l7 = port_rule.get("rules")
    if not l7:
        return
    if deny:
        _fail(obj, at, "L7 rules are not allowed on deny rules")
    if not ports or 0 in numbers:
        _fail(obj, at, "L7 rules need a port other than 0")
    if "dns" in l7:
        if direction != "egress":
            _fail(obj, at, "DNS rules are allowed on egress only")
        if any(
            n != 53 or p.get("endPort") not in (None, 53)
            for n, p in zip(numbers, ports, strict=True)
        ):
            _fail(obj, at, "DNS rules apply to port 53 only")
