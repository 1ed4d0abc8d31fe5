"""Random fleets for the property tests of rendered policies: hypothesis strategies.

Clusters with labels, services, allow and deny policies naming services or workload sets
(cluster lists, label selectors or CEL, namespaces, pod labels, ports and ranges), Cilium
entities, CIDRs with exceptions inside them, DNS names (allowed targets only) and HTTP rules
(allowed TCP targets only): every fleet is one PRODUCT.md accepts. Addresses and names are
drawn from pools outside every cluster range, so ``cidr:``, ``fqdn:`` and ``world`` parties
can be built from them (`WORLD_IP` and `NAME_IPS` lie in no CIDR of the pools).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

NAMESPACES = ("ns-a", "ns-b", "ns-c")
POD_LABELS = {"app": ("web", "api", "db"), "tier": ("x", "y")}
SERVICE_PORTS = ((80, "TCP"), (443, "TCP"), (53, "UDP"), (8080, "TCP"))
PORT_SPECS = ("80/TCP", "443/TCP", "53/UDP", "8000-8100/TCP", "53/ANY", "9000-9001/SCTP")
TCP_PORT_SPECS = ("80/TCP", "443/TCP", "8000-8100/TCP")
FLOW_PORTS = (53, 80, 443, 8000, 8050, 8080, 8100, 8101, 9000, 9001, 9090)
PROTOCOLS = ("TCP", "UDP", "SCTP")
CLUSTER_LABELS = {"env": ("prod", "dev"), "tier": ("a", "b")}

ENTITIES = ("world", "kube-apiserver", "host", "remote-node", "health", "ingress", "cluster", "all")
CIDRS = (
    "198.51.100.0/24",
    "198.51.100.0/25",
    "198.51.100.64/26",
    "203.0.113.0/24",
    "2001:db8::/32",
)
"""Nested on purpose: exceptions of one prefix fall inside others."""
EXCEPTS = (
    "198.51.100.0/25",
    "198.51.100.0/26",
    "198.51.100.64/26",
    "198.51.100.128/25",
    "203.0.113.96/27",
    "2001:db8::/64",
)
ADDRESSES = (
    "198.51.100.1",
    "198.51.100.70",
    "198.51.100.130",
    "203.0.113.5",
    "203.0.113.100",
    "2001:db8::1",
    "2001:db8:1::1",
)
WORLD_IP = "100.64.0.1"
"""`world`: an address in no cluster's range and in no CIDR a policy can name here."""
FQDN_PATTERNS = ("api.example.com", "*.example.com", "**.example.com", "exa*le.org", "*")
NAMES = ("api.example.com", "a.b.example.com", "example.com", "example.org", "exle.org")
NAME_IPS = {name: f"100.64.1.{i + 1}" for i, name in enumerate(NAMES)}
"""What each name resolves to: outside every cluster and every CIDR above."""
HTTP_RULES = (
    {"method": "GET"},
    {"method": "GET|HEAD"},
    {"path": "/v1/.*"},
    {"method": "POST", "path": "/v1/items"},
)
REQUESTS = (("GET", "/v1/items"), ("POST", "/v1/items"), ("HEAD", "/health"), ("PUT", "/v2"))


@st.composite
def labels(draw: Any, pool: Mapping[str, tuple[str, ...]], min_size: int = 0) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(sorted(pool)), min_size=min_size, unique=True))
    return {k: draw(st.sampled_from(pool[k])) for k in sorted(keys)}


@st.composite
def cluster_selector(draw: Any, names: list[str]) -> Any:
    kind = draw(st.sampled_from(("names", "labels", "expression", "cel")))
    if kind == "names":
        return draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    if kind == "labels":
        return {"matchLabels": draw(labels(CLUSTER_LABELS, min_size=1))}
    if kind == "expression":
        op = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expr: dict[str, Any] = {
            "key": draw(st.sampled_from(sorted(CLUSTER_LABELS))),
            "operator": op,
        }
        if op in ("In", "NotIn"):
            expr["values"] = draw(
                st.lists(st.sampled_from(CLUSTER_LABELS[expr["key"]]), min_size=1, unique=True)
            )
        return {"matchExpressions": [expr]}
    env = draw(st.sampled_from(CLUSTER_LABELS["env"]))
    return {"cel": f"'env' in cluster.labels && cluster.labels['env'] == '{env}'"}


def _tcp_only(ports: list[str]) -> bool:
    return bool(ports) and all(p.endswith("/TCP") for p in ports)


