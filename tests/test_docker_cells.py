"""Real cells in real containers: fixture wheels, a broken chain, a crash, the real torch chain,
and the guarantee that timeouts and Ctrl-C leave no container behind.

These need a Docker engine; under CI=true they fail when none answers (see conftest.engine_or_fail).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from packaging.version import Version
from wheels import (
    AMD64_IMAGE,
    CHAIN_MODULES,
    TORCHAO_WITHOUT_QUANTIZATION,
    fixture_chain,
    fixture_matrix,
    make_sdist,
    make_wheel,
)

from harness.backends.base import LABEL_CELL, LABEL_RUN
from harness.matrix import reader
from harness.model import Verdict
from harness.reports import documents, table
from harness.results import store
from harness.run import runner
from harness.run.options import RunOptions, new_run_id

pytestmark = pytest.mark.docker

write_matrix = fixture_matrix


def run_one(matrix_file: Path, backend, results: Path, **options):
    m = reader.load(matrix_file)
    opts = RunOptions(run_id=new_run_id(), **options)
    [result] = runner.run_cells(m, list(m.cells), backend, opts, results_dir=results / m.name, log=lambda _: None)
    return result, opts.run_id


def leftovers(backend, run_id: str) -> list:
    return backend.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}, ignore_removed=True)


def test_fixture_chain_passes_and_is_recorded(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    m = write_matrix(tmp_path / "fixtures.toml", wheelhouse)
    result, run_id = run_one(m, docker_backend, tmp_path / "results")

    assert result.verdict is Verdict.PASS, result.notes
    on_disk = json.loads((tmp_path / "results" / "fixtures" / f"{result.cell_id}.json").read_text())
    assert on_disk["schema_version"] == 2
    assert on_disk["cell_id"] == "bookworm-amd64__fixtures__chain"
    assert [s["module"] for s in on_disk["probe"]["imports"]] == json.loads(CHAIN_MODULES)
    assert all(s["ok"] for s in on_disk["probe"]["imports"])
    dists = on_disk["probe"]["distributions"]
    assert dists["torch"]["version"] == "2.13.0" and dists["torchtune"]["version"] == "0.6.1"
    assert on_disk["probe"]["torch"]["cuda_available"] is False
    for phase in ("image", "container_start", "venv", "install", "probe", "total"):
        assert isinstance(on_disk["timings"][phase], float), phase
    assert set(on_disk["timings"]["imports"]) == set(json.loads(CHAIN_MODULES))
    assert on_disk["host"]["engine"] == "docker"
    assert on_disk["host"]["engine_version"] == docker_backend.client.version()["Version"]
    installed = {i["name"]: i for i in on_disk["install"]["items"]}
    assert set(installed) == {"torch", "torchao", "torchtune"}
    assert installed["torch"]["source"] == "wheel" and installed["torch"]["tags"] == "py3-none-any"
    assert installed["torchao"]["file"] == "torchao-0.18.0-py3-none-any.whl"
    assert installed["torch"]["url"].startswith("file:///ewh/mnt/links-0/")
    # Sizes: files from a find-links folder are measured on the host; nothing was downloaded.
    torch_wheel = wheelhouse / installed["torch"]["file"]
    assert installed["torch"]["size"] == {"bytes": torch_wheel.stat().st_size, "how": "local"}
    assert on_disk["install"]["downloaded_bytes"] == 0
    split = on_disk["timings"]["install_split"]
    assert split["resolve_download"] > 0 and split["install_files"] > 0
    # inside the phase (each figure is rounded to the millisecond on its own)
    assert split["resolve_download"] + split["install_files"] <= on_disk["timings"]["install"] + 0.002
    log = (tmp_path / "results" / "fixtures" / on_disk["log"]).read_text()
    assert "Successfully installed" in log
    assert leftovers(docker_backend, run_id) == []

    # The table regenerates from stored results without running anything.
    rows = store.load_results(tmp_path / "results" / "fixtures")
    doc = tmp_path / "VALIDATION.md"
    doc.write_text("# Validation\n\nHand-written intro.\n")
    assert documents.regenerate(doc, "fixtures", table.render_table(rows))
    text = doc.read_text()
    assert text.startswith("# Validation\n\nHand-written intro.\n")
    assert "`bookworm-amd64__fixtures__chain`" in text and "torch 2.13.0" in text


def test_torchao_without_the_module_torchtune_imports(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels", torchao_files=TORCHAO_WITHOUT_QUANTIZATION,
                               torchao_version="0.1.0")
    m = write_matrix(tmp_path / "broken.toml", wheelhouse)
    result, _ = run_one(m, docker_backend, tmp_path / "results")

    assert result.verdict is Verdict.IMPORT_FAILED
    failed = {s["module"]: s["error"] for s in result.probe["imports"] if not s["ok"]}
    assert set(failed) == {"torchao.quantization", "torchtune", "torchtune.training"}
    assert failed["torchtune"]["type"] == "ModuleNotFoundError"
    assert failed["torchtune"]["missing_module"] == "torchao.quantization"
    assert any(e.startswith("import torchtune: ModuleNotFoundError") and "torchao.quantization" in e
               for e in result.evidence), result.evidence
    # The probe went on after the failures: torch itself is fine and recorded.
    assert result.probe["imports"][0] == {**result.probe["imports"][0], "module": "torch", "ok": True}


def test_interpreter_abort_mid_import_keeps_earlier_steps(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "crashy-ext", "1.0", {"crashy_ext.py": "import os\nos.abort()\n"})
    m = write_matrix(tmp_path / "crash.toml", wheelhouse,
                     requirements='["torch", "crashy-ext"]', modules='["torch", "crashy_ext", "json"]')
    result, _ = run_one(m, docker_backend, tmp_path / "results")

    assert result.verdict is Verdict.CRASHED
    assert [s["module"] for s in result.probe["imports"]] == ["torch"]
    assert any("SIGABRT" in e and "crashy_ext" in e for e in result.evidence), result.evidence
    assert "importing crashy_ext" in result.hint


def test_failed_install_is_a_result(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    m = write_matrix(tmp_path / "missing.toml", wheelhouse, requirements='["torch", "no-such-dist-xyz"]')
    result, _ = run_one(m, docker_backend, tmp_path / "results")

    assert result.verdict is Verdict.NO_DISTRIBUTION
    assert "no-such-dist-xyz" in result.evidence[0]
    assert "no-such-dist-xyz" in result.hint


def test_timeout_kills_and_removes_the_container(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "sleepy", "1.0", {"sleepy.py": "import time\ntime.sleep(600)\n"})
    m = write_matrix(tmp_path / "slow.toml", wheelhouse, requirements='["sleepy"]', modules='["sleepy"]',
                     timeout=20)
    start = time.monotonic()
    result, run_id = run_one(m, docker_backend, tmp_path / "results")

    assert result.verdict is Verdict.TIMEOUT
    assert time.monotonic() - start < 60
    assert result.evidence[0].startswith("killed at its deadline")  # during the probe, unless the machine is slow
    assert "20 s timeout" in result.hint
    assert leftovers(docker_backend, run_id) == []


def test_ctrl_c_removes_the_container(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "sleepy", "1.0", {"sleepy.py": "import time\ntime.sleep(600)\n"})
    m = write_matrix(tmp_path / "slow.toml", wheelhouse, requirements='["sleepy"]', modules='["sleepy"]')
    loaded = reader.load(m)
    opts = RunOptions(run_id=new_run_id())
    seen_running = []

    def interrupt_once_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if leftovers(docker_backend, opts.run_id):
                seen_running.append(True)
                time.sleep(1)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.2)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt) as stopped:
        runner.run_cell(loaded.cells[0], docker_backend, opts, matrix=loaded.name, host={})
    assert seen_running, "the cell's container never appeared"
    assert leftovers(docker_backend, opts.run_id) == []
    # the cell's result says the run stopped there: an infrastructure verdict, never a finding
    interrupted = stopped.value.result
    assert (interrupted.verdict, interrupted.expected) == (Verdict.INTERRUPTED, False)
    assert interrupted.evidence[0].startswith("the run was interrupted after")


def test_sigint_to_the_cli_exits_130_keeps_the_table_and_leaves_no_container(docker_backend, bookworm, tmp_path):
    """Ctrl-C through the real CLI: exit 130 with its message; the table keeps the finished cell and
    shows the interrupted one; the running cell's container is gone."""
    wheelhouse = fixture_chain(tmp_path / "wheels")
    make_wheel(wheelhouse, "sleepy", "1.0", {"sleepy.py": "import time\ntime.sleep(600)\n"})
    m = tmp_path / "stop.toml"
    m.write_text(f'{AMD64_IMAGE}[indexes.fixtures]\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
                 '[packages.a-quick]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n'
                 '[packages.sleep]\nrequirements = ["sleepy"]\nmodules = ["sleepy"]\n')
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(m), "--no-plan", "--results", str(results)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 300
    run_id = running = None
    while running is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        run_id = run_id or next((line.split()[1] for line in out if line.startswith("Run ")), None)
        if run_id:
            running = next((c for c in leftovers(docker_backend, run_id)
                            if c.labels.get(LABEL_CELL) == "bookworm-amd64__fixtures__sleep"), None)
    assert running is not None, "".join(out)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, "".join(out)
    stderr = proc.stderr.read()
    assert stderr.strip().splitlines()[-1] == ("Interrupted: the running cells' containers were removed; "
                                               "finished cells are in the results.")
    assert "Traceback" not in stderr
    assert leftovers(docker_backend, run_id) == []
    stored = {r["cell_id"]: r["verdict"] for r in store.load_results(results / "stop")}
    assert stored == {"bookworm-amd64__fixtures__a-quick": "pass", "bookworm-amd64__fixtures__sleep": "interrupted"}
    rows = {line.split("|")[1].strip(): line for line in (results / "stop" / "README.md").read_text().splitlines()
            if line.startswith("| `")}
    assert "| pass " in rows["`bookworm-amd64__fixtures__a-quick`"]
    assert "**interrupted**" in rows["`bookworm-amd64__fixtures__sleep`"]


