"""The GitHub Action (action.yml) run as a runner runs a composite action: each `run` step in bash
(`bash --noprofile --norc -eo pipefail`, GitHub's `shell: bash`) with the documented environment
(GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files of its own, GITHUB_ENV, GITHUB_WORKSPACE, GITHUB_ACTION_PATH,
RUNNER_TEMP), its `env` and `if` evaluated from the inputs and the earlier steps' outputs. A `uses` step
(the artifact upload) is not run: its inputs are recorded. The install step installs the harness from
this checkout into a venv with pip, as on a runner (so the test needs the package index).

Cells run on the host backend (venvs over this interpreter, stdlib modules only): the action's own
steps are what is under test, not the engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())

MATRIX = """
[matrix]
name = "tiny"
timeout = 300
[[matrix.include]]
image = "host"
index = "default"
packages = "stdlib"
[[matrix.include]]
image = "host"
index = "default"
packages = "missing"
expect = "import-failed"
why = "no such module"
[images.host]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.default]
[packages.stdlib]
requirements = []
modules = ["{module}"]
[packages.missing]
requirements = []
modules = ["no_such_module_xyz"]
"""


@dataclass
class Step:
    id: str | None
    outcome: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    uses_with: dict[str, str] | None = None


@dataclass
class Job:
    steps: list[Step]
    outputs: dict[str, str]

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    @property
    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.id == name)


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: name=value, and name<<DELIMITER … DELIMITER."""
    out, lines = {}, path.read_text().splitlines() if path.exists() else []
    while lines:
        line = lines.pop(0)
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            while lines and (item := lines.pop(0)) != delimiter:
                value.append(item)
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


class Context:
    """The expression contexts a composite action's steps see: inputs, github, steps."""

    def __init__(self, inputs: dict[str, str], workspace: Path) -> None:
        self.inputs = inputs
        self.github = {"action_path": str(ROOT), "workspace": str(workspace)}
        self.steps: dict[str, Step] = {}

    def value(self, path: str) -> object:
        head, _, rest = path.partition(".")
        if head == "inputs":
            return self.inputs[rest]
        if head == "github":
            return self.github[rest]
        if head == "steps":
            sid, _, what = rest.partition(".")
            step = self.steps.get(sid)
            if what == "outcome":
                return step.outcome if step else ""
            return step.outputs.get(what.removeprefix("outputs."), "") if step else ""
        raise AssertionError(f"the action uses a context this runner does not know: {path}")

    def condition(self, text: str, failed: bool) -> bool:
        """`if:` as the runner reads it: success() unless the condition names always()/failure()."""
        python = re.sub(r"(inputs|github|steps)\.[A-Za-z0-9_.-]+", lambda m: repr(self.value(m.group(0))), text)
        python = python.replace("&&", " and ").replace("||", " or ").replace("!=", " != ").replace("==", " == ")
        python = python.replace("always()", "True").replace("success()", repr(not failed))
        python = python.replace("failure()", repr(failed))
        ok = bool(eval(python, {"__builtins__": {}}))  # noqa: S307 - the action's own conditions
        return ok if ("always()" in text or "failure()" in text) else ok and not failed

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: str(self.value(m.group(1))), str(text))


JOBS = iter(range(1000))


