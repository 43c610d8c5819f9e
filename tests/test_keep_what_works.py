"""Keeping what works, with real cells, a real loopback index (the served wheelhouse) and real installers:
the index ledger and drift in `diff`, a lock that uv and `pip --require-hashes` install, a replay with no
network, a tampered wheelhouse, a user's requirements file, and source builds within the cell's memory.

These need a Docker engine; under CI=true they fail when none answers (see conftest.engine_or_fail).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from wheels import AMD64_IMAGE, CHAIN_MODULES, FAKE_TORCH, TORCHTUNE, fake_torchao, make_sdist, make_wheel

from harness import pylock
from harness.matrix import reader
from harness.model import Verdict
from harness.run import runner
from harness.run.options import RunOptions, new_run_id

pytestmark = pytest.mark.docker

CLI = [sys.executable, "-m", "harness"]
CHAIN = ("torch==2.13.0", "torchao", "torchtune")


def served_chain(house: Path, uv_wheel: Path) -> Path:
    """A wheelhouse the harness serves as a PEP 503 index: torch 2.13.0, torchao 0.17.0 and 0.18.0,
    torchtune 0.6.1, and uv (uv cells install it from their index variant)."""
    make_wheel(house, "torch", "2.13.0", FAKE_TORCH)
    for version in ("0.17.0", "0.18.0"):
        make_wheel(house, "torchao", version, fake_torchao(version), requires=("torch",))
    make_wheel(house, "torchtune", "0.6.1", TORCHTUNE, requires=("torchao", "torch"))
    (house / uv_wheel.name).write_bytes(uv_wheel.read_bytes())
    return house


def run(matrix: Path, backend, results: Path, **options):
    m = reader.load(matrix)
    opts = RunOptions(run_id=new_run_id(), **options)
    return runner.run_cells(m, list(m.cells), backend, opts, results_dir=results / m.name, log=lambda _: None), opts


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def without_pip_settings() -> dict[str, str]:
    """This machine's environment without its pip settings (a find-links folder of its own, say)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull}


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Run from the test's folder: results name the wheelhouses relative to it, as in a project."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_drift_lock_and_replay_with_no_network(docker_backend, bookworm, uv_wheel, here):
    house = served_chain(here / "wheels", uv_wheel)
    matrix = here / "keep.toml"
    matrix.write_text(f"""
[matrix]
timeout = 300
installers = ["pip", "uv"]
{AMD64_IMAGE}
[indexes.served]
serve = ["wheels"]
no_index = true

[packages.chain]
requirements = {json.dumps(list(CHAIN))}
modules = {CHAIN_MODULES}
checks = []  # a fixture torch: no tensors for the built-in checks
""")
    results = here / "results"
    first, opts = run(matrix, docker_backend, results, cache_namespace="keep-")
    assert [r.verdict for r in first] == [Verdict.PASS, Verdict.PASS], [r.evidence for r in first]
    pip_cell, uv_cell = first
    # The ledger: once per run and source, named from each result; the served page gives the hashes.
    assert pip_cell.ledger["sources"] == uv_cell.ledger["sources"]
    [ref] = pip_cell.ledger["sources"]
    assert ref["source"] == "wheels (served)"
    ledger = json.loads((results / "keep" / ref["file"]).read_text())
    torch = ledger["projects"]["torch"]
    assert torch["versions"] == ["2.13.0"]
    [torch_file] = torch["files"]["2.13.0"]
    assert torch_file["hash_from"] == "page"
    assert torch_file["sha256"] == hashlib.sha256(
        (house / torch_file["name"]).read_bytes()).hexdigest()
    assert ledger["projects"]["torchao"]["versions"] == ["0.17.0", "0.18.0"]

    # The index loses a version and replaces a file under the same name; the cells run again.
    (house / "torchao-0.17.0-py3-none-any.whl").unlink()
    make_wheel(house, "torch", "2.13.0", {**FAKE_TORCH, "torch/extra.py": "SWAPPED = True\n"})
    second, _ = run(matrix, docker_backend, results, cache_namespace="keep-")
    assert [r.verdict for r in second] == [Verdict.PASS, Verdict.PASS], [r.evidence for r in second]
    old = results / "keep" / "history" / opts.run_id
    done = cli("diff", str(old), "results/keep", cwd=here)
    assert done.returncode == 0, done.stdout + done.stderr  # drift is reported, not a regression
    assert "torchao 0.17.0 is no longer offered by wheels (served)" in done.stdout
    assert f"{torch_file['name']} (torch 2.13.0) was replaced on wheels (served)" in done.stdout
    assert cli("diff", str(old), "results/keep", "--fail-on", "replaced", cwd=here).returncode == 1
    assert cli("diff", str(old), "results/keep", "--fail-on", "drift", cwd=here).returncode == 1
    report = cli("report", "--results", "results", cwd=here)
    assert report.returncode == 0, report.stderr
    page = (results / "keep" / "report.html").read_text()
    assert "was replaced on wheels (served)" in page and 'id="drift-table"' in page

    # Lock both cells from the stored results alone, the files copied (checked) into a wheelhouse.
    for cell in (pip_cell, uv_cell):
        done = cli("lock", cell.cell_id, "--results", "results", "-o", "locks", "--wheelhouse", "locks/wheels",
                   cwd=here)
        assert done.returncode == 0, done.stdout + done.stderr
        lock = pylock.read(here / "locks" / f"pylock.{cell.cell_id}.toml")
        assert {p.key: p.version for p in lock.packages} == {"torch": "2.13.0", "torchao": "0.18.0",
                                                             "torchtune": "0.6.1"}
        assert lock.tool["verdict"] == "pass" and lock.tool["cell"] == cell.cell_id
        for package in lock.packages:  # the exact files, as they are in the index now
            assert package.file.sha256 == hashlib.sha256(
                (house / package.file.name).read_bytes()).hexdigest()
        # uv installs the pylock.toml into a fresh venv, offline; pip accepts the requirements file's hashes.
        uv = here / f"uv-{cell.cell['installer']}"
        from harness.installers import uv_binary
        assert subprocess.run([uv_binary(), "venv", "-q", str(uv)], capture_output=True).returncode == 0
        done = subprocess.run([uv_binary(), "pip", "install", "--offline", "--python", str(uv / "bin" / "python"),
                               "-r", f"locks/pylock.{cell.cell_id}.toml"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        venv = here / f"pip-{cell.cell['installer']}"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(venv / "bin" / "pip"), "install", "--require-hashes", "--no-deps", "--no-index",
                               "--find-links", "locks/wheels", "-r", f"locks/requirements.{cell.cell_id}.txt"],
                              capture_output=True, text=True, env=without_pip_settings())
        assert done.returncode == 0, done.stdout + done.stderr
        assert "torchtune-0.6.1" in done.stdout

    # A package set replays the pip cell's lock: no index server (none runs now), no network at all.
    replay = here / "replay.toml"
    replay.write_text(f"""
[matrix]
timeout = 300
{AMD64_IMAGE}
[indexes.none]

[packages.replay]
lock = "locks/pylock.{pip_cell.cell_id}.toml"
checks = []
""")
    [again], _ = run(replay, docker_backend, results, keep=True)
    try:
        container = docker_backend.client.containers.get(again.notes and next(
            n.split(": ", 1)[1] for n in again.notes if n.startswith("kept for debugging")))
        assert container.attrs["HostConfig"]["NetworkMode"] == "none"
    finally:
        docker_backend.clean(again.run_id)
    assert again.verdict is Verdict.PASS and again.expected, again.evidence
    assert {i["name"]: i["sha256"] for i in again.install["items"]} == {
        p.key: p.file.sha256 for p in pylock.read(here / "locks" / f"pylock.{pip_cell.cell_id}.toml").packages}

    # A file in the wheelhouse tampered with: its own finding, nothing installed in its place.
    make_wheel(here / "locks" / "wheels", "torchao", "0.18.0", fake_torchao("0.18.0", int4=False),
               requires=("torch",))
    [tampered], _ = run(replay, docker_backend, results)
    assert tampered.verdict is Verdict.HASH_MISMATCH and not tampered.expected, tampered.evidence
    assert "torchao-0.18.0-py3-none-any.whl" in tampered.evidence[0]
    assert tampered.probe["imports"] == []


