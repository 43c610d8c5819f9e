"""The runner's pure parts: what a cell is given (index options, CA bundle, proxies) and backend choice."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.backends import base, choose, docker
from harness.backends.host import HostBackend
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet
from harness.run.job import forwarded_environment, make_job, pip_options
from harness.run.options import RunOptions


class InCell:
    """Where the Docker backend puts mounts, without needing an engine."""

    name = "docker"
    cell_path = docker.DockerBackend.cell_path
    cache_dir = docker.DockerBackend.cache_dir
    inherits_environment = False
    reaches_host_loopback = True


def cell(index: IndexVariant) -> Cell:
    return Cell(image=Image(name="img", arch=Arch.native(), ref="img:1"), index=index,
                packages=PackageSet(name="p", requirements=("torch==2.13.0",), modules=("torch",)))


def test_default_index_writes_no_index_option(tmp_path):
    args, mounts = pip_options(cell(IndexVariant(name="default")), InCell())
    assert args == [] and mounts == []


def test_index_variant_becomes_pip_options_and_read_only_mounts(tmp_path):
    idx = IndexVariant(name="w", index_url="https://example.org/simple", extra_index_urls=("https://b.example/s",),
                       find_links=(str(tmp_path),), no_index=False, pip_args=("--prefer-binary",))
    args, mounts = pip_options(cell(idx), InCell())
    assert args == ["--index-url", "https://example.org/simple", "--extra-index-url", "https://b.example/s",
                    "--find-links", "/ewh/mnt/links-0", "--prefer-binary"]
    assert [(m.host, m.cell) for m in mounts] == [(str(tmp_path), "/ewh/mnt/links-0")]


def test_ca_bundle_is_mounted_once_and_proxies_are_forwarded(tmp_path):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {"PIP_CERT": str(ca), "REQUESTS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(tmp_path / "missing.pem"),
               "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost", "PIP_INDEX_URL": "https://x/simple"}
    mounts, env = forwarded_environment(environ, InCell())
    assert [(m.host, m.cell) for m in mounts] == [(str(ca), "/ewh/mnt/ca-0.pem")]
    assert env == {"PIP_CERT": "/ewh/mnt/ca-0.pem", "REQUESTS_CA_BUNDLE": "/ewh/mnt/ca-0.pem",
                   "SSL_CERT_FILE": "/ewh/mnt/ca-0.pem", "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost"}


def test_job_isolates_the_cell_from_the_host_pip_configuration(tmp_path):
    job = make_job(cell(IndexVariant(name="default")), InCell(),
                          RunOptions(run_id="r1", environ={"PIP_INDEX_URL": "https://x/simple"}))
    spec = json.loads(job.files["spec.json"])
    assert spec["env"] == {"PIP_CONFIG_FILE": "/dev/null"}
    assert {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"} <= set(spec["unset"])
    assert spec["requirements"] == ["torch==2.13.0"] and spec["modules"] == ["torch"]
    assert set(job.files) == {"cell.py", "probe.py", "checks.py", "boot.py", "spec.json"}
    assert spec["checks"] is None  # a set that names no checks is import-only
    assert job.labels == {base.LABEL_RUN: "r1", base.LABEL_CELL: "img__default__p"}


def test_the_driver_watches_the_process_limit_only_where_the_backend_enforces_it(tmp_path):
    import dataclasses

    limited = dataclasses.replace(cell(IndexVariant(name="default")), processes=300)
    contained = type("Contained", (InCell,), {"contains_cells": True})()
    job = make_job(limited, contained, RunOptions(run_id="r1"))
    assert (job.processes, json.loads(job.files["spec.json"])["processes"]) == (300, 300)
    host = make_job(limited, HostBackend(tmp=str(tmp_path), cache_root=tmp_path), RunOptions(run_id="r1"))
    assert json.loads(host.files["spec.json"])["processes"] is None  # a host venv has no limit to watch


def test_no_engine_falls_back_to_the_host_backend_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    said = []
    chosen = choose.choose_backend("auto", log=said.append)
    assert isinstance(chosen, HostBackend)
    assert len(said) == 1 and "host backend" in said[0]


def test_gpu_access_modes_map_to_container_options():
    assert docker.DockerBackend.gpu_options("none") == {}
    assert docker.DockerBackend.gpu_options("nvidia-runtime") == {"runtime": "nvidia", "group_add": ["44"]}
    [request] = docker.DockerBackend.gpu_options("device-request")["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]


def test_doctor_describes_this_host_as_json(capsys, monkeypatch, tmp_path):
    """`doctor --json` on this machine, its engine made unreachable: the matrix it chooses and the problems it
    names follow from the facts it reports, as docs/getting-started.md states them (not recomputed by the same code)."""
    from harness.cli.main import main

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert main(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["arch"] == Arch.native().value and facts["has_engine"] is False and facts["backend"] == "host"
    expected_matrix = {"plain": "matrices/smoke.toml", "x86-nvidia": "matrices/x86-cuda.toml",
                       "sbsa-nvidia": "matrices/smoke.toml"}
    if facts["kind"] in expected_matrix:
        assert facts["default_matrix"]["file"] == expected_matrix[facts["kind"]]
    if facts["kind"] == "plain":  # a machine without an NVIDIA GPU, as CI's is
        assert facts["default_matrix"]["why"] == (f"{facts['arch']} host without an NVIDIA GPU: the smoke matrix "
                                                  "(CPU only)")
        assert facts["gpu_access"] == {"mode": "none", "runtime": None, "mounts": [], "problem": None}
    problems = facts["problems"]
    assert problems[0].startswith("no container engine answered: cells run on the host backend")
    assert problems[0].endswith("let this user reach it (the docker group)")
    missing = [arch for arch, ok in sorted(facts["binfmt"].items()) if not ok]
    assert [p.split(":")[0] for p in problems if p.startswith("no QEMU")] == [
        f"no QEMU binfmt emulation for {arch}" for arch in missing]
    if facts["kind"] != "jetson":
        assert len(problems) == 1 + len(missing)


def test_table_without_stored_results_leaves_documents_alone(tmp_path, capsys, monkeypatch):
    from harness.cli.main import main

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    results = tmp_path / "results"
    (results / "smoke").mkdir(parents=True)
    readme = results / "smoke" / "README.md"
    readme.write_text("# kept\n")
    assert main(["table", "matrices/smoke.toml", "--results", str(results)]) == 0
    assert readme.read_text() == "# kept\n"
    assert "tables left as they are" in capsys.readouterr().out


# --- what a run makes of a cell's end: its deadline, its record, its interruption, the order it is told ----


class Interrupting(InCell):
    """A backend whose cell is interrupted (Ctrl-C) while it runs, as the Docker backend raises it."""

    root = "/tmp/ewh-work"

    def __init__(self, jobs: list):
        self.jobs = jobs

    def prepare(self, image):
        return base.Prepared(identity="sha256:1")

    def execute(self, job, cancel=None, output=None):
        self.jobs.append(job)
        raise KeyboardInterrupt


def test_the_runs_timeout_is_the_deadline_and_what_the_record_and_the_hint_say(tmp_path):
    """Defect 2 of 2026-11-26 without the slow CLI test: --timeout 5 over a matrix's 1800 s."""
    from harness.backends.base import Execution
    from harness.run import record
    from harness.run.options import effective
    from harness.verdicts import classify, events

    declared = cell(IndexVariant(name="default"))
    assert declared.timeout == 1800.0
    options = RunOptions(run_id="r1", timeout=5, memory=1 << 30)
    ran = effective(declared, options)
    assert (ran.timeout, ran.memory) == (5, 1 << 30)
    assert make_job(ran, InCell(), options).timeout == 5
    assert record.describe(ran)["timeout"] == 5
    log = (Path(__file__).parent / "data" / "logs" / "stopped-from-outside.venv.log").read_text()
    judged = classify.judge(ran, Execution(log=log, exit_code=137, timed_out=True), events.parse(log), "none")
    assert judged.hint.startswith("the cell ran past its 5 s timeout")
    kept = effective(dataclasses.replace(declared, memory=2 << 30), RunOptions(run_id="r2"))
    assert (kept.timeout, kept.memory) == (1800.0, 2 << 30)  # no --timeout: the matrix's; its own memory


