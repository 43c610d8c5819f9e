"""The host backend (no Docker): the same driver and probe in a fresh venv on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from wheels import TORCHAO_WITHOUT_QUANTIZATION, fixture_chain, fixture_matrix, make_compiling_sdist, make_wheel

from harness.backends.host import HostBackend
from harness.matrix import reader
from harness.model import Arch, Verdict
from harness.run import runner
from harness.run.options import RunOptions


def host_matrix(tmp_path: Path, wheelhouse: Path) -> Path:
    native = Arch.native()
    other = Arch.ARM64 if native is Arch.AMD64 else Arch.AMD64
    images = (f'[images.native]\nlocal_build = "debian-bookworm"\nplatform = "{native.platform}"\n'
              f'[images.other]\nlocal_build = "debian-bookworm"\nplatform = "{other.platform}"\n')
    return fixture_matrix(tmp_path / "host.toml", wheelhouse, images=images)


def test_host_backend_runs_native_cells_and_skips_foreign_ones(tmp_path):
    m = reader.load(host_matrix(tmp_path, fixture_chain(tmp_path / "wheels")))
    cells_dir = tmp_path / "cells"
    cells_dir.mkdir()
    backend = HostBackend(tmp=str(cells_dir))
    results = runner.run_cells(m, list(m.cells), backend, RunOptions(run_id="t"),
                               results_dir=tmp_path / "results", log=lambda _: None)
    by_id = {r.cell_id: r for r in results}
    native = by_id["native__fixtures__chain"]
    assert native.verdict is Verdict.PASS, native.notes
    assert native.backend == "host"
    assert native.probe["distributions"]["torchtune"]["version"] == "0.6.1"
    other = by_id["other__fixtures__chain"]
    assert other.verdict is Verdict.SKIPPED
    assert other.evidence == (f"the host backend runs only {Arch.native().platform} cells, not "
                              f"{(Arch.ARM64 if Arch.native() is Arch.AMD64 else Arch.AMD64).platform}",)
    assert other.hint == "start a Docker engine (with QEMU binfmt emulation for other architectures)"
    assert list(cells_dir.iterdir()) == []  # each cell's folder and venv are gone


def test_host_backend_reports_a_broken_chain(tmp_path):
    wheels = fixture_chain(tmp_path / "wheels", torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1")
    m = reader.load(host_matrix(tmp_path, wheels))
    [cell] = reader.select(m.cells, ["native__*"])
    result = runner.run_cell(cell, HostBackend(), RunOptions(run_id="t"), matrix=m.name, host={})
    assert result.verdict is Verdict.IMPORT_FAILED
    assert "torchao.quantization" in result.evidence[0]
    assert result.hint.startswith("torchao 0.1 has no module torchao.quantization: use a torchao release")
    # the later failure, torchtune's own import of it, is evidence too
    assert any(e.startswith("import torchtune: ModuleNotFoundError") for e in result.evidence)


def test_a_build_that_misses_a_header_names_the_header_and_its_package(tmp_path):
    """A real compile on this machine: the compiler's "fatal error: X.h" is the cause quoted, and the hint
    names what is missing (on a host without a C compiler, the compiler)."""
    import shutil

    links = tmp_path / "links"
    make_compiling_sdist(links, "tensorkit", "1.0", "#include <tensorkit/kernels.h>\n")
    native = Arch.native()
    m = reader.load(fixture_matrix(tmp_path / "host.toml", links, requirements='["tensorkit"]', modules='["tensorkit"]',
                                   images=f'[images.native]\nlocal_build = "debian-bookworm"\n'
                                          f'platform = "{native.platform}"\n'))
    [cell] = m.cells
    result = runner.run_cell(cell, HostBackend(), RunOptions(run_id="t"), matrix=m.name, host={})
    assert result.verdict is Verdict.SOURCE_BUILD_FAILED, (result.verdict, result.evidence)
    assert result.hint.startswith("pip had to compile tensorkit from source and the build needs ")
    if shutil.which("cc"):
        assert result.evidence[0].startswith("the build said: tensorkit_c.c:1:10: fatal error: "), result.evidence
        assert "tensorkit/kernels.h" in result.evidence[0]
        assert ("the build needs the header tensorkit/kernels.h, which the image lacks: add the -dev package that "
                "ships it (`apt-file search tensorkit/kernels.h` names it)") in result.hint
    else:
        assert result.evidence[0] == "the build said: FileNotFoundError: [Errno 2] No such file or directory: 'cc'"
        assert "the build needs a C compiler (cc)" in result.hint


@pytest.mark.parametrize(("ci", "fails"), [("true", True), ("1", True), ("yes", True), ("ON", True),
                                          ("True", True), ("false", False), ("0", False), ("", False)])
def test_under_ci_a_docker_test_fails_when_no_engine_answers(tmp_path, ci, fails):
    """Under CI (CI=true, 1, yes or on, any case), a test needing Docker must FAIL (not skip) when no
    engine answers; elsewhere it skips."""
    probe = tmp_path / "test_needs_docker.py"
    probe.write_text("def test_it(docker_backend):\n    pass\n")
    conftest = Path(__file__).with_name("conftest.py")
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    env = {**os.environ, "CI": ci, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    if fails:
        assert done.returncode == 1, done.stdout
        # pytest.fail in a fixture reports an error at setup: a failing run, never a skip.
        assert "1 error" in done.stdout and "skipped" not in done.stdout
        assert f"CI={ci} and no Docker engine answered" in done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout


def test_ci_run_sets_ci_itself_before_the_tests():
    """.ci/run runs the suite under CI=true even where the CI system does not set it."""
    script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().splitlines()
    exported = [i for i, line in enumerate(script) if line.strip() == "export CI=true"]
    tests = [i for i, line in enumerate(script) if line.strip() == "nox -s tests"]
    assert exported and tests and exported[0] < tests[0], "export CI=true must come before nox -s tests"


CUDA_TORCH = {
    "torch/__init__.py": "__version__ = '2.5.0+cu126'\nfrom . import version, cuda\n",
    "torch/version.py": "cuda = '12.6'\n",
    "torch/cuda.py": "def is_available():\n    return False\ndef device_count():\n    return 0\n",
}


def cuda_cell_matrix(tmp_path: Path, wheelhouse: Path, expectation: str) -> Path:
    native = f'[images.bookworm-amd64]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = fixture_matrix(tmp_path / "gpu.toml", wheelhouse, images=native, requirements='["torch"]',
                       modules='["torch"]')
    m.write_text(m.read_text() + '\n[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "fixtures"\n'
                 f'packages = "chain"\n{expectation}\n')
    return m


def run_host(m: Path, gpu: str):
    loaded = reader.load(m)
    [cell] = loaded.cells
    return runner.run_cell(cell, HostBackend(), RunOptions(run_id="t", gpu=gpu), matrix=loaded.name, host={})


def test_a_cuda_build_that_sees_no_gpu_is_no_cuda_where_the_host_gives_one(tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "torch", "2.5.0", CUDA_TORCH)
    m = cuda_cell_matrix(tmp_path, wheels, 'torch_build = "cuda"\ncuda = "12.6"')
    result = run_host(m, gpu="host")
    assert result.verdict is Verdict.NO_CUDA, result.evidence
    assert "torch.version.cuda='12.6'" in result.evidence[0]
    assert "CUDA build of torch" in result.hint
    # Where the host gives cells no GPU, CUDA is not expected and cannot count against the cell.
    result = run_host(m, gpu="none")
    assert result.verdict is Verdict.PASS and any("CUDA not checked" in n for n in result.notes), result.notes


def test_a_cpu_torch_where_a_cuda_build_is_expected_is_no_cuda(tmp_path):
    wheels = fixture_chain(tmp_path / "wheels")  # its torch is a CPU build (torch.version.cuda is None)
    m = cuda_cell_matrix(tmp_path, wheels, 'torch_build = "cuda"')
    result = run_host(m, gpu="host")
    assert result.verdict is Verdict.NO_CUDA and "CPU build" in result.evidence[0]


def test_a_wrong_cuda_version_is_a_mismatch(tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "torch", "2.5.0", CUDA_TORCH)
    result = run_host(cuda_cell_matrix(tmp_path, wheels, 'cuda = "11.4"'), gpu="host")
    assert result.verdict is Verdict.CUDA_MISMATCH and "expected 11.4" in result.evidence[0]


def test_pip_index_variables_from_the_environment_do_not_reach_the_cell(tmp_path, monkeypatch):
    """An image (here: the host) that bakes in a pip mirror must not override the cell's index variant."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/dead-mirror/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:9/other/simple")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "envcheck", "1.0", {"envcheck.py": (
        "import os\nprint('seen:', os.environ.get('PIP_INDEX_URL'), os.environ.get('PIP_EXTRA_INDEX_URL'))\n")})
    native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = reader.load(fixture_matrix(tmp_path / "env.toml", wheels, images=native, requirements='["envcheck"]',
                                   modules='["envcheck"]'))
    [cell] = m.cells
    result = runner.run_cell(cell, HostBackend(), RunOptions(run_id="t"), matrix=m.name, host={})
    assert result.verdict is Verdict.PASS, result.notes
    [step] = result.probe["imports"]
    assert [msg["text"] for msg in step["messages"]] == ["seen: None None"]