def test_a_requirements_file_with_constraints_extra_index_and_hashes_installs_in_a_cell(docker_backend, bookworm,
                                                                                        here):
    house = here / "wheels"
    make_wheel(house, "torch", "2.13.0", FAKE_TORCH)
    for version in ("0.17.0", "0.18.0"):
        make_wheel(house, "torchao", version, fake_torchao(version), requires=("torch",))
    torch = next(house.glob("torch-*.whl"))
    ao = house / "torchao-0.17.0-py3-none-any.whl"
    digest = hashlib.sha256
    (here / "constraints.txt").write_text("torchao<0.18\n")
    (here / "requirements.txt").write_text(
        "-c constraints.txt\n--no-index\n--find-links wheels\n"
        f"torch==2.13.0 --hash=sha256:{digest(torch.read_bytes()).hexdigest()}\n"
        f"torchao==0.17.0 \\\n    --hash=sha256:{digest(ao.read_bytes()).hexdigest()}\n"
        'missing-on-x86 ; platform_machine == "aarch64"\n')
    matrix = here / "user.toml"
    matrix.write_text(f'[matrix]\ntimeout = 300\n{AMD64_IMAGE}\n[indexes.from-file]\n\n'
                      '[packages.user]\nrequirements_file = "requirements.txt"\nmodules = ["torch", "torchao"]\n'
                      'checks = []\n')
    [result], _ = run(matrix, docker_backend, here / "results")
    assert result.verdict is Verdict.PASS, result.evidence
    assert {i["name"]: i["version"] for i in result.install["items"]} == {"torch": "2.13.0", "torchao": "0.17.0"}


