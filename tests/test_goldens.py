"""Golden trees and determinism: every example's committed `rendered/` is what fleetc makes.

Each `fleets/<name>/` holds `fleet.yaml` and the expected `rendered/` tree, rendered with the
fleet named `fleet.yaml` (relative to the example) so no machine path appears. The test
compares the in-memory render with the committed tree byte for byte; run with
``FLEETC_UPDATE_GOLDENS=1`` (or `make goldens`) to rewrite them through the real writer, then
review the diff.

Determinism: identical bytes across two runs, across processes with different
``PYTHONHASHSEED``s, and when the clusters, services and policies of the input are shuffled.
Shuffling moves entries to other lines of fleet.yaml, and origin annotations name the line an
object came from (``fleet.yaml:93``): those line numbers, and the source digest in the
manifest, are the only bytes allowed to change, and the comparison masks exactly them.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler import __version__
from compiler.diagnostics import Diagnostics
from compiler.emit.serialize import MANIFEST, build_tree
from compiler.emit.write import locked
from tests.conftest import FLEETS, require_tool
from tests.emit_support import require_renderers, snapshot

EXAMPLES = sorted(p.parent.name for p in FLEETS.glob("*/fleet.yaml"))
UPDATE = os.environ.get("FLEETC_UPDATE_GOLDENS") == "1"
LINE = re.compile(rb"fleet\.yaml:\d+(?::\d+)?")


def render_bytes(data: bytes, name: str = "fleet.yaml") -> dict[str, bytes]:
    """The whole owned tree for `data`, in memory, exactly as `fleetc render` writes it."""
    require_renderers()
    from compiler.pipeline import compile_fleet

    diags = Diagnostics()
    compiled = compile_fleet(data, name, diags)
    assert compiled is not None, [str(d.message) for d in diags.sorted()]
    fleet = compiled.checked.fleet.metadata.name
    from compiler.commands.common import meaning

    source = meaning(compiled.checked.fleet)
    return build_tree(compiled.written(), fleet, name, source, __version__)


@pytest.mark.parametrize("example", EXAMPLES)
def test_golden_tree(example: str) -> None:
    fleet = FLEETS / example / "fleet.yaml"
    expected = render_bytes(fleet.read_bytes())
    golden = FLEETS / example / "rendered"
    if UPDATE:
        with locked(golden, create=True) as out:
            out.write(expected.items())
    actual = snapshot(golden) if golden.is_dir() else {}
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    changed = sorted(p for p in expected.keys() & actual.keys() if expected[p] != actual[p])
    assert not (missing or extra or changed), (
        f"{golden} is not current (FLEETC_UPDATE_GOLDENS=1 rewrites it): "
        f"missing {missing[:5]}, extra {extra[:5]}, changed {changed[:5]}"
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_golden_clusters_build_with_kustomize(example: str) -> None:
    kubectl = require_tool("kubectl")
    golden = FLEETS / example / "rendered"
    # every kustomization root, nested ones (cilium/) included; Components build only as part
    # of a root that uses them
    roots = sorted(
        p.parent
        for p in golden.rglob("kustomization.yaml")
        if b"\nkind: Component\n" not in p.read_bytes()
    )
    assert roots, f"no kustomization roots under {golden}"
    for root in roots:
        proc = subprocess.run(
            [kubectl, "kustomize", str(root)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{root}: {proc.stderr}"


def test_two_runs_are_identical() -> None:
    data = (FLEETS / "contoso" / "fleet.yaml").read_bytes()
    assert render_bytes(data) == render_bytes(data)


def test_hash_seed_does_not_change_bytes(tmp_path: Path) -> None:
    require_renderers()
    source = FLEETS / "contoso" / "fleet.yaml"
    (tmp_path / "fleet.yaml").write_bytes(source.read_bytes())
    trees = []
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-m", "compiler", "render", "fleet.yaml", "--out", f"out-{seed}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        trees.append(snapshot(tmp_path / f"out-{seed}"))
    assert trees[0] == trees[1] == trees[2] == render_bytes(source.read_bytes())


def shuffled(data: bytes, seed: int) -> bytes:
    """fleet.yaml with its clusters, services, policies (and peers of those) permuted."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    doc: Any = yaml.load(data)
    rng = random.Random(seed)
    for key in ("clusters", "services", "policies", "guardrails", "expectations"):
        seq = doc["spec"].get(key)
        if seq:
            items = list(seq)
            rng.shuffle(items)
            for i, item in enumerate(items):
                seq[i] = item
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue().encode()


def masked(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The tree with origin line numbers masked and the manifest reduced to its path list."""
    out = {p: LINE.sub(b"fleet.yaml:N", data) for p, data in tree.items() if p != MANIFEST}
    files = [f["path"] for f in json.loads(tree[MANIFEST])["files"]]
    out[MANIFEST] = "\n".join(files).encode()
    return out


def synthetic() -> bytes:
    from bench.fleetgen import generate

    return generate(9, 60, 40, seed=3).encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("source", ["contoso", "synthetic"])
def test_input_order_does_not_change_output(source: str, seed: int) -> None:
    data = synthetic() if source == "synthetic" else (FLEETS / source / "fleet.yaml").read_bytes()
    permuted = shuffled(data, seed)
    assert permuted != data
    assert masked(render_bytes(permuted)) == masked(render_bytes(data))
