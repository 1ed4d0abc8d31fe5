"""explain's cache of resolved fleets: an exact round trip, and nothing but a clean hit trusted.

The codec is checked on random fleets (the property tests' generator, every peer kind) and on
the examples: decode(encode(r)) == r, through real JSON text. The cache is checked through the
real command: a second explain answers the same from the cache without building the models;
a changed fleet, a damaged, foreign-owned, shared or symlinked entry is a miss and the answer
is still right; a fleet with errors is never cached and its errors are reported every time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from compiler.diagnostics import Diagnostic, Diagnostics, Position, Related, Severity
from compiler.resolve import codec, model
from tests.conftest import FLEETS
from tests.policy_evaluator import resolve_text
from tests.policy_fleets import fleets

CONTOSO = FLEETS / "contoso" / "fleet.yaml"
FLOW = [
    "--from",
    "api/gateway@us-api",
    "--to",
    "payments/payments@eu-payments",
    "--port",
    "443/TCP",
]


def _round_trip(resolved: model.ResolvedFleet) -> model.ResolvedFleet:
    return codec.decode(json.loads(json.dumps(codec.encode(resolved))))


def test_no_resolved_class_has_a_post_init() -> None:
    # decode fills instances as __init__ would; a __post_init__ would be skipped
    for value in vars(model).values():
        if dataclasses.is_dataclass(value):
            assert not hasattr(value, "__post_init__"), value


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(fleet=fleets())
def test_random_fleets_round_trip(fleet: dict[str, object]) -> None:
    resolved = resolve_text(json.dumps(fleet, indent=1))
    assert _round_trip(resolved) == resolved


@pytest.mark.parametrize("path", sorted(FLEETS.glob("*/fleet.yaml")), ids=lambda p: p.parent.name)
def test_example_fleets_round_trip(path: Path) -> None:
    resolved = resolve_text(path.read_text(), name=str(path), tolerate={"expectation-failed"})
    back = _round_trip(resolved)
    assert back == resolved
    assert [type(p.source) for p in back.policies] == [type(p.source) for p in resolved.policies]


def test_diagnostics_round_trip() -> None:
    at = Position("fleet.yaml", 3, 7)
    items = [
        Diagnostic("x-warn", "a warning", at, Severity.WARNING, (Related(at, "here"),), "hint"),
        Diagnostic("x-note", "a note", None, Severity.NOTE, path="spec.a", redact=True),
    ]
    data = json.loads(json.dumps(codec.encode_diagnostics(items)))
    assert codec.decode_diagnostics(data) == items


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-1],
        lambda d: [*d, 1],
        lambda d: [d[0], 7, *d[2:]],  # an int where a name is
        lambda d: {"a": d},
        lambda d: None,
    ],
)
def test_what_is_not_a_resolved_fleet_raises(damage: object) -> None:
    resolved = resolve_text(CONTOSO.read_text(), tolerate={"expectation-failed"})
    data = codec.encode(resolved)
    with pytest.raises((TypeError, ValueError, KeyError)):
        codec.decode(damage(data))  # type: ignore[operator]


def _explain(cache: Path, fleet: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", "explain", str(fleet), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _answer(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def _heavy(done: subprocess.CompletedProcess[str]) -> set[str]:
    """The heavy packages a run imported (importtime lines on stderr)."""
    names = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    return {n.split(".")[0] for n in names} & {"pydantic", "ruamel", "celpy", "lark"}


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "fleetc").glob("resolved-*.json"))


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_bytes(CONTOSO.read_bytes())
    return path


def test_second_explain_answers_from_the_cache_without_the_models(
    tmp_path: Path, fleet: Path
) -> None:
    cache = tmp_path / "cache"
    first = _explain(cache, fleet, *FLOW)
    assert _heavy(first) >= {"pydantic", "ruamel"}
    [entry] = _entries(cache)
    assert entry.stat().st_mode & 0o777 == 0o600
    second = _explain(cache, fleet, *FLOW)
    assert _answer(second) == _answer(first)
    assert _heavy(second) == set()
    other = _explain(cache, fleet, *FLOW, "-o", "json")
    assert json.loads(_answer(other))["decision"]["rule"]["name"]


def test_a_changed_fleet_misses(tmp_path: Path, fleet: Path) -> None:
    cache = tmp_path / "cache"
    _answer(_explain(cache, fleet, *FLOW))
    text = fleet.read_text()
    rule = "to: {service: payments/payments, ports: [443/TCP]}"
    assert rule in text
    fleet.write_text(text.replace(rule, rule.replace("443", "444")))
    changed = _explain(cache, fleet, *FLOW)
    assert _heavy(changed) >= {"pydantic"}  # a miss: checked in full again
    assert _answer(changed).startswith("denied:")


@pytest.mark.parametrize(
    "damage",
    ["flip", "truncate", "key", "world-writable", "foreign", "symlink", "junk"],
)
def test_a_damaged_or_foreign_entry_is_a_miss(tmp_path: Path, fleet: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    expected = _answer(_explain(cache, fleet, *FLOW))
    [entry] = _entries(cache)
    raw = entry.read_bytes()
    if damage == "flip":  # one byte of the body: the digest catches it
        at = raw.index(b"payments", len(raw) // 2)  # a name, so JSON stays valid
        entry.write_bytes(raw[:at] + b"X" + raw[at + 1 :])
    elif damage == "truncate":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "key":  # a well-formed entry of another fleet
        header, _, rest = raw.partition(b"\n")[2].partition(b"\n")
        entry.write_bytes(raw.partition(b"\n")[0] + b"\n" + b"0" * 64 + header[64:] + b"\n" + rest)
    elif damage == "world-writable":
        entry.chmod(0o666)
    elif damage == "foreign":
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(entry, 65534, 65534)
    elif damage == "symlink":
        target = tmp_path / "planted"
        target.write_bytes(raw)
        entry.unlink()
        entry.symlink_to(target)
    else:
        entry.write_bytes(b"\x80junk" * 100)
        entry.chmod(0o600)
    again = _explain(cache, fleet, *FLOW)
    assert _answer(again) == expected
    assert _heavy(again) >= {"pydantic"}  # not trusted: checked in full
    if damage == "symlink":
        assert (tmp_path / "planted").read_bytes() == raw  # replaced, never written through
        assert not entry.is_symlink()


def test_a_fleet_with_errors_is_never_cached(tmp_path: Path, fleet: Path) -> None:
    cache = tmp_path / "cache"
    text = fleet.read_text()
    fleet.write_text(text.replace("kind: Fleet", "kind: Fleet\nbogus: 1", 1))
    runs = [_explain(cache, fleet, *FLOW) for _ in range(2)]
    for done in runs:
        assert done.returncode == 1
        assert "bogus" in done.stdout + done.stderr
    assert _entries(cache) == []


def test_store_keeps_nothing_with_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler.commands import cached

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = CONTOSO.read_bytes()
    resolved = resolve_text(data.decode(), name="f.yaml", tolerate={"expectation-failed"})
    error = Diagnostic("x", "an error", None)
    cached.store("f.yaml", data, data.decode(), [error], resolved)
    assert cached.load("f.yaml", data) is None
    warning = dataclasses.replace(error, severity=Severity.WARNING)
    cached.store("f.yaml", data, data.decode(), [warning], resolved)
    entry = cached.load("f.yaml", data)
    assert entry is not None and entry.resolved == resolved
    assert entry.diagnostics == [warning]
    assert cached.load("g.yaml", data) is None  # the name is in every position: part of the key
    assert cached.load("f.yaml", data + b"\n") is None
    assert Diagnostics(entry.diagnostics).items == [warning]


def _validate(cache: Path, *fleets: Path, output: str = "text") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    argv = [sys.executable, "-X", "importtime", "-m", "compiler", "validate", "-o", output]
    return subprocess.run(
        [*argv, *map(str, fleets)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _findings(done: subprocess.CompletedProcess[str]) -> tuple[int, str, list[str]]:
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    return done.returncode, done.stdout, lines


@pytest.mark.parametrize("output", ["text", "json", "sarif"])
def test_validate_again_prints_the_same_findings_without_the_models(
    tmp_path: Path, output: str
) -> None:
    warned = tmp_path / "warned.yaml"
    rule = "to: {service: payments/payments, ports: [443/TCP]}"
    warned.write_text(CONTOSO.read_text().replace(rule, rule.replace("]", ", 444/TCP]")))
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(b"\xef\xbb\xbf" + CONTOSO.read_bytes())  # a byte-order mark
    cache = tmp_path / "cache"
    first = _validate(cache, warned, plain, output=output)
    assert "policy-port-not-in-service" in first.stdout + first.stderr
    assert _heavy(first) >= {"pydantic", "celpy"}
    second = _validate(cache, warned, plain, output=output)
    assert _findings(second) == _findings(first)
    assert _heavy(second) == set()
    warned.write_text(warned.read_text() + "\n# edited\n")
    third = _validate(cache, warned, plain, output=output)
    assert _heavy(third) >= {"pydantic"}
    assert _findings(third) == _findings(first)


def test_validate_never_caches_errors(tmp_path: Path) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text(CONTOSO.read_text().replace("port: 443/TCP", "port: 80/TCP", 1))
    cache = tmp_path / "cache"
    runs = [_validate(cache, broken) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1]
    assert "expectation-failed" in runs[1].stdout + runs[1].stderr
    assert _findings(runs[0]) == _findings(runs[1])
    assert _heavy(runs[1]) >= {"pydantic"}
    assert _entries(cache) == []
