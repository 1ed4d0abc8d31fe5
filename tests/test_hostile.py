"""Hostile input: whatever fleet.yaml holds, `fleetc render` answers with a clear error.

Each case runs `fleetc render FLEET --out DIR` in a child process under a hard memory limit
(RLIMIT_AS) and a wall-clock limit, and must exit 1 with a diagnostic naming the problem, print
no traceback, and leave DIR uncreated.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FLEETS

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space for the whole fleetc process
TIME_LIMIT = 60.0  # seconds; generous for a loaded 2-core machine, a hang still fails
MINIMAL = (FLEETS / "minimal" / "fleet.yaml").read_text()
CONTOSO = (FLEETS / "contoso" / "fleet.yaml").read_text()

HEAD = "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata:\n  name: x\n"


def _minimal(old: str, new: str) -> bytes:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new, 1).encode()


def _contoso(old: str, new: str) -> bytes:
    assert old in CONTOSO, old
    return CONTOSO.replace(old, new, 1).encode()


def _bomb(levels: int, where: str) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    body = "\n".join("  " * 0 + line for line in lines)
    if where == "top":
        return (HEAD + body + "\n").encode()
    nested = "\n".join("      " + line for line in lines)
    return _minimal("      id: 1\n", f"      id: 1\n      labels:\n{nested}\n")


def _clusters(n: int) -> bytes:
    rows = [
        f"    - {{name: c{i}, id: {i % 255 + 1}, podCIDRs: [10.{i // 256 % 256}.{i % 256}.0/24],"
        f" meshEndpoint: {{address: m{i}.example.internal}}}}"
        for i in range(n)
    ]
    return (
        HEAD + 'spec:\n  cilium: {version: "1.19"}\n  clusters:\n' + "\n".join(rows) + "\n"
    ).encode()


def _deep(n: int, flow: bool) -> bytes:
    if flow:
        return (HEAD + "spec: " + "[" * n + "]" * n + "\n").encode()
    return (HEAD + "spec:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(n))).encode()


def _garbage(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _expensive_cel(depth: int) -> bytes:
    expr = "true"
    for name in "abcdefgh"[:depth]:
        expr = f"fleet.clusters.all({name}, {expr})"
    many = "\n".join(
        f"    - {{name: c{i}, id: {i + 1}, podCIDRs: [10.{i}.0.0/16],"
        f" meshEndpoint: {{address: m{i}.example.internal}}}}"
        for i in range(200)
    )
    return (
        HEAD
        + 'spec:\n  cilium: {version: "1.19"}\n  clusters:\n'
        + many
        + f"\n  guardrails:\n    - name: slow\n      expression: '{expr}'\n      message: m\n"
    ).encode()


CASES: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "whitespace-only": lambda: b"   \n\n  \n",
    "comments-only": lambda: b"# nothing\n# here\n",
    "binary-garbage": lambda: _garbage(1, 4096),
    "binary-garbage-large": lambda: _garbage(2, 1 << 20),
    "invalid-utf8": lambda: HEAD.encode() + b"spec: \xff\xfe\n",
    "utf16-bom": lambda: "\ufeffapiVersion: x\n".encode("utf-16"),
    "nul-byte": lambda: HEAD.encode() + b"spec:\x00\n",
    "control-char": lambda: _minimal("name: minimal", "name: mini\x07mal"),
    "several-documents": lambda: MINIMAL.encode() + b"---\n" + MINIMAL.encode(),
    "top-level-list": lambda: b"- apiVersion: fleetc.dev/v1alpha1\n",
    "top-level-scalar": lambda: b"just a string\n",
    "top-level-null": lambda: b"~\n",
    "top-level-number": lambda: b"42\n",
    "alias-bomb-top": lambda: _bomb(9, "top"),
    "alias-bomb-in-spec": lambda: _bomb(9, "spec"),
    "alias-undefined": lambda: HEAD.encode() + b"spec: *nothing\n",
    "alias-recursive-merge": lambda: HEAD.encode() + b"spec: &s\n  <<: *s\n",
    "deep-flow-nesting": lambda: _deep(10_000, flow=True),
    "deep-block-nesting": lambda: _deep(500, flow=False),
    "huge-scalar": lambda: _minimal("name: minimal", "name: " + "a" * (5 << 20)),
    "over-size-limit": lambda: MINIMAL.encode() + b"#" + b"x" * (40 << 20) + b"\n",
    "100k-clusters": lambda: _clusters(100_000),
    "tab-indent": lambda: _minimal("  cilium:\n", "\tcilium:\n"),
    "duplicate-key": lambda: _minimal("  cilium:\n", "  clusters: []\n  cilium:\n").replace(
        b"  clusters:\n    - name: alpha", b"  clusters:\n    - name: alpha", 1
    ),
    "python-tag": lambda: _minimal("name: minimal", "name: !!python/object:os.system x"),
    "custom-tag": lambda: _minimal("name: minimal", "name: !secret x"),
    "complex-key": lambda: _minimal("  cilium:\n", "  ? [a, b]\n  : 1\n  cilium:\n"),
    "path-traversal-cluster": lambda: _minimal("name: alpha", "name: ../../etc"),
    "path-traversal-service": lambda: _minimal("name: web", "name: ../web"),
    "path-traversal-namespace": lambda: _minimal("namespace: web", "namespace: .."),
    "absolute-path-name": lambda: _minimal("name: alpha", "name: /etc/passwd"),
    "lookalike-cyrillic": lambda: _minimal("name: alpha", "name: \u0430lpha"),
    "lookalike-fullwidth": lambda: _minimal("name: beta", "name: \uff42eta"),
    "rtl-override": lambda: _minimal("name: alpha", "name: al\u202epha"),
    "zero-width": lambda: _minimal("name: alpha", "name: al\u200bpha"),
    "id-bool": lambda: _minimal("id: 1", "id: true"),
    "id-float": lambda: _minimal("id: 1", "id: 1.5"),
    "id-negative": lambda: _minimal("id: 1", "id: -1"),
    "id-string": lambda: _minimal("id: 1", 'id: "1"'),
    "id-zero": lambda: _minimal("id: 1", "id: 0"),
    "id-huge": lambda: _minimal("id: 1", "id: 99999999999999999999999"),
    "port-string": lambda: _minimal("ports: [{port: 80}]", 'ports: [{port: "80"}]'),
    "port-range-out": lambda: _minimal("ports: [{port: 80}]", "ports: [{port: 70000}]"),
    "port-bool": lambda: _minimal("ports: [{port: 80}]", "ports: [{port: true}]"),
    "policy-port-number": lambda: _contoso("ports: [443/TCP]", "ports: [443]"),
    "policy-port-garbage": lambda: _contoso("ports: [443/TCP]", "ports: [https]"),
    "cidr-host-bits": lambda: _minimal("10.1.0.0/16", "10.1.0.1/16"),
    "cidr-zero": lambda: _minimal("10.1.0.0/16", "0.0.0.0/0"),
    "cidr-v6-zero": lambda: _minimal("[10.1.0.0/16]", '["::/0"]'),
    "cidr-garbage": lambda: _minimal("10.1.0.0/16", "10.1.0.0/99"),
    "cidr-v4-mapped": lambda: _minimal("[10.1.0.0/16]", '["::ffff:10.1.0.0/112"]'),
    "cidr-no-prefix": lambda: _minimal("10.1.0.0/16", "10.1.0.0"),
    "cidr-v6-host-bits": lambda: _minimal("[10.1.0.0/16]", '["fd00::1/64"]'),
    "cidr-overlap": lambda: _minimal("10.2.0.0/16", "10.1.128.0/17"),
    "cel-expensive": lambda: _expensive_cel(4),
    "cel-syntax": lambda: _contoso(".all(s, s.clusters", ".all(s, s.clusters)))"),
    "cel-selector-not-bool": lambda: _contoso(
        "from: {clusters: {matchLabels: {env: dev}}}", "from: {clusters: {cel: 'cluster.name'}}"
    ),
    "wrong-api-version": lambda: _minimal("fleetc.dev/v1alpha1", "fleetc.dev/v1"),
    "wrong-kind": lambda: _minimal("kind: Fleet", "kind: Cluster"),
    "missing-spec": lambda: HEAD.encode(),
    "pem-private-key": lambda: _minimal(
        "name: minimal", "name: minimal\n  annotations: {k: '-----BEGIN PRIVATE KEY-----'}"
    ),
    "bearer-token-comment": lambda: (
        MINIMAL.encode() + b"# Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345\n"
    ),
    "jwt-in-label": lambda: _minimal(
        "name: minimal",
        "name: minimal\n  labels: {t: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijkl}",
    ),
    "unknown-reference-typo": lambda: _minimal(
        "clusters: [alpha, beta]", "clusters: [alpha, betta]"
    ),
    "duplicate-cluster-ids-many": lambda: _clusters(2_000),
    # secrets the raw text hides: YAML escapes and line continuations
    "secret-hex-escape": lambda: _minimal(
        "name: minimal", 'name: minimal\n  annotations: {k: "\\x2d----BEGIN PRIVATE KEY-----"}'
    ),
    "secret-unicode-escape": lambda: _minimal(
        "name: minimal", 'name: minimal\n  labels: {k: "\\u0041KIAIOSFODNN7EXAMPLE"}'
    ),
    "secret-continuation": lambda: _minimal(
        "name: minimal",
        'name: minimal\n  annotations:\n    k: "-----BEGIN RSA PRIV\\\n      ATE KEY-----"',
    ),
    "secret-later-line-of-block": lambda: _minimal(
        "name: alpha", "name: |\n        Alpha\n        Bearer abcdefghijklmnopqrstuvwxyz012345"
    ),
    "secret-in-guardrail-message": lambda: (
        MINIMAL
        + "  guardrails:\n    - name: g\n      expression: 'false'\n"
        + '      message: "\\x67hp_abcdefghijklmnopqrstuvwxyz0123"\n'
    ).encode(),
    # zoned IPv6, invalid Kubernetes keys, names with a trailing newline
    "ipv6-zone-cidr": lambda: _minimal("[10.1.0.0/16]", '["fe80::%eth0/64"]'),
    "ipv6-zone-ip": lambda: _minimal("192.0.2.10", '"fe80::1%eth0"'),
    "annotation-key-newline": lambda: _minimal(
        "name: minimal", 'name: minimal\n  annotations: {"a\\nb": x}'
    ),
    "annotation-key-space": lambda: _minimal(
        "name: minimal", 'name: minimal\n  annotations: {"a b": x}'
    ),
    "annotation-key-long-prefix": lambda: _minimal(
        "name: minimal", "name: minimal\n  annotations: {" + "a" * 254 + "/b: x}"
    ),
    "label-value-newline": lambda: _minimal(
        "name: alpha", 'name: alpha\n      labels: {env: "prod\\n"}'
    ),
    "name-trailing-newline": lambda: _minimal("name: web", 'name: "web\\n"'),
    # the size of what is printed stays bounded
    "300k-unknown-keys": lambda: _minimal(
        "name: minimal", "name: minimal\n" + "".join(f"  k{i}x: 1\n" for i in range(300_000))
    ),
    "60kb-bad-value": lambda: _minimal("name: web", "name: " + "Web" * 20_000),
}


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 75


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input(case: str, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_bytes(CASES[case]())
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "FLEETC_TRACEBACK"}
    done = subprocess.run(
        [sys.executable, "-m", "compiler", "render", "fleet.yaml", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
        env=env,
        check=False,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, f"exit {done.returncode}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]
    assert "error[" in stderr, stderr[-3000:]
    assert len(stderr) < 200_000, f"{len(stderr)} bytes of diagnostics"
    for secret in ("PRIVATE KEY", "IOSFODNN7EXAMPLE", "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in stderr, stderr[-3000:]
    assert not out.exists(), "output written for a failed fleet"
    assert {p.name for p in tmp_path.iterdir()} == {"fleet.yaml"}, "litter next to the output"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "dev-null-dir"])
def test_a_fleet_file_that_is_not_a_regular_file_is_refused_at_once(
    kind: str, tmp_path: Path
) -> None:
    if kind == "fifo":
        fleet = tmp_path / "fleet.yaml"
        os.mkfifo(fleet)  # nobody writes to it: a read would block forever
    elif kind == "dev-zero":
        fleet = Path("/dev/zero")  # endless: a read without a cap fills memory
    elif kind == "directory":
        fleet = tmp_path / "fleet.yaml"
        fleet.mkdir()
    else:
        fleet = Path("/dev/null")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "compiler", "render", str(fleet), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        timeout=30,
        preexec_fn=_limit_memory,
        check=False,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, stderr
    assert str(fleet) in stderr and "regular file" in stderr, stderr
    assert "Traceback" not in stderr and not out.exists()
