"""Crash safety and concurrency of the writer, with real processes killed for real.

`FLEETC_TEST_CRASH_AT=N` makes a writer `os._exit` right after its N-th filesystem step (the
hook is in `compiler.emit.write`). The writer-level tests crash at *every* step of a render
that changes, adds, deletes and moves files, and check that recovery leaves exactly the old or
exactly the new tree, with no litter and no stale lock. The CLI-level tests SIGKILL a real
`fleetc render` of a large synthetic fleet after random delays.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.emit.serialize import build_tree
from compiler.emit.write import locked
from compiler.render.output import File
from tests.emit_support import directories, fleetc, require_renderers, snapshot

WRITER = """
import json, sys
from pathlib import Path
from compiler.emit.write import locked
tree = {k: v.encode() for k, v in json.loads(Path(sys.argv[2]).read_text()).items()}
helper_after = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
with locked(Path(sys.argv[1]), create=True) as out:
    out.write(tree.items(), helper_after)
    print(out._steps)
"""

READER = """
import json, sys, time
from pathlib import Path
from compiler.emit.write import locked
seen = []
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    with locked(Path(sys.argv[1]), create=True) as out:
        files = sorted(out.scan())
        seen.append({p: (out.read(p) or b"").decode() for p in files})
print(json.dumps(seen))
"""


def tree_of(files: dict[str, str], tag: str) -> dict[str, bytes]:
    return build_tree([File(p, c) for p, c in files.items()], tag, "fleet.yaml", tag.encode(), "1")


OLD = tree_of(
    {
        "clusters/a/x.yaml": "a-x old\n",
        "clusters/a/y.yaml": "a-y same\n",
        "clusters/gone/z.yaml": "gone\n",
        "clusters/gone/deep/w.yaml": "gone deep\n",
        "top.yaml": "top old\n",
    },
    "old",
)
NEW = tree_of(
    {
        "clusters/a/x.yaml": "a-x new\n",
        "clusters/a/y.yaml": "a-y same\n",
        "clusters/b/new.yaml": "b new\n",
        "clusters/c/d/e.yaml": "c deep new\n",
        "top.yaml": "top new\n",
    },
    "new",
)


def writer_command(
    out: Path, tree: dict[str, bytes], work: Path, helper_after: int = 2000
) -> list[str]:
    spec = work / f"tree-{os.getpid()}-{random.random()}.json"
    spec.write_text(json.dumps({k: v.decode() for k, v in tree.items()}))
    return [sys.executable, "-c", WRITER, str(out), str(spec), str(helper_after)]


def run_writer(
    out: Path, tree: dict[str, bytes], work: Path, crash_at: int = 0, helper_after: int = 2000
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEETC_TEST_CRASH_AT": str(crash_at)}
    return subprocess.run(
        writer_command(out, tree, work, helper_after),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_no_litter(out: Path) -> None:
    meta = sorted(os.listdir(out / ".fleetc"))
    assert meta in ([".gitignore", "manifest.json"], [".gitignore", "cache.json", "manifest.json"])


def assert_old_or_new(
    state: dict[str, bytes], old: dict[str, bytes], new: dict[str, bytes]
) -> None:
    """Exactly one of the two trees; otherwise name the paths that differ from each."""
    if state in (old, new):
        return

    def differ(tree: dict[str, bytes]) -> list[str]:
        return sorted(p for p in state.keys() | tree.keys() if state.get(p) != tree.get(p))

    raise AssertionError(f"mixed tree: vs old {differ(old)[:8]}, vs new {differ(new)[:8]}")


def recovered(out: Path) -> dict[str, bytes]:
    with locked(out, create=False):  # taking the lock proves no stale lock; recovery runs
        pass
    return snapshot(out)


@pytest.mark.parametrize("helper_after", [2000, 2], ids=["in-process", "helper"])
def test_kill_at_every_step_leaves_old_or_new(tmp_path: Path, helper_after: int) -> None:
    out = tmp_path / "out"
    assert run_writer(out, OLD, tmp_path).returncode == 0
    full = run_writer(out, NEW, tmp_path, helper_after=helper_after)
    steps = int(full.stdout)
    assert steps > 10 and snapshot(out) == NEW
    outcomes = []
    for crash_at in range(1, steps + 1):
        assert run_writer(out, OLD, tmp_path).returncode == 0
        assert snapshot(out) == OLD
        proc = run_writer(out, NEW, tmp_path, crash_at, helper_after)
        assert proc.returncode == 137, (crash_at, proc.stderr)
        state = recovered(out)
        assert state in (OLD, NEW), f"crash after step {crash_at}: mixed tree"
        assert_no_litter(out)
        expected = OLD if state == OLD else NEW
        dirs = {"/".join(p.split("/")[:i]) for p in expected for i in range(1, p.count("/") + 1)}
        assert directories(out) == dirs, f"crash after step {crash_at}: directory litter"
        outcomes.append(state == NEW)
        assert run_writer(out, NEW, tmp_path).returncode == 0
        assert snapshot(out) == NEW
    # the sweep crossed the commit point: early crashes roll back, late ones forward
    assert not outcomes[0] and outcomes[-1]


def helpers_of(pid: int) -> list[int]:
    """Staging helpers started by process `pid` that are still alive (orphans included)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"compiler.emit.stage" in arg for arg in argv) and str(pid).encode() in argv:
            found.append(int(entry.name))
    return found