def test_ctrl_c_while_a_cell_runs_records_it_as_interrupted(tmp_path):
    from harness.errors import CellInterrupted
    from harness.model import Verdict
    from harness.run import runner

    jobs: list = []
    try:
        runner.run_cell(cell(IndexVariant(name="default")), Interrupting(jobs), RunOptions(run_id="r1", plan=False),
                        matrix="m", host={})
        stopped = None
    except KeyboardInterrupt as exc:  # CellInterrupted is one: caught here, not by pytest
        stopped = exc
    assert len(jobs) == 1 and isinstance(stopped, CellInterrupted)
    assert stopped.result.verdict is Verdict.INTERRUPTED and stopped.result.expected is False
    assert stopped.result.evidence[0].startswith("the run was interrupted after ")
    assert stopped.result.hint == "the run was interrupted: re-run the cell"


def attempt_of(expect: str):
    from harness.run.record import Attempt

    return Attempt(cell=dataclasses.replace(cell(IndexVariant(name="default")), expect=expect,
                                            expect_why="torchao 0.17 lacks int4_weight_only"),
                   started="2026-12-06T00:00:00Z", began=0.0)


@pytest.mark.parametrize("expect, verdict, expected, note", [
    ("import-failed", "import-failed", True, "known-bad, as expected (import-failed): torchao 0.17 lacks "
                                              "int4_weight_only"),
    ("import-failed", "skipped", True, None),  # defect 4: a skipped known-bad cell gets no such note
    ("import-failed", "pass", False, None),
    ("pass", "pass", True, None),
    ("pass", "skipped", True, None),
    ("pass", "degraded", False, None),
])
def test_a_cell_meets_its_expectation_and_only_then_is_called_known_bad(expect, verdict, expected, note):
    from harness.model import Verdict
    from harness.run import record

    got = record.result(attempt_of(expect), Verdict(verdict), matrix="m", run_id="r", backend="docker", host={},
                        log_dir=None, cache=None)
    assert got.expected is expected
    assert [n for n in got.notes if n.startswith("known-bad")] == ([note] if note else [])


