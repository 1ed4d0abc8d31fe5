"""The fleet.yaml input model: the single source of its JSON Schema.

Field names are the YAML names (camelCase), so error locations and the schema read like the
file. Models are strict (no silent coercion: ``id: "1"`` or ``port: true`` are errors) and
forbid unknown fields. Rules that relate several objects live in `compiler.validate`, where
a diagnostic can point at both places. Every field has a description: editors show it.
Policies, guardrails and expectations are in `compiler.model.rules`; the Cilium, Flux and
guard settings in `compiler.model.settings`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from compiler.model.base import Strict
from compiler.model.rules import (
    ClusterLabelSelector,
    ClusterSelector,
    Expectation,
    Guardrail,
    HTTPRule,
    LabelSelectorRequirement,
    Peer,
    Policy,
    Request,
    Target,
)
from compiler.model.settings import (
    Cilium,
    CiliumHelmRelease,
    Flux,
    FluxDependency,
    FluxSourceRef,
    Guard,
    HelmReleaseRef,
    SourceRef,
)
from compiler.model.types import (
    CIDR,
    IP,
    Annotations,
    ClusterName,
    Labels,
    Name,
    PortNumber,
    Protocol,
    Version,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "Cilium",
    "CiliumHelmRelease",
    "ClusterLabelSelector",
    "ClusterSelector",
    "Expectation",
    "Fleet",
    "Flux",
    "FluxDependency",
    "FluxSourceRef",
    "Guard",
    "Guardrail",
    "HTTPRule",
    "HelmReleaseRef",
    "LabelSelectorRequirement",
    "Peer",
    "Policy",
    "Request",
    "SourceRef",
    "Strict",
    "Target",
]

API_VERSION = "fleetc.dev/v1alpha1"
KIND = "Fleet"


class Metadata(Strict):
    """The fleet's name, labels and annotations."""

    name: Name = Field(description="The fleet's name (a DNS-1123 label).", examples=["contoso"])
    labels: Labels = Field(default_factory=dict, description="Labels for people and tools.")
    annotations: Annotations = Field(
        default_factory=dict, description="Annotations for people and tools."
    )


class IssuerRef(Strict):
    """A cert-manager issuer: one CA shared by every cluster of the mesh."""

    kind: Literal["Issuer", "ClusterIssuer"] = Field(
        default="ClusterIssuer", description="The issuer's kind."
    )
    name: Name = Field(description="The issuer's name.", examples=["fleet-mesh-ca"])
    group: str = Field(default="cert-manager.io", description="The issuer's API group.")