def run_action(workspace: Path, runner_temp: Path, **given: str) -> Job:
    """One job's run of the action. Jobs given the same RUNNER_TEMP share the harness's venv there (a
    runner keeps it for the length of a job; the tests save the minutes), never their step files."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, f"not an input of the action: {unknown}"
    inputs.update(given)
    ctx = Context(inputs, workspace)
    steps: list[Step] = []
    files = runner_temp / f"job-{next(JOBS)}"
    files.mkdir(parents=True)
    env_file = files / "github_env"
    env_file.touch()
    for n, spec in enumerate(ACTION["runs"]["steps"]):
        failed = any(s.outcome == "failure" for s in steps)
        if not ctx.condition(spec.get("if", "success()"), failed):
            step = Step(spec.get("id"), "skipped")
        elif "uses" in spec:
            step = Step(spec.get("id"), "success", uses_with={k: ctx.expand(v) for k, v in spec["with"].items()})
        else:
            assert spec["shell"] == "bash"
            output, summary = files / f"output-{n}", files / f"summary-{n}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
            env.update({"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                        "GITHUB_ENV": str(env_file), "GITHUB_WORKSPACE": str(workspace),
                        "GITHUB_ACTION_PATH": str(ROOT), "RUNNER_TEMP": str(runner_temp)})
            env.update({k: ctx.expand(v) for k, v in (spec.get("env") or {}).items()})
            script = files / f"step-{n}.sh"
            script.write_text(spec["run"])
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                                  env=env, capture_output=True, text=True, timeout=900)
            print(f"--- step {n} ({spec.get('name')}): exit {done.returncode}\n{done.stdout}{done.stderr}")
            step = Step(spec.get("id"), "success" if done.returncode == 0 else "failure", read_outputs(output),
                        summary.read_text() if summary.exists() else "")
        steps.append(step)
        if step.id:
            ctx.steps[step.id] = step
    outputs = {name: ctx.expand(spec["value"]) for name, spec in ACTION["outputs"].items()}
    return Job(steps, outputs)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace")
    (root / "matrices").mkdir()
    return root


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory):
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture(scope="module")
def first(workspace, runner_temp) -> Job:
    (workspace / "matrices" / "tiny.toml").write_text(MATRIX.replace("{module}", "json"))
    return run_action(workspace, runner_temp, matrix="matrices/tiny.toml", args="--backend host", results="results")


def test_every_input_the_steps_read_is_declared_and_no_expression_is_code():
    declared = set(ACTION["inputs"])
    for spec in ACTION["runs"]["steps"]:
        for text in [spec.get("if", ""), *(spec.get("env") or {}).values(), *(spec.get("with") or {}).values()]:
            assert set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", str(text))) <= declared
        assert "${{" not in spec.get("run", ""), "an expression in a script is code an input could inject"


@pytest.mark.network
def test_a_run_as_expected_sets_the_outputs_summary_junit_and_artifact(first, workspace):
    assert not first.failed, [s.outcome for s in first.steps]
    assert first.outputs["cells"] == "2" and first.outputs["unexpected"] == "0"
    assert json.loads(first.outputs["counts"]) == {"import-failed": 1, "pass": 1}
    assert first.outputs["pass"] == "1" and first.outputs["exit-code"] == "0"
    assert first.outputs["regression"] == ""  # no baseline given
    assert "### wheel-harness: tiny" in first.summary and "2 cells: 1 pass, 1 import-failed" in first.summary
    assert "<testsuites" in (workspace / "results" / "junit.xml").read_text()
    [upload] = [s for s in first.steps if s.uses_with is not None]
    assert upload.uses_with["name"] == "wheel-harness-results" and upload.uses_with["path"] == "results"
    assert first.step("diff").outcome == "skipped"


@pytest.mark.network
def test_an_unexpected_cell_and_a_regression_each_fail_the_job(first, workspace, runner_temp, tmp_path):
    """The same cell now imports a module that is not there: exit 1, which fails the job unless
    fail-on-unexpected is "false"; and the diff against the first run's results, a regression, fails it
    on its own."""
    import shutil

    shutil.copytree(workspace / "results", tmp_path / "baseline")
    (workspace / "matrices" / "tiny.toml").write_text(MATRIX.replace("{module}", "no_such_module_abc"))
    common = {"matrix": "matrices/tiny.toml", "args": "--backend host", "results-artifact": ""}
    job = run_action(workspace, runner_temp, **common)
    assert job.failed and job.steps[-1].outcome == "failure"  # the last step is the gate
    assert job.outputs["exit-code"] == "1" and job.outputs["unexpected"] == "1"
    assert json.loads(job.outputs["counts"]) == {"import-failed": 2}
    assert all(s.uses_with is None for s in job.steps if s.outcome != "skipped")  # no artifact asked for
    kept = run_action(workspace, runner_temp, **common, **{"fail-on-unexpected": "false"})
    assert not kept.failed and kept.outputs["exit-code"] == "1"  # the outputs still say it
    gated = run_action(workspace, runner_temp, **common, baseline=str(tmp_path / "baseline"),
                       **{"fail-on-unexpected": "false"})
    assert gated.failed and gated.outputs["regression"] == "true"
    assert "**1 regression**" in gated.summary
