"""Helpers behind the peer checks: CIDRs less their exceptions, RE2 regexes, the has() hint.

The diagnostics themselves are shown by case files (tests/cases/policy-*.txtar); these tests
pin the pieces whose mistakes a case file would not show.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.validate.cel_select import missing_field
from compiler.validate.peers import _minus, regex_error

# Small networks inside 10.0.0.0/24 so that random excepts often overlap the CIDR.
prefixes = st.integers(min_value=24, max_value=30)
networks = st.builds(
    lambda host, prefix: ipaddress.ip_network(f"10.0.0.{host}/{prefix}", strict=False),
    st.integers(min_value=0, max_value=255),
    prefixes,
)


@settings(max_examples=300, deadline=None)
@given(networks, st.lists(networks, max_size=4))
def test_minus_is_the_set_difference(
    net: ipaddress.IPv4Network, excepts: list[ipaddress.IPv4Network]
) -> None:
    rest = _minus(net, list(excepts))
    for address in ipaddress.ip_network("10.0.0.0/24"):
        wanted = address in net and not any(address in e for e in excepts)
        assert any(address in piece for piece in rest) is wanted, address
    # disjoint pieces: each address at most once
    assert sum(p.num_addresses for p in rest) == len({a for p in rest for a in p})


def test_minus_keeps_other_families_apart() -> None:
    v4 = ipaddress.ip_network("10.50.0.0/16")
    v6 = ipaddress.ip_network("fd00::/64")
    assert _minus(v4, [v6]) == [v4]


def test_regexes_are_judged_as_re2_does() -> None:
    assert regex_error("/v1/.*") is None
    assert regex_error("GET|HEAD") is None
    assert regex_error(r"/items/\d+") is None
    for bad in ("GET(", "/v1/[a-", "/(?!admin).*", r"(a)\1", "(?<=x)y"):
        assert regex_error(bad), bad


def test_has_hint_for_a_dotted_field() -> None:
    found = missing_field(
        "cluster.id > 5 || cluster.labels.env == 'prod'", "no such member in mapping: 'env'"
    )
    assert found is not None
    offset, hint = found
    assert offset == len("cluster.id > 5 || ")
    assert hint.endswith("write has(cluster.labels.env) && cluster.labels.env == 'prod'")


def test_in_hint_for_an_index_and_the_operand_stops_at_its_group() -> None:
    text = "(cluster.labels['topology.kubernetes.io/zone'] in ['a', 'b']) && cluster.id < 3"
    found = missing_field(text, "no such key 'topology.kubernetes.io/zone'")
    assert found is not None
    offset, hint = found
    assert offset == 1
    assert hint.endswith(
        "write 'topology.kubernetes.io/zone' in cluster.labels"
        " && cluster.labels['topology.kubernetes.io/zone'] in ['a', 'b']"
    )


def test_other_evaluation_errors_get_no_hint() -> None:
    assert missing_field("cluster.id / 0 == 1", "divide by zero") is None
    # a key the text does not read as a field (e.g. from a computed index): no guess
    assert missing_field("cluster.labels[k] == 'x'", "no such key 'env'") is None
