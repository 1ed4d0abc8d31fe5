"""The fleet.yaml models of what crosses clusters: cluster selectors, policies, guardrails and
expectations. `compiler.model.fleet` re-exports them; the descriptions are what editors show.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from compiler.model.base import Strict
from compiler.model.types import CIDR, FQDN, ClusterName, Entity, LabelKey, Labels, Name, PortSpec


class LabelSelectorRequirement(Strict):
    """One requirement of a label selector, as in Kubernetes."""

    key: LabelKey = Field(description="The label key the requirement applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key's value is compared with `values`."
    )
    values: list[str] = Field(
        default_factory=list,
        description="Values for `In` and `NotIn` (at least one); empty for `Exists` and"
        " `DoesNotExist`.",
    )

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
    """Clusters chosen by their labels (as a Kubernetes label selector) or by a CEL
    expression over `cluster`; labels or CEL, not both."""

    matchLabels: Labels = Field(
        default_factory=dict,
        description="Labels a cluster must have, all of them.",
        examples=[{"env": "prod"}],
    )
    matchExpressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Label requirements a cluster must meet, all of them."
    )
    cel: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="A CEL expression over `cluster` (its name, id, region, labels ...); the"
        " clusters for which it is true.",
        examples=["cluster.region.endsWith('europe')"],
    )

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

    service: Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")] | None = Field(
        default=None,
        description="A declared service as `namespace/name`: its pods, in the clusters it runs"
        " in. Stands alone.",
        examples=["payments/payments"],
    )
    clusters: ClusterSelector | None = Field(
        default=None,
        description="Workload set: the clusters (a list of names, `{matchLabels,"
        " matchExpressions}` or `{cel}`); absent means every cluster.",
        examples=[["eu-payments"], {"matchLabels": {"env": "prod"}}],
    )
    namespace: Name | None = Field(
        default=None,
        description="Workload set: the namespace of the pods; absent means any namespace.",
        examples=["payments"],
    )
    selector: Labels | None = Field(
        default=None,
        description="Workload set: pod labels the pods must have; absent means any pod.",
        examples=[{"app": "payments"}],
    )
    entities: Annotated[list[Entity], Field(min_length=1)] | None = Field(
        default=None,
        description="Cilium entities (`world`, `kube-apiserver`, `host`, `remote-node`,"
        " `health`, `ingress`, `cluster`, `all`), judged in the cluster of the fleet side.",
        examples=[["world"]],
    )
    cidrs: Annotated[list[CIDR], Field(min_length=1)] | None = Field(
        default=None,
        description="Addresses outside the fleet; they may not overlap a cluster's pod or node"
        " ranges.",
        examples=[["10.50.0.0/16"]],
    )
    except_: Annotated[
        list[CIDR] | None,
        Field(
            alias="except",
            min_length=1,
            description="Ranges inside `cidrs` that are left out.",
            examples=[["10.50.9.0/24"]],
        ),
    ] = None
    fqdns: Annotated[list[FQDN], Field(min_length=1)] | None = Field(
        default=None,
        description="DNS names or patterns (Cilium's matchName / matchPattern, `*` within a"
        " label, `**.` as a prefix); `to` of an allow policy only.",
        examples=[["api.stripe.com", "*.stripe.com"]],
    )

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
    (RE2 syntax, as Cilium's proxy reads them, matched against the whole method or path),
    absent means any."""

    method: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="A regular expression the request method must match.",
        examples=["GET", "GET|HEAD"],
    )  # fmt: skip
    path: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        default=None, description="A regular expression the whole request path must match.",
        examples=["/v1/.*"],
    )  # fmt: skip

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
    """The destination of a policy: a peer, and the ports and HTTP requests it concerns."""

    ports: list[PortSpec] | None = Field(
        default=None,
        description="Ports as `443/TCP`, `53/UDP`, `8000-8100/TCP`; absent means the target"
        " service's ports, or any port for a workload set.",
        examples=[["443/TCP"]],
    )
    http: Annotated[list[HTTPRule], Field(min_length=1)] | None = Field(
        default=None,
        description="L7: only these HTTP requests pass on the ports (allow policies only).",
        examples=[[{"method": "GET", "path": "/v1/.*"}]],
    )


class Policy(Strict):
    """A fleet-wide rule, compiled into every cluster it concerns: egress in the source
    cluster, ingress in the destination cluster."""

    name: Name = Field(description="A unique name; rendered objects are named after it.")
    description: str | None = Field(default=None, description="Free text for people.")
    action: Literal["allow", "deny"] = Field(description="`allow` or `deny`; deny wins over allow.")
    from_: Annotated[
        Peer,
        Field(alias="from", description="Who starts the connection.", examples=[{"service": "api/gateway"}]),
    ]  # fmt: skip
    to: Target = Field(description="Who is connected to, on which ports.")


class Guardrail(Strict):
    """A CEL expression over the whole fleet that must be true; false is an error."""

    name: Name = Field(description="A unique name for the guardrail.")
    expression: Annotated[str, Field(min_length=1, max_length=8192)] = Field(
        description="CEL over `fleet` (the spec as data) and `clusters` (a map by name);"
        " evaluated under a cost limit.",
        examples=["fleet.clusters.all(c, c.id < 100)"],
    )
    message: str = Field(description="What validate prints when the expression is false.")


class Request(Strict):
    """One concrete HTTP request, for expectations about L7 rules."""

    method: Annotated[str, Field(pattern=r"^[A-Z]+$", max_length=32)] = Field(
        default="GET", description="The request method."
    )
    path: Annotated[str, Field(pattern=r"^/", max_length=1024)] = Field(
        default="/", description="The request path.", examples=["/v1/items"]
    )


class Expectation(Strict):
    """A connectivity assertion checked on every validate: may `from` reach `to` on `port`?"""

    name: str | None = Field(default=None, description="A name to report it by.")
    from_: Annotated[
        str,
        Field(
            alias="from",
            min_length=3,
            description="The client: `ns/service@cluster`, `ns@cluster`, `ns/app=x@cluster`,"
            " `*@cluster`, or `world`, `cidr:IP`, `fqdn:NAME`, `host@cluster` ...",
            examples=["api/gateway@us-api"],
        ),
    ]
    to: Annotated[str, Field(min_length=3)] = Field(
        description="The server, written like `from`.", examples=["payments/payments@eu-payments"]
    )
    port: PortSpec = Field(description="The port, as `443/TCP`.")
    http: Request | None = Field(
        default=None, description="An HTTP request, to check L7 rules too."
    )
    allowed: bool = Field(description="Whether the connection must be allowed.")
