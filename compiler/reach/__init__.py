"""The reachability model: what a fleet's policies mean for one flow, and why.

`decide(resolved, src, dst, protocol, port)` answers "may src reach dst?" with the deciding
rule; `explain`, the expectations check and the property tests against rendered policies all
ask it. It reads only the resolved fleet, never the rendered output.
"""

from compiler.reach.endpoints import EndpointError, UnknownEndpoint, endpoint_for, parse
from compiler.reach.model import (
    DNS_LABELS,
    DNS_NAMESPACE,
    DNS_PORT,
    DNS_PROTOCOLS,
    Decision,
    Endpoint,
    Node,
    Outside,
    Party,
    decide,
    decide_mixed,
    entity_matches,
    fqdn_matches,
    in_set,
    names_flow,
    peer_matches,
    requests,
)

__all__ = [
    "DNS_LABELS",
    "DNS_NAMESPACE",
    "DNS_PORT",
    "DNS_PROTOCOLS",
    "Decision",
    "Endpoint",
    "EndpointError",
    "Node",
    "Outside",
    "Party",
    "UnknownEndpoint",
    "decide",
    "decide_mixed",
    "endpoint_for",
    "entity_matches",
    "fqdn_matches",
    "in_set",
    "names_flow",
    "parse",
    "peer_matches",
    "requests",
]
