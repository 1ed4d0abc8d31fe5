"""Benchmark `fleetc render` at fleet scale against kustomize and the write floor, once each.

    .venv/bin/python bench/render.py [--clusters 255 --services 5000 --policies 2000]

Measures, on one synthetic fleet (`bench/fleetgen.py`, seed 0, no CEL), in one run:

- cold render: ``fleetc render`` in a subprocess into an empty directory (start-up included);
- unchanged re-render: the same command again; it must write nothing (every file's mtime and
  inode unchanged) and be at least 5x faster than the cold render;
- where the cold time goes, in-process: compile (load..render), serialize (canonical YAML and
  headers), write (the journaled atomic writer);
- ``kubectl kustomize`` over every rendered cluster directory, one after the other (what
  building all of them costs);
- the floor: ``cp -r`` of the rendered tree into a new directory plus C ``json.dumps`` of the
  distinct objects compiled (as `bench/run.py` measures it, there repeated).

Single samples: `bench/run.py` repeats every figure and judges the targets; this script
shows where one render's time goes. The fleetc subprocesses run from a private copy of the
package (see `frozen_code`).

Prints a table with ratios and writes the figures to ``bench/results/render.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import distinct_objects, frozen_code, json_floor, stamps, timed  # noqa: E402


def fleetc(work: Path, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "compiler", "render", "fleet.yaml", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"fleetc render failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def kustomize_all(out: Path) -> tuple[int, float]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return 0, float("nan")
    roots = sorted(p.parent for p in (out / "clusters").glob("*/kustomization.yaml"))

    def build() -> None:
        for root in roots:
            subprocess.run([kubectl, "kustomize", str(root)], capture_output=True, check=True)

    return len(roots), timed(build)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=255)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=2000)
    parser.add_argument("--no-kustomize", action="store_true")
    args = parser.parse_args()

    from bench.fleetgen import generate
    from compiler import __version__
    from compiler.diagnostics import Diagnostics
    from compiler.emit.serialize import build_tree
    from compiler.emit.write import locked
    from compiler.pipeline import compile_fleet

    work = Path(tempfile.mkdtemp(prefix="fleetc-bench-"))
    try:
        data = generate(args.clusters, args.services, args.policies, cel=False, seed=0).encode()
        (work / "fleet.yaml").write_bytes(data)
        out = work / "rendered"

        env = frozen_code(work)
        cold, _ = timed(lambda: fleetc(work, env, "--out", "rendered"))
        before = stamps(out)
        warm, _ = timed(lambda: fleetc(work, env, "--out", "rendered"))
        rewrote = sorted(p for p, s in stamps(out).items() if before.get(p) != s)
        check, _ = timed(lambda: fleetc(work, env, "--out", "rendered", "--check"))

        diags = Diagnostics()
        t_compile, compiled = timed(lambda: compile_fleet(data, "fleet.yaml", diags))
        assert compiled is not None
        name = compiled.checked.fleet.metadata.name
        t_serialize, tree = timed(
            lambda: build_tree(compiled.files, name, "fleet.yaml", data, __version__)
        )

        def write_fresh() -> None:
            with locked(work / "fresh", create=True) as output:
                output.write(tree.items())

        t_write, _ = timed(write_fresh)
        objects = distinct_objects([f.content for f in compiled.files])
        copy, _ = timed(
            lambda: subprocess.run(["cp", "-r", str(out), str(work / "copy")], check=True)
        )
        floor = copy + json_floor(objects)
        n_roots, t_kustomize = (0, float("nan")) if args.no_kustomize else kustomize_all(out)

        size = sum(len(b) for b in tree.values())
        figures: dict[str, Any] = {
            "fleet": [args.clusters, args.services, args.policies],
            "files": len(tree),
            "objects": len(objects),
            "bytes": size,
            "cold_render_s": cold,
            "unchanged_rerender_s": warm,
            "check_s": check,
            "rewritten_on_unchanged": len(rewrote),
            "compile_s": t_compile,
            "serialize_s": t_serialize,
            "write_s": t_write,
            "kustomize_dirs": n_roots,
            "kustomize_s": t_kustomize,
            "floor_cp_s": copy,
            "floor_s": floor,
        }
        rows = [
            ("fleet (clusters/services/policies)", "/".join(map(str, figures["fleet"]))),
            ("files / objects / MB", f"{len(tree)} / {len(objects)} / {size / 1e6:.1f}"),
            ("cold render (subprocess)", f"{cold:.2f} s"),
            ("  compile (in-process)", f"{t_compile:.2f} s"),
            ("  serialize", f"{t_serialize:.2f} s"),
            ("  write (journaled, fsync)", f"{t_write:.2f} s"),
            ("unchanged re-render", f"{warm:.2f} s  ({cold / warm:.1f}x faster)"),
            ("  files rewritten", str(len(rewrote))),
            ("render --check (unchanged)", f"{check:.2f} s"),
            (f"kubectl kustomize x{n_roots}", f"{t_kustomize:.2f} s"),
            ("cold render / kustomize", f"{cold / t_kustomize:.2f}"),
            ("floor: cp -r + json.dumps of distinct objects", f"{floor:.2f} s"),
            ("serialize / floor", f"{t_serialize / floor:.2f}"),
            ("cold render / floor", f"{cold / floor:.2f}"),
        ]
        width = max(len(r[0]) for r in rows)
        for label, value in rows:
            print(f"{label:<{width}}  {value}")
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "render.json").write_text(json.dumps(figures, indent=2) + "\n")
        ok = not rewrote and cold / warm >= 5
        print("unchanged re-render: " + ("OK" if ok else "FAILED (needs >=5x, no writes)"))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