def serve_simple_index(root: Path, wheels: list[Path]):
    """A PEP 503 simple index on loopback, serving `wheels`: (server, port)."""
    import http.server
    import threading
    from functools import partial

    for wheel in wheels:
        project = wheel.name.split("-")[0].replace("_", "-").lower()
        page = root / "simple" / project
        page.mkdir(parents=True, exist_ok=True)
        (root / "files").mkdir(exist_ok=True)
        (root / "files" / wheel.name).write_bytes(wheel.read_bytes())
        (page / "index.html").write_text(f'<a href="../../files/{wheel.name}">{wheel.name}</a>\n')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_credentials_in_an_index_url_appear_in_no_file_the_harness_writes(tmp_path):
    wheels = [make_wheel(tmp_path / "wheels", "torch", "2.13.0", {"torch/__init__.py": "__version__ = '2.13.0'\n"})]
    server, port = serve_simple_index(tmp_path / "index", wheels)
    try:
        native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
        m = tmp_path / "secret.toml"
        m.write_text(f'{native}\n[indexes.private]\nindex_url = "http://user:s3cret@127.0.0.1:{port}/simple"\n'
                     '\n[packages.p]\nrequirements = ["torch", "no-such-dist-here"]\nmodules = ["torch"]\n')
        loaded = reader.load(m)
        results = tmp_path / "results"
        [result] = runner.run_cells(loaded, list(loaded.cells), HostBackend(), RunOptions(run_id="t"),
                                    results_dir=results, log=lambda _: None)
    finally:
        server.shutdown()
    # pip reached the index (the driver's own check too, with the credentials): it has no such dist
    assert result.verdict is Verdict.NO_DISTRIBUTION, result.evidence
    assert any("has no no-such-dist-here" in e for e in result.evidence), result.evidence
    written = {p.name: p.read_text() for p in results.iterdir()}
    assert {"here__private__p.json", "here__private__p.log"} <= set(written)
    assert "127.0.0.1" in written["here__private__p.log"]
    for name, content in written.items():
        assert "s3cret" not in content, name
    assert json.loads(written["here__private__p.json"])["cell"]["index"]["index_url"].startswith("http://***@")


