"""A loaded fleet guard for the kernel tests: build, load and pin, seed, run and compare.

`loaded_guard` compiles bpf/, mounts a private bpffs, loads the program with bpftool and
opens its pinned maps; `check_packet` runs one frame with BPF_PROG_TEST_RUN and asserts the
verdict and the per-rule counters equal `compiler.guard.cluster_verdict`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.guard import GuardCluster, GuardRule, cluster_verdict, layout
from compiler.guard.model import IPAddress
from tests.conftest import missing, require_tool
from tests.guard_support import (
    TC_ACT_SHOT,
    TC_ACT_UNSPEC,
    batch_commands,
    bpf_permitted,
    build,
    map_clear,
    map_update,
    obj_get,
    percpu_sum,
    private_bpffs,
    prog_run,
)


@dataclass
class Guard:
    """The loaded program and its pinned maps (fds stay open for the module)."""

    maps_dir: Path
    prog: int
    maps: dict[str, int]

    def apply(self, batch: str) -> None:
        """Reset the seeded maps and apply a seed's entries (the rendered text, parsed)."""
        for spec in (layout.CIDRS, layout.POLICY):
            map_clear(self.maps[spec.name], spec.key.size)
        zero = layout.VERDICT.encode({})
        for index in range(layout.MAX_CLUSTERS):
            map_update(self.maps[layout.DEFAULTS.name], index.to_bytes(4, "little"), zero)
        for name, key, value in batch_commands(batch):
            map_update(self.maps[name], key, value)

    def set_mode(self, mode: str) -> None:
        value = layout.CONFIG.encode({"mode": layout.MODES[mode]})
        map_update(self.maps[layout.CONFIG_MAP.name], bytes(4), value)

    def counter(self, rule_id: int) -> tuple[int, ...]:
        fd = self.maps[layout.COUNTERS.name]
        return percpu_sum(fd, rule_id.to_bytes(4, "little"), layout.COUNTER.size)


@contextmanager
def loaded_guard(build_dir: Path) -> Iterator[Guard]:
    """The guard loaded and pinned in a private bpffs; skips (fails in CI) when it cannot be."""
    for tool in ("make", "clang", "bpftool", "mount", "umount"):
        require_tool(tool)
    if os.geteuid() != 0:
        missing("the guard's kernel tests need root (bpf(), mounting a bpffs)")
    reason = bpf_permitted()
    if reason:
        missing(reason)
    obj = build(build_dir)
    with private_bpffs() as fs:
        maps_dir = fs / "maps"
        subprocess.run(
            [
                *("bpftool", "prog", "load", str(obj), str(fs / "prog")),
                *("type", "classifier", "pinmaps", str(maps_dir)),
            ],
            check=True,
            capture_output=True,
        )
        fds = {spec.name: obj_get(maps_dir / spec.name) for spec in layout.MAPS}
        prog = obj_get(fs / "prog")
        try:
            yield Guard(maps_dir, prog, fds)
        finally:
            for fd in (prog, *fds.values()):
                os.close(fd)


def check_packet(
    guard: Guard,
    clusters: Sequence[GuardCluster],
    rules: Sequence[GuardRule],
    local: int | None,
    mode: str,
    frame: bytes,
    addresses: tuple[IPAddress, IPAddress],
    effective: tuple[int, int],
) -> bool:
    """Run `frame`, assert verdict and counters equal the model's; whether it was a drop."""
    verdict = cluster_verdict(clusters, rules, *addresses, *effective, local=local)
    watched = sorted({0, *(rule.id for rule in rules)})
    before = {rule_id: guard.counter(rule_id) for rule_id in watched}
    retval, _ = prog_run(guard.prog, frame)
    after = {rule_id: guard.counter(rule_id) for rule_id in watched}
    expected_retval = TC_ACT_SHOT if verdict.drop and mode == "enforce" else TC_ACT_UNSPEC
    assert retval == expected_retval, (verdict, addresses, effective, mode)
    for rule_id in watched:
        bumped = (1, len(frame)) if rule_id == verdict.rule_id else (0, 0)
        delta = tuple(a - b for a, b in zip(after[rule_id], before[rule_id], strict=True))
        assert delta == bumped, (rule_id, verdict, addresses, effective)
    return verdict.drop
