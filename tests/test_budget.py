"""The mesh budget: warnings from 80 % of a limit, errors past it, at the driving line."""

from __future__ import annotations

from compiler.diagnostics import Diagnostics, Severity
from compiler.pipeline import check

HEAD = """apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata:
  name: budget
spec:
  cilium:
    version: "1.19"
    maxConnectedClusters: {max}
  clusters:
"""


def _fleet(clusters: int, max_clusters: int = 255, extra: str = "") -> bytes:
    rows = "".join(
        f"    - {{name: c{i}, id: {i + 1}, podCIDRs: [10.{i // 250}.{i % 250}.0/24],"
        f" meshEndpoint: {{address: m{i}.example.internal}}}}\n"
        for i in range(clusters)
    )
    return (HEAD.format(max=max_clusters) + rows + extra).encode()


def _findings(data: bytes, code: str) -> list[tuple[Severity, int, str]]:
    diags = Diagnostics()
    check(data, "fleet.yaml", diags)
    return [
        (d.severity, d.position.line if d.position else 0, d.message)
        for d in diags.sorted()
        if d.code == code
    ]


def test_cluster_count_warns_near_the_limit() -> None:
    assert _findings(_fleet(200), "budget-clusters") == []
    found = _findings(_fleet(205), "budget-clusters")
    assert len(found) == 1
    severity, line, message = found[0]
    assert severity is Severity.WARNING
    assert line == 8  # maxConnectedClusters
    assert "205 of at most 255" in message


def test_policy_map_budget_counts_peers_times_ports() -> None:
    ports = ", ".join(f"{{port: {p}}}" for p in range(1000, 1070))  # 70 ports
    names = ", ".join(f"c{i}" for i in range(250))
    services = f"""  services:
    - name: db
      namespace: data
      selector: {{app: db}}
      ports: [{ports}]
      clusters: [c0]
  policies:
    - name: everyone-to-db
      action: allow
      from: {{clusters: [{names}]}}
      to: {{service: data/db}}
"""
    found = _findings(_fleet(250, extra=services), "budget-policy-map")
    # 250 peer clusters x 70 ports = 17,500 > 16,384
    assert [(s, m) for s, _, m in found] == [
        (
            Severity.ERROR,
            "policy map entries for the pods of data/db (peer identities x ports): 17500 of"
            " at most 16384",
        )
    ]
    assert found[0][1] == services.count("\n", 0, services.index("to: {service")) + 1 + _fleet(
        250
    ).decode().count("\n")


def test_no_budget_findings_on_the_examples() -> None:
    from tests.conftest import FLEETS

    for fleet in sorted(FLEETS.glob("*/fleet.yaml")):
        diags = Diagnostics()
        check(fleet.read_bytes(), "fleet.yaml", diags)
        assert not [d for d in diags.items if d.code.startswith("budget-")]


def test_object_sizes_blame_the_entry_a_file_came_from() -> None:
    from compiler.load import load
    from compiler.model import parse
    from compiler.render.output import File
    from compiler.validate.budget import OBJECT_MAX, ObjectSizes

    extra = """  services:
    - {name: web, namespace: shop, selector: {app: web}, ports: [{port: 443}], clusters: [c1]}
  policies:
    - name: open
      action: allow
      from: {clusters: [c0]}
      to: {service: shop/web}
"""
    data = _fleet(3, extra=extra)
    doc = load(data, "fleet.yaml")
    fleet = parse(doc, Diagnostics())
    assert fleet is not None
    sizes = ObjectSizes(doc, fleet)
    big, near, small = b"x" * (OBJECT_MAX + 1), b"x" * (OBJECT_MAX * 9 // 10), b"x" * 100
    sizes(File("a.yaml", "", "policy open (fleet.yaml:21)"), big)
    sizes(File("b.yaml", "", "service shop/web in fleet.yaml"), near)
    sizes(File("c.yaml", "", "every file of cluster c2 in fleet.yaml"), big)
    sizes(File("d.yaml", "", "spec.defaults (fleet.yaml)"), big)
    sizes(File("e.yaml", "", "policy open (fleet.yaml:21)"), small)
    sizes(File("f.json", "", "policy open (fleet.yaml:21)", applied=False), big)  # not applied
    found = [(d.severity, d.position.line if d.position else 0) for d in sizes.diags.sorted()]
    lines = data.decode().splitlines()

    def line_of(text: str) -> int:
        return next(i for i, row in enumerate(lines, 1) if text in row)

    assert sorted(found, key=lambda f: f[1]) == sorted(
        [
            (Severity.ERROR, line_of("- name: open")),
            (Severity.WARNING, line_of("name: web")),
            (Severity.ERROR, line_of("name: c2")),
            (Severity.ERROR, line_of("spec:") + 1),  # spec itself: its first entry
        ],
        key=lambda f: f[1],
    )
