"""Benchmark the fleet guard: seed generation, applying a big seed, verdicts per second.

    .venv/bin/python bench/guard.py [--entries 100000 --runs 20000]   (as root)

Measures, in one run:

- seed generation for a 511-cluster fleet (v4 and v6 pod and node ranges, 20 cluster-level
  denies with port ranges): every cluster's batch file and JSON twin, in-process;
- `bpftool batch file` applying a fleet-wide seed of about `--entries` policy entries to the
  program's pinned maps (a private bpffs), wall time including bpftool's start-up;
- verdicts through BPF_PROG_TEST_RUN with that seed loaded: one packet per bpf() call from
  Python (what the differential test pays), and the kernel's own per-run time with `repeat`
  (a dropped TCP SYN, a passed one, and a passed UDP packet, which also updates guard_flows).

Prints a table and writes ``bench/results/guard.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.guard import GuardCluster, GuardRule, render_seed, render_seeds  # noqa: E402
from compiler.guard.seeds import render_batch, seed_entries  # noqa: E402
from compiler.model.types import PortRange  # noqa: E402
from tests.guard_support import (  # noqa: E402
    IPPROTO_TCP,
    IPPROTO_UDP,
    build,
    ipv4,
    l4_header,
    obj_get,
    private_bpffs,
    prog_run,
)


def fleet(count: int = 511, rules: int = 20) -> tuple[list[GuardCluster], list[GuardRule]]:
    rng = random.Random(0)
    clusters = [
        GuardCluster(
            f"c{i}",
            i,
            (f"10.{i // 256}.{i % 256}.0/24", f"fd00:{i:x}::/48"),
            (f"172.{16 + i // 256}.{i % 256}.0/24",),
        )
        for i in range(1, count + 1)
    ]
    ids = [c.id for c in clusters]
    out = []
    for rule_id in range(1, rules + 1):
        src = tuple(sorted(rng.sample(ids, rng.randint(1, 40))))
        dst = tuple(sorted(rng.sample(ids, rng.randint(1, 40))))
        low = rng.choice((22, 443, 5432, 8000, 9000))
        ports = (PortRange(rng.choice(("TCP", "UDP", "ANY")), low, low + rng.choice((0, 100))),)
        out.append(GuardRule(rule_id, f"r{rule_id}", src, dst, ports if rule_id % 4 else None))
    return clusters, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20_000)
    args = parser.parse_args()
    results: dict[str, float | int] = {}

    clusters, rules = fleet()
    start = time.perf_counter()
    seeds = render_seeds(clusters, rules, "enforce", "fleet.yaml")
    results["seed_generation_511_clusters_s"] = time.perf_counter() - start
    results["seed_entries_511_clusters"] = sum(b.count("\nmap update") for b, _ in seeds.values())
    results["seed_batch_bytes_max"] = max(len(b.encode()) for b, _ in seeds.values())
    results["seed_json_bytes_max"] = max(len(j.encode()) for _, j in seeds.values())
    start = time.perf_counter()
    render_seed(clusters, rules, clusters[0], "enforce", "fleet.yaml")
    results["seed_generation_one_cluster_s"] = time.perf_counter() - start
    del seeds

    # A fleet-wide seed of about --entries policy entries: 12 per pair (8000-8100/ANY).
    side = int((args.entries / 12) ** 0.5) + 1
    ids = tuple(c.id for c in clusters[:side])
    big_rule = GuardRule(1, "big", ids, ids, (PortRange("ANY", 8000, 8100),))
    with tempfile.TemporaryDirectory() as tmp, private_bpffs() as fs:
        obj = build(Path(tmp))
        subprocess.run(
            [
                "bpftool",
                "prog",
                "load",
                str(obj),
                str(fs / "prog"),
                "type",
                "classifier",
                "pinmaps",
                str(fs / "maps"),
            ],
            check=True,
        )
        entries = seed_entries(clusters, [big_rule], "enforce")
        seed = Path(tmp) / "big.batch"
        seed.write_text(render_batch(entries, ["benchmark"], str(fs / "maps")))
        start = time.perf_counter()
        subprocess.run(["bpftool", "batch", "file", str(seed)], check=True, capture_output=True)
        results["bpftool_batch_s"] = time.perf_counter() - start
        results["bpftool_batch_entries"] = len(entries)

        prog = obj_get(fs / "prog")
        drop = ipv4(
            bytes([10, 0, 1, 9]), bytes([10, 0, 2, 9]), IPPROTO_TCP, l4_header(IPPROTO_TCP, 8050)
        )
        passing = ipv4(
            bytes([10, 0, 1, 9]), bytes([10, 0, 2, 9]), IPPROTO_TCP, l4_header(IPPROTO_TCP, 443)
        )
        start = time.perf_counter()
        for _ in range(args.runs):
            prog_run(prog, drop)
        results["python_verdicts_per_s"] = args.runs / (time.perf_counter() - start)
        udp = ipv4(
            bytes([10, 0, 1, 9]), bytes([10, 0, 2, 9]), IPPROTO_UDP, l4_header(IPPROTO_UDP, 53)
        )
        for name, frame in (("drop_tcp_syn", drop), ("pass_tcp_syn", passing), ("pass_udp", udp)):
            _, ns = prog_run(prog, frame, repeat=1_000_000)
            results[f"kernel_ns_per_verdict_{name}"] = ns

    for name, value in results.items():
        print(f"{name:36} {value:,.3f}" if isinstance(value, float) else f"{name:36} {value:,}")
    out = ROOT / "bench" / "results" / "guard.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
