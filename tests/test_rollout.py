"""Staged rollout end to end, in a real git repository: `commit --wave`, `rollout status`,
`render --check` on a mixed DIR, and the per-wave connectivity of `diff`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.render.pack import references
from tests.conftest import FLEETS
from tests.emit_support import fleetc
from tests.test_commit import git, make_repo

WAVES = """\
  rollout:
    waves:
      - {name: canary, clusters: [dev]}
      - {name: europe, clusters: {matchLabels: {tier: payments}}}
      - {name: rest}
"""

# a change every cluster renders differently: a new allow from payments to the gateway
CHANGE = """\
    - name: payments-to-gateway
      action: allow
      from: {service: payments/payments}
      to: {service: api/gateway}
  guardrails:
"""


def _fleet(change: bool) -> str:
    text = (FLEETS / "contoso" / "fleet.yaml").read_text()
    text = text.replace("path: ./rendered", "path: ./out")
    if change:
        text = text.replace("  guardrails:\n", CHANGE, 1)
    return text + WAVES


def _tree(root: Path, cluster: str) -> dict[str, bytes]:
    """Every file `cluster` has in `root`: its directories and the shared pieces its
    kustomizations refer to (which must exist)."""
    found = {}
    for top in ("clusters", "flux", "bootstrap"):
        base = root / top / cluster
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    found[path.relative_to(root).as_posix()] = path.read_bytes()
    roots = [p for p in found if p.startswith("clusters/") and p.endswith("/kustomization.yaml")]
    for piece in {piece for p in roots for piece in references(found[p])}:
        base = root / "shared" / piece
        assert (base / "kustomization.yaml").is_file(), f"{cluster} refers to missing {piece}"
        for path in sorted(base.rglob("*")):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _pieces_used_exactly(root: Path) -> None:
    """Every piece under shared/ is referred to by some cluster, and only those exist."""
    used = {
        piece
        for kustomization in (root / "clusters").glob("*/**/kustomization.yaml")
        for piece in references(kustomization.read_bytes())
    }
    held = {p.name for p in (root / "shared").iterdir()} if (root / "shared").is_dir() else set()
    assert held == used


@pytest.fixture
def rolled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fleet repo whose output was committed at the base fleet, then fleet.yaml changed and
    committed (nothing rendered yet)."""
    repo = make_repo(tmp_path, monkeypatch)
    (repo / "fleet.yaml").write_text(_fleet(change=False))
    git(repo, "add", "fleet.yaml")
    git(repo, "commit", "-q", "-m", "fleet")
    done = fleetc("commit", "--out", "out", cwd=repo)
    assert done.returncode == 0, done.stderr
    (repo / "fleet.yaml").write_text(_fleet(change=True))
    git(repo, "commit", "-q", "-am", "payments may call the gateway")
    return repo


def test_commit_wave_moves_its_clusters_and_keeps_the_rest(rolled: Path, tmp_path: Path) -> None:
    repo = rolled
    base_commit = git(repo, "rev-parse", "HEAD~2").strip()
    head_commit = git(repo, "rev-parse", "HEAD").strip()
    before = {c: _tree(repo / "out", c) for c in ("dev", "eu-payments", "eu-standby", "us-api")}
    # what the head fleet renders to, in full, elsewhere
    full = tmp_path / "full"
    assert fleetc("render", "fleet.yaml", "--out", str(full), cwd=repo).returncode == 0

    done = fleetc("commit", "--wave", "europe", "--out", "out", cwd=repo)
    assert done.returncode == 0, done.stderr
    message = git(repo, "log", "-1", "--format=%B")
    assert "Fleetc-Wave: europe" in message
    for cluster in ("dev", "eu-payments", "eu-standby"):
        assert _tree(repo / "out", cluster) == _tree(full, cluster)
    assert _tree(repo / "out", "us-api") == before["us-api"]
    assert _tree(full, "us-api") != before["us-api"]  # the change does reach us-api later

    manifest = json.loads((repo / "out" / ".fleetc" / "manifest.json").read_text())
    revisions = manifest["clusters"]
    assert revisions["eu-payments"]["commit"] == head_commit
    assert revisions["us-api"]["commit"] == base_commit
    assert revisions["us-api"]["sha256"] != revisions["dev"]["sha256"]
    # a cluster's revision is the digest of the fleet's meaning, as the manifest's source
    assert revisions["dev"]["sha256"] == manifest["source"]["sha256"]

    status = fleetc("rollout", "status", "--out", "out", "-o", "json", cwd=repo)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    states = {c["name"]: c["state"] for w in data["waves"] for c in w["clusters"]}
    assert states == {
        "dev": "current",
        "eu-payments": "current",
        "eu-standby": "current",
        "us-api": "behind",
    }
    assert [w["state"] for w in data["waves"]] == ["landed", "landed", "pending"]
    assert data["next"] == "rest"
    # fleet.yaml is unchanged in the wave's own commit, so HEAD names the revision now
    assert data["revision"]["commit"] == git(repo, "rev-parse", "HEAD").strip()

    check = fleetc("render", "--check", "--out", "out", cwd=repo)
    assert check.returncode == 1
    assert "behind: us-api" in check.stdout
    assert "behind: dev" not in check.stdout
    as_json = fleetc("render", "--check", "--out", "out", "-o", "json", cwd=repo)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["behind"] == ["us-api"]
    # the same wave again is current: nothing to commit
    assert fleetc("render", "--check", "--wave", "europe", "--out", "out", cwd=repo).returncode == 0
    again = fleetc("commit", "--wave", "europe", "--out", "out", cwd=repo)
    assert "nothing to commit" in again.stderr

    last = fleetc("commit", "--wave", "rest", "--out", "out", cwd=repo)
    assert last.returncode == 0, last.stderr
    assert fleetc("render", "--check", "--out", "out", cwd=repo).returncode == 0
    status = fleetc("rollout", "status", "--out", "out", cwd=repo)
    assert "nothing pending" in status.stdout


