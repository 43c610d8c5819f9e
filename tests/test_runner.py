"""The runner's pure parts: what a cell is given (index options, CA bundle, proxies) and backend choice."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert set(job.files) == {"cell.py", "probe.py", "checks.py", "spec.json"}
    assert spec["checks"] is None  # a set that names no checks is import-only
    assert job.labels == {base.LABEL_RUN: "r1", base.LABEL_CELL: "img__default__p"}


def test_no_engine_falls_back_to_the_host_backend_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    said = []
    chosen = choose.choose_backend("auto", log=said.append)
    assert isinstance(chosen, HostBackend)
    assert len(said) == 1 and "host backend" in said[0]


def test_gpu_access_modes_map_to_container_options():
    assert docker.DockerBackend.gpu_options("none") == {}
    assert docker.DockerBackend.gpu_options("nvidia-runtime") == {"runtime": "nvidia"}
    [request] = docker.DockerBackend.gpu_options("device-request")["device_requests"]
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]


def test_doctor_describes_this_host_as_json(capsys):
    from harness.backends import hostfacts
    from harness.cli.main import main

    assert main(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["arch"] == Arch.native().value
    here = choose.choose_backend("auto", log=lambda _: None).host_facts()  # as doctor finds it
    name, why = hostfacts.default_matrix(here)
    assert facts["default_matrix"] == {"file": f"matrices/{name}", "why": why}
    if here.kind == "plain":  # a machine without an NVIDIA GPU, as CI's is
        assert facts["default_matrix"]["file"] == "matrices/smoke.toml"
        assert facts["gpu_access"] == {"mode": "none", "runtime": None, "mounts": [], "problem": None}
    assert facts["problems"] == hostfacts.problems(here)


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
