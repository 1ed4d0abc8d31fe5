"""The constrained scalar types of fleet.yaml, and model errors placed at their values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from compiler.diagnostics import Diagnostics, Position
from compiler.load import load
from compiler.model import parse
from compiler.model.types import CIDR, IP, ClusterName, Name, PortRange, PortSpec, version_tuple


def error_of(kind: Any, value: object) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(kind).validate_python(value)
    (error,) = info.value.errors(include_url=False)
    return dict(error)


def hint_of(kind: Any, value: object) -> str:
    return str((error_of(kind, value).get("ctx") or {}).get("hint", ""))


@pytest.mark.parametrize(
    "value",
    ["10.1.0.0/16", "10.1.2.3/32", "fd00:10:1::/48", "2001:db8::/32", "0.0.0.0/1"],
)
def test_cidr_accepts_canonical_ranges(value: str) -> None:
    assert TypeAdapter(CIDR).validate_python(value) == value


@pytest.mark.parametrize(
    ("value", "kind", "hint"),
    [
        ("10.1.2.3/16", "cidr_host_bits", "did you mean 10.1.0.0/16?"),
        ("fd00:10:1::1/48", "cidr_host_bits", "did you mean fd00:10:1::/48?"),
        ("FD00:10::/32", "cidr_canonical", "write fd00:10::/32"),
        ("fd00:0:0:0:1::/80", "cidr_canonical", "write fd00::1:0:0:0/80"),
        ("010.1.0.0/16", "cidr", ""),  # leading zeros are ambiguous (octal?) and refused
        ("10.1.0.0", "cidr", "add the prefix length, such as 10.1.0.0/16"),
        ("::ffff:10.1.0.0/112", "cidr", "write 10.1.0.0/16"),
        ("0.0.0.0/0", "cidr", ""),
        ("::/0", "cidr", ""),
        ("10.1.0.0/33", "cidr", ""),
        ("pods", "cidr", ""),
    ],
)
def test_cidr_errors_and_hints(value: str, kind: str, hint: str) -> None:
    error = error_of(CIDR, value)
    assert error["type"] == kind
    assert hint_of(CIDR, value) == hint


def test_ip_is_canonical() -> None:
    assert TypeAdapter(IP).validate_python("192.0.2.1") == "192.0.2.1"
    assert TypeAdapter(IP).validate_python("fd00::1") == "fd00::1"
    assert hint_of(IP, "FD00:0::1") == "write fd00::1"
    assert error_of(IP, "192.0.2.1/32")["type"] == "ip"


@pytest.mark.parametrize("value", ["443/TCP", "53/UDP", "8000-8100/TCP", "1/SCTP", "65535/ANY"])
def test_port_specs(value: str) -> None:
    assert TypeAdapter(PortSpec).validate_python(value) == value


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("443", "add the protocol: 443/TCP"),
        ("443/tcp", "protocols are upper case: 443/TCP"),
        ("8100-8000/TCP", "write 8000-8100/TCP"),
        ("0/TCP", ""),
        ("65536/TCP", ""),
        ("443/HTTP", ""),
        ("https", ""),
    ],
)
def test_bad_port_specs(value: str, hint: str) -> None:
    assert error_of(PortSpec, value)["type"] == "port_spec"
    assert hint_of(PortSpec, value) == hint


def test_port_spec_must_be_a_string() -> None:
    assert error_of(PortSpec, 443)["type"] == "string_type"


@given(
    protocol=st.sampled_from(["TCP", "UDP", "SCTP", "ANY"]),
    low=st.integers(1, 65535),
    width=st.integers(0, 200),
    probe=st.integers(1, 65535),
    probe_protocol=st.sampled_from(["TCP", "UDP", "SCTP"]),
)
def test_port_range_round_trip_and_contains(
    protocol: str, low: int, width: int, probe: int, probe_protocol: str
) -> None:
    high = min(low + width, 65535)
    port = PortRange(protocol, low, high)
    text = str(port)
    assert TypeAdapter(PortSpec).validate_python(text) == text
    assert PortRange.parse(text) == port
    expected = low <= probe <= high and protocol in ("ANY", probe_protocol)
    assert port.contains(probe_protocol, probe) is expected


@pytest.mark.parametrize("value", ["a", "a1", "eu-payments", "1", "a" * 32, "x--y"])
def test_cluster_names(value: str) -> None:
    assert TypeAdapter(ClusterName).validate_python(value) == value


@pytest.mark.parametrize(
    "value", ["default", "a" * 33, "-a", "a-", "Eu", "eu_payments", "eu.payments", ""]
)
def test_bad_cluster_names(value: str) -> None:
    assert error_of(ClusterName, value)["type"] in ("cluster_name", "string_pattern_mismatch")


def test_default_is_reserved_with_its_own_message() -> None:
    error = error_of(ClusterName, "default")
    assert "reserved" in error["msg"]


@pytest.mark.parametrize("value", ["a", "payments", "a" * 63, "0abc", "a-b-c"])
def test_dns1123_labels(value: str) -> None:
    assert TypeAdapter(Name).validate_python(value) == value


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("a" * 64, ""),
        ("Payments", "try 'payments'"),
        ("shop_front", "try 'shop-front'"),
        ("-shop", "try 'shop'"),
        ("", ""),
    ],
)
def test_bad_dns1123_labels(value: str, hint: str) -> None:
    assert error_of(Name, value)["type"] in (
        "dns1123",
        "string_pattern_mismatch",
        "string_too_long",
    )
    if hint:
        assert hint_of(Name, value) == hint


def test_version_tuple() -> None:
    assert version_tuple("1.19") == (1, 19)
    assert version_tuple("1.9") < version_tuple("1.10")


FLEET = b"""apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata: {name: t}
spec:
  cilium: {version: "1.19", maxConnectedClusters: 300}
  clusters:
    - name: a
      id: 1
      podCIDRs: [10.1.0.0/16, 10.2.0.1/16]
      meshEndpoint: {address: mesh.a.example, ips: [192.0.2.1]}
      colour: blue
"""


def test_model_errors_are_placed_at_their_values() -> None:
    diags = Diagnostics()
    assert parse(load(FLEET, "f.yaml"), diags) is None
    found = {(d.code, d.position) for d in diags.sorted()}
    assert found == {
        ("model-enum", Position("f.yaml", 5, 51)),
        ("model-cidr-host-bits", Position("f.yaml", 9, 31)),
        ("model-mesh-endpoint", Position("f.yaml", 10, 7)),
        ("model-unknown-field", Position("f.yaml", 11, 7)),
    }
    assert all("Input should" not in d.message for d in diags.sorted())
