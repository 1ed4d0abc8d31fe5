"""Semantic checks beyond the case files: label selectors, endpoints, the CIDR sweep against a
brute-force model, and output that does not depend on input order or hash seeds."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.diagnostics import PER_CODE, Diagnostics
from compiler.pipeline import check
from compiler.validate.endpoints import Endpoint, EndpointError, parse_endpoint
from compiler.validate.selectors import match_labels

ROOT = Path(__file__).resolve().parents[1]
MY_CODES = re.compile(
    r"\[(cluster|cidr|routing|mesh-endpoint|cilium-version|ref|service|policy|guardrail-dup"
    r"|expectation)[a-z-]*\]"
)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "prod", "tier": "api"}, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "dev"}, False),
        ({"matchLabels": {"env": "prod"}}, {}, False),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]},
            {"env": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]},
            {"env": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {"env": ""}, True),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": ""}, False),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "tier", "operator": "Exists"}],
            },
            {"env": "prod"},
            False,
        ),
    ],
)
def test_match_labels(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert match_labels(selector, labels) is expected
    from compiler.model.fleet import ClusterLabelSelector

    assert match_labels(ClusterLabelSelector.model_validate(selector), labels) is expected


def test_match_labels_refuses_cel() -> None:
    with pytest.raises(ValueError, match="CEL"):
        match_labels({"cel": "true"}, {})


_keys = st.sampled_from(["env", "tier", "region"])
_values = st.sampled_from(["a", "b", "c"])


@given(
    wanted=st.dictionaries(_keys, _values, max_size=2),
    labels=st.dictionaries(_keys, _values, max_size=3),
)
def test_match_labels_is_a_subset_test(wanted: dict[str, str], labels: dict[str, str]) -> None:
    # matchLabels is the same as one `In` expression with a single value per key
    as_expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in wanted.items()]
    expected = set(wanted.items()) <= set(labels.items())
    assert match_labels({"matchLabels": wanted}, labels) is expected
    assert match_labels({"matchExpressions": as_expressions}, labels) is expected


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("payments/payments@eu-payments", Endpoint("payments", "eu-payments", service="payments")),
        ("tools@dev", Endpoint("tools", "dev")),
        (
            "shop/tier=front,app=web@a",
            Endpoint("shop", "a", labels=(("app", "web"), ("tier", "front"))),
        ),
        (
            "shop/app.kubernetes.io/name=web@a",
            Endpoint("shop", "a", labels=(("app.kubernetes.io/name", "web"),)),
        ),
    ],
)
def test_parse_endpoint(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint
    assert parse_endpoint(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("shop/web", 8),
        ("shop/web@", 9),
        ("shop/web@Alpha", 9),
        ("Shop/web@a", 0),
        ("shop/Web@a", 5),
        ("shop/app=web,tier@a", 13),
        ("shop/app=web,app=api@a", 13),
        ("shop/app=we b@a", 9),
    ],
)
def test_parse_endpoint_errors(text: str, offset: int) -> None:
    with pytest.raises(EndpointError) as info:
        parse_endpoint(text)
    assert info.value.offset == offset


HEADER = [
    "apiVersion: fleetc.dev/v1alpha1",
    "kind: Fleet",
    "metadata: {name: t}",
    "spec:",
    '  cilium: {version: "1.19"}',
    "  clusters:",
]


def _fleet_yaml(clusters: list[tuple[list[str], list[str], list[str]]]) -> bytes:
    lines = [*HEADER]
    for i, (pods, nodes, services) in enumerate(clusters):
        lines += [
            f"    - name: c{i}",
            f"      id: {i + 1}",
            f"      podCIDRs: [{', '.join(pods)}]",
            f"      nodeCIDRs: [{', '.join(nodes)}]",
            f"      serviceCIDRs: [{', '.join(services)}]",
            f"      meshEndpoint: {{address: c{i}.example}}",
        ]
    return ("\n".join(lines) + "\n").encode()


_nets = st.builds(
    lambda a, b, prefix: str(ipaddress.ip_network(f"10.{a}.{b}.0/{prefix}", strict=False)),
    st.integers(0, 3),
    st.integers(0, 255),
    st.integers(12, 24),
)


@settings(max_examples=60, deadline=None)
@given(
    nets=st.lists(_nets, min_size=2, max_size=14, unique=True),
    data=st.data(),
)
def test_cidr_overlaps_match_brute_force(nets: list[str], data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 4))
    owners = [data.draw(st.integers(0, count - 1)) for _ in nets]
    kinds = [data.draw(st.sampled_from(["podCIDR", "nodeCIDR", "serviceCIDR"])) for _ in nets]
    clusters: list[tuple[list[str], list[str], list[str]]] = [
        ([f"172.{20 + i}.0.0/16"], [], []) for i in range(count)
    ]
    for net, owner, kind in zip(nets, owners, kinds, strict=True):
        clusters[owner][["podCIDR", "nodeCIDR", "serviceCIDR"].index(kind)].append(net)
    # every range in file order: per cluster, pods, then nodes, then services
    entries = [
        (f"c{i}", kind, net)
        for i, lists in enumerate(clusters)
        for kind, nets_of_kind in zip(("podCIDR", "nodeCIDR", "serviceCIDR"), lists, strict=True)
        for net in nets_of_kind
    ]
    # model: each range that collides with an earlier one is reported once, at itself,
    # naming the first range (in file order) it collides with
    expected = set()
    for k, b in enumerate(entries):
        for a in entries[:k]:
            # service ranges are cluster-local: two clusters may reuse one
            reuse = a[1] == b[1] == "serviceCIDR" and a[0] != b[0]
            if not reuse and ipaddress.ip_network(a[2]).overlaps(ipaddress.ip_network(b[2])):
                expected.add(
                    (f"{b[1]} {b[2]} of cluster '{b[0]}'", f"{a[1]} {a[2]} of cluster '{a[0]}'")
                )
                break
    diags = Diagnostics()
    assert check(_fleet_yaml(clusters), "f.yaml", diags) is not None
    found = set()
    for d in diags.sorted():
        assert d.code == "cidr-overlap", d
        second, first = re.split(r" overlaps | is the same range as ", d.message)
        found.add((second, first))
    assert found == expected


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    case = (ROOT / "tests" / "cases" / "many-findings-sorted.txtar").read_text("utf-8")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(case.split("-- fleet.yaml --\n", 1)[1].split("-- expected --\n", 1)[0])
    outputs = set()
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-m", "compiler", "validate", str(fleet)],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=False,
            cwd=ROOT,
        )
        assert result.returncode == 1, result.stderr
        outputs.add(result.stderr)
    assert len(outputs) == 1


@pytest.mark.parametrize("name", ["contoso", "minimal"])
def test_example_fleets_have_no_semantic_findings(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", str(ROOT / "fleets" / name / "fleet.yaml")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not MY_CODES.search(err), err


@pytest.mark.parametrize(
    ("written", "column"),
    [("a/b@gama", 11), ('"a/b@gama"', 12), ("'a/b@gama'", 12), ('"a/\\x62@gama"', 7)],
)
def test_positions_inside_a_scalar(written: str, column: int) -> None:
    from compiler.load import load
    from compiler.validate.positions import inside

    doc = load(f"x:\n  to: {written}\n".encode(), "f.yaml")
    # the cluster name starts 4 characters into the value; escapes before it defeat the
    # arithmetic, and then the scalar's own position is the answer
    assert inside(doc, ("x", "to"), doc.data["x"]["to"], 4).column == column


@pytest.mark.parametrize(
    ("ref", "hint"),
    [
        ("shop/webb", "did you mean 'shop/web'?"),
        ("shop/db", None),  # the shared namespace alone does not make a suggestion
        ("shpo/web", "did you mean 'shop/web'?"),
        ("shpo/webb", "did you mean 'shop/web'?"),
        ("other/web", None),
        ("payments/ledgr", "did you mean 'payments/ledger'?"),
    ],
)
def test_service_suggestions(ref: str, hint: str | None) -> None:
    from compiler.validate.names import ServiceSuggestions

    suggest = ServiceSuggestions(["shop/web", "shop/cart", "payments/ledger", "payments/api"])
    assert suggest(ref) == hint
    assert ref not in suggest and "shop/web" in suggest


def test_many_unresolved_references_stay_fast(tmp_path: Path) -> None:
    # 2,000 services, each in a cluster that does not exist and each named by a policy that
    # misspells it: every finding gets its hint, in far less time than one search per pair
    lines = [
        *HEADER,
        *(
            f"    - {{name: c{i}, id: {i + 1}, podCIDRs: [10.{i}.0.0/16],"
            f" meshEndpoint: {{address: c{i}.example}}}}"
            for i in range(200)
        ),
        "  services:",
        *(
            f"    - {{name: s{i}, namespace: n{i % 20}, selector: {{app: s}}, clusters: [x{i}]}}"
            for i in range(2000)
        ),
        "  policies:",
        *(
            f"    - {{name: p{i}, action: allow, from: {{namespace: a}},"
            f" to: {{service: n{i % 20}/s{i}x}}}}"
            for i in range(2000)
        ),
    ]
    diags = Diagnostics()
    started = time.perf_counter()
    check(("\n".join(lines) + "\n").encode(), "f.yaml", diags)
    elapsed = time.perf_counter() - started
    shown = diags.sorted()
    codes = [d.code for d in shown]
    # findings are capped per code: the first PER_CODE, then one "N more" line
    assert codes.count("ref-unknown-cluster") == PER_CODE + 1
    assert codes.count("ref-unknown-service") == PER_CODE + 1
    more = [d.message for d in shown if d.position is None]
    assert f"{2000 - PER_CODE} more ref-unknown-service finding(s) not shown" in " ".join(more)
    assert all(d.hint for d in shown if d.code == "ref-unknown-service" and d.position)
    assert elapsed < 10, elapsed