def test_a_failure_in_a_dependency_of_a_dependency_names_it_its_parent_and_what_holds_it_back(tmp_path):
    """app (pinned) needs middle, which no pin names; middle needs base 2.0 at import time, but holder
    (pinned) keeps base below 2: the hint names middle, who required it, and who holds base back."""
    house = tmp_path / "house"
    make_wheel(house, "app", "1.0", {"app.py": "import middle\n"}, requires=("middle",))
    make_wheel(house, "middle", "3.1", {"middle.py": (
        "import base\n"
        "if base.VERSION < (2, 0):\n"
        "    raise ImportError('middle requires base 2.0 or newer, found %s' % '.'.join(map(str, base.VERSION)))\n")},
        requires=("base",))
    make_wheel(house, "base", "1.5", {"base.py": "VERSION = (1, 5)\n"})
    make_wheel(house, "base", "2.1", {"base.py": "VERSION = (2, 1)\n"})
    make_wheel(house, "holder", "0.9", {"holder.py": ""}, requires=("base<2",))
    native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = reader.load(fixture_matrix(tmp_path / "m.toml", house, images=native, modules='["app"]',
                                   requirements='["app==1.0", "holder==0.9"]'))
    [cell] = m.cells
    result = runner.run_cell(cell, HostBackend(), RunOptions(run_id="t", shared_caches=False),
                             matrix=m.name, host={})
    assert result.verdict is Verdict.IMPORT_FAILED, result.evidence
    assert result.evidence[0] == "import app: ImportError: middle requires base 2.0 or newer, found 1.5"
    assert result.hint == ("middle 3.1, which no pin names (required by app 1.0) fails on import: it needs base 2.0 "
                           "or newer, but base 1.5 is installed, held back by holder 0.9 (base<2): pin base>=2.0 and "
                           "a release of holder that allows it")


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory) -> Path:
    """A person's venv holding (a fixture) torch, as on a workstation or a Jetson with JetPack's torch."""
    from wheels import FAKE_TORCH

    root = tmp_path_factory.mktemp("user")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = make_wheel(root / "wheels", "torch", "2.13.0", FAKE_TORCH)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", str(wheel)], check=True)
    return venv


