"""The fleet.yaml models of how Cilium and Flux are driven: `spec.cilium`, `spec.flux` and
`spec.guard`. `compiler.model.fleet` re-exports them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from compiler.model.base import Strict
from compiler.model.types import CIDR, Name, Version

DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
Duration = Annotated[str, Field(pattern=DURATION)]


class HelmReleaseRef(Strict):
    """Where the Cilium HelmRelease lives; the cluster Kustomization depends on it."""

    name: Name = Field(default="cilium", description="The Cilium HelmRelease's name.")
    namespace: Name = Field(
        default="kube-system",
        description="Its namespace; the values ConfigMap is written there too.",
    )


class SourceRef(Strict):
    """The Flux source of the Cilium chart."""

    kind: Literal["GitRepository", "OCIRepository", "Bucket", "HelmRepository"] = Field(
        default="GitRepository",
        description="The source kind: a HelmRepository, or an OCIRepository holding the chart.",
    )
    name: Name = Field(default="flux-system", description="The source's name.")
    namespace: Name = Field(default="flux-system", description="The source's namespace.")


class CiliumHelmRelease(Strict):
    """Ask fleetc to render a complete Cilium HelmRelease rather than only its values."""

    enabled: bool = Field(
        default=False,
        description="Render a HelmRelease for Cilium in clusters/<c>/cilium/ (otherwise only"
        " the values ConfigMap your own HelmRelease reads).",
    )
    chartVersion: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+.*$")] = Field(
        default="1.19.2", description="The Cilium chart version.", examples=["1.19.2"]
    )
    sourceRef: SourceRef = Field(
        default_factory=lambda: SourceRef(kind="HelmRepository", name="cilium"),
        description="The Flux source holding the chart.",
    )
    interval: Duration = Field(
        default="1h", description="How often helm-controller reconciles the release."
    )
    timeout: Duration = Field(
        default="10m",
        description="How long an install or upgrade may take (and how long"
        " fleetc-<c>-cilium waits for the release to be Ready).",
    )
    retries: Annotated[int, Field(ge=0, le=100)] = Field(
        default=3,
        description="Retries of a failed install or upgrade; a failed upgrade is rolled back"
        " first.",
    )


class Cilium(Strict):
    """Cilium settings that must agree across the mesh, and how Cilium is installed."""

    version: Version = Field(
        description="The Cilium minor the fleet runs (clusters may override it with"
        " ciliumVersion); gates semantics and the shape of the Helm values."
    )
    maxConnectedClusters: Literal[255, 511] = Field(
        default=255, description="Cluster Mesh size; identical mesh-wide."
    )
    routingMode: Literal["tunnel", "native"] = Field(
        default="tunnel", description="Datapath routing mode; identical mesh-wide."
    )
    tunnelProtocol: Literal["vxlan", "geneve"] = Field(
        default="vxlan", description="Encapsulation in tunnel mode; identical mesh-wide."
    )
    nativeRoutingCIDR: CIDR | None = Field(
        default=None,
        description="Native routing: a range (IPv4, or IPv6) holding every cluster's pod"
        " ranges of its family.",
        examples=["10.0.0.0/8"],
    )
    ipv6NativeRoutingCIDR: CIDR | None = Field(
        default=None,
        description="Native routing of a dual-stack fleet: the IPv6 range holding every IPv6"
        " pod range (nativeRoutingCIDR then holds the IPv4 one).",
        examples=["fd00:10::/32"],
    )
    encryption: Literal["none", "wireguard", "ipsec"] = Field(
        default="none", description="Transparent encryption; identical mesh-wide."
    )
    policyDefaultLocalCluster: bool | None = Field(
        default=None,
        description="Whether a hand-written policy selector without the cluster label means"
        " the local cluster only. Absent: each cluster's Cilium default (false before 1.19,"
        " true from 1.19). fleetc's own policies always name the cluster.",
    )
    release: HelmReleaseRef = Field(
        default_factory=HelmReleaseRef,
        description="The Cilium HelmRelease (yours or fleetc's) the Flux wiring waits for.",
    )
    helmRelease: CiliumHelmRelease = Field(
        default_factory=CiliumHelmRelease,
        description="Render a complete Cilium HelmRelease, and how.",
    )

    @model_validator(mode="after")
    def _ipv6_routing(self) -> Cilium:
        if self.ipv6NativeRoutingCIDR is None:
            return self
        if ipaddress.ip_network(self.ipv6NativeRoutingCIDR).version != 6:
            raise PydanticCustomError(
                "routing_family",
                "ipv6NativeRoutingCIDR {cidr} is not an IPv6 range",
                {"cidr": self.ipv6NativeRoutingCIDR, "hint": "put IPv4 in nativeRoutingCIDR"},
            )
        if self.nativeRoutingCIDR and ipaddress.ip_network(self.nativeRoutingCIDR).version == 6:
            raise PydanticCustomError(
                "routing_family",
                "nativeRoutingCIDR and ipv6NativeRoutingCIDR are both IPv6",
                {"hint": "nativeRoutingCIDR: the IPv4 range, ipv6NativeRoutingCIDR: the IPv6"},
            )
        return self


class FluxSourceRef(Strict):
    """The Flux source holding the rendered output (kinds a Flux Kustomization accepts)."""

    kind: Literal["GitRepository", "OCIRepository", "Bucket"] = Field(
        default="GitRepository", description="The source kind."
    )
    name: Name = Field(default="flux-system", description="The source's name.")
    namespace: Name = Field(default="flux-system", description="The source's namespace.")


class FluxDependency(Strict):
    """A Flux Kustomization of your own that fleetc-<c> must wait for."""

    name: Annotated[str, Field(pattern=SUBDOMAIN, max_length=253)] = Field(
        description="The Kustomization's name.", examples=["namespaces"]
    )
    namespace: Name | None = Field(
        default=None,
        description="Its namespace; absent means spec.flux.namespace.",
        examples=["flux-system"],
    )


class Flux(Strict):
    """How the per-cluster Flux Kustomizations find the rendered output, and their timing."""

    sourceRef: FluxSourceRef = Field(
        default_factory=FluxSourceRef, description="The Flux source holding the output."
    )
    path: Annotated[str, Field(pattern=r"^\./[-A-Za-z0-9_./]*$")] = Field(
        default="./rendered",
        description="Where the output lives in that source (render with --out there).",
    )
    namespace: Name = Field(default="flux-system", description="The Flux objects' namespace.")
    interval: Duration = Field(default="10m", description="How often Flux reconciles.")
    retryInterval: Duration = Field(
        default="1m", description="How soon Flux retries a failed reconciliation."
    )
    timeout: Duration = Field(
        default="5m", description="How long an apply and its health checks may take."
    )
    dependsOn: list[FluxDependency] = Field(
        default_factory=list,
        description="Your own Kustomizations (namespaces, CRDs ...) every cluster's policies"
        " and services wait for.",
        examples=[[{"name": "namespaces"}]],
    )


class Guard(Strict):
    """The fleet guard: an eBPF program enforcing (or counting) cluster-level rules."""

    enabled: bool = Field(default=False, description="Deploy the fleet guard.")
    mode: Literal["audit", "enforce", "off"] = Field(
        default="audit",
        description="`audit` counts what it would drop; `enforce` drops; `off` keeps the loader"
        " only to detach the guard from every node (then set enabled: false).",
    )
    image: Annotated[str, Field(min_length=1)] = Field(
        default="fleetc/fleet-guard:0.1.0", description="The guard's container image."
    )
    namespace: Name = Field(default="kube-system", description="The guard's namespace.")
