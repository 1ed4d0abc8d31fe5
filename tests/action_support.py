"""Run action.yml's steps the way the runner does, locally: its `run:` scripts with bash,
GitHub's environment files pointed at temp files, and `${{ }}` expressions evaluated.

Only the expression forms action.yml uses are understood (a test fails on any other, so the
action cannot drift into one the runner here would get wrong): references such as
``inputs.x``, ``github.a.b``, ``steps.id.outputs.k`` and ``steps.id.outcome``; ``a || b``;
terms ``a == 'v'`` / ``a != 'v'`` joined by ``&&``; ``always()``. Steps that `uses:` another
action are recorded with their evaluated inputs, not run.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

ACTION = ROOT / "action.yml"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_REF = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*$")
_TERM = re.compile(r"^(.+?)\s*(==|!=)\s*'([^']*)'$")


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return data


@dataclass
class Run:
    """What one run of the action did."""

    context: dict[str, Any]
    stdout: dict[str, str] = field(default_factory=dict)
    """Per step id (or name): what its script printed, stdout and stderr together."""
    used: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per step id (or name) of a `uses:` step that ran: its evaluated `with:`."""
    skipped: list[str] = field(default_factory=list)
    failed: bool = False

    @property
    def steps(self) -> dict[str, Any]:
        steps: dict[str, Any] = self.context["steps"]
        return steps

    def output(self, step: str, key: str) -> str:
        return str(self.steps.get(step, {}).get("outputs", {}).get(key, ""))


def _lookup(context: dict[str, Any], ref: str) -> str:
    if not _REF.match(ref):
        raise ValueError(f"expression not understood by the test runner: {ref!r}")
    value: Any = context
    for part in ref.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part, "")
    return "" if value is None else str(value)


def _value(context: dict[str, Any], expr: str) -> str:
    for alternative in expr.split("||"):
        found = _lookup(context, alternative.strip())
        if found:
            return found
    return ""


def _condition(context: dict[str, Any], expr: str, failed: bool) -> bool:
    expr = _EXPR.sub(lambda m: m.group(1), expr.strip())
    if not expr:  # the runner's default: success()
        return not failed
    terms = [t.strip() for t in expr.split("&&")]
    if "always()" not in terms and failed:
        return False
    for term in terms:
        if term == "always()":
            continue
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"condition not understood by the test runner: {term!r}")
        left, op, right = match.groups()
        if (_value(context, left) == right) != (op == "=="):
            return False
    return True


def evaluate(context: dict[str, Any], text: str) -> str:
    return _EXPR.sub(lambda m: _value(context, m.group(1)), text)


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "<<" in line:
            raise ValueError("multi-line outputs are not used by the action")
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return outputs


def run_action(
    workspace: Path,
    temp: Path,
    inputs: dict[str, str],
    github: dict[str, Any],
    path: list[str],
    skip: tuple[str, ...] = ("install",),
) -> Run:
    """Every step of action.yml in order, in `workspace`, as the runner would run them."""
    definition = action()
    defaults = {k: str(v.get("default", "")) for k, v in definition["inputs"].items()}
    context: dict[str, Any] = {
        "github": {"action_path": str(ROOT), **github},
        "runner": {"temp": str(temp)},
        "steps": {},
    }
    context["inputs"] = {k: evaluate(context, v) for k, v in {**defaults, **inputs}.items()}
    summary = temp / "step-summary.md"
    summary.touch()
    gh_path = temp / "github-path"
    gh_path.touch()
    run = Run(context)
    for index, step in enumerate(definition["runs"]["steps"]):
        name = step.get("id") or step.get("name") or str(index)
        if name in skip or not _condition(context, str(step.get("if", "")), run.failed):
            run.skipped.append(name)
            continue
        if "uses" in step:
            run.used[name] = {k: evaluate(context, str(v)) for k, v in step.get("with", {}).items()}
            context["steps"][name] = {"outcome": "success", "outputs": {}}
            continue
        outputs = temp / f"output-{index}"
        outputs.write_text("")
        env = {k: evaluate(context, str(v)) for k, v in step.get("env", {}).items()}
        extra_path = [p for p in gh_path.read_text().splitlines() if p]
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
            "PATH": os.pathsep.join([*extra_path, *path, os.environ.get("PATH", "")]),
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_PATH": str(gh_path),
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(workspace),
            **env,
        }
        full_env.pop("CI", None)
        script = temp / f"step-{index}.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        run.stdout[name] = done.stdout + done.stderr
        outcome = "success" if done.returncode == 0 else "failure"
        context["steps"][name] = {"outcome": outcome, "outputs": _read_outputs(outputs)}
        if done.returncode != 0:
            run.failed = True
    return run