SETUP_CHECKS_JOBS = """import os
jobs = os.environ.get("MAX_JOBS")
if not (jobs and os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") == jobs and os.environ.get("MAKEFLAGS") == "-j" + jobs):
    raise SystemExit("the build was given no parallelism: %r" % {k: os.environ.get(k) for k in
                     ("MAX_JOBS", "CMAKE_BUILD_PARALLEL_LEVEL", "MAKEFLAGS")})
"""


def test_a_source_build_gets_its_jobs_from_the_cells_memory(docker_backend, bookworm, here):
    house = here / "wheels"
    make_sdist(house, "srcpkg", "1.0", "VALUE = 42\n", setup_extra=SETUP_CHECKS_JOBS)
    matrix = here / "build.toml"
    matrix.write_text(f'[matrix]\ntimeout = 300\nmemory = "5G"\n{AMD64_IMAGE}\n[indexes.local]\n'
                      'find_links = ["wheels"]\nno_index = true\npip_args = ["--no-build-isolation"]\n'
                      '[packages.src]\nrequirements = ["srcpkg"]\nmodules = ["srcpkg"]\n')
    [result], _ = run(matrix, docker_backend, here / "results")
    assert result.verdict is Verdict.PASS, result.evidence
    # 5 GiB, less 1 GiB for pip and the linker, at 2 GiB per job: 2, unless this machine has fewer CPUs.
    expected = min(2, len(os.sched_getaffinity(0)))
    assert result.build["jobs"] == expected and result.build["memory"] == 5 << 30
    assert result.build["variables"]["MAX_JOBS"] == str(expected)
    assert any(n.startswith(f"source builds ran with {expected} parallel job") for n in result.notes), result.notes


SETUP_EATS_MEMORY = """import subprocess, sys
subprocess.check_call([sys.executable, "-c", "x = bytearray(1 << 30); x[::4096] = b'x' * len(x[::4096])"])
"""


def test_a_build_killed_for_memory_says_at_how_many_jobs(docker_backend, bookworm, here):
    house = here / "wheels"
    make_sdist(house, "hungry", "1.0", "VALUE = 1\n", setup_extra=SETUP_EATS_MEMORY)
    matrix = here / "oom.toml"
    matrix.write_text(f'[matrix]\ntimeout = 300\nmemory = "384M"\n{AMD64_IMAGE}\n[indexes.local]\n'
                      'find_links = ["wheels"]\nno_index = true\npip_args = ["--no-build-isolation"]\n'
                      '[packages.src]\nrequirements = ["hungry"]\nmodules = ["hungry"]\n')
    [result], _ = run(matrix, docker_backend, here / "results")
    assert result.verdict is Verdict.SOURCE_BUILD_FAILED, (result.verdict, result.evidence)
    assert result.evidence[0].startswith("the source build ran out of memory at its 384 MiB limit at 1 parallel job")
    assert result.hint.startswith("ran out of memory at 1 parallel job: one job is the least")
