"""render warns when DIR is not where the rendered Flux Kustomizations will look for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FLEETS


def _render(repo: Path, out: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler", "render", "fleet.yaml", "--out", out],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("out", "warned"), [("rendered", False), ("./rendered/", False), ("deploy/prod", True)]
)
def test_flux_path_mismatch_is_a_warning(tmp_path: Path, out: str, warned: bool) -> None:
    shutil.copy(FLEETS / "minimal" / "fleet.yaml", tmp_path / "fleet.yaml")
    done = _render(tmp_path, out)
    assert done.returncode == 0, done.stderr
    assert ("warning[flux-path-mismatch]" in done.stderr) is warned, done.stderr
    if warned:
        assert "set spec.flux.path: ./deploy/prod" in done.stderr
        assert (tmp_path / out / "flux").is_dir()  # a warning does not stop the render


def test_flux_path_set_in_fleet_yaml_is_honoured(tmp_path: Path) -> None:
    text = (FLEETS / "minimal" / "fleet.yaml").read_text()
    text = text.replace("  clusters:\n", "  flux:\n    path: ./deploy/prod\n  clusters:\n", 1)
    (tmp_path / "fleet.yaml").write_text(text)
    done = _render(tmp_path, "deploy/prod")
    assert done.returncode == 0 and "flux-path-mismatch" not in done.stderr, done.stderr
    kustomization = (
        tmp_path / "deploy/prod/flux/alpha/kustomization-fleetc-alpha.yaml"
    ).read_text()
    assert "path: ./deploy/prod/clusters/alpha" in kustomization
