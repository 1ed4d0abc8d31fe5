"""CEL selectors and guardrails: positions inside fleet.yaml, results, cost limits, lazy import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.diagnostics import Diagnostic, Diagnostics, Position
from compiler.load import load
from compiler.model import Fleet, parse
from compiler.pipeline import check
from compiler.validate import cel, cel_select
from compiler.validate.cel_position import scalar_positions
from tests.conftest import ROOT

HEAD = """\
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata:
  name: t
spec:
  cilium:
    version: "1.19"
    maxConnectedClusters: 511
  clusters:
"""

CLUSTER = """\
    - name: {name}
      id: {id}
      region: {region}
      labels: {{env: {env}}}
      podCIDRs: [10.{hi}.{lo}.0/24]
      meshEndpoint:
        address: mesh.{name}.example.internal
"""

SERVICES = """\
  services:
    - name: web
      namespace: web
      selector: {app: web}
      ports: [{port: 80}]
      clusters: [eu-1, us-2]
"""


def fleet_text(tail: str = "", clusters: int = 3) -> str:
    regions = ["westeurope", "eastus", "northeurope"]
    out = HEAD
    for i in range(1, clusters + 1):
        region = regions[(i - 1) % 3]
        prefix = "eu" if region.endswith("europe") else "us"
        env = "dev" if i == 3 else "prod"
        out += CLUSTER.format(
            name=f"{prefix}-{i}", id=i, hi=i // 256, lo=i % 256, region=region, env=env
        )
    return out + SERVICES + textwrap.indent(textwrap.dedent(tail), "  ")


def run(text: str) -> list[Diagnostic]:
    diags = Diagnostics()
    check(text.encode(), "fleet.yaml", diags)
    return diags.sorted()


def guardrail(expression_yaml: str, message: str = "must hold") -> str:
    return fleet_text() + (
        "  guardrails:\n    - name: g\n      expression: " + expression_yaml + "\n"
        f"      message: {message}\n"
    )


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def only(diags: list[Diagnostic]) -> Diagnostic:
    assert len(diags) == 1, [f"{d.position} {d.code} {d.message}" for d in diags]
    return diags[0]


# --- guardrails -----------------------------------------------------------------------------


def test_true_guardrail_is_quiet() -> None:
    assert run(guardrail("\"fleet.clusters.all(c, c.id > 0) && clusters['eu-1'].id == 1\"")) == []


def test_false_guardrail_is_an_error_at_its_expression_with_its_message() -> None:
    text = guardrail(
        "|\n        fleet.services.all(s,\n          s.clusters.all(c, clusters[c].region.endsWith('europe')))",
        "web stays in Europe",
    )
    d = only(run(text))
    assert d.code == "guardrail-failed"
    assert d.message == "guardrail 'g' failed: web stays in Europe"
    assert d.position == Position("fleet.yaml", line_of(text, "fleet.services.all"), 9)


@pytest.mark.parametrize(
    "expression",
    [
        '"fleet.size() == 10 && fleet.policies.size() == 0"',  # all of it, defaults too
        "\"fleet.guard.mode == 'audit' && !('size' in fleet)\"",
        '"clusters.size() == 3 && fleet.services.size() == 1"',
    ],
)
def test_guardrail_sees_the_whole_spec_when_it_asks_for_it(expression: str) -> None:
    assert run(guardrail(expression)) == []


def test_guardrail_sees_defaults_and_lists_in_file_order() -> None:
    expression = "\"fleet.services[0].export && fleet.clusters.map(c, c.name)[2] == 'eu-3'\""
    assert run(guardrail(expression)) == []


@pytest.mark.parametrize(
    ("expression", "code", "needle"),
    [
        ('"fleet.clusters.size()"', "cel-type", "got an int"),
        ("\"clusters['nope'].id == 1\"", "cel-eval", "nope"),
        ('"fleet.missing.size() == 0"', "cel-eval", "missing"),
    ],
)
def test_guardrail_runtime_problems_are_errors(expression: str, code: str, needle: str) -> None:
    d = only(run(guardrail(expression)))
    assert d.code == code
    assert needle in d.message
    assert d.message.startswith("guardrail 'g': ")


# --- syntax errors, placed inside the file --------------------------------------------------


def test_syntax_error_in_block_scalar_points_at_its_line_and_column() -> None:
    text = guardrail("|\n        fleet.clusters.all(c,\n          c.id >> 0)")
    d = only(run(text))
    assert d.code == "cel-syntax"
    line = line_of(text, "c.id >> 0")
    # the second '>' is the unexpected token
    assert d.position == Position("fleet.yaml", line, text.splitlines()[line - 1].index(">>") + 2)


def test_syntax_error_in_block_scalar_after_blank_line() -> None:
    text = guardrail("|-\n        fleet.clusters.size() > 0 &&\n\n          )")
    d = only(run(text))
    line = line_of(text, "          )")
    assert d.position == Position("fleet.yaml", line, 11)


def test_syntax_error_in_folded_scalar() -> None:
    text = guardrail(
        ">\n        fleet.clusters.size() > 0 &&\n        fleet.clusters.all(c, c.id ==)"
    )
    d = only(run(text))
    line = line_of(text, "c.id ==)")
    assert d.position == Position("fleet.yaml", line, text.splitlines()[line - 1].index("==)") + 3)


def test_syntax_error_in_single_quoted_scalar_with_doubled_quote() -> None:
    text = guardrail("'clusters[''eu-1''].id === 1'")
    d = only(run(text))
    line = line_of(text, "===")
    assert d.position == Position("fleet.yaml", line, text.splitlines()[line - 1].index("===") + 3)


def test_syntax_error_in_double_quoted_scalar_with_escape() -> None:
    text = guardrail('"clusters[\\"eu-1\\"].id $ 1"')
    d = only(run(text))
    line = line_of(text, "$ 1")
    assert d.position == Position("fleet.yaml", line, text.splitlines()[line - 1].index("$") + 1)


def test_syntax_error_in_plain_scalar_unterminated_string() -> None:
    text = guardrail("fleet.clusters.all(c, c.name == 'x)")
    d = only(run(text))
    line = line_of(text, "'x)")
    assert d.position == Position("fleet.yaml", line, text.splitlines()[line - 1].index("'x)") + 1)


def test_selector_syntax_error_is_reported_by_validate_inside_a_flow_mapping() -> None:
    text = fleet_text(
        """\
        policies:
          - name: p
            action: deny
            from: {clusters: {cel: "cluster.labels.env == 'dev' &&"}}
            to: {clusters: [eu-1]}
        """
    )
    d = only(run(text))
    assert d.code == "cel-syntax"
    assert "end of expression" in d.message
    line = line_of(text, "cel:")
    assert d.position.line == line if d.position else False
    assert d.position and d.position.column == text.splitlines()[line - 1].index("&&") + 2


def test_selector_runtime_error_names_the_cluster() -> None:
    text = fleet_text(
        """\
        policies:
          - name: p
            action: deny
            from: {clusters: {cel: "cluster.labels.tier == 'x'"}}
            to: {clusters: [eu-1]}
        """
    )
    d = only(run(text))
    assert d.code == "cel-eval"
    assert "'eu-1'" in d.message


# --- select_clusters ------------------------------------------------------------------------


def loaded(text: str) -> Fleet:
    doc = load(text.encode(), "fleet.yaml")
    fleet = parse(doc, Diagnostics())
    assert fleet is not None
    return fleet


def test_select_clusters_returns_sorted_names_and_caches() -> None:
    fleet = loaded(fleet_text(clusters=6))
    clusters = list(reversed(fleet.spec.clusters))
    at = Position("fleet.yaml", 1, 1)
    diags = Diagnostics()
    expression = "cluster.region.endsWith('europe') && cluster.labels.env == 'prod'"
    names = cel_select.select_clusters(expression, clusters, at, diags)
    assert names == sorted(
        c.name
        for c in clusters
        if c.region and c.region.endswith("europe") and c.labels["env"] == "prod"
    )
    assert names == ["eu-1", "eu-4", "eu-6"]
    assert len(diags) == 0


def test_select_clusters_evaluates_each_expression_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = loaded(fleet_text(clusters=4))
    at = Position("fleet.yaml", 1, 1)
    expression = "cluster.id % 2 == 0"
    first = cel_select.select_clusters(expression, list(fleet.spec.clusters), at, Diagnostics())
    assert first == ["eu-4", "us-2"]

    def again(*args: object) -> None:
        raise AssertionError("evaluated twice")

    monkeypatch.setattr(cel_select, "_select", again)
    assert (
        cel_select.select_clusters(expression, list(fleet.spec.clusters), at, Diagnostics())
        == first
    )


def test_deadline_stops_an_evaluation_too() -> None:
    compiled = cel.compile_expression("[1, 2, 3, 4].all(x, [1, 2, 3, 4].all(y, x + y > 0))")
    value = cel.evaluate(compiled, {}, cel.Budget(steps=10_000, seconds=0.0))
    assert isinstance(value, cel.CelError)
    assert (value.code, value.message) == ("cel-cost", "exceeded the time limit of 0 s")


def test_select_clusters_error_returns_none_with_a_diagnostic_at_the_value() -> None:
    fleet = loaded(fleet_text())
    at = Position("fleet.yaml", 7, 9)
    diags = Diagnostics()
    assert cel_select.select_clusters("cluster.id", list(fleet.spec.clusters), at, diags) is None
    d = only(diags.sorted())
    assert (d.code, d.position) == ("cel-type", at)


# --- cost limits ----------------------------------------------------------------------------


def test_nested_comprehensions_over_500_clusters_stop_with_cel_cost_quickly() -> None:
    expression = (
        '"fleet.clusters.all(a, fleet.clusters.all(b, fleet.clusters.all(c,'
        ' a.id + b.id + c.id > 0)))"'
    )
    text = fleet_text(clusters=500).replace(
        "  services:",
        "  guardrails:\n    - name: g\n"
        f"      expression: {expression}\n      message: m\n  services:",
        1,
    )
    started = time.perf_counter()
    diags = run(text)
    elapsed = time.perf_counter() - started
    d = only([d for d in diags if not d.code.startswith("budget-")])  # 500 of 511 clusters
    assert d.code == "cel-cost"
    # the step limit on an idle machine, the deadline behind it on a very busy one
    assert "cost limit" in d.message or "time limit" in d.message
    assert d.hint and "evaluation steps" in d.hint
    assert elapsed < 5, elapsed


def test_cost_is_counted_in_steps_so_the_outcome_is_deterministic() -> None:
    compiled = cel.compile_expression("[1, 2, 3].all(x, [1, 2, 3].all(y, x * y > 0))")
    assert compiled.error is None
    assert cel.evaluate(compiled, {}, cel.Budget(steps=10_000))
    small = cel.evaluate(compiled, {}, cel.Budget(steps=50))
    assert isinstance(small, cel.CelError) and small.code == "cel-cost"


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))", "cel-cost"),
        ("(" * 40 + "1" + ")" * 40 + " == 1", "cel-cost"),
        ("[1, 2].reduce(r, x, 0, r + x) == 3", "cel-unsupported"),
        ("1 == 1" + " && true" * 1400, "cel-cost"),
    ],
)
def test_static_limits(expression: str, code: str) -> None:
    compiled = cel.compile_expression(expression)
    assert compiled.error is not None
    assert compiled.error.code == code


def test_each_expression_compiles_once() -> None:
    first = cel.compile_expression("1 + 2 == 3")
    assert cel.compile_expression("1 + 2 == 3") is first


# --- import only when used ------------------------------------------------------------------

PROBE = """
import sys
from compiler.diagnostics import Diagnostics
from compiler.pipeline import check
diags = Diagnostics()
check(open(sys.argv[1], 'rb').read(), 'fleet.yaml', diags)
assert not diags.has_errors, diags.sorted()
print('celpy' in sys.modules)
"""


@pytest.mark.parametrize(("fleet", "imported"), [("minimal", "False"), ("contoso", "True")])
def test_celpy_is_imported_only_for_fleets_with_cel(fleet: str, imported: str) -> None:
    path = ROOT / "fleets" / fleet / "fleet.yaml"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == imported


# --- positions inside any scalar style: rebuilt text maps back to its own characters --------

STYLES = ["plain", "single", "double", "literal", "folded"]


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="\\"),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool),
    st.sampled_from(STYLES),
    st.integers(min_value=8, max_value=40),
)
def test_scalar_positions_map_each_character_to_itself(text: str, style: str, width: int) -> None:
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        FoldedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    wrap = {
        "plain": str,
        "single": SingleQuotedScalarString,
        "double": DoubleQuotedScalarString,
        "literal": LiteralScalarString,
        "folded": FoldedScalarString,
    }[style]
    yaml = YAML()
    yaml.width = width
    buffer = io.StringIO()
    yaml.dump({"spec": {"expression": wrap(text)}}, buffer)
    source = buffer.getvalue()
    doc = load(source.encode(), "f.yaml")
    value = doc.data["spec"]["expression"]
    if not isinstance(value, str):
        return  # a plain scalar that YAML reads as a number or bool: not an expression
    at = doc.position(("spec", "expression"))
    places = scalar_positions(doc.source.lines, at.line, at.column, value)
    assert places is not None, (style, source)
    lines = doc.source.lines
    for ch, (line, column) in zip(value, places, strict=True):
        if ch in " \n":
            continue  # folded line breaks map to the end of a line
        if lines[line - 1][column - 1] == "\\":
            continue  # an escape sequence maps to its backslash
        assert lines[line - 1][column - 1] == ch, (style, source, ch, line, column)


# --- selectors against a model of their meaning ---------------------------------------------

FIELDS_READ = [
    ("cluster.labels.env == 'prod' && cluster.region == 'x'", {"labels", "region"}),
    ("has(cluster.region) || cluster.id > 3", {"region", "id"}),
    ("cluster == cluster", None),
    (".cluster.id == 1", None),
    ("[cluster].size() == 1", None),
    ("[1].all(cluster, cluster > 0)", None),
    ("true", set()),
]


@pytest.mark.parametrize(("expression", "fields"), FIELDS_READ)
def test_fields_read(expression: str, fields: set[str] | None) -> None:
    from compiler.validate.cel_data import fields_read

    compiled = cel.compile_expression(expression)
    assert compiled.error is None
    read = fields_read(compiled.program.ast, "cluster")
    assert (None if read is None else set(read)) == fields


ENVS = ["prod", "dev", "staging"]
REGIONS = ["westeurope", "eastus"]


def _atom(draw: st.DrawFn) -> tuple[str, object]:
    """A CEL comparison and the same test as a Python function of a cluster dict."""
    kind = draw(st.sampled_from(["env", "region", "id", "has-tier", "name"]))
    if kind == "env":
        env = draw(st.sampled_from(ENVS))
        return f"cluster.labels.env == '{env}'", lambda c: c["labels"]["env"] == env
    if kind == "region":
        region = draw(st.sampled_from(REGIONS))
        return f"cluster.region.endsWith('{region[-4:]}')", lambda c: c["region"].endswith(
            region[-4:]
        )
    if kind == "id":
        bound = draw(st.integers(0, 12))
        return f"cluster.id > {bound}", lambda c: c["id"] > bound
    if kind == "name":
        return "cluster.name.startsWith('c1')", lambda c: c["name"].startswith("c1")
    return "'tier' in cluster.labels", lambda c: "tier" in c["labels"]


@st.composite
def selectors(draw: st.DrawFn) -> tuple[str, object]:
    left, f = _atom(draw)
    op = draw(st.sampled_from(["&&", "||", "only", "not"]))
    if op == "only":
        return left, f
    if op == "not":
        return f"!({left})", lambda c: not f(c)  # type: ignore[operator]
    right, g = _atom(draw)
    if op == "&&":
        return f"{left} && {right}", lambda c: f(c) and g(c)  # type: ignore[operator]
    return f"({left}) || ({right})", lambda c: f(c) or g(c)  # type: ignore[operator]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ENVS), st.sampled_from(REGIONS), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    selectors(),
)
def test_select_clusters_agrees_with_a_python_model(
    shapes: list[tuple[str, str, bool]], selector: tuple[str, object]
) -> None:
    from compiler.model.fleet import Cluster

    expression, model = selector
    clusters = []
    for i, (env, region, tier) in enumerate(shapes, start=1):
        labels = {"env": env, **({"tier": "api"} if tier else {})}
        clusters.append(
            Cluster.model_validate(
                {
                    "name": f"c{i}",
                    "id": i,
                    "region": region,
                    "labels": labels,
                    "podCIDRs": [f"10.{i}.0.0/16"],
                    "meshEndpoint": {"address": f"mesh.c{i}.example"},
                }
            )
        )
    diags = Diagnostics()
    got = cel_select.select_clusters(expression, clusters, Position("f", 1, 1), diags)
    assert not diags.has_errors, diags.sorted()
    want = sorted(c.name for c in clusters if model(c.model_dump()))  # type: ignore[operator]
    assert got == want
