"""The in-cell code (driver and probe, stdlib-only, for Python 3.8+) run for real under the oldest Python a
local image gives here: Debian bullseye's 3.9, built from Debian's packages. Python 3.8 itself (JetPack 5)
is not run on this machine: no local image has it; test_probe.py checks the code's grammar against 3.8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wheels import CHAIN_MODULES, TORCHAO_WITHOUT_QUANTIZATION, fixture_chain

from harness.matrix import reader
from harness.model import Verdict
from harness.run import runner
from harness.run.options import RunOptions, new_run_id
from harness.verdicts import events

pytestmark = pytest.mark.docker

BULLSEYE = '[images.bullseye-amd64]\nlocal_build = "debian-bullseye"\nplatform = "linux/amd64"\n'


def test_the_driver_and_the_probe_run_under_python_3_9(docker_backend, bullseye, tmp_path):
    good = fixture_chain(tmp_path / "good")
    lacking = fixture_chain(tmp_path / "lacking", torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1.0")
    matrix = tmp_path / "oldest.toml"
    matrix.write_text(f"""
[matrix]
timeout = 300
{BULLSEYE}
[indexes.good]
find_links = ["{good}"]
no_index = true
[indexes.lacking]
find_links = ["{lacking}"]
no_index = true
[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = []  # a fixture torch: no tensors for the built-in checks
""")
    m = reader.load(matrix)
    options = RunOptions(run_id=new_run_id(), plan=False)
    results = runner.run_cells(m, list(m.cells), docker_backend, options, results_dir=tmp_path / "results",
                               log=lambda _: None)
    by_index = {r.cell["index"]["name"]: r for r in results}
    for result in results:
        log = (tmp_path / "results" / result.log).read_text()
        begin = events.parse(log).begin
        assert begin is not None and begin["python"].startswith("3.9."), begin
        assert events.parse(log).garbage == 0
    passed = by_index["good"]
    assert passed.verdict is Verdict.PASS, (passed.evidence, passed.notes)
    assert [s["module"] for s in passed.probe["imports"]] == json.loads(CHAIN_MODULES)
    assert all(s["ok"] for s in passed.probe["imports"])
    assert passed.probe["distributions"]["torchtune"]["version"] == "0.6.1"
    assert passed.exit_code == 0 and passed.timings["install"] > 0
    broken = by_index["lacking"]
    assert broken.verdict is Verdict.IMPORT_FAILED, (broken.verdict, broken.evidence)
    assert broken.hint.startswith("torchao 0.1.0 has no module torchao.quantization")
    assert Path(tmp_path / "results" / f"{broken.cell_id}.json").is_file()