def test_host_cells_run_over_the_environment_the_person_means(tmp_path, user_venv):
    """A venv holding torch: `torch` is satisfied from it (not "no distribution" on an index that has
    none), and a pin the venv does not hold is installed into the cell's venv beside it — the torch
    guard then says the install replaced the environment's torch, as it would an image's."""
    from wheels import FAKE_TORCH

    python = str(user_venv / "bin" / "python")
    house = tmp_path / "house"
    house.mkdir()
    native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = reader.load(fixture_matrix(tmp_path / "m.toml", house, images=native, modules='["torch"]',
                                   requirements='["torch"]'))
    backend = HostBackend(python=python)
    options = RunOptions(run_id="t", shared_caches=False)
    result = runner.run_cell(m.cells[0], backend, options, matrix=m.name, host={})
    assert result.verdict is Verdict.PASS, (result.evidence, result.notes)
    assert result.probe["distributions"]["torch"]["location"].startswith(str(user_venv))
    assert result.torch_guard["before"]["version"] == result.torch_guard["after"]["version"] == "2.13.0"
    assert any(n.startswith("the cell's venv sees the environment at ") for n in result.notes)
    assert result.install["items"] == []  # nothing to install: the environment has it
    assert backend.host_facts().to_json()["host_chosen"] is True

    make_wheel(house, "torch", "2.14.0", FAKE_TORCH)
    m = reader.load(fixture_matrix(tmp_path / "m.toml", house, images=native, modules='["torch"]',
                                   requirements='["torch==2.14.0"]'))
    replaced = runner.run_cell(m.cells[0], backend, options, matrix=m.name, host={})
    assert replaced.verdict is Verdict.TORCH_REPLACED, replaced.evidence
    assert "torch 2.13.0 (CPU build)" in replaced.evidence[0] and "torch 2.14.0 (CPU build)" in replaced.evidence[0]
    # the person's environment is left as it was
    said = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                          capture_output=True, text=True)
    assert said.stdout.strip() == "2.13.0"