def test_findings_are_told_before_infrastructure_verdicts_whatever_the_order_of_the_cells():
    """Recorded results (tests/data/report/): an image that could not be had and a chain that broke."""
    from harness.model import CellResult
    from harness.reports import console

    data = Path(__file__).parent / "data" / "report"
    outage = CellResult.from_json(json.loads((data / "missing__lan__chain.json").read_text()))
    recorded = json.loads((data / "bookworm-amd64__broken__chain.json").read_text())
    broken = CellResult.from_json({**recorded, "expected": False, "cell": {**recorded["cell"], "expect": "pass"}})
    assert outage.verdict.is_infrastructure and not outage.expected
    for results in ([outage, broken], [broken, outage]):
        lines = console.findings(results, run_id="r1")
        told = [line.split(":")[0] for line in lines if line.startswith("UNEXPECTED")]
        assert told == [f"UNEXPECTED {broken.cell_id}", f"UNEXPECTED (infrastructure, not a finding) {outage.cell_id}"]
        assert lines[lines.index(next(x for x in lines if x.startswith(f"UNEXPECTED {broken.cell_id}"))) + 1] == \
            f"    hint: {broken.hint}"


def test_a_uv_cell_of_this_machines_architecture_is_lent_the_harnesss_uv():
    from harness import installers

    uv = dataclasses.replace(cell(IndexVariant(name="default")), installer="uv")
    job = make_job(uv, InCell(), RunOptions(run_id="r1"))
    assert json.loads(job.files["spec.json"])["uv_binary"] == "/ewh/mnt/uv"
    assert (installers.uv_binary(), "/ewh/mnt/uv") in [(m.host, m.cell) for m in job.mounts]
    foreign = Arch.ARM64 if Arch.native() is Arch.AMD64 else Arch.AMD64
    emulated = dataclasses.replace(uv, image=Image(name="img", arch=foreign, ref="img:1"))
    pip = dataclasses.replace(uv, installer="pip")
    for other in (emulated, pip):  # a binary of this machine cannot run there; pip needs no uv
        job = make_job(other, InCell(), RunOptions(run_id="r1"))
        assert json.loads(job.files["spec.json"])["uv_binary"] is None
        assert all(m.cell != "/ewh/mnt/uv" for m in job.mounts)