class TLS(Strict):
    """How the clustermesh-apiserver's certificates are made; no key is ever rendered."""

    method: Literal["certmanager", "cronJob", "helm"] = Field(
        default="cronJob",
        description="`certmanager` (with issuerRef), or Cilium's own `cronJob` or `helm`.",
    )
    issuerRef: IssuerRef | None = Field(
        default=None,
        description="The cert-manager issuer, for method certmanager.",
        examples=[{"kind": "ClusterIssuer", "name": "fleet-mesh-ca"}],
    )

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
    """The clustermesh-apiserver's Service, which peers connect to."""

    serviceType: Literal["LoadBalancer", "NodePort"] = Field(
        default="LoadBalancer", description="The Service type."
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description="Service annotations, e.g. for an internal load balancer.",
        examples=[{"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}],
    )


class Mesh(Strict):
    """Cluster Mesh: domain, service discovery, the apiserver and its TLS."""

    domain: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] = Field(
        default="mesh.cilium.io",
        description="The DNS domain peers given by IPs are dialled under (<cluster>.<domain>).",
    )
    serviceDiscovery: Literal["mcs-api", "annotations"] = Field(
        default="mcs-api",
        description="`mcs-api`: ServiceExports; `annotations`: Cilium's global-service"
        " annotations, as kustomize patches.",
    )
    apiserver: Apiserver = Field(
        default_factory=Apiserver, description="The clustermesh-apiserver's Service."
    )
    tls: TLS = Field(default_factory=TLS, description="How its certificates are made.")


class Defaults(Strict):
    """What passes where no policy says: for the namespaces fleetc manages only."""

    ingress: Literal["allow", "deny"] = Field(
        default="allow", description="Incoming connections to managed namespaces."
    )
    egress: Literal["allow", "deny"] = Field(
        default="allow", description="Outgoing connections (DNS keeps working)."
    )


class MeshEndpoint(Strict):
    """How peers reach this cluster's clustermesh-apiserver: an address or IPs."""

    address: (
        Annotated[
            str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        ]
        | None
    ) = Field(
        default=None,
        description="A DNS name of the apiserver (added to its certificate).",
        examples=["mesh.eu-payments.contoso.internal"],
    )
    ips: Annotated[list[IP], Field(min_length=1)] | None = Field(
        default=None,
        description="The apiserver's IPs, dialled as <cluster>.<mesh.domain>.",
        examples=[["172.16.1.100"]],
    )
    port: PortNumber = Field(default=2379, description="The apiserver's port.")

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
    """One Kubernetes cluster with Cilium, a member of the mesh."""

    name: ClusterName = Field(
        description="Cilium's cluster name: at most 32 characters, not `default`; never change"
        " it on a running cluster.",
        examples=["eu-payments"],
    )
    id: Annotated[int, Field(ge=1, le=511)] = Field(
        description="Cilium's cluster ID, unique, 1..maxConnectedClusters; never change it on a"
        " running cluster.",
        examples=[1],
    )
    region: str | None = Field(
        default=None, description="Where it runs, for guardrails and selectors.",
        examples=["westeurope"],
    )  # fmt: skip
    labels: Labels = Field(
        default_factory=dict,
        description="Labels that cluster selectors match.",
        examples=[{"env": "prod", "tier": "payments"}],
    )
    ciliumVersion: Version | None = Field(
        default=None, description="This cluster's Cilium minor when it differs from the fleet's."
    )
    podCIDRs: Annotated[list[CIDR], Field(min_length=1)] = Field(
        description="Pod ranges (IPv4 and/or IPv6); no overlap with any other cluster's.",
        examples=[["10.1.0.0/16", "fd00:10:1::/48"]],
    )
    serviceCIDRs: list[CIDR] = Field(
        default_factory=list, description="Service ranges.", examples=[["10.101.0.0/16"]]
    )
    nodeCIDRs: list[CIDR] = Field(
        default_factory=list, description="Node ranges.", examples=[["172.16.1.0/24"]]
    )
    meshEndpoint: MeshEndpoint = Field(
        description="How peers reach this cluster's clustermesh-apiserver."
    )


class ServicePort(Strict):
    """A port of a service."""

    name: Name | None = Field(default=None, description="The port's name.", examples=["https"])
    port: PortNumber = Field(description="The port number.", examples=[443])
    protocol: Protocol = Field(default="TCP", description="TCP, UDP or SCTP.")


class Service(Strict):
    """A named workload: exported to the mesh (a global service) unless export is false."""

    name: Name = Field(description="The Service's name.", examples=["payments"])
    namespace: Name = Field(description="The Service's namespace.", examples=["payments"])
    selector: Annotated[Labels, Field(min_length=1)] = Field(
        description="The labels of the pods behind it.", examples=[{"app": "payments"}]
    )
    ports: list[ServicePort] = Field(
        default_factory=list, description="Its ports; identical wherever it is exported."
    )
    clusters: Annotated[list[ClusterName], Field(min_length=1)] = Field(
        description="The clusters its backends run in.", examples=[["eu-payments", "eu-standby"]]
    )
    export: bool = Field(
        default=True,
        description="Export it to the mesh; false names it only for policies.",
    )
    affinity: Literal["local", "remote", "none"] = Field(
        default="none", description="Which backends a client prefers: local, remote or none."
    )
    shared: bool = Field(
        default=True,
        description="Share local backends with the mesh; false imports remote backends only.",
    )


class Wave(Strict):
    """A step of a staged rollout: its clusters (absent in the last wave: every cluster left)."""

    name: Name = Field(description="The wave's name, for --wave NAME.", examples=["canary"])
    clusters: ClusterSelector | None = Field(
        default=None,
        description="Its clusters: names, matchLabels/matchExpressions or cel; a cluster"
        " belongs to the first wave that selects it. Absent (last wave only): the rest.",
        examples=[["dev"], {"matchLabels": {"continent": "eu"}}],
    )


class Rollout(Strict):
    """How a change reaches the clusters: wave by wave (fleetc commit --wave NAME)."""

    waves: list[Wave] = Field(
        default_factory=list, description="The waves, in order; none: every cluster at once."
    )


class Spec(Strict):
    """The fleet: Cilium, the mesh, clusters, services, policies and checks."""

    cilium: Cilium = Field(description="Cilium settings shared by the mesh.")
    mesh: Mesh = Field(default_factory=Mesh, description="Cluster Mesh settings.")
    defaults: Defaults = Field(
        default_factory=Defaults, description="Default verdicts for managed namespaces."
    )
    clusters: Annotated[list[Cluster], Field(min_length=1, max_length=511)] = Field(
        description="The clusters of the mesh."
    )
    services: list[Service] = Field(
        default_factory=list, description="Named workloads, exported unless export is false."
    )
    policies: list[Policy] = Field(
        default_factory=list, description="Fleet-wide policies; deny wins over allow."
    )
    guardrails: list[Guardrail] = Field(
        default_factory=list, description="CEL rules over the whole fleet."
    )
    expectations: list[Expectation] = Field(
        default_factory=list, description="Connectivity assertions, checked on every validate."
    )
    flux: Flux = Field(default_factory=Flux, description="Flux wiring of the output.")
    guard: Guard = Field(default_factory=Guard, description="The fleet guard.")
    # Excluded from dumps: the wave plan is how output reaches clusters, not what it says,
    # so the fleet's meaning (the manifest digest, the revision a cluster is at) ignores it.
    rollout: Rollout = Field(
        default_factory=Rollout,
        exclude=True,
        description="Staged rollout: the waves a change reaches the clusters in.",
    )


class Fleet(Strict):
    """A fleet of Cilium clusters joined in one Cluster Mesh."""

    model_config = ConfigDict(title="Fleet")

    apiVersion: Literal["fleetc.dev/v1alpha1"] = Field(description="Always fleetc.dev/v1alpha1.")
    kind: Literal["Fleet"] = Field(description="Always Fleet.")
    metadata: Metadata = Field(description="The fleet's name and labels.")
    spec: Spec = Field(description="The fleet itself.")