def test_sigkill_while_a_helper_stages(tmp_path: Path) -> None:
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to find the helper process")
    out = tmp_path / "out"
    files = [f"clusters/c{i % 40}/f{i}.yaml" for i in range(4000)]
    old = tree_of({p: "old\n" * 40 for p in files}, "old")
    new = tree_of({p: "new\n" * 40 for p in files[::2]} | {"extra/x.yaml": "x\n"}, "new")
    rng = random.Random(3)
    caught = 0  # kills that found a helper at work
    for _ in range(12):
        if caught >= 3:
            break
        assert run_writer(out, old, tmp_path).returncode == 0
        proc = subprocess.Popen(writer_command(out, new, tmp_path, helper_after=50))
        # on a busy machine start-up alone can take a second: wait for the helper, then kill
        # at a random moment of its work
        started = time.monotonic()
        while not helpers_of(proc.pid) and proc.poll() is None:
            if time.monotonic() - started > 20:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        caught += bool(helpers_of(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while helpers_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert helpers_of(proc.pid) == [], "the staging helper outlived its parent"
        state = recovered(out)
        assert_old_or_new(state, old, new)
        assert_no_litter(out)
    assert caught >= 2
    assert run_writer(out, new, tmp_path, helper_after=50).returncode == 0
    assert snapshot(out) == new


def test_kill_during_recovery_still_converges(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_writer(out, OLD, tmp_path)
    steps = int(run_writer(out, NEW, tmp_path).stdout)
    for crash_at in range(steps // 2, steps, 3):
        run_writer(out, OLD, tmp_path)
        assert run_writer(out, NEW, tmp_path, crash_at).returncode == 137
        # the next writer dies too, somewhere inside its own recovery or write
        run_writer(out, NEW, tmp_path, 2)
        assert recovered(out) in (OLD, NEW)
        assert_no_litter(out)


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    out = tmp_path / "out"
    trees = [
        tree_of({f"clusters/{c}/f{i}.yaml": f"{k}\n" for c in "abc" for i in range(k + 2)}, str(k))
        for k in range(4)
    ]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(out), "4"], stdout=subprocess.PIPE, text=True
    )
    specs = []
    for k, tree in enumerate(trees * 3):
        spec = tmp_path / f"t{k}.json"
        spec.write_text(json.dumps({p: v.decode() for p, v in tree.items()}))
        specs.append(spec)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(out), str(spec)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    for proc in writers:
        assert proc.wait(timeout=120) == 0
    seen = json.loads(reader.communicate(timeout=60)[0])
    assert snapshot(out) in trees
    complete = [
        {p: v.decode() for p, v in t.items() if not p.startswith(".fleetc/")} for t in trees
    ]
    for state in seen:
        assert state == {} or state in complete, "a reader saw a half-written tree"
    assert len(seen) > 3


# -- the real command -----------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_real_render_at_random_moments(tmp_path: Path) -> None:
    require_renderers()
    from bench.fleetgen import generate

    old_fleet = generate(8, 80, 40, seed=1)
    new_fleet = generate(10, 100, 50, seed=2)
    out = tmp_path / "rendered"
    (tmp_path / "fleet.yaml").write_text(old_fleet)
    assert fleetc("render", "--out", "rendered", cwd=tmp_path).returncode == 0
    old = snapshot(out)
    (tmp_path / "fleet.yaml").write_text(new_fleet)
    start = time.monotonic()
    assert fleetc("render", "--out", "rendered", cwd=tmp_path).returncode == 0
    duration = time.monotonic() - start
    new = snapshot(out)
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        (tmp_path / "fleet.yaml").write_text(old_fleet)
        assert fleetc("render", "--out", "rendered", cwd=tmp_path).returncode == 0
        old = snapshot(out)  # again: others may be changing renderers while this runs
        (tmp_path / "fleet.yaml").write_text(new_fleet)
        proc = subprocess.Popen(
            [sys.executable, "-m", "compiler", "render", "--out", "rendered"],
            cwd=tmp_path,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        kills += proc.wait() == -signal.SIGKILL
        state = recovered(out)
        if state not in (old, new):  # the renderers may have changed since `new` was taken
            assert fleetc("render", "--out", str(tmp_path / "side"), cwd=tmp_path).returncode == 0
            new = snapshot(tmp_path / "side")
        assert_old_or_new(state, old, new)
        assert_no_litter(out)
    assert kills >= 3
    assert fleetc("render", "--out", "rendered", cwd=tmp_path).returncode == 0
    assert fleetc("render", "--out", "rendered", "--check", cwd=tmp_path).returncode == 0
    assert_no_litter(out)


def test_crash_hook_in_real_render(tmp_path: Path) -> None:
    require_renderers()
    from tests.conftest import FLEETS

    fleet = tmp_path / "fleet.yaml"
    out = tmp_path / "rendered"
    fleet.write_bytes((FLEETS / "minimal" / "fleet.yaml").read_bytes())
    assert fleetc("render", cwd=tmp_path).returncode == 0
    old = snapshot(out)
    fleet.write_bytes((FLEETS / "contoso" / "fleet.yaml").read_bytes())
    assert fleetc("render", "--out", "new", cwd=tmp_path).returncode == 0
    new = snapshot(tmp_path / "new")
    crashed = 0
    for crash_at in (1, 3, 8, 21, 55, 144, 377):
        fleet.write_bytes((FLEETS / "minimal" / "fleet.yaml").read_bytes())
        assert fleetc("render", cwd=tmp_path).returncode == 0
        fleet.write_bytes((FLEETS / "contoso" / "fleet.yaml").read_bytes())
        proc = fleetc("render", cwd=tmp_path, env={"FLEETC_TEST_CRASH_AT": str(crash_at)})
        if proc.returncode == 0:
            break  # fewer steps than crash_at: the render finished
        assert proc.returncode == 137, proc.stderr
        crashed += 1
        assert_old_or_new(recovered(out), old, new)
        assert_no_litter(out)
        assert fleetc("render", cwd=tmp_path).returncode == 0  # the next run just works
        assert snapshot(out) == new
    assert crashed >= 4


def test_check_reports_an_interrupted_write_without_recovering(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_writer(out, OLD, tmp_path)
    steps = int(run_writer(out, NEW, tmp_path).stdout)
    run_writer(out, OLD, tmp_path)
    assert run_writer(out, NEW, tmp_path, steps - 3).returncode == 137  # after the commit point
    before = snapshot(out)
    with locked(out, create=False, recover=False) as output:
        drift = output.drift(NEW.items())
    assert drift.pending and not drift.clean
    assert snapshot(out) == before  # --check wrote nothing, not even the recovery
    assert recovered(out) == NEW


def test_concurrent_real_renders_leave_one_whole_tree(tmp_path: Path) -> None:
    require_renderers()
    from tests.conftest import FLEETS

    trees = []
    for name in ("minimal", "contoso"):
        (tmp_path / f"{name}.yaml").write_bytes((FLEETS / name / "fleet.yaml").read_bytes())
        assert (
            fleetc("render", f"{name}.yaml", "--out", f"alone-{name}", cwd=tmp_path).returncode == 0
        )
        trees.append(snapshot(tmp_path / f"alone-{name}"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "compiler", "render", f"{name}.yaml", "--out", "shared"],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("minimal", "contoso") * 3
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert snapshot(tmp_path / "shared") in trees
    assert_no_litter(tmp_path / "shared")


def test_fleet_errors_leave_even_an_interrupted_write_alone(tmp_path: Path) -> None:
    require_renderers()
    from tests.conftest import FLEETS

    out = tmp_path / "rendered"
    run_writer(out, OLD, tmp_path)
    steps = int(run_writer(out, NEW, tmp_path).stdout)
    run_writer(out, OLD, tmp_path)
    assert run_writer(out, NEW, tmp_path, steps - 3).returncode == 137
    before = snapshot(out)
    assert (out / ".fleetc" / "journal.json").exists()
    text = (FLEETS / "minimal" / "fleet.yaml").read_text()
    (tmp_path / "fleet.yaml").write_text(text.replace("id: 2", "id: 1"))
    assert fleetc("render", cwd=tmp_path).returncode == 1
    assert snapshot(out) == before
    (tmp_path / "fleet.yaml").write_text(text)
    assert fleetc("render", cwd=tmp_path).returncode == 0
    assert fleetc("render", "--check", cwd=tmp_path).returncode == 0
    assert_no_litter(out)
