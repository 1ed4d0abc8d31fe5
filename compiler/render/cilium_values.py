"""The Cilium Helm values fleetc owns for one cluster: `values(resolved, cluster)`.

They follow the cluster's Cilium minor (``ciliumVersion``, else the fleet's), and write only
keys that minor's chart has:

- ``clustermesh.config.clusters``: a list of ``{name, address|ips, port}`` before 1.19 (the
  1.18 chart ranges over a list), the dict keyed by peer name from 1.19;
- ``clustermesh.policyDefaultLocalCluster`` (from 1.18, where the option appeared): what
  fleet.yaml says in ``spec.cilium.policyDefaultLocalCluster``, else that minor's own default
  (false in 1.18, true from 1.19), so installing fleetc never changes what a hand-written
  policy means; fleetc's own policies name the cluster in every selector and read the same
  either way;
- MCS-API support: ``clustermesh.mcsapi.enabled`` from 1.19, ``enableMCSAPISupport`` in 1.17
  and 1.18 (none in 1.16, which has no MCS-API support).

And they switch on what the fleet relies on in that cluster, nothing it does not (a key fleetc
leaves out keeps the chart's default or the user's own value):

- ``ipv6.enabled: true`` where the cluster has an IPv6 pod range, ``ipv4.enabled: false``
  where it has no IPv4 one; with native routing, the routing range of each enabled family
  (``ipv4NativeRoutingCIDR`` / ``ipv6NativeRoutingCIDR``);
- ``sctp.enabled: true`` where a policy rendered in the cluster names an SCTP port, or an SCTP
  service has backends there or is imported there;
- ``l7Proxy: true`` where a policy rendered in the cluster has ``http`` rules or ``fqdns``:
  Cilium's DNS proxy, which ``toFQDNs`` needs, runs in the L7 proxy (the chart's
  ``dnsProxy.*`` only tunes it; there is no separate switch).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from compiler.resolve.model import Cluster, FQDNs, ResolvedFleet

DEFAULT_DOMAIN = "mesh.cilium.io"
"""Cilium's server certificate always covers ``*.mesh.cilium.io``; other domains need names."""
DICT_PEERS_SINCE = (1, 19)
POLICY_DEFAULT_SINCE = (1, 18)
LOCAL_CLUSTER_DEFAULT_SINCE = (1, 19)
MCSAPI_KEY_SINCE = (1, 19)
MCS_SUPPORT_SINCE = (1, 17)


def policy_default_local_cluster(resolved: ResolvedFleet, cluster: Cluster) -> bool:
    """What a selector without the cluster label means in `cluster`: True, local only."""
    version = cluster.cilium_version
    if version < POLICY_DEFAULT_SINCE:
        return False  # no such option: selectors mean any cluster
    chosen = resolved.cilium.policy_default_local_cluster
    return chosen if chosen is not None else version >= LOCAL_CLUSTER_DEFAULT_SINCE


def _endpoint(cluster: Cluster) -> dict[str, Any]:
    endpoint = cluster.endpoint
    entry: dict[str, Any] = {"port": endpoint.port}
    if endpoint.address is not None:
        entry["address"] = endpoint.address
    else:
        entry["ips"] = list(endpoint.ips)
    return entry


def _peers(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any] | list[dict[str, Any]]:
    peers = resolved.peers(cluster.name)
    if cluster.cilium_version >= DICT_PEERS_SINCE:
        return {peer.name: _endpoint(peer) for peer in peers}
    return [{"name": peer.name, **_endpoint(peer)} for peer in peers]


def _server_names(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, list[str]]:
    """Names and addresses the apiserver's server certificate must cover, for its peers.

    A peer given by address dials that name; one given by IPs dials ``<name>.<domain>`` at
    those IPs. Cilium's generated certificate covers only ``*.mesh.cilium.io`` and in-cluster
    names, so anything else is added here.
    """
    endpoint = cluster.endpoint
    dns: list[str] = []
    if endpoint.address is not None:
        dns.append(endpoint.address)
    elif resolved.mesh.domain != DEFAULT_DOMAIN:
        dns.append(f"{cluster.name}.{resolved.mesh.domain}")
    server: dict[str, list[str]] = {}
    if dns:
        server["extraDnsNames"] = dns
    if endpoint.ips:
        server["extraIpAddresses"] = list(endpoint.ips)
    return server


