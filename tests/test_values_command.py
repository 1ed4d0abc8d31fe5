"""Day 0: `fleetc values` prints, byte for byte, the bootstrap values file `fleetc render`
writes; JSON is the same data; the file is never applied by Flux; errors exit 1 or 2."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from compiler.cli import main
from compiler.render.cilium_values import merged
from tests.conftest import FLEETS, require_tool


def _copy(example: str, tmp_path: Path) -> Path:
    fleet = tmp_path / "fleet.yaml"
    shutil.copyfile(FLEETS / example / "fleet.yaml", fleet)
    return fleet


@pytest.mark.parametrize("example", ["contoso", "minimal"])
def test_values_and_the_bootstrap_file_agree(
    example: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    kubectl = require_tool("kubectl")
    monkeypatch.chdir(tmp_path)
    _copy(example, tmp_path)
    assert main(["render", "fleet.yaml", "--out", "rendered"]) == 0
    capfdbinary.readouterr()
    clusters = sorted(p.name for p in (tmp_path / "rendered" / "bootstrap").iterdir())
    assert clusters == sorted(p.name for p in (tmp_path / "rendered" / "clusters").iterdir())
    for cluster in clusters:
        written = (
            tmp_path / "rendered" / "bootstrap" / cluster / "cilium-values.yaml"
        ).read_bytes()
        assert main(["values", "fleet.yaml", "--cluster", cluster]) == 0
        printed = capfdbinary.readouterr().out
        assert printed == written
        assert main(["values", "--cluster", cluster, "-o", "json"]) == 0  # ./fleet.yaml
        as_json = json.loads(capfdbinary.readouterr().out)
        assert as_json == yaml.safe_load(written) == YAML(typ="safe").load(io.BytesIO(written))
        # What Flux applies: the cilium root as kustomize builds it (the mesh's peers come
        # from a shared piece), merged in the order a HelmRelease's valuesFrom lists them.
        built = subprocess.run(
            [kubectl, "kustomize", str(tmp_path / "rendered" / "clusters" / cluster / "cilium")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        configmaps = {
            doc["metadata"]["name"]: yaml.safe_load(doc["data"]["values.yaml"])
            for doc in yaml.safe_load_all(built)
            if doc and doc["kind"] == "ConfigMap"
        }
        order = [n for n in ("cilium-fleet-mesh", "cilium-fleet-values") if n in configmaps]
        assert len(order) == len(configmaps)
        assert merged([configmaps[name] for name in order]) == as_json
        assert as_json["cluster"]["name"] == cluster


def test_bootstrap_files_are_not_applied_by_flux(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _copy("contoso", tmp_path)
    assert main(["render", "fleet.yaml", "--out", "rendered"]) == 0
    for kustomization in (tmp_path / "rendered").rglob("kustomization*.yaml"):
        assert "bootstrap" not in kustomization.read_text(), kustomization
    for flux in (tmp_path / "rendered" / "flux").rglob("kustomization-*.yaml"):
        path = yaml.safe_load(flux.read_text())["spec"]["path"]
        assert "/clusters/" in path


def test_unknown_cluster_is_a_usage_error_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = _copy("contoso", tmp_path)
    assert main(["values", str(fleet), "--cluster", "us-apj"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no cluster 'us-apj'" in captured.err and "did you mean 'us-api'?" in captured.err
    assert main(["values", str(fleet), "--cluster", "zzzz"]) == 2
    assert "clusters: dev, eu-payments, eu-standby, us-api" in capsys.readouterr().err
    assert main(["values", str(fleet)]) == 2  # --cluster is required
    assert main(["values", str(fleet), "--cluster", "dev", "-o", "sarif"]) == 2


def test_fleet_errors_exit_1_with_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = _copy("minimal", tmp_path)
    fleet.write_text(fleet.read_text().replace("id: 2", "id: 1"))
    assert main(["values", str(fleet), "--cluster", "alpha"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error[cluster-duplicate-id]" in captured.err
    assert main(["values", str(tmp_path / "missing.yaml"), "--cluster", "alpha"]) == 2