@st.composite
def fleet_peer(
    draw: Any, names: list[str], services: list[dict[str, Any]], target: bool, allow: bool
) -> Any:
    """A service or a workload set; as a target maybe with ports, and (allow) HTTP rules."""
    out: dict[str, Any] = {}
    l7 = target and allow and draw(st.booleans())  # then TCP ports only
    if services and draw(st.booleans()):
        service = draw(st.sampled_from(services))
        out["service"] = f"{service['namespace']}/{service['name']}"
        exposed = [p for p in service["ports"] if p["protocol"] == "TCP" or not l7]
        if target and exposed and (l7 or draw(st.booleans())):
            ports = draw(st.lists(st.sampled_from(exposed), min_size=1, unique_by=str))
            out["ports"] = [f"{p['port']}/{p['protocol']}" for p in ports]
    else:
        if draw(st.booleans()):
            out["clusters"] = draw(cluster_selector(names))
        if draw(st.booleans()):
            out["namespace"] = draw(st.sampled_from((*NAMESPACES, "kube-system")))
        if draw(st.booleans()):
            out["selector"] = draw(labels(POD_LABELS, min_size=1))
        if target and out and (l7 or draw(st.booleans())):
            pool = TCP_PORT_SPECS if l7 else PORT_SPECS
            out["ports"] = draw(
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)
            )
    if l7 and _tcp_only(out.get("ports", [])):
        out["http"] = draw(
            st.lists(st.sampled_from(HTTP_RULES), min_size=1, max_size=2, unique_by=str)
        )
    return out


@st.composite
def outside_peer(draw: Any, target: bool, allow: bool) -> dict[str, Any]:
    """Entities, CIDRs (exceptions inside them) or, as an allowed target, DNS names."""
    kinds = ["entities", "cidrs"] + (["fqdns"] if target and allow else [])
    kind = draw(st.sampled_from(kinds))
    out: dict[str, Any]
    if kind == "entities":
        out = {
            "entities": draw(
                st.lists(st.sampled_from(ENTITIES), min_size=1, max_size=3, unique=True)
            )
        }
    elif kind == "fqdns":
        out = {
            "fqdns": draw(
                st.lists(st.sampled_from(FQDN_PATTERNS), min_size=1, max_size=3, unique=True)
            )
        }
    else:
        cidrs = draw(st.lists(st.sampled_from(CIDRS), min_size=1, max_size=3, unique=True))
        # an exception may be wider than another of the CIDRs: that one is then left out whole
        inside = [e for e in EXCEPTS if any(_subnet(e, c) for c in cidrs)]
        out = {"cidrs": cidrs}
        if inside and draw(st.booleans()):
            out["except"] = draw(
                st.lists(st.sampled_from(inside), min_size=1, max_size=2, unique=True)
            )
    if target and draw(st.booleans()):
        tcp = allow and draw(st.booleans())
        out["ports"] = draw(
            st.lists(
                st.sampled_from(TCP_PORT_SPECS if tcp else PORT_SPECS),
                min_size=1,
                max_size=2,
                unique=True,
            )
        )
        if tcp and draw(st.booleans()):
            out["http"] = draw(
                st.lists(st.sampled_from(HTTP_RULES), min_size=1, max_size=2, unique_by=str)
            )
    return out


def _wider(outer: str, inner: str) -> bool:
    return outer != inner and _subnet(inner, outer)


def _subnet(inner: str, outer: str) -> bool:
    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


@st.composite
def policy(draw: Any, i: int, names: list[str], services: list[dict[str, Any]]) -> dict[str, Any]:
    action = draw(st.sampled_from(("allow", "deny")))
    allow = action == "allow"
    outside = draw(st.sampled_from((None, "from", "to")))
    return {
        "name": f"p{i}",
        "action": action,
        "from": draw(outside_peer(False, allow))
        if outside == "from"
        else draw(fleet_peer(names, services, False, allow)),
        "to": draw(outside_peer(True, allow))
        if outside == "to"
        else draw(fleet_peer(names, services, True, allow)),
    }


@st.composite
def fleets(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    names = [f"c{i}" for i in range(count)]
    clusters = [
        {
            "name": name,
            "id": i + 1,
            "labels": draw(labels(CLUSTER_LABELS)),
            "podCIDRs": [f"10.{i + 1}.0.0/16"],
            "meshEndpoint": {"address": f"{name}.example"},
        }
        for i, name in enumerate(names)
    ]
    services = []
    for i in range(draw(st.integers(0, 4))):
        ports = draw(st.lists(st.sampled_from(SERVICE_PORTS), max_size=2, unique=True))
        services.append(
            {
                "name": f"svc{i}",
                "namespace": draw(st.sampled_from(NAMESPACES)),
                "selector": draw(labels(POD_LABELS, min_size=1)),
                "ports": [{"port": p, "protocol": proto} for p, proto in ports],
                "clusters": draw(st.lists(st.sampled_from(names), min_size=1, unique=True)),
            }
        )
    policies = [draw(policy(i, names, services)) for i in range(draw(st.integers(0, 5)))]
    return {
        "apiVersion": "fleetc.dev/v1alpha1",
        "kind": "Fleet",
        "metadata": {"name": "random"},
        "spec": {
            "cilium": {"version": "1.19"},
            "defaults": {
                "ingress": draw(st.sampled_from(("allow", "deny"))),
                "egress": draw(st.sampled_from(("allow", "deny"))),
            },
            "clusters": clusters,
            "services": services,
            "policies": policies,
        },
    }