def test_keep_leaves_the_container_for_debugging_and_clean_removes_it(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    m = write_matrix(tmp_path / "keep.toml", wheelhouse)
    result, run_id = run_one(m, docker_backend, tmp_path / "results", keep=True)
    assert result.verdict is Verdict.PASS
    assert any(n.startswith("kept for debugging") for n in result.notes)
    assert len(leftovers(docker_backend, run_id)) == 1
    assert len(docker_backend.clean(run_id)) == 1
    assert leftovers(docker_backend, run_id) == []


def test_cli_run_writes_results_and_table(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    m = write_matrix(tmp_path / "cli.toml", wheelhouse)
    doc = tmp_path / "doc.md"
    cmd = [sys.executable, "-m", "harness", "run", str(m), "--only", "bookworm-*", "--results",
           str(tmp_path / "results"), "--doc", str(doc)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 cell: 1 pass" in done.stdout
    rendered = (tmp_path / "results" / "cli" / "README.md").read_text()
    assert "`bookworm-amd64__fixtures__chain`" in rendered
    assert documents.begin_marker("cli") in doc.read_text()
    # Regenerating from stored results changes nothing.
    again = subprocess.run([sys.executable, "-m", "harness", "table", str(m), "--results",
                            str(tmp_path / "results")], capture_output=True, text=True)
    assert again.returncode == 0 and "Unchanged" in again.stdout


@pytest.mark.network
@pytest.mark.slow
def test_real_torch_chain_in_a_container(docker_backend, bookworm, tmp_path):
    """The real torch 2.13.0 CPU wheel (from the host's pip configuration) + torchao 0.15.0 and torchtune
    0.6.1 from pip's default index, as the smoke matrix pins them: measured degraded (torchao 0.15.0
    skips its C++ extensions with torch 2.13.0), and so it must stay until the packages change. Its
    built-in checks (the default: torch, torchao, torchtune) run on the CPU and pass: the loss stays."""
    wheelhouse = tmp_path / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheelhouse),
                          "torch==2.13.0"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr[-2000:]
    m = tmp_path / "real.toml"
    m.write_text(f"""
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.wheelhouse]
find_links = ["{wheelhouse}"]
[packages.chain]
requirements = ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]
modules = {CHAIN_MODULES}
""")
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.DEGRADED, (result.verdict, result.evidence)
    assert result.evidence[0].startswith("torchao: Skipping import of cpp extensions due to incompatible torch "
                                         "version 2.13.0+cpu for torchao version 0.15.0")
    assert result.hint.startswith("torchao 0.15.0 skipped its C++ extensions with torch 2.13.0+cpu")
    assert [s["module"] for s in result.probe["imports"] if s["ok"]] == json.loads(CHAIN_MODULES)
    versions = {name: info["version"] for name, info in result.probe["distributions"].items()}
    assert (versions["torch"], versions["torchao"], versions["torchtune"]) == ("2.13.0+cpu", "0.15.0", "0.6.1")
    assert result.probe["torch"]["cuda_version"] is None and result.probe["torch"]["cuda_available"] is False
    assert result.timings["install"] > 0
    assert [(c["check"], c["device"], c["outcome"]) for c in result.checks] == [
        ("torch", "cpu", "passed"), ("torchao", "cpu", "passed"), ("torchtune", "cpu", "passed")]
    assert table.checks_text(result.to_json()) == "3/3"


def test_exit_code_follows_expectations(docker_backend, bookworm, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels", torchao_files=TORCHAO_WITHOUT_QUANTIZATION,
                               torchao_version="0.1.0")
    m = write_matrix(tmp_path / "known-bad.toml", wheelhouse)
    cmd = [sys.executable, "-m", "harness", "run", str(m), "--results", str(tmp_path / "results")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNEXPECTED bookworm-amd64__fixtures__chain: import-failed (expected pass)" in done.stdout

    m.write_text(m.read_text().replace("[images.", '[[matrix.include]]\nimage = "bookworm-amd64"\n'
                                       'index = "fixtures"\npackages = "chain"\nexpect = "import-failed"\n'
                                       'why = "fixture torchao lacks quantization"\n\n[images.', 1))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "as expected bookworm-amd64__fixtures__chain: import-failed — fixture torchao lacks" in done.stdout


def test_gpu_request_on_a_host_without_nvidia_is_an_engine_error_and_leaves_nothing(docker_backend, bookworm,
                                                                                     tmp_path):
    """A GPU device request passes create and fails at start where no NVIDIA runtime is: the error path
    must still remove the created container. (On a real NVIDIA host the same cell would pass.)"""
    if "nvidia" in docker_backend.facts().get("runtimes", []):
        pytest.skip("this engine has the NVIDIA runtime: the failure path cannot be provoked here")
    wheelhouse = fixture_chain(tmp_path / "wheels")
    result, run_id = run_one(write_matrix(tmp_path / "gpu.toml", wheelhouse), docker_backend, tmp_path / "results",
                             gpu="device-request")
    assert result.verdict is Verdict.ENGINE_ERROR
    assert result.evidence[0].startswith(f"the Docker engine failed for {bookworm}: ")
    assert "doctor" in result.hint
    assert leftovers(docker_backend, run_id) == []


def test_a_source_build_is_named_in_the_result(docker_backend, bookworm, tmp_path):
    wheelhouse = tmp_path / "wheels"
    make_sdist(wheelhouse, "srcpkg", "1.0", "VALUE = 42\n")
    m = write_matrix(tmp_path / "sdist.toml", wheelhouse, requirements='["srcpkg"]', modules='["srcpkg"]')
    # setuptools comes from the venv (bookworm's Python 3.11 venvs carry it): no index needed.
    m.write_text(m.read_text().replace("no_index = true", 'no_index = true\npip_args = ["--no-build-isolation"]'))
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.PASS, result.notes
    [item] = result.install["items"]
    assert (item["name"], item["source"], item["file"]) == ("srcpkg", "source", "srcpkg-1.0.tar.gz")
    assert "built from source: srcpkg 1.0" in result.notes


CUDA_TORCH_IN_IMAGE = {
    "torch/__init__.py": "__version__ = '2.5.0+nv24.08'\nfrom . import version, cuda\n",
    "torch/version.py": "__version__ = '2.5.0+nv24.08'\ncuda: Optional[str] = '12.6'\n".replace(
        "Optional[str]", "'str'"),
    "torch/cuda.py": "def is_available():\n    return False\ndef device_count():\n    return 0\n",
}
IMAGE_RECIPE = """ARG BASE
FROM ${BASE}
COPY *.whl /tmp/
RUN python3 -m pip install --break-system-packages --no-index --no-deps /tmp/*.whl && rm /tmp/*.whl
"""


@pytest.fixture
def image_with_cuda_torch(docker_backend, bookworm, tmp_path):
    """An image layer carrying a fixture "CUDA" torch 2.5.0, as NVIDIA's images carry theirs."""
    context = tmp_path / "image"
    make_wheel(context, "torch", "2.5.0+nv24.08", CUDA_TORCH_IN_IMAGE)
    (context / "torch-cuda.Dockerfile").write_text(IMAGE_RECIPE)
    yield (f'[images.nv-like]\ndockerfile = "{context / "torch-cuda.Dockerfile"}"\nplatform = "linux/amd64"\n'
           f'ships_torch = true\nbuild_args = {{ BASE = "{bookworm}" }}\n')
    docker_backend.client.images.remove("edge-wheel-harness/nv-like:latest", force=True)


def test_an_index_torch_replacing_the_image_torch_is_flagged(docker_backend, image_with_cuda_torch, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")  # offers a CPU torch 2.13.0
    m = write_matrix(tmp_path / "swap.toml", wheelhouse, images=image_with_cuda_torch,
                     requirements='["torch==2.13.0", "torchao"]', modules='["torch", "torchao"]')
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.TORCH_REPLACED, result.evidence
    assert result.evidence[0].startswith("the install replaced the image's torch: torch 2.5.0+nv24.08 (CUDA 12.6) at ")
    assert "→ torch 2.13.0 (CPU build) at /tmp/ewh-work/venv/" in result.evidence[0]
    assert "pin torch==2.5.0+nv24.08" in result.hint
    guard = result.torch_guard
    assert (guard["before"]["cuda"], guard["after"]["cuda"]) == ("12.6", None)
    assert result.timings["image_build"] == "cold"


def test_an_install_that_keeps_the_image_torch_passes(docker_backend, image_with_cuda_torch, tmp_path):
    wheelhouse = fixture_chain(tmp_path / "wheels")
    m = write_matrix(tmp_path / "keep.toml", wheelhouse, images=image_with_cuda_torch,
                     requirements='["torchao"]', modules='["torch", "torchao"]')
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.PASS, result.notes
    assert result.torch_guard["after"].get("version") == "2.5.0+nv24.08", result.torch_guard
    assert result.probe["torch"]["cuda_version"] == "12.6"
    assert [i["name"] for i in result.install["items"]] == ["torchao"]


def test_an_image_that_holds_every_requirement_gets_nothing_installed(docker_backend, image_with_cuda_torch,
                                                                       tmp_path):
    """A recipe put the packages in the image (the plan's build strategies): the cell installs nothing,
    says so, and imports what the image holds; its Run Time is then the start and the imports."""
    wheelhouse = fixture_chain(tmp_path / "wheels")  # offers another torch: never asked
    m = write_matrix(tmp_path / "held.toml", wheelhouse, images=image_with_cuda_torch,
                     requirements='["torch==2.5.0"]', modules='["torch"]')
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.PASS, result.evidence
    assert "nothing to install: the image holds every requirement (torch 2.5.0+nv24.08)" in result.notes
    assert [(p["phase"], p["status"]) for p in result.phases] == [("venv", "ok"), ("install", "skipped"),
                                                                  ("probe", "ok")]
    assert result.install is None and result.probe["torch"]["cuda_version"] == "12.6"


VENV_IMAGE_RECIPE = """ARG BASE
FROM ${BASE}
COPY *.whl /tmp/
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index --no-deps /tmp/*.whl && rm /tmp/*.whl
ENV PATH=/opt/venv/bin:$PATH
"""


def test_a_venv_the_image_puts_first_on_path_is_seen_by_the_cell(docker_backend, bookworm, tmp_path):
    """The plan's recipes install into /opt/venv: a --system-site-packages venv made from that venv's python
    sees only the base interpreter's packages, so the cell's venv is bridged to it."""
    context = tmp_path / "image"
    make_wheel(context, "torch", "2.5.0+nv24.08", CUDA_TORCH_IN_IMAGE)
    (context / "venv-torch.Dockerfile").write_text(VENV_IMAGE_RECIPE)
    image = (f'[images.venv-torch]\ndockerfile = "{context / "venv-torch.Dockerfile"}"\nplatform = "linux/amd64"\n'
             f'ships_torch = true\nbuild_args = {{ BASE = "{bookworm}" }}\n')
    m = write_matrix(tmp_path / "venv.toml", fixture_chain(tmp_path / "wheels"), images=image,
                     requirements='["torch"]', modules='["torch"]')
    try:
        result, _ = run_one(m, docker_backend, tmp_path / "results")
    finally:
        docker_backend.client.images.remove("edge-wheel-harness/venv-torch:latest", force=True)
    assert result.verdict is Verdict.PASS, result.evidence
    assert "the cell's venv sees the environment at /opt/venv" in result.notes
    assert "nothing to install: the image holds every requirement (torch 2.5.0+nv24.08)" in result.notes
    assert result.probe["distributions"]["torch"]["location"].startswith("/opt/venv/")


OLD_PIP_IMAGE = """\
FROM edge-wheel-harness/debian-bookworm:amd64
# Debian's ensurepip seeds every venv from the pip wheel in /usr/share/python-wheels: make it an old one
RUN rm /usr/share/python-wheels/pip-*.whl
COPY pip-21.3.1-py3-none-any.whl /usr/share/python-wheels/
"""


@pytest.mark.network
def test_a_venv_with_a_pip_too_old_for_reports_is_upgraded_first_and_says_so(docker_backend, bookworm, tmp_path):
    """A Dockerfile image built for real (BuildKit, local base) whose venvs get pip 21.3.1, which has no
    --report: the driver upgrades pip from the cell's own index first, then reports as usual."""
    recipe = tmp_path / "recipe"
    house = tmp_path / "house"
    for wanted, where in (("pip==21.3.1", recipe), ("pip>=22.2", house)):
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
                               "--only-binary", ":all:", "--dest", str(where), wanted], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    (recipe / "old-pip.Dockerfile").write_text(OLD_PIP_IMAGE)
    fixture_chain(house)
    m = tmp_path / "oldpip.toml"
    m.write_text(f'[images.old-pip]\ndockerfile = "{recipe / "old-pip.Dockerfile"}"\nplatform = "linux/amd64"\n'
                 f'[indexes.lan]\nserve = ["{house}"]\nno_index = true\n'
                 '[packages.chain]\nrequirements = ["torch", "torchao", "torchtune"]\n'
                 'modules = ["torch", "torchtune"]\nchecks = []\n')
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.PASS, result.evidence
    assert "pip 21.3 in the venv has no --report: upgrading it first" in result.notes
    assert [p["phase"] for p in result.phases][:3] == ["venv", "pip-upgrade", "install"]
    assert Version(result.install["pip"]) >= Version("22.2")
    assert len(result.install["items"]) == 3


def test_an_image_that_cannot_make_a_venv_is_venv_failed(docker_backend, bookworm, tmp_path):
    """Debian without python3-venv: `python3 -m venv` fails for want of ensurepip (a Dockerfile built here)."""
    recipe = tmp_path / "no-venv.Dockerfile"
    recipe.write_text("FROM edge-wheel-harness/debian-bookworm:amd64\nRUN rm -rf /usr/lib/python3.11/ensurepip\n")
    m = tmp_path / "novenv.toml"
    m.write_text(f'[images.no-venv]\ndockerfile = "{recipe}"\nplatform = "linux/amd64"\n'
                 f'[indexes.fixtures]\nfind_links = ["{fixture_chain(tmp_path / "w")}"]\nno_index = true\n'
                 '[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n')
    result, run_id = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.VENV_FAILED, (result.verdict, result.evidence)
    assert "ensurepip" in result.evidence[0]
    assert "python3-venv" in result.hint
    assert leftovers(docker_backend, run_id) == []


CPU_TORCH_SAME_VERSION = {
    "torch/__init__.py": "__version__ = '2.5.0+nv24.08'\nfrom . import version, cuda\n",
    "torch/version.py": "__version__ = '2.5.0+nv24.08'\ncuda = None\n",
    "torch/cuda.py": "def is_available():\n    return False\ndef device_count():\n    return 0\n",
}


def test_a_cpu_build_of_the_same_version_replacing_the_image_torch_is_flagged_first(docker_backend,
                                                                                     image_with_cuda_torch, tmp_path):
    """The image's CUDA torch 2.5.0 replaced by a CPU build of the very same version: the version alone
    would not show it. And torch-replaced comes before the import failure that followed from it."""
    wheelhouse = tmp_path / "wheels"
    make_wheel(wheelhouse, "torch", "2.5.0+nv24.08", CPU_TORCH_SAME_VERSION)
    make_wheel(wheelhouse, "torchao", "0.15.0", {"torchao/__init__.py": "from torch.cuda import current_device\n"},
               requires=("torch",))
    m = write_matrix(tmp_path / "same.toml", wheelhouse, images=image_with_cuda_torch,
                     requirements='["torch==2.5.0+nv24.08", "torchao"]', modules='["torch", "torchao"]')
    m.write_text(m.read_text().replace("no_index = true", 'no_index = true\npip_args = ["--force-reinstall"]'))
    result, _ = run_one(m, docker_backend, tmp_path / "results")
    assert result.verdict is Verdict.TORCH_REPLACED, (result.verdict, result.evidence)
    before, after = result.torch_guard["before"], result.torch_guard["after"]
    assert before["version"] == after["version"] == "2.5.0+nv24.08"
    assert (before["cuda"], after["cuda"]) == ("12.6", None)
    assert result.evidence[0].startswith("the install replaced the image's torch: torch 2.5.0+nv24.08 (CUDA 12.6) at ")
    assert "→ torch 2.5.0+nv24.08 (CPU build) at /tmp/ewh-work/venv/" in result.evidence[0]
    assert any(n.startswith("also import-failed: import torchao: ImportError: cannot import name 'current_device'")
               for n in result.notes), result.notes
