"""The resolved fleet: a frozen, sorted intermediate form that every renderer reads.

Everything here is a tuple or a frozen dataclass, sorted at construction, so renderers can
iterate without sorting again and output cannot depend on input order or hash seeds. Each
object remembers where it came from in fleet.yaml (`origin`) for annotations and diagnostics.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from compiler.diagnostics import Position
from compiler.model.types import PortRange

LabelPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Endpoint:
    """How peers reach a cluster's clustermesh-apiserver."""

    address: str | None
    ips: tuple[str, ...]
    port: int


@dataclass(frozen=True)
class Cluster:
    name: str
    id: int
    region: str | None
    labels: LabelPairs
    cilium_version: tuple[int, int]
    pod_cidrs: tuple[str, ...]
    service_cidrs: tuple[str, ...]
    node_cidrs: tuple[str, ...]
    endpoint: Endpoint
    origin: Position

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Port:
    name: str | None
    port: int
    protocol: str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    selector: LabelPairs
    ports: tuple[Port, ...]
    clusters: tuple[str, ...]
    export: bool
    affinity: str
    shared: bool
    origin: Position

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class WorkloadSet:
    """Endpoints in `clusters` (sorted names), in `namespace` (None: any), matching `selector`
    (None: any pod). `service` names the service this set stands for, when it does."""

    clusters: tuple[str, ...]
    namespace: str | None
    selector: LabelPairs | None
    service: str | None = None
    all_clusters: bool = False

    @property
    def cluster_only(self) -> bool:
        """Only clusters are named: what the fleet guard can enforce at the node."""
        return self.service is None and self.namespace is None and self.selector is None