def test_unknown_wave_is_a_usage_error_with_a_hint(rolled: Path) -> None:
    before = git(rolled, "rev-parse", "HEAD")
    done = fleetc("commit", "--wave", "eruope", "--out", "out", cwd=rolled)
    assert done.returncode == 2
    assert "did you mean 'europe'?" in done.stderr
    assert git(rolled, "rev-parse", "HEAD") == before
    assert fleetc("rollout", "status", "--out", "missing", cwd=rolled).returncode == 2


def test_a_new_cluster_stays_absent_until_its_wave(rolled: Path) -> None:
    text = (rolled / "fleet.yaml").read_text()
    new = """\
    - name: us-new
      id: 9
      region: eastus
      labels: {env: prod, tier: api}
      podCIDRs: [10.9.0.0/16]
      meshEndpoint: {address: mesh.us-new.contoso.internal}
  services:
"""
    (rolled / "fleet.yaml").write_text(text.replace("  services:\n", new, 1))
    assert fleetc("render", "--wave", "europe", "--out", "out", cwd=rolled).returncode == 0
    assert not (rolled / "out" / "clusters" / "us-new").exists()
    # a cluster that leaves the fleet keeps its files until the rollout completes
    out = rolled / "out"
    manifest = json.loads((out / ".fleetc" / "manifest.json").read_text())
    manifest["clusters"]["gone"] = manifest["clusters"]["us-api"]
    manifest["files"].append({"path": "clusters/gone/x.yaml", "sha256": "0" * 64})
    (out / "clusters" / "gone").mkdir()
    (out / "clusters" / "gone" / "x.yaml").write_text("kept: true\n")
    (out / ".fleetc" / "manifest.json").write_text(json.dumps(manifest))
    assert fleetc("render", "--wave", "europe", "--out", "out", cwd=rolled).returncode == 0
    assert (out / "clusters" / "gone" / "x.yaml").read_text() == "kept: true\n"
    status = json.loads(
        fleetc("rollout", "status", "--out", "out", "-o", "json", cwd=rolled).stdout
    )
    rest = status["waves"][2]
    assert {c["name"]: c["state"] for c in rest["clusters"]} == {
        "us-api": "behind",
        "us-new": "not rendered",
    }
    assert fleetc("render", "--wave", "rest", "--out", "out", cwd=rolled).returncode == 0
    assert (rolled / "out" / "clusters" / "us-new").is_dir()
    assert not (out / "clusters" / "gone").exists()