def _tls(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    mesh = resolved.mesh
    auto: dict[str, Any] = {"enabled": True, "method": mesh.tls_method}
    if mesh.tls_method == "certmanager":
        auto["certManagerIssuerRef"] = {
            "group": mesh.issuer_group,
            "kind": mesh.issuer_kind,
            "name": mesh.issuer_name,
        }
    tls: dict[str, Any] = {"auto": auto}
    server = _server_names(resolved, cluster)
    if server:
        tls["server"] = server
    return tls


def _clustermesh(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    mesh = resolved.mesh
    values: dict[str, Any] = {
        "useAPIServer": True,
        "maxConnectedClusters": resolved.cilium.max_connected_clusters,
    }
    if cluster.cilium_version >= POLICY_DEFAULT_SINCE:
        values["policyDefaultLocalCluster"] = policy_default_local_cluster(resolved, cluster)
    values["config"] = {
        "enabled": True,
        "domain": mesh.domain,
        "clusters": _peers(resolved, cluster),
    }
    values["apiserver"] = {
        "service": {
            "type": mesh.apiserver_service_type,
            "annotations": dict(mesh.apiserver_annotations),
        },
        "tls": _tls(resolved, cluster),
    }
    mcs = mesh.service_discovery == "mcs-api"
    if cluster.cilium_version >= MCSAPI_KEY_SINCE:
        values["mcsapi"] = {"enabled": mcs}
    elif cluster.cilium_version >= MCS_SUPPORT_SINCE:
        values["enableMCSAPISupport"] = mcs  # the key before 1.19, deprecated since
    return values


def families(cluster: Cluster) -> set[int]:
    """The IP versions of the cluster's pod ranges."""
    return {ipaddress.ip_network(cidr).version for cidr in cluster.pod_cidrs}


def _addressing(resolved: ResolvedFleet, cluster: Cluster) -> dict[str, Any]:
    cilium = resolved.cilium
    have = families(cluster)
    values: dict[str, Any] = {}
    if 4 not in have:
        values["ipv4"] = {"enabled": False}
    if 6 in have:
        values["ipv6"] = {"enabled": True}
    values["routingMode"] = cilium.routing_mode
    if cilium.routing_mode == "tunnel":
        values["tunnelProtocol"] = cilium.tunnel_protocol
    else:
        for version in (4, 6):
            cidr = cilium.routing_cidr(version)
            if cidr is not None and version in have:
                values[f"ipv{version}NativeRoutingCIDR"] = cidr
    encryption: dict[str, Any] = {"enabled": cilium.encryption != "none"}
    if cilium.encryption != "none":
        encryption["type"] = cilium.encryption
    values["encryption"] = encryption
    return values


def fleet_features(resolved: ResolvedFleet) -> dict[str, dict[str, Any]]:
    """Per cluster name: ``sctp`` and ``l7Proxy`` where the fleet relies on them there.

    One pass over policies and services for the whole fleet (not one per cluster: a large
    fleet has hundreds of clusters and thousands of policies).
    """
    sctp: set[str] = set()
    l7: set[str] = set()
    everywhere = False
    for policy in resolved.policies:
        here = {name for d in policy.directions for name in policy.subject(d).clusters}
        if policy.ports and any(p.protocol == "SCTP" for p in policy.ports):
            sctp |= here
        if policy.action == "allow" and (policy.http or isinstance(policy.destination, FQDNs)):
            l7 |= here
    for service in resolved.services:
        if any(p.protocol == "SCTP" for p in service.ports):
            if service.export:  # imported by every cluster of the mesh
                everywhere = True
            sctp.update(service.clusters)
    out: dict[str, dict[str, Any]] = {}
    for cluster in resolved.clusters:
        values: dict[str, Any] = {}
        if cluster.name in l7:
            values["l7Proxy"] = True
        if everywhere or cluster.name in sctp:
            values["sctp"] = {"enabled": True}
        out[cluster.name] = values
    return out


def shares_peers(cluster: Cluster) -> bool:
    """Whether `cluster`'s chart merges a peer map from several values sources (the dict
    form, from 1.19): then its peers come from the fleet's one mesh ConfigMap."""
    return cluster.cilium_version >= DICT_PEERS_SINCE


def mesh_values(resolved: ResolvedFleet) -> dict[str, Any]:
    """Every cluster of the mesh as a peer, in the dict form: the same for every cluster, so
    the output holds it once (`compiler.render.pack`) instead of once per cluster.

    A cluster's own entry is switched off by its own values (`configmap_values`), which
    Helm merges after these: the 1.19 chart skips an entry with ``enabled: false``.
    """
    peers = {cluster.name: _endpoint(cluster) for cluster in resolved.clusters}
    return {"clustermesh": {"config": {"clusters": peers}}}


def configmap_values(
    resolved: ResolvedFleet, cluster: Cluster, features: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`values`, but where the chart merges peer maps (`shares_peers`), the peers are left to
    `mesh_values` and only the cluster's own entry is here, switched off."""
    own = values(resolved, cluster, features)
    if shares_peers(cluster):
        own["clustermesh"]["config"]["clusters"] = {cluster.name: {"enabled": False}}
    return own


def merged(sources: list[dict[str, Any]]) -> dict[str, Any]:
    """What Helm makes of several ``valuesFrom`` sources: maps merged deeply, later wins;
    then, as the 1.19 chart reads the peer map, entries with ``enabled: false`` dropped."""

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(into)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    result: dict[str, Any] = {}
    for source in sources:
        result = merge(result, source)
    peers = result.get("clustermesh", {}).get("config", {}).get("clusters")
    if isinstance(peers, dict):
        kept = {
            k: v
            for k, v in peers.items()
            if not (isinstance(v, dict) and v.get("enabled") is False)
        }
        result["clustermesh"]["config"]["clusters"] = kept
    return result


def values(
    resolved: ResolvedFleet, cluster: Cluster, features: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Helm values fleetc owns for `cluster` (the same shape as Cilium's values.yaml).

    `features` is `fleet_features(resolved)`, when the caller has it for every cluster.
    """
    if features is None:
        features = fleet_features(resolved)
    return {
        "cluster": {"name": cluster.name, "id": cluster.id},
        "clustermesh": _clustermesh(resolved, cluster),
        **_addressing(resolved, cluster),
        **features[cluster.name],
    }