@dataclass(frozen=True)
class Entities:
    """Cilium entities (``world``, ``kube-apiserver``, ...), judged in the cluster of the
    policy's fleet side."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class CIDRSet:
    """Addresses outside the fleet: `cidrs` less `excepts` (both sorted, canonical)."""

    cidrs: tuple[str, ...]
    excepts: tuple[str, ...] = ()

    def contains(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(c) for c in self.cidrs) and not any(
            ip in ipaddress.ip_network(e) for e in self.excepts
        )

    def rendered(self) -> list[str]:
        """The CIDRs to write: those no exception covers whole (Cilium writes exceptions per
        CIDR, so a CIDR inside another's exception would otherwise go out without it)."""
        nets = [ipaddress.ip_network(e) for e in self.excepts]
        return [
            c
            for c in self.cidrs
            if not any(
                (net := ipaddress.ip_network(c)).version == e.version and net.subnet_of(e)  # type: ignore[arg-type]
                for e in nets
            )
        ]

    def excepts_of(self, cidr: str) -> list[str]:
        """The exceptions that lie inside `cidr` (Cilium writes them per CIDR)."""
        net = ipaddress.ip_network(cidr)
        return [
            e
            for e in self.excepts
            if (other := ipaddress.ip_network(e)).version == net.version and other.subnet_of(net)  # type: ignore[arg-type]
        ]


@dataclass(frozen=True)
class FQDNs:
    """DNS names and patterns (Cilium's ``matchName``/``matchPattern``), sorted."""

    patterns: tuple[str, ...]


Peer = WorkloadSet | Entities | CIDRSet | FQDNs
"""One side of a policy. Exactly one side at least is a `WorkloadSet` (validate sees to it)."""


@dataclass(frozen=True)
class HTTPRule:
    """One L7 rule: regular expressions for the method and path (None: any)."""

    method: str | None
    path: str | None

    def __str__(self) -> str:
        return f"{self.method or '*'} {self.path or '*'}"


@dataclass(frozen=True)
class Policy:
    name: str
    action: str
    source: Peer
    destination: Peer
    ports: tuple[PortRange, ...] | None
    """None: any port (a workload-set target with no ports)."""
    index: int
    origin: Position
    http: tuple[HTTPRule, ...] | None = None
    """L7 rules on the destination's ports (allow only); None: no L7 rule."""

    @property
    def directions(self) -> tuple[str, ...]:
        """The halves fleetc renders: egress where the source is fleet pods, ingress where the
        destination is. A peer outside the fleet has no policy of ours to enforce."""
        out = []
        if isinstance(self.source, WorkloadSet):
            out.append("egress")
        if isinstance(self.destination, WorkloadSet):
            out.append("ingress")
        return tuple(out)

    def subject(self, direction: str) -> WorkloadSet:
        """The fleet pods the half for `direction` is applied to."""
        side = self.source if direction == "egress" else self.destination
        assert isinstance(side, WorkloadSet)
        return side

    def peer(self, direction: str) -> Peer:
        """The other side of the half for `direction`."""
        return self.destination if direction == "egress" else self.source


@dataclass(frozen=True)
class Mesh:
    domain: str
    service_discovery: str
    apiserver_service_type: str
    apiserver_annotations: LabelPairs
    tls_method: str
    issuer_kind: str | None
    issuer_name: str | None
    issuer_group: str | None


@dataclass(frozen=True)
class CiliumSettings:
    version: tuple[int, int]
    max_connected_clusters: int
    routing_mode: str
    tunnel_protocol: str
    native_routing_cidr: str | None
    encryption: str
    release_name: str
    release_namespace: str
    helm_release: bool
    chart_version: str
    chart_source: tuple[str, str, str]
    """(kind, name, namespace) of the chart source for a rendered HelmRelease."""
    chart_interval: str
    ipv6_native_routing_cidr: str | None = None
    """The IPv6 routing range when `native_routing_cidr` is the IPv4 one (dual stack)."""
    policy_default_local_cluster: bool | None = None
    """fleet.yaml's choice; None keeps each cluster's Cilium default."""
    chart_timeout: str = "10m"
    chart_retries: int = 3

    def routing_cidr(self, version: int) -> str | None:
        """The native routing range of IP `version` (4 or 6), if any."""
        for cidr in (self.native_routing_cidr, self.ipv6_native_routing_cidr):
            if cidr is not None and ipaddress.ip_network(cidr).version == version:
                return cidr
        return None


@dataclass(frozen=True)
class FluxDependency:
    name: str
    namespace: str | None


@dataclass(frozen=True)
class FluxSettings:
    source_kind: str
    source_name: str
    source_namespace: str
    path: str
    namespace: str
    interval: str
    retry_interval: str = "1m"
    timeout: str = "5m"
    depends_on: tuple[FluxDependency, ...] = ()
    """The user's own Kustomizations each cluster's Kustomization waits for (in order)."""


@dataclass(frozen=True)
class GuardSettings:
    enabled: bool
    mode: str
    image: str
    namespace: str


@dataclass(frozen=True)
class ResolvedFleet:
    name: str
    source: str
    """The fleet.yaml name as given on the command line (for generated-file headers)."""
    cilium: CiliumSettings
    mesh: Mesh
    default_ingress: str
    default_egress: str
    clusters: tuple[Cluster, ...]
    services: tuple[Service, ...]
    policies: tuple[Policy, ...]
    flux: FluxSettings
    guard: GuardSettings
    managed_namespaces: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    """Per cluster (sorted by name): the namespaces fleetc manages there, sorted."""
    defaults_origin: Position | None = None
    """Where `spec.defaults` is written (None: not written, the defaults apply)."""
    system_namespaces: tuple[str, ...] = ("flux-system", "kube-system")
    """Namespaces never put under `defaults`: kube-system, Cilium's, the guard's and Flux's."""

    def cluster(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(name)

    def peers(self, name: str) -> tuple[Cluster, ...]:
        """Every other cluster of the mesh: Cluster Mesh is a full mesh."""
        return tuple(c for c in self.clusters if c.name != name)

    def services_in(self, name: str) -> tuple[Service, ...]:
        """Services with backends in cluster `name`."""
        return tuple(s for s in self.services if name in s.clusters)

    def exports(self, name: str) -> tuple[Service, ...]:
        """Services cluster `name` exports to the mesh (backends here, export: true)."""
        return tuple(s for s in self.services if s.export and name in s.clusters)

    def imports(self, name: str) -> tuple[Service, ...]:
        """Exported services with backends elsewhere that cluster `name` can reach."""
        return tuple(s for s in self.services if s.export and any(c != name for c in s.clusters))

    def namespaces(self, name: str) -> tuple[str, ...]:
        for cluster, namespaces in self.managed_namespaces:
            if cluster == name:
                return namespaces
        return ()
