"""The fleet.yaml input model: the single source of its JSON Schema.

Field names are the YAML names (camelCase), so error locations and the schema read like the
file. Models are strict (no silent coercion: ``id: "1"`` or ``port: true`` are errors) and
forbid unknown fields. Rules that relate several objects live in `compiler.validate`, where
a diagnostic can point at both places.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from compiler.model.types import (
    CIDR,
    FQDN,
    IP,
    ClusterName,
    Entity,
    LabelKey,
    Labels,
    Name,
    PortNumber,
    PortSpec,
    Protocol,
    Version,
)

API_VERSION = "fleetc.dev/v1alpha1"
KIND = "Fleet"


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, validate_by_alias=True, validate_by_name=True
    )


class Metadata(Strict):
    name: Name
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class HelmReleaseRef(Strict):
    """Where the Cilium HelmRelease lives; the cluster Kustomization depends on it."""

    name: Name = "cilium"
    namespace: Name = "kube-system"


class SourceRef(Strict):
    kind: Literal["GitRepository", "OCIRepository", "Bucket", "HelmRepository"] = "GitRepository"
    name: Name = "flux-system"
    namespace: Name = "flux-system"


class CiliumHelmRelease(Strict):
    """Ask fleetc to render a complete Cilium HelmRelease rather than only its values."""

    enabled: bool = False
    chartVersion: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+.*$")] = "1.19.2"
    sourceRef: SourceRef = Field(
        default_factory=lambda: SourceRef(kind="HelmRepository", name="cilium")
    )
    interval: Annotated[str, Field(pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")] = "1h"


class Cilium(Strict):
    version: Version
    maxConnectedClusters: Literal[255, 511] = 255
    routingMode: Literal["tunnel", "native"] = "tunnel"
    tunnelProtocol: Literal["vxlan", "geneve"] = "vxlan"
    nativeRoutingCIDR: CIDR | None = None
    encryption: Literal["none", "wireguard", "ipsec"] = "none"
    release: HelmReleaseRef = Field(default_factory=HelmReleaseRef)
    helmRelease: CiliumHelmRelease = Field(default_factory=CiliumHelmRelease)


class IssuerRef(Strict):
    kind: Literal["Issuer", "ClusterIssuer"] = "ClusterIssuer"
    name: Name
    group: str = "cert-manager.io"


class TLS(Strict):
    method: Literal["certmanager", "cronJob", "helm"] = "cronJob"
    issuerRef: IssuerRef | None = None

    @model_validator(mode="after")
    def _issuer(self) -> TLS:
        if self.method == "certmanager" and self.issuerRef is None:
            raise PydanticCustomError(
                "tls_issuer",
                "method certmanager needs an issuerRef",
                {"hint": "add issuerRef: {kind: ClusterIssuer, name: <issuer>}"},
            )
        return self


class Apiserver(Strict):
    serviceType: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    annotations: dict[str, str] = Field(default_factory=dict)


class Mesh(Strict):
    domain: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] = "mesh.cilium.io"
    serviceDiscovery: Literal["mcs-api", "annotations"] = "mcs-api"
    apiserver: Apiserver = Field(default_factory=Apiserver)
    tls: TLS = Field(default_factory=TLS)


class Defaults(Strict):
    ingress: Literal["allow", "deny"] = "allow"
    egress: Literal["allow", "deny"] = "allow"


class MeshEndpoint(Strict):
    address: (
        Annotated[
            str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        ]
        | None
    ) = None
    ips: Annotated[list[IP], Field(min_length=1)] | None = None
    port: PortNumber = 2379

    @model_validator(mode="after")
    def _one_of(self) -> MeshEndpoint:
        if (self.address is None) == (self.ips is None):
            raise PydanticCustomError(
                "mesh_endpoint",
                "a mesh endpoint has either an address or ips, not both and not neither",
                {"hint": "address: mesh.<cluster>.example.internal, or ips: [172.16.1.100]"},
            )
        return self


class Cluster(Strict):
    name: ClusterName
    id: Annotated[int, Field(ge=1, le=511)]
    region: str | None = None
    labels: Labels = Field(default_factory=dict)
    ciliumVersion: Version | None = Field(
        default=None, description="this cluster's Cilium minor when it differs from the fleet's"
    )
    podCIDRs: Annotated[list[CIDR], Field(min_length=1)]
    serviceCIDRs: list[CIDR] = Field(default_factory=list)
    nodeCIDRs: list[CIDR] = Field(default_factory=list)
    meshEndpoint: MeshEndpoint


class ServicePort(Strict):
    name: Name | None = None
    port: PortNumber
    protocol: Protocol = "TCP"


class Service(Strict):
    name: Name
    namespace: Name
    selector: Annotated[Labels, Field(min_length=1)]
    ports: list[ServicePort] = Field(default_factory=list)
    clusters: Annotated[list[ClusterName], Field(min_length=1)]
    export: bool = True
    affinity: Literal["local", "remote", "none"] = "none"
    shared: bool = True


class LabelSelectorRequirement(Strict):
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise PydanticCustomError(
                "selector_values", "operator {op} needs at least one value", {"op": self.operator}
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise PydanticCustomError(
                "selector_values", "operator {op} takes no values", {"op": self.operator}
            )
        return self


class ClusterLabelSelector(Strict):
    matchLabels: Labels = Field(default_factory=dict)
    matchExpressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    cel: Annotated[str, Field(min_length=1, max_length=4096)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ClusterLabelSelector:
        if self.cel is not None and (self.matchLabels or self.matchExpressions):
            raise PydanticCustomError(
                "selector_kind", "a cluster selector is either labels or cel, not both", {}
            )
        return self


def _selector_kind(value: Any) -> str:
    return "names" if isinstance(value, list) else "selector"


ClusterSelector = Annotated[
    Annotated[list[ClusterName], Tag("names")] | Annotated[ClusterLabelSelector, Tag("selector")],
    Discriminator(_selector_kind),
]


class Peer(Strict):
    """One side of a policy: exactly one kind of peer.

    A service (``ns/name``), a workload set (any of clusters, namespace, selector; absent parts
    mean any), Cilium entities, CIDRs (with exceptions) or DNS names (``to`` only).
    """

    service: Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")] | None = None
    clusters: ClusterSelector | None = None
    namespace: Name | None = None
    selector: Labels | None = None
    entities: Annotated[list[Entity], Field(min_length=1)] | None = None
    cidrs: Annotated[list[CIDR], Field(min_length=1)] | None = None
    except_: Annotated[list[CIDR] | None, Field(alias="except", min_length=1)] = None
    fqdns: Annotated[list[FQDN], Field(min_length=1)] | None = None

    @property
    def kinds(self) -> list[str]:
        """The peer kinds this side names, in the order they are documented."""
        kinds = []
        if self.service is not None:
            kinds.append("service")
        if self.clusters is not None or self.namespace is not None or self.selector is not None:
            kinds.append("workloads")
        if self.entities is not None:
            kinds.append("entities")
        if self.cidrs is not None:
            kinds.append("cidrs")
        if self.fqdns is not None:
            kinds.append("fqdns")
        return kinds

    @property
    def in_fleet(self) -> bool:
        """A service or a workload set: pods of the fleet, with identities in its clusters."""
        return self.entities is None and self.cidrs is None and self.fqdns is None

    @model_validator(mode="after")
    def _one_kind(self) -> Peer:
        if self.except_ is not None and self.cidrs is None:
            raise PydanticCustomError(
                "peer_kind",
                "'except' narrows 'cidrs'; it cannot stand without them",
                {"hint": "cidrs: [10.50.0.0/16], except: [10.50.9.0/24]"},
            )
        kinds = self.kinds
        if len(kinds) > 1:
            if kinds[:2] == ["service", "workloads"]:
                raise PydanticCustomError(
                    "peer_kind",
                    "'service' stands alone; it cannot be combined with clusters, namespace or"
                    " selector",
                    {},
                )
            raise PydanticCustomError(
                "peer_kind",
                "a policy side names exactly one kind of peer, not {kinds}",
                {"kinds": " and ".join(kinds), "hint": "write one policy per kind of peer"},
            )
        return self


class HTTPRule(Strict):
    """An HTTP request an L7 rule lets through: method and path are regular expressions
    (POSIX extended, matched against the whole method or path), absent means any."""

    method: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _something(self) -> HTTPRule:
        if self.method is None and self.path is None:
            raise PydanticCustomError(
                "http_rule",
                "an HTTP rule names a method, a path or both",
                {"hint": 'http: [{method: GET, path: "/v1/.*"}]'},
            )
        return self


class Target(Peer):
    ports: list[PortSpec] | None = None
    http: Annotated[list[HTTPRule], Field(min_length=1)] | None = None


class Policy(Strict):
    name: Name
    description: str | None = None
    action: Literal["allow", "deny"]
    from_: Annotated[Peer, Field(alias="from")]
    to: Target


class Guardrail(Strict):
    name: Name
    expression: Annotated[str, Field(min_length=1, max_length=8192)]
    message: str


class Request(Strict):
    """One concrete HTTP request, for expectations about L7 rules."""

    method: Annotated[str, Field(pattern=r"^[A-Z]+$", max_length=32)] = "GET"
    path: Annotated[str, Field(pattern=r"^/", max_length=1024)] = "/"


class Expectation(Strict):
    name: str | None = None
    from_: Annotated[str, Field(alias="from", min_length=3)]
    to: Annotated[str, Field(min_length=3)]
    port: PortSpec
    http: Request | None = None
    allowed: bool


class FluxSourceRef(Strict):
    """The Flux source holding the rendered output (kinds a Flux Kustomization accepts)."""

    kind: Literal["GitRepository", "OCIRepository", "Bucket"] = "GitRepository"
    name: Name = "flux-system"
    namespace: Name = "flux-system"


class Flux(Strict):
    """How the per-cluster Flux Kustomizations find the rendered output."""

    sourceRef: FluxSourceRef = Field(default_factory=FluxSourceRef)
    path: Annotated[str, Field(pattern=r"^\./[-A-Za-z0-9_./]*$")] = "./rendered"
    namespace: Name = "flux-system"
    interval: Annotated[str, Field(pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")] = "10m"


class Guard(Strict):
    enabled: bool = False
    mode: Literal["audit", "enforce", "off"] = "audit"
    """``off`` keeps the loader DaemonSet only to detach the guard from every node; set
    ``enabled: false`` once it has rolled out (removing the DaemonSet detaches nothing)."""
    image: Annotated[str, Field(min_length=1)] = "fleetc/fleet-guard:0.1.0"
    namespace: Name = "kube-system"


class Wave(Strict):
    """A step of a staged rollout: its clusters (absent in the last wave: every cluster left)."""

    name: Name
    clusters: ClusterSelector | None = None


class Rollout(Strict):
    waves: list[Wave] = Field(default_factory=list)


class Spec(Strict):
    cilium: Cilium
    mesh: Mesh = Field(default_factory=Mesh)
    defaults: Defaults = Field(default_factory=Defaults)
    clusters: Annotated[list[Cluster], Field(min_length=1, max_length=511)]
    services: list[Service] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list)
    expectations: list[Expectation] = Field(default_factory=list)
    flux: Flux = Field(default_factory=Flux)
    guard: Guard = Field(default_factory=Guard)
    # Excluded from dumps: the wave plan is how output reaches clusters, not what it says,
    # so the fleet's meaning (the manifest digest, the revision a cluster is at) ignores it.
    rollout: Rollout = Field(default_factory=Rollout, exclude=True)


class Fleet(Strict):
    """A fleet of Cilium clusters joined in one Cluster Mesh."""

    model_config = ConfigDict(title="Fleet")

    apiVersion: Literal["fleetc.dev/v1alpha1"]
    kind: Literal["Fleet"]
    metadata: Metadata
    spec: Spec
