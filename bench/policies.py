"""Benchmark policy rendering and `explain` at scale, and compare with a naive rendering.

Fleet: 255 clusters / 5,000 services / 2,000 policies from `bench.fleetgen.generate`.
Measured in-process, after loading (check + resolve, timed once):

- policy render time (`render_policies`, median of --repeat runs) and serialization of its
  files with the canonical writer;
- one `explain` query after load: `decide` plus the enforcing objects' paths, median and
  worst over --queries random flows (target < 100 ms each);
- objects and bytes per cluster, against a naive rendering with one rule object per
  (policy side, peer cluster) instead of one ``In``/``Exists`` expression. Naive bytes come
  from one serialized exemplar per rule side plus the peer name's length, since writing out
  millions of objects would measure the benchmark, not the compiler.

Results go to ``bench/results/policies.json`` (git-ignored) and a table on stdout.

    .venv/bin/python bench/policies.py [--repeat 3] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fleetgen import generate  # noqa: E402
from compiler.commands.explain import enforcing_objects  # noqa: E402
from compiler.diagnostics import Diagnostics  # noqa: E402
from compiler.emit.serialize import serialize  # noqa: E402
from compiler.pipeline import check  # noqa: E402
from compiler.reach import Endpoint, decide  # noqa: E402
from compiler.render.output import File, object_path  # noqa: E402
from compiler.render.policies import (  # noqa: E402
    CLUSTER_LABEL,
    COMPONENT,
    render_policies,
    rule_object,
)
from compiler.resolve import resolve  # noqa: E402
from compiler.resolve.model import ResolvedFleet  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EXPLAIN_TARGET = 0.100


def load(text: str) -> ResolvedFleet:
    diags = Diagnostics()
    checked = check(text.encode(), "fleet.yaml", diags)
    assert checked is not None and not diags.has_errors, diags.sorted()[:5]
    return resolve(checked.doc, checked.fleet, diags)


def naive(resolved: ResolvedFleet) -> tuple[Counter[str], Counter[str]]:
    """Objects and bytes per cluster if every peer cluster had its own rule object."""
    objects: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for policy in resolved.policies:
        for direction, side, peer in (
            ("egress", policy.source, policy.destination),
            ("ingress", policy.destination, policy.source),
        ):
            obj = rule_object(resolved, policy, direction)
            if obj is None:
                continue
            first = peer.clusters[0]
            exemplar = _single(obj, direction, first)
            base = len(
                serialize(
                    File(object_path(side.clusters[0], COMPONENT, exemplar), exemplar),
                    resolved.source,
                )
            )
            per_side = sum(base + 2 * (len(c) - len(first)) for c in peer.clusters)
            for cluster in side.clusters:
                objects[cluster] += len(peer.clusters)
                sizes[cluster] += per_side
    return objects, sizes


def _single(obj: dict[str, Any], direction: str, peer_cluster: str) -> dict[str, Any]:
    """`obj` rewritten for one peer cluster (the naive form): name and selector name it."""
    out: dict[str, Any] = json.loads(json.dumps(obj))
    out["metadata"]["name"] += f"-{peer_cluster}"
    spec = out["spec"]
    for field in (direction, f"{direction}Deny"):
        for rule in spec.get(field, []):
            for selector in rule.get("toEndpoints", []) + rule.get("fromEndpoints", []):
                exprs = [
                    e for e in selector.get("matchExpressions", []) if e["key"] != CLUSTER_LABEL
                ]
                if exprs:
                    selector["matchExpressions"] = exprs
                else:
                    selector.pop("matchExpressions", None)
                selector.setdefault("matchLabels", {})[CLUSTER_LABEL] = peer_cluster
    return out


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "max": max(values),
        "mean": statistics.fmean(values),
        "total": sum(values),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=255)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    text = generate(args.clusters, args.services, args.policies)
    started = time.perf_counter()
    resolved = load(text)
    load_s = time.perf_counter() - started

    render_times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        files = render_policies(resolved)
        render_times.append(time.perf_counter() - started)
    started = time.perf_counter()
    ours_objects: Counter[str] = Counter()
    ours_bytes: Counter[str] = Counter()
    for f in files:
        cluster = f.path.split("/")[1]
        ours_objects[cluster] += 1
        ours_bytes[cluster] += len(serialize(f, resolved.source))
    serialize_s = time.perf_counter() - started

    rng = random.Random(0)
    services = resolved.services
    query_times = []
    for _ in range(args.queries):
        a, b = rng.choice(services), rng.choice(services)
        src = Endpoint(rng.choice(a.clusters), a.namespace, a.selector)
        dst = Endpoint(rng.choice(b.clusters), b.namespace, b.selector)
        port = b.ports[0] if b.ports else None
        started = time.perf_counter()
        decision = decide(
            resolved, src, dst, port.protocol if port else "TCP", port.port if port else 80
        )
        enforcing_objects(resolved, decision, src, dst)
        query_times.append(time.perf_counter() - started)

    naive_objects, naive_bytes = naive(resolved)
    names = [c.name for c in resolved.clusters]

    def per_cluster(counter: Counter[str]) -> dict[str, float]:
        return stats([float(counter[n]) for n in names])

    result: dict[str, Any] = {
        "fleet": {"clusters": args.clusters, "services": args.services, "policies": args.policies},
        "load_seconds": load_s,
        "render_seconds": stats(render_times),
        "serialize_seconds": serialize_s,
        "explain_seconds": stats(query_times),
        "explain_target_seconds": EXPLAIN_TARGET,
        "objects_per_cluster": {
            "fleetc": per_cluster(ours_objects),
            "naive": per_cluster(naive_objects),
        },
        "bytes_per_cluster": {"fleetc": per_cluster(ours_bytes), "naive": per_cluster(naive_bytes)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "policies.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")

    ours_o, naive_o = result["objects_per_cluster"].values()
    ours_b, naive_b = result["bytes_per_cluster"].values()
    print(f"fleet: {args.clusters} clusters / {args.services} services / {args.policies} policies")
    print(f"load (check + resolve):      {load_s:8.2f} s")
    print(
        f"render_policies (median):    {statistics.median(render_times):8.3f} s  ({len(files)} files)"
    )
    print(f"serialize policy files:      {serialize_s:8.2f} s")
    q = result["explain_seconds"]
    print(
        f"explain query (median/max):  {q['median'] * 1000:8.2f} / {q['max'] * 1000:.2f} ms  (target < 100 ms)"
    )
    print(f"{'per cluster':28} {'median':>10} {'max':>10} {'total':>12}")
    for label, row in (
        ("objects, fleetc", ours_o),
        ("objects, naive", naive_o),
        ("bytes, fleetc", ours_b),
        ("bytes, naive", naive_b),
    ):
        print(f"{label:28} {row['median']:10.0f} {row['max']:10.0f} {row['total']:12.0f}")
    ok = q["max"] < EXPLAIN_TARGET
    print("explain target:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