def test_diff_groups_connectivity_by_wave(rolled: Path) -> None:
    done = fleetc("diff", "--base", "HEAD~1", "--head", "HEAD", "-o", "json", cwd=rolled)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    waves = {w["name"]: w for w in data["waves"]}
    assert list(waves) == ["canary", "europe", "rest"]
    # the gateway is in us-api: the new allow needs its ingress there, so it works only once
    # the last wave lands, although the egress half landed with europe
    assert waves["europe"]["flows"] == []
    allowed = [f for f in waves["rest"]["flows"] if f["after"]]
    assert {(f["from"], f["to"]) for f in allowed} >= {
        ("payments/payments@eu-payments", "api/gateway@us-api"),
        ("payments/payments@eu-standby", "api/gateway@us-api"),
    }
    total = sum(len(w["flows"]) for w in data["waves"])
    assert total == len(data["flows"])
    text = fleetc("diff", "--base", "HEAD~1", "--head", "HEAD", cwd=rolled).stdout
    assert "wave 3/3 rest (us-api)" in text
    markdown = fleetc("diff", "--base", "HEAD~1", "--head", "HEAD", "-o", "markdown", cwd=rolled)
    assert markdown.returncode == 0, markdown.stderr
    assert "Rollout by wave" in markdown.stdout
    assert "**3. rest** (`us-api`)" in markdown.stdout


def test_the_wave_section_keeps_to_its_share_of_the_comment() -> None:
    from compiler.diff.flows import FlowChange
    from compiler.rollout.flows import RolloutFlows, WaveFlows
    from compiler.rollout.report import markdown

    flows = tuple(
        FlowChange(f"ns/app=a{i}@c1", "ns/db@c2", "443/TCP", "c1", "c2", False, True, "x", "y")
        for i in range(500)
    )
    rollout = RolloutFlows((WaveFlows("one", ("c1",), flows),), (), (), False)
    full = markdown(rollout, None)
    cut = markdown(rollout, 4000)
    assert len(full.encode()) > 4000 >= len(cut.encode())
    assert "the full report" in cut and full.startswith(cut.split(":scissors:")[0].rstrip())


def _branch_tree(repo: Path, ref: str, cluster: str) -> dict[str, str]:
    """path -> blob id of a cluster's files under out/ at `ref`."""
    found = {}
    for top in ("clusters", "flux"):
        listing = git(repo, "ls-tree", "-r", ref, "--", f"out/{top}/{cluster}/")
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            found[path] = meta.split()[2]
    return found


def test_commit_wave_on_a_deploy_branch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path, monkeypatch)
    (repo / "fleet.yaml").write_text(_fleet(change=False))
    git(repo, "add", "fleet.yaml")
    git(repo, "commit", "-q", "-m", "fleet")
    first = fleetc("commit", "--branch", "deploy", "--out", "out", cwd=repo)
    assert first.returncode == 0, first.stderr
    before = {c: _branch_tree(repo, "deploy", c) for c in ("dev", "us-api")}
    (repo / "fleet.yaml").write_text(_fleet(change=True))
    git(repo, "commit", "-q", "-am", "payments may call the gateway")

    done = fleetc("commit", "--branch", "deploy", "--wave", "canary", "--out", "out", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert not (repo / "out").exists()  # the working tree is not touched
    assert _branch_tree(repo, "deploy", "us-api") == before["us-api"]
    assert "Fleetc-Wave: canary" in git(repo, "log", "-1", "--format=%B", "deploy")
    manifest = json.loads(git(repo, "show", "deploy:out/.fleetc/manifest.json"))
    head = git(repo, "rev-parse", "HEAD").strip()
    assert manifest["clusters"]["dev"]["commit"] == head
    assert manifest["clusters"]["us-api"]["commit"] == git(repo, "rev-parse", "HEAD~1").strip()

    full = fleetc("commit", "--branch", "deploy", "--out", "out", cwd=repo)
    assert full.returncode == 0, full.stderr
    assert _branch_tree(repo, "deploy", "us-api") != before["us-api"]


def test_a_cluster_belongs_to_the_first_wave_selecting_it() -> None:
    from compiler.diagnostics import Diagnostics
    from compiler.pipeline import check
    from compiler.validate.waves import assign

    waves = """\
  rollout:
    waves:
      - {name: one, clusters: {cel: "cluster.labels.env == 'dev'"}}
      - {name: two, clusters: {matchExpressions: [{key: tier, operator: In, values: [payments]}]}}
      - {name: three, clusters: [dev, us-api]}
      - {name: four}
"""
    text = (FLEETS / "contoso" / "fleet.yaml").read_text() + waves
    diags = Diagnostics()
    checked = check(text.encode(), "fleet.yaml", diags)
    assert checked is not None and not diags.has_errors, [d.message for d in diags]
    got = [(w.name, w.clusters) for w in assign(checked.fleet)]
    assert got == [
        ("one", ("dev",)),
        ("two", ("eu-payments", "eu-standby")),
        ("three", ("us-api",)),  # dev is already in wave one
        ("four", ()),
    ]
    assert [d.code for d in diags] == ["wave-empty"]
