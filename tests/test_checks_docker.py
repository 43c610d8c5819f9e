"""Checks in real containers: the real torch 2.13.0 CPU wheel with torchao 0.15.0 and torchtune 0.6.1 (the
smoke matrix's chain) running the built-in checks and the user's own beside them, and a user check that
kills its interpreter.

Set EWH_RECORD_LOGS=DIR to keep the cells' logs there (tests/data/logs/checks.*.log were recorded so;
tests/test_checks.py reads them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wheels import fixture_chain, fixture_matrix

from harness.matrix import reader
from harness.model import Verdict
from harness.reports import junit, table
from harness.run import runner
from harness.run.options import RunOptions, new_run_id

pytestmark = pytest.mark.docker

# torchao's int8 scaled dot product on the CPU: a compiled operator of its C++ extension.
SDPA = """import torch
import torchao
q = torch.randn(1, 2, 8, 16)
out = torch.ops.torchao.qscaled_dot_product(q, q, q)
print("qscaled_dot_product gives", tuple(out.shape))
"""
WRONG = """import torch
value = int((torch.ones(2, 3) @ torch.ones(3, 1)).sum())
print("summed", value)
assert value == 7, "expected 7, got %d" % value
"""
PEP723 = """# /// script
# dependencies = ["tomli-w"]
# ///
import sys
import tomli_w
print(tomli_w.__name__, "from", tomli_w.__file__)
assert tomli_w.__file__.startswith(sys.prefix), "tomli-w must come from the cell's venv"
"""
TWO_TESTS = """import torch

def test_adds():
    assert int(torch.tensor(1) + 1) == 2

def test_adds_wrong():
    assert int(torch.tensor(1) + 1) == 3, "arithmetic"
"""
SEGV = """import ctypes
print("about to read address 0", flush=True)
ctypes.string_at(0)
"""
CHAIN_MODULES = ["torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"]
RECORD = Path(os.environ["EWH_RECORD_LOGS"]).resolve() if os.environ.get("EWH_RECORD_LOGS") else None  # the tests chdir


def record_logs(results: Path, out: list, name: str) -> None:
    if RECORD is not None:
        for r in out:
            target = RECORD / f"checks.{name}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / r.log, target)


def run(matrix: Path, backend, results: Path) -> list:
    m = reader.load(matrix)
    return runner.run_cells(m, list(m.cells), backend, RunOptions(run_id=new_run_id()), results_dir=results / m.name,
                            log=lambda _: None)


@pytest.mark.network
@pytest.mark.slow
def test_the_real_chain_runs_its_built_in_checks_and_the_users_own(docker_backend, bookworm, tmp_path, monkeypatch):
    """torchao 0.15.0 skips its C++ extensions with torch 2.13.0: the built-in checks pass (int8
    weight-only is plain PyTorch on the CPU), a user check calling one of torchao's compiled operators
    fails with that as its cause, a user script asserting a wrong value fails with the assertion, a
    PEP 723 script gets its dependency in the cell's venv, a pytest file gives one result per test."""
    wheelhouse = tmp_path / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheelhouse),
                          "torch==2.13.0"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr[-2000:]
    project = tmp_path / "project"
    for name, text in (("checks/sdpa.py", SDPA), ("checks/wrong.py", WRONG), ("checks/pep.py", PEP723),
                       ("tests/test_two.py", TWO_TESTS)):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    matrix = project / "real.toml"
    matrix.write_text(f"""
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.wheelhouse]
find_links = ["{wheelhouse}"]
[packages.chain]
requirements = ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]
modules = {json.dumps(CHAIN_MODULES)}
checks = ["torch", "torchao", "torchtune", "checks/sdpa.py", "checks/wrong.py", "checks/pep.py", "tests/test_two.py"]
""")
    monkeypatch.chdir(project)
    [result] = run(matrix, docker_backend, tmp_path / "results")
    record_logs(tmp_path / "results" / "real", [result], "real-chain")
    checks = {table.check_name(c): c for c in result.checks}
    assert {n: c["outcome"] for n, c in checks.items()} == {
        "torch [cpu]": "passed", "torchao [cpu]": "passed", "torchtune [cpu]": "passed",
        "checks/sdpa.py": "failed", "checks/wrong.py": "failed", "checks/pep.py": "passed",
        "tests/test_two.py::test_adds": "passed", "tests/test_two.py::test_adds_wrong": "failed"}
    assert checks["torchao [cpu]"]["api"] == "quantize_(model, Int8WeightOnlyConfig())"
    assert checks["torchtune [cpu]"]["builder"] == "torchtune.models.llama2.lora_llama2"
    assert result.verdict is Verdict.CHECK_FAILED, result.evidence
    assert result.evidence[0].startswith("check checks/sdpa.py failed: NotImplementedError: Could not run "
                                         "'torchao::qscaled_dot_product' with arguments from the 'CPU' backend")
    assert result.evidence[1].startswith("torchao skipped its C++ extensions at import, and the check needs them: "
                                         "Skipping import of cpp extensions due to incompatible torch version "
                                         "2.13.0+cpu for torchao version 0.15.0")
    assert "check checks/wrong.py failed: AssertionError: expected 7, got 6" in result.evidence
    assert result.evidence[-1].startswith("also lost at import: torchao: Skipping import of cpp extensions")
    assert result.hint.startswith("torchao's C++ extensions were skipped: install the torchao built for this torch")
    assert ("check torchao [cpu]: int4 weight-only not run: int4 weight-only is checked on CUDA only: its kernels "
            "(tinygemm) are CUDA's, not the CPU's") in result.notes
    # PEP 723: the dependency is in the cell's venv, installed after the probe measured the set
    assert "tomli-w" not in result.probe["distributions"]
    assert checks["checks/pep.py"]["output"][0].startswith("tomli_w from /")
    assert "/venv" in checks["checks/pep.py"]["output"][0]
    assert result.timings["check-install"] > 0 and result.timings["checks"] > 0
    record = result.to_json()
    assert table.checks_text(record) == "5/8: checks/sdpa.py failed, checks/wrong.py failed (+1)"
    [suite] = list(junit.render([record]))
    cases = {case.name: case for case in suite}
    assert {n for n in cases if "test_two" in n} == {f"{result.cell_id} :: tests/test_two.py::test_adds",
                                                     f"{result.cell_id} :: tests/test_two.py::test_adds_wrong"}
    assert cases[f"{result.cell_id} :: tests/test_two.py::test_adds"].is_passed
    assert not cases[f"{result.cell_id} :: tests/test_two.py::test_adds_wrong"].is_passed


def test_a_user_check_that_segfaults_is_crashed_naming_it(docker_backend, bookworm, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "checks").mkdir(parents=True)
    (project / "checks" / "segv.py").write_text(SEGV)
    matrix = fixture_matrix(project / "segv.toml", fixture_chain(tmp_path / "wheels"), checks='["checks/segv.py"]')
    monkeypatch.chdir(project)
    [result] = run(matrix, docker_backend, tmp_path / "results")
    record_logs(tmp_path / "results" / "segv", [result], "segv")
    assert result.verdict is Verdict.CRASHED, result.evidence
    assert result.evidence[0] == ("check checks/segv.py crashed: killed by SIGSEGV (Fatal Python error: "
                                  "Segmentation fault)")
    assert 'at File "checks/segv.py", line 3, in <module>' in result.evidence
    assert result.hint.startswith("the interpreter died running the check checks/segv.py")
    [check] = result.checks
    assert (check["outcome"], check["signal"]) == ("crashed", "SIGSEGV")