def test_host_backend_chosen_while_an_engine_answers_says_so_and_doctor_agrees_with_run(tmp_path):
    """Never "no container engine answered" when the person chose the host backend; doctor and run
    tell the same story about GPU access for the backend actually used."""
    house = fixture_chain(tmp_path / "house")
    native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = fixture_matrix(tmp_path / "m.toml", house, images=native)
    run = subprocess.run([sys.executable, "-m", "harness", "run", str(m), "--backend", "host", "--results",
                          str(tmp_path / "results"), "--no-plan"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no container engine answered" not in run.stdout + run.stderr
    doctor = subprocess.run([sys.executable, "-m", "harness", "doctor", "--backend", "host", "--json"],
                            capture_output=True, text=True, timeout=120)
    facts = json.loads(doctor.stdout)
    assert facts["backend"] == "host" and facts["host_chosen"] is True
    assert not any("no container engine answered" in p for p in facts["problems"])
    assert f"on the host backend; GPU access: {facts['gpu_access']['mode']};" in run.stdout


def test_pip_killed_during_the_install_is_crashed_and_says_pip_died(tmp_path):
    """A build that kills the pip running it (as the kernel's OOM killer would)."""
    from wheels import make_sdist

    wheels = tmp_path / "wheels"
    make_sdist(wheels, "killer", "1.0", "X = 1\n",
               setup_extra="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    native = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = fixture_matrix(tmp_path / "kill.toml", wheels, images=native, requirements='["killer"]', modules='["killer"]')
    m.write_text(m.read_text().replace("no_index = true", 'no_index = true\npip_args = ["--no-build-isolation"]'))
    [cell] = reader.load(m).cells
    result = runner.run_cell(cell, HostBackend(tmp=str(tmp_path)), RunOptions(run_id="t"), matrix="m", host={})
    assert result.verdict is Verdict.CRASHED, result.evidence
    assert result.evidence == ("pip died (SIGKILL)",)
    assert result.hint.startswith("pip was killed: look for memory pressure (OOM)")


def test_a_python_that_cannot_start_is_crashed_the_driver_never_started(tmp_path):
    wheels = fixture_chain(tmp_path / "wheels")
    m = reader.load(host_matrix(tmp_path, wheels))
    [cell] = reader.select(m.cells, ["native__*"])
    backend = HostBackend(python=str(tmp_path / "no-python"), tmp=str(tmp_path))
    result = runner.run_cell(cell, backend, RunOptions(run_id="t"), matrix=m.name, host={})
    assert result.verdict is Verdict.CRASHED, result.evidence
    assert result.evidence[0] == (f"the cell driver never started (exit None): FileNotFoundError: [Errno 2] No such "
                                  f"file or directory: '{tmp_path / 'no-python'}'")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("ewh-cell-")] == []


def gpu_torch(capability: str, arch_list: str, op: str = "return Tensor(1.0)") -> dict[str, str]:
    """A fixture CUDA torch that sees one GPU ("Orin") of `capability`, built for `arch_list`, whose
    tiny GPU operation does `op` (the probe allocates, multiplies, synchronizes)."""
    major, minor = capability.split(".")
    return {
        "torch/__init__.py": (
            "__version__ = '2.5.0+cu126'\nfrom . import version, cuda\n"
            "class Tensor:\n    def __init__(self, value): self.value = value\n"
            "    def __matmul__(self, other): return Tensor(self.value * other.value * 256)\n"
            "    def sum(self): return Tensor(self.value * 256 * 256)\n"
            "    def item(self): return self.value\n"
            f"def ones(shape, device=None):\n    {op}\n"
        ),
        "torch/version.py": "cuda = '12.6'\n",
        "torch/cuda.py": (
            "def is_available(): return True\ndef device_count(): return 1\n"
            "def get_device_name(i): return 'Orin'\n"
            f"def get_device_capability(i): return ({major}, {minor})\n"
            f"def get_arch_list(): return {arch_list.split(',')!r}\n"
            "def synchronize(): pass\n"
        ),
    }


def test_a_gpu_of_another_capability_than_expected_is_a_mismatch(tmp_path):
    make_wheel(tmp_path / "wheels", "torch", "2.5.0", gpu_torch("7.2", "sm_72,sm_87"))
    result = run_host(cuda_cell_matrix(tmp_path, tmp_path / "wheels", 'capability = "8.7"'), gpu="host")
    assert result.verdict is Verdict.CUDA_MISMATCH, result.evidence
    assert result.evidence == ("GPU Orin has capability 7.2, expected 8.7",)


def test_a_torch_without_kernels_for_this_gpu_is_a_mismatch_whatever_the_cell_expects(tmp_path):
    make_wheel(tmp_path / "wheels", "torch", "2.5.0", gpu_torch("8.7", "sm_90,sm_100"))
    here = f'[images.here]\nlocal_build = "debian-bookworm"\nplatform = "{Arch.native().platform}"\n'
    m = fixture_matrix(tmp_path / "gpu.toml", tmp_path / "wheels", requirements='["torch"]', modules='["torch"]',
                       images=here)
    result = run_host(m, gpu="host")  # the cell states no CUDA expectation at all
    assert result.verdict is Verdict.CUDA_MISMATCH, result.evidence
    assert result.evidence == ("torch 2.5.0+cu126 has no kernels for Orin (capability 8.7; built for sm_90, sm_100)",)
    assert result.probe["torch"]["devices"][0]["built_for"] == {"exact": False, "compatible": False}


def test_a_failed_gpu_operation_is_no_cuda(tmp_path):
    op = "raise RuntimeError('CUDA error: no kernel image is available for execution on the device')"
    make_wheel(tmp_path / "wheels", "torch", "2.5.0", gpu_torch("8.7", "sm_87", op))
    result = run_host(cuda_cell_matrix(tmp_path, tmp_path / "wheels", 'torch_build = "cuda"'), gpu="host")
    assert result.verdict is Verdict.NO_CUDA, result.evidence
    assert result.evidence[0].startswith("a tiny GPU operation failed: ")
    assert "no kernel image is available" in result.evidence[0]
    assert result.hint.startswith("install a CUDA build of torch")


def test_a_local_wheel_with_a_local_version_gets_its_size(tmp_path):
    """pip reports a find-links file by its URL, percent-encoded (torch-2.13.0%2Bcpu-…): the size must
    still be measured from the file, or the report's download chart loses the biggest wheel."""
    wheels = tmp_path / "wheels"
    torch = make_wheel(wheels, "torch", "2.13.0+cpu", {"torch/__init__.py": "__version__ = '2.13.0+cpu'\n"})
    m = reader.load(fixture_matrix(tmp_path / "m.toml", wheels, requirements='["torch"]', modules='["torch"]'))
    result = runner.run_cell(m.cells[0], HostBackend(), RunOptions(run_id="t"), matrix=m.name, host={})
    [item] = result.install["items"]
    assert item["file"] == "torch-2.13.0%2Bcpu-py3-none-any.whl"
    assert item["size"] == {"bytes": torch.stat().st_size, "how": "local"}


def test_a_cells_index_ledger_holds_up_no_next_cell_and_the_records_still_name_it(tmp_path, monkeypatch):
    """The ledger is attached beside the cells: with one cell at a time, the second cell starts while the
    first one's ledger is still being asked; the run waits for it at its end, and both the results it
    returns and the records on disk name it."""
    import json
    import threading

    from harness.run import ledger as run_ledger

    native = Arch.native().platform
    images = "".join(f'[images.{n}]\nlocal_build = "debian-bookworm"\nplatform = "{native}"\n' for n in ("a", "b"))
    m = reader.load(fixture_matrix(tmp_path / "two.toml", fixture_chain(tmp_path / "wheels"), images=images))
    backend = HostBackend(tmp=str(tmp_path))
    started: list[str] = []
    second = threading.Event()
    execute = backend.execute

    def counting(job, **kw):
        started.append(job.image.name)
        if len(started) == 2:
            second.set()
        return execute(job, **kw)

    attach = run_ledger.RunLedger.attach
    waited: list[bool] = []

    def slow_attach(self, cell, result):
        waited.append(second.wait(timeout=30))  # a page on its way until the next cell has started
        return attach(self, cell, result)

    monkeypatch.setattr(backend, "execute", counting)
    monkeypatch.setattr(run_ledger.RunLedger, "attach", slow_attach)
    results = runner.run_cells(m, list(m.cells), backend, RunOptions(run_id="t", jobs=1),
                               results_dir=tmp_path / "results", log=lambda _: None)
    assert len(started) == 2 and waited[0] is True  # the first ledger waited for the second cell, which started
    for result in results:
        assert result.verdict is Verdict.PASS, result.notes
        [ref] = result.ledger["sources"]
        on_disk = json.loads((tmp_path / "results" / f"{result.cell_id}.json").read_text())
        assert on_disk["ledger"] == result.ledger and (tmp_path / "results" / ref["file"]).is_file()


def test_a_runs_predictions_share_one_snapshot_which_goes_with_the_run(tmp_path, monkeypatch):
    """Every prediction of a run is made with the same snapshot folder (prediction.predict), there while
    the cells run and removed when the run ends; each record keeps its prediction."""
    from harness.plan import prediction

    native = Arch.native().platform
    images = "".join(f'[images.{n}]\nlocal_build = "debian-bookworm"\nplatform = "{native}"\n' for n in ("a", "b"))
    m = reader.load(fixture_matrix(tmp_path / "two.toml", fixture_chain(tmp_path / "wheels"), images=images))
    seen: list[tuple[str | None, bool]] = []
    real = prediction.predict

    def watching(cell, **kw):
        snapshot = kw.get("snapshot")
        seen.append((snapshot, bool(snapshot) and Path(snapshot).is_dir()))
        return real(cell, **kw)

    monkeypatch.setattr(prediction, "predict", watching)
    results = runner.run_cells(m, list(m.cells), HostBackend(tmp=str(tmp_path)), RunOptions(run_id="t", jobs=1),
                               results_dir=tmp_path / "results", log=lambda _: None)
    assert len(seen) == 2 and seen[0][0] is not None and seen[0] == seen[1] and seen[0][1] is True
    assert not Path(seen[0][0]).exists()
    for result in results:
        assert result.verdict is Verdict.PASS, result.notes
        assert result.prediction["outcome"] == "installs" and result.prediction["versions"]["torchtune"] == "0.6.1"
