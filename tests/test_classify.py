"""The classifier's promises that the recorded logs of test_verdicts.py do not reach: CUDA as a cell
expects it (on the probe's own record of a torch), the ways a cell ends early (its deadline, the
kernel's OOM killer, a set-up phase that failed) and pip's words for what the logs lack."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest

from harness.backends.base import Execution
from harness.incell import probe as incell_probe
from harness.model import Arch, Cell, CudaExpectation, GpuMode, Image, IndexVariant, PackageSet, Verdict
from harness.verdicts import classify, events

LOGS = Path(__file__).parent / "data" / "logs"


def cell(cuda: CudaExpectation | None = None, **kwargs) -> Cell:
    return Cell(image=Image(name="bookworm", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i"), cuda=cuda,
                packages=PackageSet(name="p", requirements=("edgeops",), modules=("edgeops",)), **kwargs)


# --- CUDA as the cell expects it --------------------------------------------------------------------


def torch_record(*, version: str = "2.5.0+cu126", cuda: str | None = "12.6", available: bool = True,
                 capability: tuple[int, int] | None = (8, 7), arch_list: tuple[str, ...] = ("sm_87",),
                 op_error: str | None = None, op_value: float = 256.0 ** 3) -> dict:
    """What the cell's probe (incell.probe.torch_step, its real code) records of a torch like this one:
    one device named Orin when CUDA is available, none otherwise."""

    class Tensor:
        def __init__(self, value: float) -> None:
            self.value = value

        def __matmul__(self, other: Tensor) -> Tensor:
            return Tensor(op_value)

        def sum(self) -> Tensor:
            return self

        def item(self) -> float:
            return self.value

    def ones(shape, device=None):
        if op_error:
            raise RuntimeError(op_error)
        return Tensor(1.0)

    def get_device_capability(index):
        if capability is None:
            raise RuntimeError("no driver")
        return capability

    torch = types.SimpleNamespace(
        __version__=version, __file__="/venv/site-packages/torch/__init__.py", ones=ones,
        version=types.SimpleNamespace(cuda=cuda),
        cuda=types.SimpleNamespace(is_available=lambda: available, device_count=lambda: 1,
                                   get_device_name=lambda index: "Orin", get_device_capability=get_device_capability,
                                   get_arch_list=lambda: list(arch_list), synchronize=lambda: None))
    return incell_probe.torch_step(torch)


GPU = GpuMode.DEVICE_REQUEST


def test_a_torch_that_fits_what_the_cell_expects_is_not_flagged():
    expects = CudaExpectation(torch_build="cuda", version="12.6", capability="8.7")
    assert classify.check_cuda(cell(expects), torch_record(), GPU) == (None, [])
    # a version is a prefix: "12" holds for torch built for CUDA 12.6
    assert classify.check_cuda(cell(CudaExpectation(version="12")), torch_record(), GPU) == (None, [])
    # a cell that expects a CPU build gets one
    cpu = torch_record(version="2.5.0+cpu", cuda=None, available=False)
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cpu")), cpu, GPU) == (None, [])


def test_a_cpu_build_where_a_cuda_build_is_expected_is_no_cuda():
    cpu = torch_record(version="2.5.0+cpu", cuda=None, available=False)
    assert cpu["devices"] == []
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), cpu, GPU) == (
        Verdict.NO_CUDA, ["torch 2.5.0+cpu is a CPU build (torch.version.cuda is None) where a CUDA build was "
                          "expected"])


def test_a_cuda_build_where_a_cpu_build_is_expected_is_a_mismatch():
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cpu")), torch_record(cuda="12.4"), GPU) == (
        Verdict.CUDA_MISMATCH, ["torch is a CUDA 12.4 build where a CPU build was expected"])


def test_a_torch_built_for_another_cuda_version_is_a_mismatch():
    expects = CudaExpectation(torch_build="cuda", version="12.6")
    assert classify.check_cuda(cell(expects), torch_record(cuda="12.4"), GPU) == (
        Verdict.CUDA_MISMATCH, ["torch is built for CUDA 12.4, expected 12.6"])
    # a CPU build expected to be of some CUDA version is judged as a CPU build, not as a version
    cpu = torch_record(version="2.5.0+cpu", cuda=None, available=False)
    assert classify.check_cuda(cell(CudaExpectation(version="12.6")), cpu, GPU)[1] == [
        "CUDA unavailable: torch.version.cuda=None, torch.cuda.is_available() is False"]


@pytest.mark.parametrize("expects", [CudaExpectation(torch_build="cuda"), CudaExpectation(version="12.6"),
                                     CudaExpectation(capability="8.7")])
def test_a_cuda_build_that_sees_no_gpu_is_no_cuda_whatever_the_cell_expects_of_cuda(expects):
    unavailable = torch_record(available=False)
    assert classify.check_cuda(cell(expects), unavailable, GPU) == (
        Verdict.NO_CUDA, ["CUDA unavailable: torch.version.cuda='12.6', torch.cuda.is_available() is False"])


def test_a_cell_that_expects_a_cpu_build_does_not_need_cuda_available():
    cpu = torch_record(version="2.5.0+cpu", cuda=None, available=False)
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cpu")), cpu, GPU) == (None, [])


def test_a_gpu_of_another_capability_than_expected_is_a_mismatch():
    other = torch_record(capability=(7, 2), arch_list=("sm_72", "sm_87"))
    assert classify.check_cuda(cell(CudaExpectation(capability="8.7")), other, GPU) == (
        Verdict.CUDA_MISMATCH, ["GPU Orin has capability 7.2, expected 8.7"])
    # without an expected capability, any device the torch has kernels for will do
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), other, GPU) == (None, [])


def test_a_torch_without_kernels_for_the_gpu_is_a_mismatch_whatever_the_cell_expects():
    """Flagged even for a cell that states no CUDA expectation, and on a host said to give no GPU."""
    record = torch_record(arch_list=("sm_90", "sm_100"))
    assert record["devices"][0]["built_for"] == {"exact": False, "compatible": False}
    said = ["torch 2.5.0+cu126 has no kernels for Orin (capability 8.7; built for sm_90, sm_100)"]
    for expects in (None, CudaExpectation(torch_build="cuda", version="12.6", capability="8.7")):
        for mode in (GPU, GpuMode.NONE):
            assert classify.check_cuda(cell(expects), record, mode) == (Verdict.CUDA_MISMATCH, said)
    # a device whose fit the probe could not tell (its capability unknown) is not flagged for it
    unknown = torch_record(capability=None)
    assert unknown["devices"][0]["built_for"] is None
    assert classify.check_cuda(cell(None), unknown, GPU) == (None, [])


def test_a_torch_without_an_arch_list_names_the_build_unknown():
    record = torch_record(arch_list=("sm_90",))
    record["arch_list"] = None  # the probe could not ask it
    assert classify.check_cuda(cell(None), record, GPU)[1] == [
        "torch 2.5.0+cu126 has no kernels for Orin (capability 8.7; built for unknown)"]


def test_without_gpu_access_cuda_is_not_expected():
    cpu = torch_record(version="2.5.0+cpu", cuda=None, available=False)
    for expects in (CudaExpectation(torch_build="cuda"), CudaExpectation(version="12.6"),
                    CudaExpectation(capability="8.7")):
        assert classify.check_cuda(cell(expects), cpu, GpuMode.NONE) == (None, [])
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), None, GPU) == (None, [])
    assert classify.check_cuda(cell(None), cpu, GPU) == (None, [])


def test_a_failed_gpu_operation_is_no_cuda():
    error = "CUDA error: no kernel image is available for execution on the device"
    record = torch_record(op_error=error)
    assert record["gpu_op"] is None
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), record, GPU) == (
        Verdict.NO_CUDA, [f"a tiny GPU operation failed: RuntimeError: {error}"])
    # an operation that ran and computed the wrong value
    wrong = torch_record(op_value=0.0)
    assert wrong["gpu_op"]["ok"] is False
    verdict, [said] = classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), wrong, GPU)
    assert verdict is Verdict.NO_CUDA and said.startswith("a tiny GPU operation failed: {'ok': False, ")


def judged_with_torch(record: dict, expects: CudaExpectation | None, mode: GpuMode,
                      name: str = "real-chain-2.13-torchao-0.15.probe.log") -> classify.Judgement:
    """A recorded log judged as if its probe had recorded this torch."""
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    parsed = dataclasses.replace(parsed, probe={**parsed.probe, "torch": record})
    the_cell = dataclasses.replace(cell(expects), packages=PackageSet(name="p", requirements=("torchao",),
                                                                      modules=("torch", "torchao")))
    return classify.judge(the_cell, Execution(log=log, exit_code=0), parsed, mode)


def test_judge_puts_the_cuda_verdict_first_and_keeps_the_loss_as_a_note():
    cpu = torch_record(version="2.13.0+cpu", cuda=None, available=False)
    alone = judged_with_torch(cpu, None, GPU)
    assert alone.verdict is Verdict.DEGRADED
    got = judged_with_torch(cpu, CudaExpectation(torch_build="cuda"), GPU)
    assert got.verdict is Verdict.NO_CUDA
    assert got.evidence == ("torch 2.13.0+cpu is a CPU build (torch.version.cuda is None) where a CUDA build was "
                            "expected",)
    assert got.hint == classify.CUDA_HINTS[Verdict.NO_CUDA] and got.hint.startswith("install a CUDA build of torch")
    assert got.cause is None
    assert [n for n in got.notes if n.startswith("also ")] == [f"also degraded: {e}" for e in alone.evidence]
    mismatch = judged_with_torch(torch_record(cuda="12.4"), CudaExpectation(version="12.6"), GPU)
    assert (mismatch.verdict, mismatch.hint) == (Verdict.CUDA_MISMATCH, "use a torch built for this CUDA version "
                                                                        "and this GPU's architecture")


def test_judge_notes_that_cuda_was_not_checked_on_a_host_without_gpu():
    cpu = torch_record(version="2.13.0+cpu", cuda=None, available=False)
    got = judged_with_torch(cpu, CudaExpectation(torch_build="cuda"), GpuMode.NONE)
    assert got.verdict is Verdict.DEGRADED
    assert "CUDA not checked: this host gives cells no GPU" in got.notes
    assert "CUDA not checked: this host gives cells no GPU" not in judged_with_torch(cpu, None, GpuMode.NONE).notes
    # with the GPU given, the expectation is checked, and the note is not made
    fits = judged_with_torch(torch_record(), CudaExpectation(torch_build="cuda"), GPU)
    assert fits.verdict is Verdict.DEGRADED
    assert not any(n.startswith("CUDA not checked") for n in fits.notes)


# --- an import that failed inside a dependency no pin names -----------------------------------------


def probed(tmp_path: Path, files: dict[str, str], *modules: str) -> dict:
    """What the real probe (harness/incell/probe.py) records importing these fixture files, read back as
    the runner reads it."""
    import subprocess
    import sys

    from harness import incell

    site = tmp_path / "site-packages"  # where pip puts them: the probe names a frame's package by this folder
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    args = [a for m in modules for a in ("--module", m)]
    # -S: the distributions are these files alone, not also this interpreter's own
    done = subprocess.run([sys.executable, "-S", str(incell.FILES["probe.py"]), *args], capture_output=True,
                          text=True, env={"PYTHONPATH": str(site), "PATH": ""}, timeout=60)
    return events.parse(done.stdout).probe


def dist(name: str, version: str, *requires: str) -> dict[str, str]:
    """An installed distribution's metadata, as pip leaves it in site-packages."""
    lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    return {f"{name}-{version}.dist-info/METADATA": "\n".join(lines) + "\n",
            f"{name}-{version}.dist-info/top_level.txt": name + "\n"}


def chain(message: str, *installed: dict[str, str]) -> dict[str, str]:
    """The cell's app 1.0, which imports its dependency helper 2.1, which raises `message` on import."""
    files = {"app/__init__.py": "import helper\n", **dist("app", "1.0", "helper"),
             "helper/__init__.py": f"raise ImportError({message!r})\n", **dist("helper", "2.1", "numpy")}
    for more in installed:
        files.update(more)
    return files


NUMPY_1 = dist("numpy", "1.26.4")
HOLDER = dist("holder", "3.0", "numpy<2", "other>=1")


@pytest.mark.parametrize("message", ["helper requires numpy>=2.0", "numpy >= 2.0 is required by helper",
                                     "helper requires numpy version 2.0 or newer"])
def test_a_dependency_no_pin_names_that_needs_a_newer_package_names_what_holds_it_back(tmp_path, message):
    probe = probed(tmp_path, chain(message, NUMPY_1, HOLDER), "app")
    got = classify.import_failure(probe, ["app"], pins=["app"])
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.hint == ("helper 2.1, which no pin names (required by app 1.0) fails on import: it needs numpy 2.0 or "
                        "newer, but numpy 1.26.4 is installed, held back by holder 3.0 (numpy<2): pin numpy>=2.0 and "
                        "a release of holder that allows it")
    assert got.cause.to_json() == {"kind": "transitive", "distribution": "helper", "version": "2.1",
                                   "required_by": ["app 1.0"]}


def test_a_dependency_that_needs_a_package_nothing_holds_back_is_told_to_pin_it(tmp_path):
    probe = probed(tmp_path, chain("helper requires numpy>=2.0.", NUMPY_1, dist("relaxed", "1.0", "numpy>=1.20")),
                   "app")
    got = classify.import_failure(probe, ["app"])
    assert got.hint == ("helper 2.1, which no pin names (required by app 1.0) fails on import: it needs numpy 2.0 or "
                        "newer, but numpy 1.26.4 is installed: pin numpy>=2.0")


def test_a_dependency_that_needs_a_package_not_installed_is_told_to_add_it(tmp_path):
    probe = probed(tmp_path, chain("helper requires numpy>=2.0"), "app")
    got = classify.import_failure(probe, ["app"])
    assert got.hint == ("helper 2.1, which no pin names (required by app 1.0) fails on import: it needs numpy 2.0 or "
                        "newer, and no numpy is installed: add numpy>=2.0 to the pins")


def test_a_dependency_that_fails_without_naming_a_version_is_told_to_be_pinned(tmp_path):
    probe = probed(tmp_path, chain("helper is broken", NUMPY_1), "app")
    got = classify.import_failure(probe, ["app"])
    assert got.hint == ("helper 2.1, which no pin names (required by app 1.0) fails on import: pin helper to a release "
                        "that works here (or the version of what requires it)")
    assert got.cause.kind == "transitive"


def test_a_failure_in_a_distribution_the_cell_names_is_not_a_dependencys(tmp_path):
    probe = probed(tmp_path, chain("helper requires numpy>=2.0", NUMPY_1, HOLDER), "app")
    got = classify.import_failure(probe, ["helper", "app"])
    assert got.hint == "app raised ImportError on import: the evidence shows where; the log has the traceback"
    assert got.cause is None
    assert classify.transitive("helper 2.1", probe, "helper requires numpy>=2.0", ["Helper"]) is None
    assert classify.transitive(None, probe, "helper requires numpy>=2.0", ["app"]) is None


# --- a failed source build -----------------------------------------------------------------------------


def recorded(name: str, the_cell: Cell | None = None, **execution) -> classify.Judgement:
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    execution = {"exit_code": 0 if parsed.end and parsed.end.get("ok") else 1, **execution}
    return classify.judge(the_cell or cell(), Execution(log=log, **execution), parsed, "none")


def test_a_failed_build_that_states_no_known_cause_says_to_read_the_log_and_offers_both_ways_out():
    assert recorded("build-cause.odd.log").hint == (
        "pip had to compile oddbuild from source and the build failed without stating a cause the harness recognises "
        "(its last error line is quoted; the log has its whole output): find a prebuilt wheel for this platform and "
        "Python (another index variant), or give the image what the build needs")


def test_a_failed_build_that_names_what_the_image_lacks_offers_a_prebuilt_wheel_instead():
    assert recorded("build-cause.nvcc.log").hint == (
        "pip had to compile callsnvcc from source and the build needs CUDA's compiler nvcc, which the image lacks: use "
        "an image with the CUDA toolkit (a CUDA -devel image; on Jetson, JetPack's CUDA) or set CUDA_HOME to it, or "
        "find a prebuilt wheel for this platform and Python (another index variant)")


# pip's own words when a wheel build fails, with no line naming where the requirement came from
PIP_WHEEL_FAILED = """\
  Building wheel for fastops (pyproject.toml): started
  Building wheel for fastops (pyproject.toml): finished with status 'error'
  error: subprocess-exited-with-error
  ERROR: Failed building wheel for fastops
Failed to build fastops
ERROR: Could not build wheels for fastops, which is required to install pyproject.toml-based projects
"""


def test_a_failed_build_names_the_package_pip_says_it_failed_to_build():
    got = classify.install_failure(PIP_WHEEL_FAILED, [], [])
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.hint.startswith("pip had to compile fastops from source and the build failed without stating a cause")
    # where pip says only that building failed, no package is named: none is made up
    unnamed = classify.install_failure("  error: subprocess-exited-with-error\nerror: metadata-generation-failed\n",
                                       [], [])
    assert unnamed.hint.startswith("pip had to compile a package from source and the build failed")


@pytest.mark.parametrize(("line", "package"), [
    ("Collecting https://files.example/fastops-1.0.zip", "fastops"),  # a URL: the project, not the file
    ("Processing ./fastops-1.0.tar.gz", "fastops"),
    ("Collecting fastops", "fastops"),
])
def test_a_failed_build_names_the_requirement_pip_was_collecting(line, package):
    got = classify.install_failure(f"{line}\n  Preparing metadata (pyproject.toml): finished with status 'error'\n"
                                   "error: metadata-generation-failed\n", [], [])
    assert got.hint.startswith(f"pip had to compile {package} from source and ")


# --- an index URL that is not an index ------------------------------------------------------------------


@pytest.mark.parametrize(("root", "why"), [
    ({"status": 400, "links": 0}, "HTTP 400"),
    ({"status": 200, "links": 0, "answer": "<title>Welcome</title>"},
     "HTTP 200 with a page that lists no projects: <title>Welcome</title>"),
])
def test_an_index_root_that_is_not_an_index_is_a_wrong_url_with_what_it_answered(root, why):
    url = "https://wheels.example/landing"
    check = {"index": url, "project": "edgeops", "url": f"{url}/edgeops/", "status": 404, "error": None, "files": []}
    output = ("ERROR: Could not find a version that satisfies the requirement edgeops (from versions: none)\n"
              "ERROR: No matching distribution found for edgeops\n")
    got = classify.install_failure(output, [check], [], roots=[{"index": url, "url": f"{url}/", **root}])
    assert got.verdict is Verdict.NO_DISTRIBUTION
    # the root's answer, pip's last word, and what the index said of the project
    assert got.evidence == (f"{url} does not answer as a package index: GET {url}/ → {why}",
                            "ERROR: No matching distribution found for edgeops", f"{url} has no edgeops")
    assert got.hint == f"the index URL {url} is wrong or not an index (its root answers {why}): check the URL"
    # an index whose root lists projects, or answers with a redirect, is an index
    for fine in ({"status": 200, "links": 3}, {"status": 399, "links": 0}, {"status": None, "error": "timeout"}):
        assert classify._not_an_index(fine) is None


# --- the ways a cell ends early --------------------------------------------------------------------------


def test_a_cell_at_its_process_limit_names_the_phase_and_says_what_to_do():
    log = (LOGS / "process-limit.install.log").read_text()
    parsed = events.parse(log)
    got = classify.judge(cell(), Execution(log=log, exit_code=1), parsed, "none")
    assert got.hint == ("something in the install starts processes or threads without end (a build that forks "
                        "without end, or runs too many jobs at once): if it truly needs more, raise `processes` in "
                        "the matrix or the include, or --processes; otherwise the package is broken or hostile")
    # the kernel's count of refusals is said only where the driver had one; a phase it did not know is "the cell"
    quiet = classify.hit_limit({"limit": "processes", "max": 64, "phase": None, "refused": None})
    assert quiet.evidence == ("the cell hit the cell's limit of 64 processes: the cell was stopped there",)
    assert classify.hit_limit({"max": 8, "phase": "build"}).evidence[0].startswith(
        "the build phase hit the cell's limit of 8 processes: ")


def cut(name: str, lines: int) -> str:
    """A recorded log as far as its first `lines` lines: what a cell stopped at that point leaves."""
    return "".join((LOGS / name).read_text().splitlines(keepends=True)[:lines])


def judged_log(log: str, the_cell: Cell | None = None, **execution) -> classify.Judgement:
    return classify.judge(the_cell or cell(), Execution(log=log, **execution), events.parse(log), "none")


# oom.install.log stopped while pip collected the sdist (before its build began), and after the build began
COLLECTING = cut("oom.install.log", 7)
BUILDING = cut("oom.install.log", 8)


def test_a_timeout_names_the_phase_and_the_cells_deadline():
    assert events.parse(COLLECTING).phase("install")["status"] == "incomplete"
    got = judged_log(COLLECTING, dataclasses.replace(cell(), timeout=90.5), exit_code=137, timed_out=True)
    assert (got.verdict, got.evidence) == (Verdict.TIMEOUT, ("killed at its deadline during install",))
    assert got.hint == ("the cell ran past its 90.5 s timeout during install: raise [matrix] timeout, or find why it "
                        "is slow (a source build?) in the log")
    # a deadline that struck after every phase had ended names none
    done = (LOGS / "no-distribution.pure.log").read_text()
    after = judged_log(done, exit_code=137, timed_out=True)
    assert after.evidence == ("killed at its deadline",)
    assert after.hint.startswith("the cell ran past its 1800 s timeout: raise [matrix] timeout")


@pytest.mark.parametrize(("exit_code", "how"), [(143, "SIGTERM"), (-15, "SIGTERM"), (137, "SIGKILL"), (-9, "SIGKILL")])
def test_a_cell_killed_from_outside_is_an_engine_error_naming_the_signal_and_phase(exit_code, how):
    got = judged_log(COLLECTING, exit_code=exit_code)
    assert got.verdict is Verdict.ENGINE_ERROR
    assert got.evidence == (f"the cell was stopped from outside ({how}, exit {exit_code}) while its install phase ran: "
                            "the engine stopping, `docker stop` or `docker kill`, or the host",)
    assert got.hint == classify.STOPPED_HINT
    # not from outside: the kernel's OOM killer, the deadline, another exit, or a driver that said it ended
    assert judged_log(COLLECTING, exit_code=exit_code, oom_killed=True).verdict is not Verdict.ENGINE_ERROR
    assert judged_log(COLLECTING, exit_code=exit_code, timed_out=True).verdict is Verdict.TIMEOUT
    assert judged_log(COLLECTING, exit_code=1).verdict is not Verdict.ENGINE_ERROR
    done = (LOGS / "no-distribution.pure.log").read_text()
    assert judged_log(done, exit_code=exit_code).verdict is Verdict.PASS


def test_a_cell_stopped_from_outside_before_any_phase_names_none():
    begun = cut("oom.install.log", 2)
    assert classify.stopped_from_outside(Execution(log=begun, exit_code=143), events.parse(begun)) == (
        "the cell was stopped from outside (SIGTERM, exit 143): the engine stopping, `docker stop` or `docker kill`, "
        "or the host")


def test_pip_killed_while_it_ran_is_crashed_and_points_at_memory():
    got = judged_log(COLLECTING, exit_code=1)
    assert got.verdict is Verdict.CRASHED
    assert got.evidence == ("pip died (no end recorded)",)
    assert got.hint == ("pip was killed: look for memory pressure (OOM) in the log, and give the cell more memory")
    oom = judged_log(COLLECTING, dataclasses.replace(cell(), memory=512 << 20), exit_code=137, oom_killed=True)
    assert oom.verdict is Verdict.CRASHED
    assert oom.evidence == ("the kernel killed the cell for memory (OOMKilled) at its 512 MiB limit during the install",
                            "pip died (no end recorded)")
    assert oom.hint == ("the cell ran out of memory at its 512 MiB limit: give it more (`memory` in the matrix or the "
                        "include, or --memory), or run fewer cells at once (--jobs)")


def test_a_source_build_the_kernel_killed_for_memory_is_a_failed_build_saying_what_to_lower():
    got = judged_log(BUILDING, exit_code=137, oom_killed=True)
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.evidence == ("the source build ran out of memory at the build's default parallelism",
                            "the kernel killed the cell for memory (OOMKilled) during the install")
    assert got.hint == ("ran out of memory at the build's default parallelism: one job is the least, so give the cell "
                        "more memory (`memory` in the matrix or the include, or --memory), or find a prebuilt wheel "
                        "for this target")
    # the same build still running, with no word of memory from the kernel: pip died, nothing more is known
    assert judged_log(BUILDING, exit_code=1).evidence == ("pip died (no end recorded)",)


@pytest.mark.parametrize(("build", "said", "hint"), [
    ({"jobs": 8, "rule": "memory / 2 GiB"}, "8 parallel jobs (memory / 2 GiB)",
     "ran out of memory at 8 parallel jobs: lower build_jobs (e.g. build_jobs = 4 in [matrix] or the cell's include), "
     "or give the cell more memory (`memory`)"),
    ({"jobs": 3}, "3 parallel jobs", "ran out of memory at 3 parallel jobs: lower build_jobs (e.g. build_jobs = 1 in"),
    ({"jobs": 2}, "2 parallel jobs", "ran out of memory at 2 parallel jobs: lower build_jobs (e.g. build_jobs = 1 in"),
    ({"jobs": 1, "rule": "build_jobs"}, "1 parallel job (build_jobs)",
     "ran out of memory at 1 parallel job: one job is the least, so give the cell more memory"),
])
def test_a_build_killed_for_memory_says_at_how_many_jobs_and_what_to_lower(build, said, hint):
    output = "  Building wheel for hog (setup.py): started\ncc1plus: out of memory allocating 65536 bytes\n"
    got = classify.out_of_memory_build(output, False, build, " at its 2 GiB limit")
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.evidence == (f"the source build ran out of memory at its 2 GiB limit at {said}",
                            "the build said: cc1plus: out of memory")
    assert got.hint.startswith(hint)
    # the build's words alone are enough; without them, only the kernel's flag during a build is
    assert classify.out_of_memory_build("  Building wheel for hog (setup.py): started\n", True, None, "") is not None
    assert classify.out_of_memory_build("  Building wheel for hog (setup.py): started\n", False, None, "") is None
    assert classify.out_of_memory_build("Collecting hog\n", True, None, "") is None


def test_a_driver_that_never_started_is_crashed_with_what_the_image_said():
    got = judged_log("", exit_code=127, error="exec: python3: not found")
    assert got.verdict is Verdict.CRASHED
    assert got.evidence == ("the cell driver never started (exit 127): exec: python3: not found",)
    assert got.hint == "the image could not run the driver: check that it has a Python 3.8+ at the configured path"
    said = judged_log("@@probe {}\n/bin/sh: 1: /usr/bin/python3: not found\nfirst\nsecond\n", exit_code=127)
    assert said.evidence == ("the cell driver never started (exit 127): first / second",)
    assert judged_log("", exit_code=127).evidence == ("the cell driver never started (exit 127): no output",)
    oom = judged_log("", exit_code=137, oom_killed=True)
    # killed for memory before any phase began: no phase is named
    assert oom.evidence == ("the kernel killed the cell for memory (OOMKilled)",
                            "the cell driver never started (exit 137): no output")


CHAIN_MODULES = ("torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training")


def chain_cell(**kwargs) -> Cell:
    return dataclasses.replace(cell(**kwargs), packages=PackageSet(name="chain", requirements=("torchtune",),
                                                                   modules=CHAIN_MODULES))


def test_a_timeout_during_a_check_names_the_check():
    running = cut("checks.segv.log", 28)  # the check announced, and nothing after
    got = judged_log(running, chain_cell(timeout=60), exit_code=137, timed_out=True)
    assert got.evidence == ("killed at its deadline during checks (check checks/segv.py)",)
    assert got.hint.startswith("the cell ran past its 60 s timeout during checks (check checks/segv.py): ")


def test_a_check_that_died_is_crashed_naming_the_check_and_memory_when_the_kernel_killed_it():
    running = cut("checks.segv.log", 28)
    got = judged_log(running, chain_cell(), exit_code=1)
    assert got.verdict is Verdict.CRASHED
    assert got.hint.startswith("the interpreter died running the check checks/segv.py: ")
    oom = judged_log(running, chain_cell(), exit_code=137, oom_killed=True)
    assert oom.verdict is Verdict.CRASHED
    assert oom.evidence[0] == "the kernel killed the cell for memory (OOMKilled) during the checks phase"
    assert oom.evidence[1:] == got.evidence
    assert oom.hint.startswith("the cell ran out of memory: give it more")


def test_a_probe_that_died_names_the_module_it_was_importing():
    importing = cut("checks.segv.log", 18)  # torch and torchao imported, then nothing
    got = judged_log(importing, chain_cell(), exit_code=1)
    assert got.verdict is Verdict.CRASHED
    assert got.evidence == ("the probe died (exit code 1) while importing torchao.quantization",)
    assert got.hint == ("the interpreter died importing torchao.quantization: usually a binary built for another "
                        "torch, CUDA or CPU; run with --keep and import it by hand")
    # the driver saw the probe end by a signal, with the interpreter's last words
    killed = importing + ("Fatal Python error: Segmentation fault\n"
                          '@@harness {"event": "phase", "phase": "probe", "status": "failed", "seconds": 0.1, '
                          '"returncode": -11}\n')
    got = judged_log(killed, chain_cell(), exit_code=1)
    assert got.evidence == ("the probe died (SIGSEGV) while importing torchao.quantization",
                            "Fatal Python error: Segmentation fault")
    oom = judged_log(importing, chain_cell(memory=1 << 30), exit_code=137, oom_killed=True)
    assert oom.evidence == ("the kernel killed the cell for memory (OOMKilled) at its 1 GiB limit during the imports "
                            "(probe)", "the probe died (exit code 137) while importing torchao.quantization")
    assert oom.hint.startswith("the cell ran out of memory at its 1 GiB limit: ")


def test_a_cell_the_kernel_killed_after_its_imports_passed_is_crashed_for_memory():
    done = (LOGS / "no-distribution.pure.log").read_text()
    got = judged_log(done, exit_code=137, oom_killed=True)
    assert got.verdict is Verdict.CRASHED
    assert got.evidence == ("the kernel killed the cell for memory (OOMKilled)",)
    assert got.hint == ("the cell ran out of memory: give it more (`memory` in the matrix or the include, or "
                        "--memory), or run fewer cells at once (--jobs)")


def test_died_in_prefers_the_phase_still_running_then_one_killed_by_a_signal_then_one_that_failed():
    def parsed(*phases):
        return events.CellEvents(phases=tuple({"phase": n, **p} for n, p in phases))

    failed, signal = ("venv", {"status": "failed"}), ("install", {"status": "failed", "signal": "SIGKILL"})
    running = ("probe", {"status": "incomplete"})
    assert classify.died_in(parsed(failed, signal, running)) == "probe"
    assert classify.died_in(parsed(failed, signal)) == "install"
    assert classify.died_in(parsed(failed, ("probe", {"status": "ok"}))) == "venv"
    assert classify.died_in(parsed(("venv", {"status": "ok"}))) is None


# --- a file that is not the one its hash names; an index that answers garbage ----------------------------


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory) -> tuple[str, str, str]:
    """(pip's output, uv's output, the file's real sha256) fetching a wheel whose required hash is not its own,
    with this machine's pip and uv, offline."""
    import hashlib
    import os
    import subprocess
    import sys

    from wheels import make_wheel

    from harness.installers import uv_binary

    here = tmp_path_factory.mktemp("mismatched")
    wheel = make_wheel(here / "wheels", "swapped", "1.0", {"swapped/__init__.py": ""})
    (here / "req.txt").write_text(f"swapped==1.0 --hash=sha256:{'a' * 64}\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}, "PIP_CONFIG_FILE": os.devnull}
    args = ["--no-index", "--find-links", str(here / "wheels"), "--require-hashes", "--no-deps", "-r",
            str(here / "req.txt")]
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "-d", str(here / "got"), *args],
                         capture_output=True, text=True, env=env)
    uv = subprocess.run([uv_binary(), "pip", "install", "--target", str(here / "target"), *args],
                        capture_output=True, text=True, env=env)
    assert pip.returncode != 0 and uv.returncode != 0
    return pip.stdout + pip.stderr, uv.stdout + uv.stderr, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_file_whose_hash_is_not_the_required_one_is_a_hash_mismatch_naming_file_and_both_hashes(mismatched):
    pip, uv, real = mismatched
    got = classify.install_failure(pip, [], [])
    assert got.verdict is Verdict.HASH_MISMATCH
    assert got.evidence == (f"swapped==1.0 (swapped-1.0-py3-none-any.whl): expected sha256 {'a' * 64}, the file has "
                            f"{real}",)
    assert got.hint == classify.HASH_HINT
    by_uv = classify.install_failure(uv, [], [])
    assert by_uv.verdict is Verdict.HASH_MISMATCH
    # uv names the requirement, not the file
    assert by_uv.evidence == (f"swapped==1.0: expected sha256 {'a' * 64}, the file has {real}",)
    # pip's headline without the lines it could not print: the error lines are the evidence
    headline = next(line for line in pip.splitlines() if "DO NOT MATCH THE HASHES" in line)
    assert classify.hash_mismatch(headline).evidence == (headline,)
    assert classify.hash_mismatch("ERROR: No matching distribution found for swapped") is None


def test_an_index_that_answers_garbage_is_unreachable_with_what_it_answered():
    from harness.incell import driver

    answer, garbage = driver.answer_of(bytes(range(256)) * 4, "application/octet-stream")
    assert garbage and answer == "1024 bytes that are not text (Content-Type: application/octet-stream)"
    url = "https://mirror.example/simple"
    check = {"index": url, "project": "edgeops", "url": f"{url}/edgeops/", "status": 200, "error": None, "files": [],
             "links": 0, "answer": answer, "garbage": True}
    output = ("ERROR: Exception:\nTraceback (most recent call last):\n"
              "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in position 128: invalid start byte\n")
    got = classify.install_failure(output, [check], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.evidence == (f"{url} answered GET {url}/edgeops/ with HTTP 200 and {answer}: not a package index page",
                            "ERROR: Exception:", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in "
                            "position 128: invalid start byte")
    assert got.hint == (f"{url} answered with garbage, not a package index (a broken mirror, or a proxy or cache "
                        "serving corrupt data): the index's fault, not an incompatibility; check what the URL serves "
                        "(curl it) and re-run when it answers as an index")
    # the index's root answering garbage is the same finding
    root = {k: v for k, v in check.items() if k not in ("project", "files")} | {"url": f"{url}/"}
    assert classify.install_failure(output, [], [], roots=[root]).evidence[0].startswith(f"{url} answered GET {url}/ ")


# --- an index that did not answer; pip's other words ---------------------------------------------------


def test_an_index_that_refused_every_attempt_is_an_outage_quoting_the_drivers_check_and_pips_words():
    got = recorded("index-unreachable.closed.log")
    [check] = events.parse((LOGS / "index-unreachable.closed.log").read_text()).index_checks
    index = check["index"]
    assert got.evidence == (f"{index}: ConnectionRefusedError: [Errno 111] Connection refused (GET {index}/edgeops/)",
                            f"harness: index {index} did not answer (ConnectionRefusedError: [Errno 111] Connection "
                            "refused); retrying the install in 1 s (attempt 2 of 2)",
                            "ERROR: No matching distribution found for edgeops")
    assert got.hint == (f"{index} did not answer after 2 attempts: an outage or a network/proxy problem (HTTPS_PROXY, "
                        "NO_PROXY), not an incompatibility; re-run when it answers")


def test_an_index_check_that_got_an_answer_quotes_it():
    check = {"index": "https://wheels.example/simple", "project": "edgeops", "status": 502, "files": [],
             "url": "https://wheels.example/simple/edgeops/", "error": "HTTP 502 Bad Gateway",
             "answer": "an HTML page titled '502 Bad Gateway'"}
    got = classify.install_failure("ERROR: No matching distribution found for edgeops\n", [check], [])
    assert got.evidence == ("https://wheels.example/simple: HTTP 502 Bad Gateway (GET https://wheels.example/simple/"
                            "edgeops/): it answered an HTML page titled '502 Bad Gateway'",
                            "ERROR: No matching distribution found for edgeops")
    assert got.hint.startswith("https://wheels.example/simple did not answer on the only attempt: ")
    # a certificate the driver could not verify: the same advice as for pip's own words
    tls = {**check, "error": "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
           "answer": None, "status": None}
    assert classify.install_failure("", [tls], []).hint.startswith(
        "pip does not trust the certificate of https://wheels.example/simple: set PIP_CERT")


def test_pips_words_alone_name_the_index_it_looked_in_or_say_the_index():
    tls = classify.install_failure((LOGS / "pip-unreachable-tls.txt").read_text(), [], [])
    assert tls.hint == ("pip does not trust the certificate of https://127.0.0.1:41999/simple: set PIP_CERT (or "
                        "SSL_CERT_FILE) on the host to your CA bundle; the harness mounts it into every cell")
    untrusted = classify.install_failure((LOGS / "pip-untrusted-http.txt").read_text(), [], [])
    assert untrusted.hint == ('pip ignores the plain-HTTP index on wheels.invalid: serve it over HTTPS, or add '
                              'pip_args = ["--trusted-host", "wheels.invalid"] to the index variant')
    dns = classify.install_failure((LOGS / "pip-unreachable-dns.txt").read_text(), [], [])
    assert dns.hint == ("https://wheels.invalid/simple did not answer on the only attempt: an outage or a "
                        "network/proxy problem (HTTPS_PROXY, NO_PROXY), not an incompatibility; re-run when it answers")
    assert len(dns.evidence) == 2 and dns.evidence[-1] == "ERROR: No matching distribution found for armonly"
    unnamed = classify.install_failure("ERROR: Could not fetch URL x: Connection refused\n", [], [])
    assert unnamed.hint.startswith("the index did not answer on the only attempt")


def test_a_wrong_python_names_what_the_release_requires_and_what_the_image_has():
    got = classify.install_failure((LOGS / "pip-no-distribution-python.txt").read_text(), [], [])
    assert got.evidence == ("Package 'oldpy' requires a different Python: 3.11.7 not in '<3.9'",)
    assert got.hint == ("oldpy requires Python <3.9, the image has 3.11.7: use an image with a matching Python, or a "
                        "release of oldpy that supports 3.11.7")


def test_a_wheel_for_another_platform_given_by_path_is_no_distribution():
    output = "ERROR: edgeops-1.0-py3-none-manylinux2014_aarch64.whl is not a supported wheel on this platform.\n"
    got = classify.install_failure(output, [], [], cell())
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence == (output.strip(),)
    assert got.hint == ("edgeops-1.0-py3-none-manylinux2014_aarch64.whl is not built for linux/amd64 and this Python: "
                        "use the wheel made for this target")
    assert classify.install_failure(output, [], []).hint.startswith(
        "edgeops-1.0-py3-none-manylinux2014_aarch64.whl is not built for this platform and this Python")


def test_a_conflict_without_pips_explanation_quotes_its_error_lines():
    output = ("ERROR: Cannot install alpha==1.0 and beta==2.0 because these package versions have conflicting "
              "dependencies.\nERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n")
    got = classify.install_failure(output, [], [])
    assert got.verdict is Verdict.CONFLICT
    assert got.evidence == (output.splitlines()[0],)
    assert got.hint == "the pins cannot all hold: loosen one of them, or choose versions that agree"
    bare = classify.install_failure("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n", [], [])
    assert bare.evidence == ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io",)


# --- uv's words; uv's bootstrap and the venv ---------------------------------------------------------------


def uv_judged(name: str, begin_from: str | None = None) -> classify.Judgement:
    """A recorded uv cell, judged; with `begin_from`, its interpreter as a newer driver states it (the `begin`
    event of a pip cell recorded on the same image), so what the index offers is judged for that target."""
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    if begin_from:
        parsed = dataclasses.replace(parsed, begin=events.parse((LOGS / begin_from).read_text()).begin)
    return classify.judge(dataclasses.replace(cell(), installer="uv"), Execution(log=log, exit_code=1), parsed, "none")


def test_uvs_no_distribution_quotes_uv_and_what_the_index_offers_for_the_target():
    got = uv_judged("uv.arm__edge__uv.log", begin_from="no-distribution.arm-only.log")
    [check] = events.parse((LOGS / "uv.arm__edge__uv.log").read_text()).index_checks
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[:2] == (
        "Because edgeops==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_36_x86_64`) and only "
        "edgeops==1.0 is available, we can conclude that all versions of edgeops cannot be used. And because you "
        "require edgeops, we can conclude that your requirements are unsatisfiable.",
        "Wheels are available for `edgeops` (v1.0) on the following platform: `manylinux2014_aarch64`")
    assert got.evidence[-1] == (f"{check['index']} has nothing of edgeops for this target (cp311, "
                                "manylinux_2_36_x86_64): edgeops 1.0 exists only as wheels for other targets "
                                "(py3-none-manylinux2014_aarch64)")
    assert got.hint == ("uv found no distribution that fits this platform and the image's Python on this index "
                        "variant: choose a version it offers for this target, another index variant, or another image")


def test_uvs_conflict_says_the_pins_cannot_all_hold():
    got = uv_judged("uv.conflicting__pins__uv.log")
    assert got.verdict is Verdict.CONFLICT
    assert got.hint == "uv says the pins cannot all hold (the evidence quotes why): loosen one of them"


def test_uvs_failed_build_is_a_failed_source_build_naming_the_package():
    """uv's real words (tools/record_installer_output.py uv-build-failed) for an sdist whose setup.py fails."""
    output = (LOGS / "uv-build-failed.txt").read_text()
    got = classify.install_failure(output, [], [], dataclasses.replace(cell(), installer="uv"))
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.evidence[0] == "the build said: error: fastops needs a compiler this image lacks"
    assert "Failed to build `fastops==1.0`" in got.evidence
    assert got.hint == ("uv had to compile fastops from source and the build failed without stating a cause the "
                        "harness recognises (its last error line is quoted; the log has its whole output): find a "
                        "prebuilt wheel for this platform and Python (another index variant), or give the image what "
                        "the build needs")
    # the same words from a cell that installs with pip are not read as uv's
    assert classify.install_failure(output, [], [], cell()).verdict is Verdict.INSTALL_FAILED


def logged(*phases: tuple[str, str, str]) -> str:
    """A cell's log as the driver writes it: its begin, then each (phase, status, what its children printed)."""
    lines = ['@@harness {"event": "begin", "python": "3.11.2", "executable": "/usr/bin/python3", "machine": "x86_64"}']
    for name, status, said in phases:
        lines.append(f'@@harness {{"event": "phase", "phase": "{name}", "status": "start"}}')
        lines += said.splitlines()
        if status != "incomplete":
            returncode = 0 if status == "ok" else 1
            lines.append(f'@@harness {{"event": "phase", "phase": "{name}", "status": "{status}", '
                         f'"returncode": {returncode}}}')
    return "\n".join(lines) + "\n"


def test_uv_that_could_not_be_installed_in_the_cell_says_why_and_how_to_give_it():
    said = (LOGS / "pip-unreachable-dns.txt").read_text()
    log = logged(("venv", "ok", ""), ("uv-bootstrap", "failed", said))
    got = judged_log(log, dataclasses.replace(cell(), installer="uv"), exit_code=1)
    alone = classify.install_failure(said, [], [])
    assert (got.verdict, got.evidence) == (Verdict.INDEX_UNREACHABLE, alone.evidence)
    assert got.hint == (f"uv itself could not be installed in the cell ({alone.hint}): put the uv wheel in the "
                        "wheelhouse, or give the index variant pip's default index")


def test_uv_that_could_not_be_installed_and_printed_nothing_is_still_judged():
    """A uv bootstrap that failed silently (the lent uv would not start, nothing captured): still a
    judgement that says uv could not be installed, not an error in the classifier."""
    log = logged(("venv", "ok", ""), ("uv-bootstrap", "failed", ""))
    got = judged_log(log, dataclasses.replace(cell(), installer="uv"), exit_code=1)
    assert got.hint.startswith("uv itself could not be installed in the cell (")


VENV_SAID = """\
The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python3.11-venv

Failing command: venv/bin/python3
"""


def test_an_image_that_cannot_make_a_venv_quotes_pythons_first_and_last_words():
    got = judged_log(logged(("venv", "failed", VENV_SAID)), exit_code=1)
    assert got.verdict is Verdict.VENV_FAILED
    assert got.evidence == ("python -m venv failed: The virtual environment was not created successfully because "
                            "ensurepip is not", "python -m venv failed: Failing command: venv/bin/python3")
    assert got.hint == "the image cannot make a venv: add python3-venv (Debian/Ubuntu) to the image"
    silent = judged_log(logged(("venv", "failed", "")), exit_code=1)
    assert silent.evidence == ("python -m venv failed (exit 1)",)
    one_line = judged_log(logged(("venv", "failed", "Error: [Errno 28] No space left on device\n")), exit_code=1)
    assert one_line.evidence == ("python -m venv failed: Error: [Errno 28] No space left on device",)
    oom = judged_log(logged(("venv", "failed", VENV_SAID)), exit_code=137, oom_killed=True)
    assert oom.verdict is Verdict.CRASHED
    assert oom.evidence == ("the kernel killed the cell for memory (OOMKilled) during the venv", *got.evidence)
    assert oom.hint.startswith("the cell ran out of memory: give it more")


# --- the plan against the run -------------------------------------------------------------------------------


def stored(name: str) -> dict:
    """A stored result (tests/data/report, recorded by real runs) as the report reads it."""
    import json

    return json.loads((Path(__file__).parent / "data" / "report" / f"{name}.json").read_text())


def test_a_result_that_went_as_planned_has_no_disagreement():
    for name in ("bookworm-amd64__broken__chain", "bookworm-amd64__skipping__ao", "bookworm-amd64__arm-only__edgeops",
                 "bookworm-amd64__sdist__srcpkg"):
        result = stored(name)
        assert classify.compared_with_plan(result), name
        assert classify.disagreement(result["prediction"], result) is None, name


def test_a_result_whose_verdict_the_plan_did_not_predict_says_both():
    result = stored("bookworm-amd64__skipping__ao")
    assert result["verdict"] == "degraded"
    for outcome in ("conflict", "no-distribution", "index-unreachable"):
        assert classify.disagreement({**result["prediction"], "outcome": outcome}, result) == (
            f"plan predicted {outcome}, the run was degraded")


def test_a_result_that_installed_other_versions_than_planned_names_them():
    result = stored("bookworm-amd64__skipping__ao")
    planned = {**result["prediction"], "versions": {"torch": "2.13.0", "torchao": "0.16.0", "numpy": "2.0.0"}}
    # numpy was planned but not installed: only what both name is compared
    assert classify.disagreement(planned, result) == "versions differ from the plan: torchao 0.15.0 (plan: 0.16.0)"
    both = {**planned, "versions": {"torch": "2.12.0", "torchao": "0.16.0"}}
    assert classify.disagreement(both, result) == ("versions differ from the plan: torch 2.13.0 (plan: 2.12.0), "
                                                   "torchao 0.15.0 (plan: 0.16.0)")
    # names are compared as the index spells them: "TorchAO" in a record is torchao
    renamed = {**result, "install": {**result["install"], "items": [
        {**i, "name": i["name"].replace("torchao", "TorchAO")} for i in result["install"]["items"]]}}
    assert classify.disagreement(planned, renamed) == "versions differ from the plan: torchao 0.15.0 (plan: 0.16.0)"


def test_results_the_plan_cannot_be_held_against_are_not_compared():
    missing = stored("missing__lan__chain")  # image-unavailable: the install never ran
    assert not classify.compared_with_plan(missing)
    assert classify.disagreement(missing["prediction"], missing) is None
    result = stored("bookworm-amd64__skipping__ao")
    assert not classify.compared_with_plan({**result, "prediction": None})
    assert not classify.compared_with_plan({**result, "verdict": "no-such-verdict"})
    assert classify.disagreement(result["prediction"], {**result, "verdict": "no-such-verdict"}) is None
    unknown = {**result["prediction"], "outcome": "unknown"}  # uv could not predict it
    assert not classify.compared_with_plan({**result, "prediction": unknown})
    assert classify.disagreement(unknown, result) is None


# --- what to do about a loss at import -------------------------------------------------------------------


def test_a_skipped_cpp_extension_says_to_match_the_release_and_torch():
    got = recorded("real-chain-2.13-torchao-0.15.probe.log",
                   dataclasses.replace(cell(), packages=PackageSet(name="p", requirements=("torchao",),
                                                                   modules=("torch", "torchao"))))
    assert got.hint == ("torchao 0.15.0 skipped its C++ extensions with torch 2.13.0+cpu: install the torchao release "
                        "built for this torch, or the torch it was built for")
    assert got.cause is None


def test_a_loss_without_a_known_cause_says_the_evidence_names_it():
    probe = {"imports": [{"module": "edgeops", "ok": True, "messages": [
        {"kind": "log", "text": "edgeops: unable to initialize the fast path"}]}],
        "distributions": {"edgeops": {"version": "1.0"}}, "complete": True}
    got = classify.what_ran(events.CellEvents(begin={}, probe=probe))
    assert got.verdict is Verdict.DEGRADED
    assert got.evidence == ("edgeops: edgeops: unable to initialize the fast path",)
    assert got.hint == "edgeops 1.0 failed to load part of itself: it imports but lacks function; the evidence names " \
                       "what is missing"


def test_a_loss_from_a_missing_system_library_names_the_package_for_the_images_distribution():
    text = "Failed to load /v/soundops/_native.so: libsndfile.so.1: cannot open shared object file: No such file"
    probe = {"imports": [{"module": "soundops", "ok": True, "messages": [{"kind": "log", "text": text}]}],
             "distributions": {"soundops": {"version": "1.0"}}, "complete": True}
    # the image's distribution as the driver's `begin` event states it
    debian = events.parse((LOGS / "missing-library.soundops.log").read_text()).begin["distribution"]
    hint, cause = classify.degraded_hint(classify.degradations(probe["imports"], probe), probe, debian)
    assert hint == ("soundops 1.0 failed to load part of itself: soundops 1.0 needs libsndfile.so.1 (libsndfile, for "
                    "audio files), which the image lacks: add the package libsndfile1 to the image (`apt-get install` "
                    "on Debian 12)")
    assert cause.to_json() == {"kind": "missing-library", "library": "libsndfile.so.1", "needed_by": "soundops 1.0",
                               "image_distribution": "Debian 12", "what": "libsndfile, for audio files",
                               "package": "libsndfile1"}


# --- an import that failed: a module or a name that is not there -------------------------------------------


APP = {**dist("app", "1.0", "helper"), **dist("helper", "2.1")}


@pytest.mark.parametrize(("files", "module", "hint"), [
    ({"app/__init__.py": "", "helper/__init__.py": ""}, "app.extra",
     "app 1.0 has no module app.extra: use a app release that has it, or drop it from the cell's modules"),
    ({"app/__init__.py": "import helper.sub\n", "helper/__init__.py": ""}, "app",
     "app 1.0 needs module helper.sub, which helper 2.1 does not have: pin helper to a release that has it, or use a "
     "app release made for helper 2.1"),
    ({"app/__init__.py": "import helper\n"}, "app",  # helper's metadata is installed, its files are not
     "app 1.0 needs module helper, which helper 2.1 does not have: read the evidence and align versions"),
    ({"app/__init__.py": "import nothere.sub\n"}, "app",
     "app 1.0 needs module nothere, and no installed distribution provides it: add the distribution that does to the "
     "cell's requirements"),
    ({"app/__init__.py": "from app.core import gone\n", "app/core.py": ""}, "app",
     "app 1.0 imports gone from app.core, which app 1.0 does not provide: align their versions"),
    ({"app/__init__.py": "from helper import gone\n", "helper/__init__.py": ""}, "app",
     "app 1.0 imports gone from helper, which helper 2.1 does not provide: pin helper to a release that has it, or use "
     "a app release made for helper 2.1"),
])
def test_a_module_or_name_that_is_not_there_names_who_needs_it_and_who_should_have_it(tmp_path, files, module, hint):
    probe = probed(tmp_path, {**APP, **files}, module)
    got = classify.import_failure(probe, ["app"])
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.hint == hint
    assert got.cause is None


def test_the_evidence_quotes_the_first_failures_and_where_the_first_was_raised(tmp_path):
    files = {**APP, "app/__init__.py": "import nothere\n", "helper/__init__.py": "raise RuntimeError('boom')\n",
             "third/__init__.py": "raise ValueError('bad')\n", "fourth/__init__.py": "raise KeyError('k')\n"}
    probe = probed(tmp_path, files, "app", "helper", "third", "fourth")
    got = classify.import_failure(probe)
    assert got.evidence[0] == "import app: ModuleNotFoundError: No module named 'nothere'"
    assert got.evidence[1].startswith('File ".../site-packages/app/__init__.py", line 1')
    assert got.evidence[2:] == ("import helper: RuntimeError: boom", "import third: ValueError: bad")


def test_matrix_names_skips_a_requirement_it_cannot_read_and_reads_the_rest():
    sets = [PackageSet(name="a", requirements=("not a requirement!", "Torch_Tune>=0.6"), modules=()),
            PackageSet(name="b", requirements=("torchtune", "numpy<2"), modules=())]
    assert classify.matrix_names(sets) == ["torch-tune", "torchtune", "numpy"]


def test_a_project_whose_name_has_a_digit_after_a_dash_keeps_its_name():
    got = classify.install_failure("Collecting open-3d\n  Preparing metadata (pyproject.toml): finished with status "
                                   "'error'\nerror: metadata-generation-failed\n", [], [])
    assert got.hint.startswith("pip had to compile open-3d from source and ")


# --- an extension built for another NumPy: who holds the fix back ----------------------------------------


def numpy_case(name: str, dates: dict | None = None, **more: dict) -> classify.Judgement:
    """A real cell's numpy-ABI failure (tests/data/logs/real-NAME.log) with more installed distributions, and
    with `dates` ({version: date or None}) changing the release dates the index gave for the failing project."""
    import real_cells

    log = (LOGS / f"real-{name}.log").read_text()
    parsed = events.parse(log)
    dists = {**parsed.probe["distributions"], **more}
    found = parsed.release_dates
    if dates is not None:
        def changed(check: dict) -> dict:
            if check["project"] == "numpy":
                return check
            kept = {v: d for v, d in check["dates"].items() if dates.get(v, d) is not None}
            return {**check, "dates": {**kept, **{v: d for v, d in dates.items() if d is not None}}}
        found = {**found, "checks": [changed(c) for c in found["checks"]]}
    parsed = dataclasses.replace(parsed, probe={**parsed.probe, "distributions": dists}, release_dates=found)
    requirements, modules = real_cells.SETS[name]
    the_cell = dataclasses.replace(cell(), packages=PackageSet(name=name, requirements=tuple(requirements),
                                                               modules=tuple(modules)))
    return classify.judge(the_cell, Execution(log=log, exit_code=1), parsed, "none")


def test_a_distribution_that_allows_the_numpy_the_fix_wants_does_not_hold_it_back():
    plain = numpy_case("pandas-numpy2")
    assert plain.cause.facts["built_for"] == "numpy<2" and "held back" not in plain.hint
    allows = numpy_case("pandas-numpy2", scipy={"version": "1.13.1", "requires": ["numpy>=1.22.4,<2.3"]})
    assert "required by scipy 1.13.1 (numpy<2.3,>=1.22.4)" in allows.hint
    assert "held back" not in allows.hint
    holds = numpy_case("pandas-numpy2", jax={"version": "0.5.0", "requires": ["numpy>=2.0"]})
    assert "pin numpy<2 in place of the cell's numpy==2.0.2 (held back by jax 0.5.0 (numpy>=2.0)), or use" in holds.hint


def test_a_distribution_that_allows_only_numpy_1_holds_back_a_fix_that_wants_numpy_2():
    got = numpy_case("arrow-numpy1", oldnum={"version": "1.0", "requires": ["numpy<2"]},
                     exact={"version": "1.0", "requires": ["numpy==2.0.*"]})  # allows 2.0.x: holds nothing back
    assert "pin numpy>=2.0 in place of the cell's numpy==1.26.4 (held back by oldnum 1.0 (numpy<2)), or use" in got.hint
    assert got.cause.facts["numpy_required_by"] == ["db-dtypes 1.9.0 (numpy>=1.24.0)", "exact 1.0 (numpy==2.0.*)",
                                                    "oldnum 1.0 (numpy<2)", "pandas 3.0.6 (numpy>=1.26.0)"]


def test_the_release_for_numpy_2_is_the_first_final_release_newer_than_the_failing_one_after_numpy_2():
    plain = numpy_case("pandas-numpy2")
    assert plain.evidence[2] == ("pip's default index: NumPy 2.0.0 came out on 2024-06-16; the first pandas release "
                                 "after it is 2.2.3 (2024-09-20)")
    # a pre-release, a backport to an older line, and the failing release re-uploaded after NumPy 2 are not it
    noisy = numpy_case("pandas-numpy2", dates={"2.2.3rc0": "2024-08-01T00:00:00Z", "1.5.4": "2024-07-01T00:00:00Z",
                                               "2.0.3": "2024-06-20T00:00:00Z"})
    assert noisy.evidence[2] == plain.evidence[2] and noisy.cause.facts["fixes"] == ["numpy<2", "pandas>=2.2.3"]
    # a version the index lists that is no version is left out
    assert numpy_case("pandas-numpy2", dates={"not-a-version": "2024-07-01T00:00:00Z"}).evidence == plain.evidence


def test_without_a_release_after_numpy_2_the_hint_says_there_is_none():
    from packaging.version import Version

    newer = [v for v in numpy_dates("pandas-numpy2", "pandas") if Version(v) > Version("2.0.3")]
    got = numpy_case("pandas-numpy2", dates=dict.fromkeys(newer))
    assert got.evidence[2] == ("pip's default index: NumPy 2.0.0 came out on 2024-06-16; no pandas release newer than "
                               "2.0.3 came out after it")
    assert got.hint.endswith("or use a release of pandas built for NumPy 2.x (none on the index: no pandas release "
                             "newer than 2.0.3 came out after it)")
    assert got.cause.facts["fixes"] == ["numpy<2"]


def test_the_release_for_numpy_1_is_the_last_final_release_before_numpy_2():
    got = numpy_case("arrow-numpy1")
    assert got.evidence[2] == ("pip's default index: NumPy 2.0.0 came out on 2024-06-16; the last pyarrow release "
                               "before it is 16.1.0 (2024-05-14)")
    # a pre-release just before NumPy 2 is not it
    noisy = numpy_case("arrow-numpy1", dates={"17.0.0rc1": "2024-06-01T00:00:00Z"})
    assert noisy.evidence[2] == got.evidence[2]
    none_before = numpy_case("arrow-numpy1", dates={v: "2025-01-01T00:00:00Z" for v in
                                                    numpy_dates("arrow-numpy1", "pyarrow")})
    assert none_before.evidence[2] == ("pip's default index: NumPy 2.0.0 came out on 2024-06-16; no pyarrow release "
                                       "came out before it")
    assert none_before.cause.facts["fixes"] == ["numpy>=2.0"]


def numpy_dates(name: str, project: str) -> dict:
    found = events.parse((LOGS / f"real-{name}.log").read_text()).release_dates
    return next(c["dates"] for c in found["checks"] if c["project"] == project)


def test_a_build_that_states_a_cause_the_harness_cannot_place_says_the_evidence_quotes_it():
    output = ("Processing ./dataops-1.0.tar.gz\n  Preparing metadata (setup.py): started\n"
              "  Preparing metadata (setup.py): finished with status 'error'\n  error: subprocess-exited-with-error\n"
              "  \n  × python setup.py egg_info did not run successfully.\n  │ exit code: 1\n"
              "  ╰─> [1 lines of output]\n      FileNotFoundError: [Errno 2] No such file or directory: "
              "'data/table.csv'\n      [end of output]\n  \nerror: metadata-generation-failed\n")
    got = classify.install_failure(output, [], [])
    assert got.evidence[0] == ("the build said: FileNotFoundError: [Errno 2] No such file or directory: "
                               "'data/table.csv'")
    assert got.hint == ("pip had to compile dataops from source and the build failed (the evidence quotes why): give "
                        "the image what it needs, or find a prebuilt wheel for this platform and Python (another index "
                        "variant)")


def test_a_build_hint_is_cut_at_400_characters():
    name = "a" + "-very-long-name" * 15
    got = classify.install_failure(f"  ERROR: Failed building wheel for {name}\nFailed to build {name}\n", [], [])
    assert got.hint.startswith(f"pip had to compile {name} from source")
    assert len(got.hint) == 400 and got.hint.endswith("…")


def test_the_release_dates_are_read_whatever_the_order_of_the_drivers_checks():
    log = (LOGS / "real-pandas-numpy2.log").read_text()
    step = events.parse(log).failed_imports[0]
    probe = events.parse(log).probe
    found = events.parse(log).release_dates
    asked = classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], found)
    reordered = {**found, "checks": list(reversed(found["checks"]))}
    assert classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], reordered) == asked
    # NumPy's own dates missing: no release can be placed, and the hint says the index did not say
    numpy_lost = {**found, "checks": [c if c["project"] != "numpy" else {**c, "dates": {}} for c in found["checks"]]}
    got = classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], numpy_lost)
    assert got.hint.endswith("or use a release of pandas built for NumPy 2.x (pip's default index did not say when "
                             "releases came out: no dates)")


# --- no distribution fits, as a log from an older driver says it ---------------------------------------------


def older_driver(name: str, files: list[str] | None = None) -> events.CellEvents:
    """A recorded log as an older driver wrote it: its `begin` without the interpreter's tags (as
    older-driver.arm-only.log has it), and, with `files`, the index check listing those files."""
    parsed = events.parse((LOGS / name).read_text())
    begin = {k: v for k, v in parsed.begin.items() if k not in ("implementation", "soabi", "libc")}
    assert begin.keys() == events.parse((LOGS / "older-driver.arm-only.log").read_text()).begin.keys()
    checks = tuple({**c, "files": files} for c in parsed.index_checks) if files is not None else parsed.index_checks
    return dataclasses.replace(parsed, begin=begin, index_checks=checks)


ONLY_BINARY = IndexVariant(name="i", pip_args=("--only-binary", ":all:"))


def test_an_older_drivers_log_under_only_binary_names_the_sdist_a_build_would_compile():
    parsed = older_driver("source-build.wheels-only.log")
    got = classify.judge(dataclasses.replace(cell(), index=ONLY_BINARY), Execution(log="", exit_code=1), parsed,
                         "none")
    folder = parsed.index_checks[0]["index"]
    assert got.evidence[2:] == (f"{folder} offers needsnvcc: needsnvcc-1.0.tar.gz",
                                "would be built from source: needsnvcc (needsnvcc-1.0.tar.gz)")
    assert got.hint == ("needsnvcc comes only as source here and only_binary refuses to compile it: find a wheel "
                        "(another index variant), or allow the source build")
    # without only_binary, the sdist is no reason: the platform hint, and no claim about a build
    plain = classify.judge(cell(), Execution(log="", exit_code=1), parsed, "none")
    assert not any(e.startswith("would be built") for e in plain.evidence)
    assert plain.hint == ("no distribution of needsnvcc fits linux/amd64 and the image's Python on this index variant "
                          "(the evidence lists what it has): choose a version it offers for this target, another index "
                          "variant, or another image")


@pytest.mark.parametrize(("files", "sdist"), [
    (["needsnvcc-0.9.zip", "needsnvcc-1.0.tar.gz", "needsnvcc-1.0-cp311-cp311-win_amd64.whl"], "needsnvcc-1.0.tar.gz"),
    (["needsnvcc-0.8.tar.gz", "needsnvcc-0.9.zip"], "needsnvcc-0.9.zip"),
])
def test_the_sdist_named_is_the_last_the_index_lists(files, sdist):
    parsed = older_driver("source-build.wheels-only.log", files)
    got = classify.judge(dataclasses.replace(cell(), index=ONLY_BINARY), Execution(log="", exit_code=1), parsed,
                         "none")
    assert got.evidence[-1] == f"would be built from source: needsnvcc ({sdist})"
    wheels_only = older_driver("source-build.wheels-only.log", ["needsnvcc-1.0-cp311-cp311-win_amd64.whl"])
    refused = classify.judge(dataclasses.replace(cell(), index=ONLY_BINARY), Execution(log="", exit_code=1),
                             wheels_only, "none")
    assert not any(e.startswith("would be built") for e in refused.evidence)
    assert refused.hint.startswith("no distribution of needsnvcc fits linux/amd64")


def test_an_older_drivers_offers_show_the_last_four_files_and_how_many_more():
    files = [f"needsnvcc-1.{n}-cp311-cp311-win_amd64.whl" for n in range(6)]
    got = classify.judge(cell(), Execution(log="", exit_code=1), older_driver("source-build.wheels-only.log", files),
                         "none")
    folder = events.parse((LOGS / "source-build.wheels-only.log").read_text()).index_checks[0]["index"]
    assert got.evidence[2] == (f"{folder} offers needsnvcc: " + ", ".join(files[2:]) + " (and 2 more)")
    four = classify.judge(cell(), Execution(log="", exit_code=1),
                          older_driver("source-build.wheels-only.log", files[:4]), "none")
    assert four.evidence[2] == f"{folder} offers needsnvcc: " + ", ".join(files[:4])


def test_numpy_requirements_are_shown_in_their_fewest_clauses():
    got = numpy_case("pandas-numpy2", scipy={"version": "1.13.1", "requires": [
        "numpy>=1.22.4,<2.3,!=1.24.0", "numpy<2.1; python_version >= '3.9'", "numpy>=1.23"]})
    assert "required by scipy 1.13.1 (numpy!=1.24.0,<2.1,>=1.23)" in got.hint


# --- a name that is no project -------------------------------------------------------------------------------


def typo(names=(), roots=None, checks=None) -> classify.Judgement:
    """no-such-project.house.log (a requirement `edgeopz`), with the matrix's names, and the driver's roots and
    checks changed where given."""
    log = (LOGS / "no-such-project.house.log").read_text()
    parsed = events.parse(log)
    parsed = dataclasses.replace(parsed, index_roots=parsed.index_roots if roots is None else roots(parsed.index_roots),
                                 index_checks=parsed.index_checks if checks is None else checks(parsed.index_checks))
    return classify.judge(cell(), Execution(log=log, exit_code=1), parsed, "none", names=names)


def test_close_names_come_from_the_index_and_the_matrix_each_said_once():
    url = events.parse((LOGS / "no-such-project.house.log").read_text()).index_checks[0]["index"]
    got = typo(names=["edgeopx", "edgeops", "torch"])
    assert got.hint == (f"edgeopz is not a project on {url} (its page answers 404): a misspelt name? Close names: "
                        "edgeops (on the index), edgeopx (in the matrix); correct the requirement")
    assert got.cause.to_json() == {"kind": "no-such-project", "project": "edgeopz", "indexes": [url],
                                   "close": ["edgeops", "edgeopx"]}


def test_with_no_close_name_the_hint_says_where_it_looked():
    url = events.parse((LOGS / "no-such-project.house.log").read_text()).index_checks[0]["index"]
    nothing = lambda roots: tuple({**r, "close": {"edgeopz": []}} for r in roots)  # noqa: E731
    both = typo(names=["torch"], roots=nothing)
    assert both.hint == (f"edgeopz is not a project on {url} (its page answers 404): check the name's spelling "
                         "(nothing like it in the matrix or on the index)")
    assert typo(roots=nothing).hint.endswith("check the name's spelling (nothing like it on the index)")
    unread = lambda roots: tuple({**r, "close": None} for r in roots)  # noqa: E731
    assert typo(names=["torch"], roots=unread).hint.endswith("check the name's spelling (nothing like it in the "
                                                             "matrix)")
    assert typo(roots=unread).hint.endswith("(its page answers 404): check the name's spelling")


def test_a_folder_without_a_file_of_it_is_no_project_there_and_an_index_that_has_it_is_not():
    folder = lambda checks: tuple({**c, "status": "folder", "files": []} for c in checks)  # noqa: E731
    got = typo(checks=folder)
    url = events.parse((LOGS / "no-such-project.house.log").read_text()).index_checks[0]["index"]
    assert got.hint.startswith(f"edgeopz is not a project on {url} (no file of it there): a misspelt name?")
    assert got.evidence[-1] == f"{url} has no edgeopz"
    other = {"index": "https://wheels.example/simple", "project": "edgeopz", "status": 200, "error": None,
             "files": ["edgeopz-1.0-py3-none-manylinux2014_aarch64.whl"]}
    found_elsewhere = typo(checks=lambda checks: (*checks, other))
    assert (found_elsewhere.verdict, found_elsewhere.cause) == (Verdict.NO_DISTRIBUTION, None)
    assert "is not a project" not in found_elsewhere.hint


# --- the notes judge adds ------------------------------------------------------------------------------------


def build_jobs_line(capsys, jobs: int) -> str:
    """The driver's own build-jobs event (incell.driver.build_parallelism) for a matrix that sets build_jobs."""
    from harness.incell import driver

    driver.build_parallelism({"build_jobs": jobs, "memory": 8 << 30}, {})
    [line] = [line for line in capsys.readouterr().out.splitlines() if '"build-jobs"' in line]
    return line + "\n"


def test_source_builds_are_noted_with_the_parallel_jobs_they_ran_with(capsys):
    log = (LOGS / "build-cause.cext.log").read_text()
    for jobs, said in ((3, "3 parallel jobs"), (1, "1 parallel job")):
        with_jobs = build_jobs_line(capsys, jobs) + log
        got = classify.judge(cell(), Execution(log=with_jobs, exit_code=1), events.parse(with_jobs), "none")
        assert got.notes == ("built from source: fastops 1.0",
                             f"source builds ran with {said} (build_jobs = {jobs}, as the matrix sets it): "
                             f"MAX_JOBS={jobs}, CMAKE_BUILD_PARALLEL_LEVEL={jobs}, MAKEFLAGS=-j{jobs}")
    # a cell that built nothing and failed otherwise says nothing of its build jobs
    other = build_jobs_line(capsys, 3) + (LOGS / "conflict.fixtures.log").read_text()
    assert not any(n.startswith("source builds ran") for n in judged_log(other, exit_code=1).notes)


def test_each_retry_of_the_install_is_noted_with_the_index_and_its_reason():
    got = recorded("index-unreachable.closed.log")
    [retry] = events.parse((LOGS / "index-unreachable.closed.log").read_text()).retries
    assert got.notes == (f"install retried (attempt 2 of 2) after {retry['index']} did not answer: "
                         f"{retry['reason']}",)


# --- the torch guard outranks what the install made of the cell, but not a failed install --------------------


@pytest.fixture(scope="module")
def replaced(tmp_path_factory) -> dict:
    """The image's CUDA torch before the install and a CPU build of the same version after, as the driver's
    own torch-state code records them (test_verdicts.torch_state)."""
    from test_verdicts import torch_state

    tmp = tmp_path_factory.mktemp("replaced")
    return {"before": torch_state(tmp, "cuda", "__version__ = '2.5.0+nv24.08'\ncuda = '12.6'\n"),
            "after": torch_state(tmp, "cpu", "__version__ = '2.5.0+nv24.08'\ncuda = None\n")}


@pytest.mark.parametrize(("log", "execution", "verdict"), [
    (COLLECTING, {"exit_code": 1}, Verdict.CRASHED),  # pip died
    (cut("checks.segv.log", 18), {"exit_code": 1}, Verdict.CRASHED),  # the probe died
])
def test_a_replaced_torch_outranks_a_crash(replaced, log, execution, verdict):
    parsed = dataclasses.replace(events.parse(log), torch_states=replaced)
    alone = classify.judge(chain_cell(), Execution(log=log, **execution), events.parse(log), "none")
    assert alone.verdict is verdict
    got = classify.judge(chain_cell(), Execution(log=log, **execution), parsed, "none")
    assert got.verdict is Verdict.TORCH_REPLACED
    assert got.hint == ("pip replaced the image's torch: pin torch==2.5.0+nv24.08 in the cell's requirements (or a "
                        "constraints file) so the install keeps it, or install the other packages with --no-deps")
    assert got.cause is None


@pytest.mark.parametrize("name", ["conflict.fixtures.log", "index-unreachable.closed.log", "build-cause.odd.log"])
def test_a_failed_install_is_not_called_a_replaced_torch(replaced, name):
    log = (LOGS / name).read_text()
    parsed = dataclasses.replace(events.parse(log), torch_states=replaced)
    alone = recorded(name)
    got = classify.judge(cell(), Execution(log=log, exit_code=1), parsed, "none")
    assert (got.verdict, got.evidence, got.hint) == (alone.verdict, alone.evidence, alone.hint)


def test_a_replaced_torch_outranks_the_cuda_verdict_and_keeps_it_as_a_note(replaced):
    cpu = torch_record(version="2.5.0+nv24.08", cuda=None, available=False)
    log = (LOGS / "real-chain-2.13-torchao-0.15.probe.log").read_text()
    parsed = events.parse(log)
    parsed = dataclasses.replace(parsed, probe={**parsed.probe, "torch": cpu}, torch_states=replaced)
    got = classify.judge(chain_cell(cuda=CudaExpectation(torch_build="cuda")), Execution(log=log, exit_code=0),
                         parsed, GPU)
    assert got.verdict is Verdict.TORCH_REPLACED
    assert ("also no-cuda: torch 2.5.0+nv24.08 is a CPU build (torch.version.cuda is None) where a CUDA build was "
            "expected") in got.notes


# --- a shared library the image lacks ---------------------------------------------------------------------


# the bookworm image's distribution as the driver's `begin` event states it
DEBIAN_12 = events.parse((LOGS / "missing-library.soundops.log").read_text()).begin["distribution"]


def test_the_nvidia_drivers_library_is_for_the_runtime_to_mount_not_the_image():
    hint, cause = classify.library_hint("libcuda.so.1", "torch 2.5.0", DEBIAN_12)
    assert hint == ("torch 2.5.0 needs libcuda.so.1, the NVIDIA driver's library, which no image ships: the container "
                    "runtime mounts it when the cell gets the GPU (`wheel-harness doctor` says whether cells get one)")
    assert cause.to_json() == {"kind": "missing-library", "library": "libcuda.so.1", "needed_by": "torch 2.5.0",
                               "image_distribution": "Debian 12", "what": "the NVIDIA driver's library", "driver": True}


def test_a_cuda_library_names_the_kind_of_cuda_image_that_ships_it():
    hint, cause = classify.library_hint("libcupti.so.12", "torch 2.5.0", DEBIAN_12)
    assert hint == ("torch 2.5.0 needs libcupti.so.12, CUDA 12's CUPTI (profiling interface), which the image lacks: "
                    "use an image that ships it (an NVIDIA CUDA devel image, or on Jetson the JetPack image)")
    assert (cause.facts["cuda"], cause.facts["image"]) == ("CUDA 12's CUPTI (profiling interface)", "devel")


def test_without_the_images_distribution_the_package_hint_says_debian_or_ubuntu_and_the_search_names_none():
    hint, cause = classify.library_hint("libGL.so.1", "opencv-python 4.10.0.84", None)
    assert hint == ("opencv-python 4.10.0.84 needs libGL.so.1 (OpenGL, from libglvnd), which the image lacks: add the "
                    "package libgl1 to the image (`apt-get install` on Debian/Ubuntu); or install "
                    "opencv-python-headless instead of opencv-python, a build that does without it")
    assert "image_distribution" not in cause.facts and cause.facts["variant"] == "opencv-python-headless"
    hint, cause = classify.library_hint("libewhodd.so.3", None, None)
    assert hint == ("libewhodd.so.3 is needed, which the image lacks: find the package that provides it with "
                    "`apt-file search libewhodd.so.3`, and add it to the image")
    assert cause.to_json() == {"kind": "missing-library", "library": "libewhodd.so.3",
                               "find": "`apt-file search libewhodd.so.3`"}


def test_only_requirements_whose_markers_hold_in_the_cell_hold_a_package_back(tmp_path):
    holders = [dist("h1", "1.0", "numpy<2; python_version >= '3.0'"),
               dist("h2", "1.0", "numpy<2; python_version < '3'"),
               dist("h3", "1.0", "numpy<2; platform_python_implementation == 'PyPy'"),
               dist("h5", "1.0", "numpy<2; sys_platform == 'win32' or os_name == 'nt'"),
               dist("h6", "1.0", "numpy<2; implementation_name == 'cpython' and platform_system == 'Linux'"),
               dist("h7", "1.0", "numpy<2; python_full_version >= '3.8.0' and platform_machine != 'no-such-cpu'"),
               dist("h8", "1.0", "numpy<2; extra == 'dev'")]
    probe = probed(tmp_path, chain("helper requires numpy>=2.0", NUMPY_1, *holders), "app")
    got = classify.import_failure(probe, ["app"])
    assert got.hint.endswith(
        "held back by h1 1.0 (numpy<2; python_version >= \"3.0\"), h6 1.0 (numpy<2; implementation_name == "
        "\"cpython\" and platform_system == \"Linux\"), h7 1.0 (numpy<2; "
        "python_full_version >= \"3.8.0\" and platform_machine != \"no-such-cpu\"): pin numpy>=2.0 and a release of h1 "
        "that allows it")


def test_without_only_binary_an_sdist_counts_among_what_the_index_offers_for_the_target():
    url = events.parse((LOGS / "only-binary.wheels-only.log").read_text()).index_checks[0]["index"]
    got = recorded("only-binary.wheels-only.log")
    assert got.evidence[2:] == (f"{url} offers edgebin for this target (cp311, manylinux_2_36_x86_64): "
                                "edgebin-1.0-py3-none-any.whl, edgebin-2.0.tar.gz",)


def test_every_index_that_answered_is_listed_with_what_it_offers():
    log = (LOGS / "no-distribution.arm-only.log").read_text()
    parsed = events.parse(log)
    [check] = parsed.index_checks
    mirror = {**check, "index": "https://mirror.example/simple", "url": "https://mirror.example/simple/edgeops/"}
    got = classify.judge(cell(), Execution(log=log, exit_code=1),
                         dataclasses.replace(parsed, index_checks=(check, mirror)), "none")
    assert [e.split(" has nothing")[0] for e in got.evidence[2:]] == [check["index"], mirror["index"]]


def test_five_files_show_four_and_one_more():
    files = [f"needsnvcc-1.{n}-cp311-cp311-win_amd64.whl" for n in range(5)]
    got = classify.judge(cell(), Execution(log="", exit_code=1), older_driver("source-build.wheels-only.log", files),
                         "none")
    assert got.evidence[2].endswith(": " + ", ".join(files[1:]) + " (and 1 more)")


def test_an_extension_built_for_numpy_2_under_numpy_1_without_numpys_version_words_wants_numpy_2():
    """The dtype-size wording names no version: the NumPy it was built for is the other side of the break."""
    step = events.parse((LOGS / "real-arrow-numpy1.log").read_text()).failed_imports[0]
    probe = events.parse((LOGS / "real-arrow-numpy1.log").read_text()).probe
    wording = ("numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88 from "
               "PyObject")
    alone = {**step, "error": {**step["error"], "message": wording}, "messages": []}
    found = classify.numpy_abi(alone, probe, (), (), None)
    assert found.cause.facts["built_for"] == "numpy>=2"
    assert "was built for NumPy 2 or newer and numpy 1.26.4 is installed" in found.hint


def test_a_driver_that_never_started_quotes_its_last_two_lines_of_plain_output():
    said = judged_log("first\nsecond\n@@probe {}\n\n", exit_code=127)
    assert said.evidence == ("the cell driver never started (exit 127): first / second",)


def test_markers_are_judged_for_the_cells_interpreter_as_the_probe_saw_it(tmp_path):
    holders = [dist("onpypy", "1.0", "numpy<2; platform_python_implementation == 'PyPy'"),
               dist("oncpython", "1.0", "numpy<2; implementation_name == 'cpython'"),
               dist("old", "1.0", "numpy<2; python_version < '3.6'")]
    probe = probed(tmp_path, chain("helper requires numpy>=2.0", NUMPY_1, *holders), "app")

    def held(start: dict | None) -> str:
        hint = classify.import_failure({**probe, "start": start}, ["app"]).hint
        return hint.split("held back by ")[1].split(": pin")[0] if "held back by" in hint else ""

    assert held(probe["start"]) == "oncpython 1.0 (numpy<2; implementation_name == \"cpython\")"
    pypy = {**probe["start"], "implementation": "pypy", "python": "3.5.9"}
    assert held(pypy) == ("old 1.0 (numpy<2; python_version < \"3.6\"), onpypy 1.0 (numpy<2; "
                          "platform_python_implementation == \"PyPy\")")
    # a probe that did not say which interpreter ran: every requirement counts
    assert held(None).count(" 1.0 (") == 3


# --- losses at import, and what the platform never had --------------------------------------------------


CPU_TORCH = {"version": "2.13.0+cpu", "cuda_version": None}


def test_a_message_is_one_loss_however_many_of_the_patterns_it_matches():
    text = "Failed to load /v/ops/_C.so: /v/ops/_C.so: undefined symbol: _ZN3c10"
    steps = [{"module": "ops", "ok": True, "messages": [{"kind": "log", "text": text},
                                                         {"kind": "warning", "category": "FutureWarning",
                                                          "text": "could not load the old API"}]}]
    assert classify.degradations(steps) == [("ops", "failed to load part of itself", text)]


def test_what_a_cpu_build_never_had_is_a_note_said_once_and_not_a_loss():
    text = "Failed to load /v/torchao/_C_mxfp8.so: Could not load this library: /v/torchao/_C_mxfp8.so"
    probe = {"torch": CPU_TORCH, "loader": {"/v/torchao/_C_mxfp8.so": "libcudart.so.13: cannot open shared object "
                                                                       "file: No such file or directory"}}
    steps = [{"module": "torchao", "ok": True, "messages": [{"kind": "log", "text": text}] * 2},
             {"module": "failed", "ok": False, "messages": [{"kind": "log", "text": text}]},
             {"module": "quiet", "ok": True, "messages": [{"kind": "log", "text": "loaded 3 plugins"}]}]
    assert classify.degradations(steps, probe) == []
    assert classify.platform_notes(steps, probe) == [
        "torchao: _C_mxfp8.so did not load: the loader says it needs libcudart.so.13, a CUDA library a CPU build of "
        "torch never has (not a loss on this platform)"]
    # the same on a CUDA build: a loss, with the loader's words as evidence
    cuda = {**probe, "torch": {"version": "2.13.0+cu130", "cuda_version": "13.0"}}
    lost = classify.degradations(steps, cuda)
    assert lost == [("torchao", "failed to load part of itself", text)] * 2
    assert classify.platform_notes(steps, cuda) == []
    assert classify.loader_evidence(lost, cuda) == [
        "loading _C_mxfp8.so: libcudart.so.13: cannot open shared object file: No such file or directory"]
    assert classify.loader_evidence(lost, {"loader": {}}) == []


def test_a_torch_that_did_not_import_or_has_no_version_is_no_cpu_build():
    text = "triton not found; kernels fall back to eager"
    assert classify.never_had(text, {"torch": CPU_TORCH}).startswith("runs without triton")
    for torch in (None, {}, {"version": "", "cuda_version": None}, "2.13.0+cpu"):
        assert classify.never_had(text, {"torch": torch}) is None
    assert classify.never_had(text, None) is None


def test_the_cells_requested_names_skip_a_requirement_that_cannot_be_read():
    the_cell = dataclasses.replace(cell(), packages=PackageSet(name="p", requirements=(
        "not a requirement!", "Torch_Tune>=0.6", "numpy<2; python_version >= '3.9'"), modules=()))
    assert classify.requested_names(the_cell) == ["Torch_Tune", "numpy"]


def test_a_numpy_fix_for_a_cell_that_pins_no_numpy_and_a_project_that_asks_any_numpy():
    log = (LOGS / "real-pandas-numpy2.log").read_text()
    parsed = events.parse(log)
    dists = dict(parsed.probe["distributions"])
    dists["pandas"] = {**dists["pandas"], "requires": ["numpy", "python-dateutil>=2.8.2"]}
    got = classify.numpy_abi(parsed.failed_imports[0], {**parsed.probe, "distributions": dists}, ["pandas"], [],
                             parsed.release_dates)
    assert got.hint == ("pandas 2.0.3 was built for NumPy 1.x and numpy 2.0.2 is installed (pandas asks for numpy "
                        "without a version): pin numpy<2, or use a release of pandas built for NumPy 2.x: "
                        "pandas>=2.2.3, the first released after NumPy 2 (`wheel-harness bisect` finds the oldest that "
                        "works)")
    assert (got.cause.facts["asks"], got.cause.facts["numpy_pins"]) == ("numpy", [])


def test_a_failed_install_in_a_cell_killed_for_memory_leads_with_the_kernels_word_and_says_give_it_memory():
    log = (LOGS / "conflict.fixtures.log").read_text()
    alone = recorded("conflict.fixtures.log")
    got = judged_log(log, dataclasses.replace(cell(), memory=2 << 30), exit_code=137, oom_killed=True)
    assert got.verdict is Verdict.CONFLICT
    assert got.evidence == ("the kernel killed the cell for memory (OOMKilled) at its 2 GiB limit during the install",
                            *alone.evidence)
    assert got.hint == ("the cell ran out of memory at its 2 GiB limit: give it more (`memory` in the matrix or the "
                        "include, or --memory), or run fewer cells at once (--jobs)")


def test_pip_killed_by_a_signal_is_said_with_the_signal():
    log = COLLECTING + ('@@harness {"event": "phase", "phase": "install", "status": "failed", "seconds": 1.0, '
                        '"returncode": -9, "signal": "SIGKILL"}\n')
    got = judged_log(log, exit_code=1)
    assert (got.verdict, got.evidence) == (Verdict.CRASHED, ("pip died (SIGKILL)",))


def test_a_probe_that_exited_before_its_summary_says_its_exit_code():
    log = cut("checks.segv.log", 18) + ('@@harness {"event": "phase", "phase": "probe", "status": "failed", '
                                        '"seconds": 0.1, "returncode": 3}\n')
    got = judged_log(log, chain_cell(), exit_code=1)
    assert got.evidence == ("the probe died (exit code 3) while importing torchao.quantization",)


def test_cuda_is_judged_only_for_a_cell_whose_imports_passed():
    cpu = torch_record(version="2.13.0+cpu", cuda=None, available=False)
    log = (LOGS / "imports.lacking.log").read_text()
    parsed = events.parse(log)
    parsed = dataclasses.replace(parsed, probe={**parsed.probe, "torch": cpu})
    the_cell = dataclasses.replace(cell(cuda=CudaExpectation(torch_build="cuda")), packages=PackageSet(
        name="p", requirements=("torchtune",), modules=("torch", "torchao", "torchtune", "torchtune.training")))
    for mode in (GPU, GpuMode.NONE):
        got = classify.judge(the_cell, Execution(log=log, exit_code=1), parsed, mode)
        assert got.verdict is Verdict.IMPORT_FAILED
        assert not any(n.startswith(("also ", "CUDA not checked")) for n in got.notes)


def test_a_failed_check_outranks_a_loss_and_both_kinds_of_note_are_kept():
    """checks.real-chain.log (recorded): torchao 0.15 skipped its C++ extensions, and a user's check that needs
    them failed; the platform's note (no triton on a CPU build) and the check's own note both stay."""
    log = (LOGS / "checks.real-chain.log").read_text()
    got = judged_log(log, chain_cell(), exit_code=0)
    assert got.verdict is Verdict.CHECK_FAILED
    assert got.evidence[0].startswith("check checks/sdpa.py failed: NotImplementedError: ")
    assert got.notes == (
        "torchao: runs without triton, whose kernels are for GPUs: a CPU build of torch never had them (not a loss on "
        "this platform)",
        "check torchao [cpu]: int4 weight-only not run: int4 weight-only is checked on CUDA only: its kernels "
        "(tinygemm) are CUDA's, not the CPU's")
    assert got.hint.startswith("torchao's C++ extensions were skipped")


def test_uv_refusing_to_build_an_sdist_in_the_cell_is_no_distribution_in_uvs_words():
    """In a cell, uv's "no usable wheels" is judged as it is said: no distribution (plan reads the same words
    as a source build, for a prediction that may compile)."""
    output = (LOGS / "uv-sdist-only.txt").read_text()
    got = classify.install_failure(output, [], [], dataclasses.replace(cell(), installer="uv"))
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[1] == ("Wheels are required for `needsnvcc` because building from source is disabled for all "
                               "packages (i.e., with `--no-build`)")
    assert got.hint.startswith("uv found no distribution that fits this platform")


def test_under_only_binary_wheels_for_other_targets_alone_are_no_build_to_refuse():
    got = recorded("no-distribution.arm-only.log", dataclasses.replace(cell(), index=ONLY_BINARY))
    assert not any(e.startswith("would be built") for e in got.evidence)
    assert got.hint.startswith("no distribution of edgeops fits linux/amd64 and the image's Python (cp311, "
                               "manylinux_2_36_x86_64) on this index variant (the evidence lists what it has)")


def test_without_the_drivers_checks_no_distribution_claims_no_list_of_offers():
    output = ("ERROR: Could not find a version that satisfies the requirement edgeops (from versions: none)\n"
              "ERROR: No matching distribution found for edgeops\n")
    got = classify.install_failure(output, [], [], cell())
    assert got.evidence == tuple(output.splitlines())
    assert got.hint == ("no distribution of edgeops fits linux/amd64 and the image's Python on this index variant: "
                        "choose a version it offers for this target, another index variant, or another image")


def test_numpys_c_api_wording_names_the_numpy_the_extension_was_built_for():
    step = events.parse((LOGS / "real-arrow-numpy1.log").read_text()).failed_imports[0]
    probe = events.parse((LOGS / "real-arrow-numpy1.log").read_text()).probe
    wording = "module compiled against NumPy C-API version 0x12 (NumPy 2.0) but this version of numpy is 0x10"
    alone = {**step, "error": {**step["error"], "message": wording}, "messages": []}
    found = classify.numpy_abi(alone, probe, (), (), None)
    assert found.cause.facts["built_for"] == "numpy>=2.0"
    assert "was built for NumPy 2.0 or newer and numpy 1.26.4 is installed" in found.hint


@pytest.mark.parametrize("wording", [
    "module compiled against NumPy C-API version 0x12 (NumPy 2.) but this version of numpy is 0x10",
    "arrowish requires NumPy 2. or newer, found 1.26.4",
])
def test_numpys_words_with_a_broken_version_fall_back_to_the_other_side_of_the_abi_break(wording):
    """A version cut short in NumPy's words ("2.") is no specifier: the classifier says the extension was
    built for the other side of the 1.x/2.x break from the installed numpy instead of raising."""
    log = events.parse((LOGS / "real-arrow-numpy1.log").read_text())
    step = log.failed_imports[0]
    alone = {**step, "error": {**step["error"], "message": wording}, "messages": []}
    found = classify.numpy_abi(alone, log.probe, (), (), None)
    assert found.cause.facts["built_for"] == "numpy>=2"
    assert "numpy 1.26.4 is installed" in found.hint


def test_a_probe_record_without_the_gpu_operation_does_not_flag_it():
    record = torch_record()
    del record["gpu_op"]  # a probe from before the GPU operation was tried
    assert classify.check_cuda(cell(CudaExpectation(torch_build="cuda")), record, GPU) == (None, [])


def test_a_package_renamed_across_releases_is_named_for_the_images_release():
    hint, _ = classify.library_hint("libaio.so.1", "aioops 1.0", DEBIAN_12)
    assert hint == ("aioops 1.0 needs libaio.so.1 (the Linux asynchronous I/O library), which the image lacks: add the "
                    "package libaio1 to the image (`apt-get install` on Debian 12)")
    unknown, _ = classify.library_hint("libaio.so.1", "aioops 1.0", None)
    assert "libaio1 (libaio1t64 on Debian 13, Ubuntu 24.04 and later)" in unknown


@pytest.mark.parametrize(("message", "hint"), [
    ("/lib/libc.so.6: version `GLIBC_2.34' not found (required by /x/_C.so)",
     "a binary needs glibc 2.34, newer than the image's: use a newer base image, or wheels built for this glibc (a "
     "lower manylinux level)"),
    ("/x/_C.so: undefined symbol: _ZN3c104cuda9SetDeviceEi",
     "a compiled extension was built against another version of a library it links to (undefined symbol "
     "_ZN3c104cuda9SetDeviceEi): install builds made for this torch and CUDA"),
])
def test_a_binary_that_does_not_fit_the_image_gets_the_whole_hint(tmp_path, message, hint):
    probe = probed(tmp_path, {"ops/__init__.py": f"raise ImportError({message!r})\n"}, "ops")
    got = classify.import_failure(probe)
    assert got.hint == hint
    assert got.cause is None


def test_uv_under_only_binary_judges_what_the_index_offers_for_the_cells_target_and_options():
    from harness.plan.target import Target

    recorded_log = events.parse((LOGS / "source-build.wheels-only.log").read_text())
    [check] = recorded_log.index_checks
    uv_only_binary = dataclasses.replace(cell(), installer="uv", index=ONLY_BINARY)
    got = classify.install_failure((LOGS / "uv-sdist-only.txt").read_text(), [check], [], uv_only_binary,
                                   target=Target.of_begin(recorded_log.begin))
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[-1] == (f"{check['index']} has nothing of needsnvcc for this target (cp311, "
                                "manylinux_2_36_x86_64): needsnvcc 1.0 exists only as an sdist (needsnvcc-1.0.tar.gz)")


def test_a_driver_that_failed_inside_a_phase_is_its_own_bug_with_its_words(capsys):
    from harness.incell import driver

    driver.say(event="begin", python="3.11", executable="python3", machine="x86_64")
    assert driver.timed_phase("venv", lambda: 1 / 0) is False
    log = capsys.readouterr().out
    got = judged_log(log, exit_code=1)
    assert got.verdict is Verdict.CRASHED
    [phase] = events.parse(log).phases
    assert got.evidence == (phase["error"],) and phase["error"].startswith(f"{driver.DRIVER_FAILED}: ZeroDivisionError")
    assert got.hint == "a bug in the harness's cell driver, not in the packages: report it with the log"


def test_a_check_that_never_finished_keeps_the_imports_losses_but_not_what_the_platform_never_had():
    got = judged_log(cut("checks.real-chain.log", 179), chain_cell(), exit_code=1)  # the first check just began
    assert got.verdict is Verdict.CRASHED
    assert got.evidence == ("check torch [cpu] never finished: unfinished",
                            "also lost at import: torchao: Skipping import of cpp extensions due to incompatible torch "
                            "version 2.13.0+cpu for torchao version 0.15.0 Please see "
                            "https://github.com/pytorch/ao/issues/2919 for more info")


def test_a_check_that_crashed_in_a_cell_killed_for_memory_leads_with_the_kernels_word():
    got = judged_log((LOGS / "checks.segv.log").read_text(), chain_cell(), exit_code=137, oom_killed=True)
    assert got.verdict is Verdict.CRASHED
    assert got.evidence[0] == "the kernel killed the cell for memory (OOMKilled)"
    assert got.evidence[1] == "check checks/segv.py crashed: killed by SIGSEGV (Fatal Python error: Segmentation fault)"
    assert got.hint.startswith("the cell ran out of memory: give it more")


def test_a_probe_that_died_after_its_imports_names_no_module():
    got = judged_log(cut("checks.segv.log", 22), chain_cell(), exit_code=1)  # every module imported, then nothing
    assert got.evidence == ("the probe died (exit code 1)",)
    assert got.hint.startswith("the interpreter died: usually a binary built for another torch")


KILLED_BUILD = ("  Building wheel for hog (setup.py): started\n"
                "  gcc: fatal error: Killed signal terminated program cc1plus\n"
                "  error: command '/usr/bin/gcc' failed with exit code 1\n"
                "  ERROR: Failed building wheel for hog\n")


def test_a_build_whose_compiler_was_killed_is_out_of_memory_even_when_pip_lived_to_say_so():
    got = judged_log(logged(("venv", "ok", ""), ("install", "failed", KILLED_BUILD)), exit_code=1)
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.evidence == ("the source build ran out of memory at the build's default parallelism",
                            "the build said: Killed signal terminated program cc1plus")
    # pip itself killed while the compiler's death is in its output, and no word from the kernel: pip died
    assert judged_log(logged(("venv", "ok", ""), ("install", "incomplete", KILLED_BUILD)),
                      exit_code=1).evidence == ("pip died (no end recorded)",)


def test_a_build_killed_for_memory_names_the_jobs_the_driver_gave_it(capsys):
    log = build_jobs_line(capsys, 4) + BUILDING
    got = judged_log(log, exit_code=137, oom_killed=True)
    assert got.evidence[0] == ("the source build ran out of memory at 4 parallel jobs (build_jobs = 4, as the matrix "
                               "sets it)")
    assert got.hint.startswith("ran out of memory at 4 parallel jobs: lower build_jobs (e.g. build_jobs = 2 in")


def test_a_cell_whose_install_was_skipped_goes_on_to_its_probe():
    log = logged(("venv", "ok", ""), ("install", "skipped", ""))
    got = judged_log(log, exit_code=1)
    assert got.verdict is Verdict.CRASHED and got.evidence[0].startswith("the probe died")


def test_a_failed_import_before_a_loss_does_not_hide_it():
    steps = [{"module": "broken", "ok": False, "messages": [{"kind": "log", "text": "Failed to load x"}]},
             {"module": "ops", "ok": True, "messages": [{"kind": "log", "text": "triton not found"}]}]
    assert classify.degradations(steps) == [("ops", "runs without triton", "triton not found")]


def test_a_name_no_index_has_names_every_index_asked():
    url = events.parse((LOGS / "no-such-project.house.log").read_text()).index_checks[0]["index"]
    mirror = lambda checks: (*checks, {**checks[0], "index": "https://mirror.example/simple"})  # noqa: E731
    got = typo(checks=mirror)
    assert got.hint.startswith(f"edgeopz is not a project on {url} or https://mirror.example/simple (its page "
                               "answers 404)")


# --- mutation survivors: cls-d ---


def test_a_failed_build_of_a_bare_sdist_file_names_its_project():
    """An sdist given by its bare file name (no folder) is named by its project, not its file name."""
    got = classify.install_failure("Processing fastops-1.0.tar.gz\n  Preparing metadata (pyproject.toml): finished "
                                   "with status 'error'\nerror: metadata-generation-failed\n", [], [])
    assert got.hint.startswith("pip had to compile fastops from source and ")


def test_a_distribution_the_probe_found_without_a_version_is_named_alone_and_still_counts_as_pinned(tmp_path):
    """A distribution whose metadata has no Version is named by its name alone (no "None"), and a cell that
    names it does not have it called a dependency no pin names."""
    nameonly = {"app-1.0.dist-info/METADATA": "Name: app\n", "app-1.0.dist-info/top_level.txt": "app\n"}
    missing = probed(tmp_path / "missing", {**nameonly, "app/__init__.py": "import nothere\n"}, "app")
    assert missing["distributions"]["app"]["version"] is None
    assert classify.import_failure(missing, ["app"]).hint.startswith("app needs module nothere, and no installed ")
    broken = probed(tmp_path / "broken", {**nameonly, "app/__init__.py": "raise ImportError('app is broken')\n"},
                    "app")
    got = classify.import_failure(broken, ["app"])
    assert got.hint == "app raised ImportError on import: the evidence shows where; the log has the traceback"
    assert got.cause is None


def test_no_distribution_quotes_pips_last_two_error_lines():
    """Of pip's error lines, the last two (what it could not find) are the evidence, in pip's order."""
    lines = ["ERROR: Ignored the following versions that require a different python version: 0.9 Requires-Python "
             "<3.8", "ERROR: Could not find a version that satisfies the requirement edgeops (from versions: none)",
             "ERROR: No matching distribution found for edgeops"]
    got = classify.install_failure("\n".join(lines) + "\n", [], [], cell())
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence == tuple(lines[1:])


def test_an_index_that_answers_garbage_quotes_only_pips_last_error_and_last_exception():
    """pip's last ERROR line and the last exception it printed (the one that ended it) are quoted, one each."""
    url = "https://mirror.example/simple"
    check = {"index": url, "project": "edgeops", "url": f"{url}/edgeops/", "status": 200, "error": None, "files": [],
             "links": 0, "answer": "1024 bytes that are not text", "garbage": True}
    output = ("ERROR: Could not install packages due to an OSError: broken pipe\nERROR: Exception:\n"
              "Traceback (most recent call last):\n"
              "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in position 128: invalid start byte\n"
              "During handling of the above exception, another exception occurred:\n"
              "pip._vendor.requests.exceptions.ContentDecodingError: the body could not be read\n")
    got = classify.install_failure(output, [check], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.evidence[1:] == ("ERROR: Exception:",
                                "pip._vendor.requests.exceptions.ContentDecodingError: the body could not be read")


def test_what_an_index_offers_is_judged_for_the_version_the_cells_requirement_asks():
    """Where the installer's words quote no requirement, the cell's own pin says which version is wanted; a
    check without a cell wants any version."""
    from harness.plan.target import Target

    target = Target.of_begin(events.parse((LOGS / "no-distribution.arm-only.log").read_text()).begin)
    url = "https://wheels.example/simple"
    check = {"index": url, "project": "edgeops", "url": f"{url}/edgeops/", "status": 200, "error": None,
             "files": ["edgeops-1.0-py3-none-manylinux2014_aarch64.whl", "edgeops-2.0-py3-none-any.whl"]}
    pinned = dataclasses.replace(cell(), packages=PackageSet(name="p", requirements=("edgeops==1.0",),
                                                             modules=("edgeops",)))
    got = classify._offers([check], "", pinned, target)
    assert len(got) == 2 and "edgeops-2.0-py3-none-any.whl" in got[0]
    assert got[1].startswith(f"{url}: edgeops 1.0 exists only as wheels for other targets")
    anything = classify._offers([check], "", None, target)
    assert len(anything) == 1 and "edgeops-2.0-py3-none-any.whl" in anything[0]


def test_an_older_drivers_zip_sdist_alone_is_a_build_only_binary_refuses():
    """A project the index has only as a .zip sdist is one a build would compile."""
    parsed = older_driver("source-build.wheels-only.log", ["needsnvcc-0.9.zip"])
    got = classify.judge(dataclasses.replace(cell(), index=ONLY_BINARY), Execution(log="", exit_code=1), parsed,
                         "none")
    assert got.evidence[-1] == "would be built from source: needsnvcc (needsnvcc-0.9.zip)"
    assert got.hint.startswith("needsnvcc comes only as source here and only_binary refuses to compile it")


def test_a_misspelt_name_after_a_project_that_exists_elsewhere_is_still_found():
    """Every project pip missed is looked at, not only the first: one that an index has for other targets
    does not hide a later one that no index has."""
    url = "https://wheels.example/simple"
    output = ("ERROR: No matching distribution found for edgeops\n"
              "ERROR: No matching distribution found for edgeopz\n")
    checks = [{"index": url, "project": "edgeops", "url": f"{url}/edgeops/", "status": 200, "error": None,
               "files": ["edgeops-1.0-py3-none-manylinux2014_aarch64.whl"]},
              {"index": url, "project": "edgeopz", "url": f"{url}/edgeopz/", "status": 404, "error": None,
               "files": []}]
    got = classify.install_failure(output, checks, [], cell())
    assert got.cause is not None and got.cause.facts["project"] == "edgeopz"
    assert got.hint.startswith(f"edgeopz is not a project on {url}")


def test_a_no_such_project_hint_is_cut_at_400_characters():
    """A name missing from many indexes: the hint naming them all is cut at 400 characters."""
    mirrors = lambda checks: (*checks, *({**checks[0], "index": f"https://mirror-{n}.example/simple"}  # noqa: E731
                                         for n in range(15)))
    got = typo(checks=mirrors)
    assert got.hint.startswith("edgeopz is not a project on ")
    assert len(got.hint) == 400 and got.hint.endswith("…")


def test_a_dependency_is_required_by_the_distributions_whose_readable_requirements_hold_in_the_cell(tmp_path):
    """Who required a dependency: read past a requirement line that cannot be read, with the markers judged for
    the cell's interpreter, every such distribution listed."""
    probe = probed(tmp_path, chain("helper is broken", NUMPY_1,
                                   dist("app", "1.0", "not a requirement!", "helper"),
                                   dist("other", "1.0", "helper"),
                                   dist("winonly", "1.0", "helper; sys_platform == 'win32'")), "app")
    got = classify.import_failure(probe, ["app"])
    assert got.cause.facts["required_by"] == ["app 1.0", "other 1.0"]
    assert got.hint.startswith("helper 2.1, which no pin names (required by app 1.0, other 1.0) fails on import")


def test_a_dependency_nothing_installed_requires_is_said_without_who_required_it(tmp_path):
    """A distribution no pin names and no installed distribution requires: no "required by" at all."""
    files = {"app/__init__.py": "import helper\n", **dist("app", "1.0"),
             "helper/__init__.py": "raise ImportError('helper is broken')\n", **dist("helper", "2.1")}
    got = classify.import_failure(probed(tmp_path, files, "app"), ["app"])
    assert got.hint.startswith("helper 2.1, which no pin names fails on import: pin helper to a release")
    assert got.cause.facts["required_by"] == []


def test_a_numpy_release_the_index_lists_that_is_no_version_is_left_out(tmp_path):
    """NumPy's own list of releases may hold a name that is no version: it is skipped, the rest decide."""
    log = (LOGS / "real-pandas-numpy2.log").read_text()
    parsed = events.parse(log)
    step, probe, found = parsed.failed_imports[0], parsed.probe, parsed.release_dates
    asked = classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], found)
    noisy = {**found, "checks": [c if c["project"] != "numpy" else
                                 {**c, "dates": {**c["dates"], "not-a-version": "2024-01-01T00:00:00Z"}}
                                 for c in found["checks"]]}
    assert classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], noisy) == asked


WRONG_ROOT_OUTPUT = ("ERROR: Could not find a version that satisfies the requirement edgeops (from versions: none)\n"
                     "ERROR: No matching distribution found for edgeops\n")


def templated(template: str) -> classify.Judgement:
    """A cell whose index URL a template filled from its image (JetPack 6.2, CUDA 12.6), whose root answered 404."""
    from harness.matrix import templates

    image = Image(name="jp6", arch=Arch.AMD64, local_build="debian-bookworm", jetpack="6.2", cuda="12.6")
    index = templates.fill(IndexVariant(name="jetson", index_url=template), image)
    the_cell = Cell(image=image, index=index, packages=PackageSet(name="p", requirements=("edgeops",),
                                                                  modules=("edgeops",)))
    [url] = index.urls
    return classify.install_failure(WRONG_ROOT_OUTPUT, [], [], the_cell,
                                    roots=[{"index": url, "url": f"{url}/", "status": 404, "links": 0}])


def test_a_wrong_templated_url_names_only_the_image_declarations_the_template_used():
    """Filled from {cuda_nodot} alone: the hint names the image's cuda, not its jetpack; filled from {arch}
    alone: no image declaration is named."""
    cuda = templated("https://wheels.example/cu{cuda_nodot}")
    assert cuda.verdict is Verdict.NO_DISTRIBUTION
    assert "cuda = \"12.6\"" in cuda.hint and "jetpack" not in cuda.hint
    arch = templated("https://wheels.example/{arch}")
    assert "{arch} = amd64" in arch.hint
    assert "declaration" not in arch.hint and arch.hint.endswith(")")


def test_a_wrong_templated_url_hint_is_cut_at_500_characters():
    got = templated("https://wheels.example/" + "very-long-folder/" * 20 + "cu{cuda_nodot}")
    assert got.hint.startswith("the index URL https://wheels.example/very-long-folder/")
    assert len(got.hint) == 500 and got.hint.endswith("…")


def test_judge_keeps_the_notes_it_had_when_the_cuda_verdict_or_the_torch_guard_takes_over(replaced):
    """The platform's notes of a degraded cell stay when CUDA's verdict replaces it, and when a replaced torch
    does."""
    cpu = torch_record(version="2.13.0+cpu", cuda=None, available=False)
    alone = judged_with_torch(cpu, None, GPU)
    assert alone.verdict is Verdict.DEGRADED and alone.notes
    cuda = judged_with_torch(cpu, CudaExpectation(torch_build="cuda"), GPU)
    assert cuda.verdict is Verdict.NO_CUDA
    assert set(alone.notes) <= set(cuda.notes)
    log = (LOGS / "real-chain-2.13-torchao-0.15.probe.log").read_text()
    parsed = dataclasses.replace(events.parse(log), torch_states=replaced)
    guarded = classify.judge(chain_cell(), Execution(log=log, exit_code=0), parsed, "none")
    assert guarded.verdict is Verdict.TORCH_REPLACED
    assert set(alone.notes) <= set(guarded.notes)


def test_every_distribution_built_from_source_is_named_in_one_note():
    log = (LOGS / "build-cause.cext.log").read_text()
    parsed = events.parse(log)
    [item] = parsed.install["items"]
    two = {**parsed.install, "items": [item, {**item, "name": "slowops", "version": "2.0"}]}
    got = classify.judge(cell(), Execution(log=log, exit_code=1), dataclasses.replace(parsed, install=two), "none")
    assert "built from source: fastops 1.0, slowops 2.0" in got.notes


def test_a_failed_source_build_that_built_nothing_still_notes_its_parallel_jobs(capsys):
    """A build killed for memory before anything was built: the note says how many jobs it ran with."""
    got = judged_log(build_jobs_line(capsys, 4) + BUILDING, exit_code=137, oom_killed=True)
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert not any(n.startswith("built from source") for n in got.notes)
    assert any(n.startswith("source builds ran with 4 parallel jobs") for n in got.notes)


def test_a_cuda_library_no_kind_of_cuda_image_ships_names_none():
    """TensorRT is in no NVIDIA CUDA image kind: the hint says to use an image that ships it, and no kind."""
    hint, cause = classify.library_hint("libnvinfer.so.10", "trtops 1.0", DEBIAN_12)
    assert hint.startswith("trtops 1.0 needs libnvinfer.so.10, CUDA's TensorRT, which the image lacks")
    assert hint.endswith("use an image that ships it")
    assert "image" not in cause.facts


def test_a_known_library_without_a_package_here_is_said_with_what_it_is(tmp_path):
    """On a distribution the table names no package for (an RPM one), the hint still says what the library is."""
    from harness.incell import driver

    (tmp_path / "os-release").write_text('NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"\n'
                                         'ID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n')
    rocky = driver.os_release((str(tmp_path / "os-release"),))
    hint, cause = classify.library_hint("libGL.so.1", "glops 1.0", rocky)
    assert hint.startswith("glops 1.0 needs libGL.so.1 (OpenGL, from libglvnd), which the image lacks: find the "
                           "package that provides it on Rocky Linux 9.4")
    assert "dnf provides" in hint and "package" not in cause.facts


def test_an_install_item_without_a_name_is_compared_with_no_planned_project():
    """A nameless item in a stored record matches nothing the plan names, not even a project called "none"
    (what `str(None)` gives) or any other placeholder a missing name could be read as."""
    result = stored("bookworm-amd64__skipping__ao")
    nameless = {**result, "install": {**result["install"], "items": [*result["install"]["items"], {"version": "9.9"}]}}
    planned = {**result["prediction"], "versions": {"none": "1.0", "xxxx": "1.0", "unknown": "1.0"}}
    assert classify.disagreement(planned, nameless) is None
# --- mutation survivors: cls-a ---


def test_a_failed_int4_check_is_judged_with_the_gpu_the_probe_saw():
    """what_ran gives the checks the probe's record: a GPU older than Ampere explains an int4 kernel failure."""
    int4 = {"check": "torchao", "kind": "builtin", "device": "cuda:0", "outcome": "failed",
            "error": {"part": "int4 weight-only", "last_line": "RuntimeError: _weight_int4pack_mm is not supported"}}
    probe = {"imports": [{"module": "torchao", "ok": True, "messages": []}], "complete": True,
             "distributions": {"torchao": {"version": "0.15.0"}},
             "torch": torch_record(capability=(7, 2), arch_list=("sm_72",))}  # a Xavier
    got = classify.what_ran(events.CellEvents(begin={}, probe=probe, checks=(int4,)))
    assert got.verdict is Verdict.CHECK_FAILED
    assert "this GPU has 7.2" in got.hint and "int8 weight-only" in got.hint


def warned(tmp_path: Path, module: str, text: str) -> dict:
    """The real probe's record of `module` 1.0, which imports but warns `text` (a part it could not load)."""
    code = f"import warnings\nwarnings.warn({text!r})\n"
    return probed(tmp_path, {**dist(module, "1.0"), f"{module}/__init__.py": code}, module)


def test_a_loss_from_a_missing_library_names_the_package_of_the_images_distribution_and_keeps_the_cause(tmp_path):
    """A degraded cell's hint and cause use the distribution the driver's `begin` event states."""
    probe = warned(tmp_path, "soundops", "Failed to load the native part: libsndfile.so.1: cannot open shared object "
                                         "file: No such file or directory")
    begin = events.parse((LOGS / "missing-library.soundops.log").read_text()).begin
    got = classify.what_ran(events.CellEvents(begin=begin, probe=probe))
    assert got.verdict is Verdict.DEGRADED
    assert "libsndfile1" in got.hint and "Debian 12" in got.hint
    assert got.cause.kind == "missing-library"
    assert (got.cause.facts["library"], got.cause.facts["image_distribution"]) == ("libsndfile.so.1", "Debian 12")


def test_a_loss_hint_too_long_is_cut_at_500_characters():
    """A distribution and a library with very long names: the degraded hint is cut at 500 characters."""
    module = "edge_accelerated" + "_inference_runtime_plugins" * 4
    library = "lib" + "edge_accelerated_inference_runtime_plugin_" * 3 + "backend.so.10"
    text = f"Failed to load the backend: {library}: cannot open shared object file: No such file or directory"
    probe = {"imports": [{"module": module, "ok": True, "messages": [{"kind": "log", "text": text}]}],
             "distributions": {module.replace("_", "-"): {"version": "1.0"}}, "complete": True}
    got = classify.what_ran(events.CellEvents(begin={}, probe=probe))
    assert got.verdict is Verdict.DEGRADED
    assert got.hint.startswith(f"{module.replace('_', '-')} 1.0 failed to load part of itself: ")
    assert len(got.hint) == 500 and got.hint.endswith("…")


def test_a_probe_that_died_quotes_only_the_last_two_lines_it_printed():
    """The interpreter's last words in the evidence are its last two lines, not more."""
    said = "".join((LOGS / "checks.segv.log").read_text().splitlines(keepends=True)[29:34])  # faulthandler's words
    last = [line.strip() for line in said.splitlines() if line.strip()]
    assert len(last) == 4 and last[0] == "Fatal Python error: Segmentation fault"
    died = cut("checks.segv.log", 18) + said + ('@@harness {"event": "phase", "phase": "probe", "status": "failed", '
                                                '"seconds": 0.1, "returncode": -11}\n')
    got = judged_log(died, chain_cell(), exit_code=1)
    assert got.verdict is Verdict.CRASHED and len(got.evidence) == 2
    assert last[2] in got.evidence[1] and last[3] in got.evidence[1]
    assert last[1] not in got.evidence[1] and last[0] not in got.evidence[1]


def test_a_probe_that_never_started_has_no_last_words_to_quote():
    """No probe output at all: the evidence is the death alone, with no empty quote after it."""
    got = judged_log(logged(("venv", "ok", ""), ("install", "skipped", "")), exit_code=1)
    assert got.verdict is Verdict.CRASHED
    assert len(got.evidence) == 1 and got.evidence[0].startswith("the probe died")


def test_an_import_error_without_a_message_is_quoted_by_its_type_alone(tmp_path):
    """Nothing is put in the evidence for a message the exception did not have."""
    probe = probed(tmp_path, {**APP, "app/__init__.py": "raise ImportError\n"}, "app")
    got = classify.import_failure(probe, ["app"])
    assert got.evidence[0] == "import app: ImportError:"


def test_code_no_distribution_owns_is_named_by_its_module_and_a_missing_submodule_by_its_package(tmp_path):
    """Without metadata the importer is its module; what no distribution provides is the top-level package."""
    probe = probed(tmp_path, {"loose/__init__.py": "import vendored.fast\n", "vendored/__init__.py": ""}, "loose")
    assert probe["imports"][0]["error"]["missing_module"] == "vendored.fast"
    got = classify.import_failure(probe, ["app"])
    assert got.hint.startswith("loose needs module vendored, ")


def test_a_distribution_missing_one_of_its_own_modules_is_not_told_to_pin_itself(tmp_path):
    """app's own app._native is missing: the hint names it, and does not say to pin app to fit app."""
    probe = probed(tmp_path, {**APP, "app/__init__.py": "import app._native\n"}, "app")
    got = classify.import_failure(probe, ["app"])
    assert "app._native" in got.hint and "app 1.0" in got.hint
    assert "pin app" not in got.hint and "made for app" not in got.hint


# NumPy 2's words on an extension built for NumPy 1.x, as the real cell real-opencv-numpy2.log printed them
NUMPY_1X_WORDS = [m["text"] for m in events.parse((LOGS / "real-opencv-numpy2.log").read_text()).failed_imports[0][
    "messages"] if m["text"]][:7]


def test_a_circular_import_is_judged_as_itself_even_where_numpy_printed_its_abi_words(tmp_path):
    """A name that could not be imported from a partially initialised module is the cause: neither NumPy's
    words printed before it (as a torch built for NumPy 1.x prints them, and goes on) nor a module `None`."""
    words = "\n".join(NUMPY_1X_WORDS) + "\n"
    files = {**APP, **dist("numpy", "2.0.2"), "app/core.py": "from app import late\n",
             "app/__init__.py": f"import sys\nsys.stderr.write({words!r})\nfrom app.core import late\nlate = 1\n"}
    probe = probed(tmp_path, files, "app")
    [step] = probe["imports"]
    assert (step["error"]["missing_name"], step["error"]["from_module"]) == ("late", None)
    assert classify.numpy_abi(step, probe, ["app"], ["app"], None) is not None  # NumPy's words alone would say so
    got = classify.import_failure(probe, ["app"], pins=["app"])
    assert got.verdict is Verdict.IMPORT_FAILED and got.cause is None
    assert got.hint.startswith("app raised ImportError on import")
    assert "numpy" not in got.hint.lower() and "None" not in got.hint


def test_an_import_that_failed_in_other_words_after_numpy_printed_its_abi_words_is_a_numpy_abi_failure():
    """Only what NumPy printed says so: the verdict, hint and cause are NumPy's, the evidence the failure's then
    NumPy's words, each once."""
    import real_cells

    parsed = events.parse((LOGS / "real-opencv-numpy2.log").read_text())
    step = parsed.failed_imports[0]
    message = "initialization of cv2 raised unreported exception"  # CPython's words for an init that failed so
    other = {**step, "error": {**step["error"], "type": "SystemError", "message": message,
                               "last_line": f"SystemError: {message}"}}
    probe = {**parsed.probe, "imports": [other if s is step else s for s in parsed.probe["imports"]]}
    requirements, _ = real_cells.SETS["opencv-numpy2"]
    got = classify.import_failure(probe, ["opencv-python-headless", "numpy"], pins=requirements,
                                  release_dates=parsed.release_dates)
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.cause.kind == "numpy-abi" and got.cause.facts["built_for"] == "numpy<2"
    assert "opencv-python-headless" in got.hint and "numpy<2" in got.hint
    assert got.evidence[0] == f"import cv2: SystemError: {message}"
    assert any(e.startswith("NumPy said: ") for e in got.evidence[1:])
    assert len(set(got.evidence)) == len(got.evidence)


def test_numpys_abi_words_from_code_no_distribution_owns_get_the_general_hint(tmp_path):
    """No distribution to name a release of: the failure is still judged, with the general hint."""
    files = {**dist("numpy", "2.0.2"),
             "loose/__init__.py": "raise ImportError('numpy.core.multiarray failed to import')\n"}
    probe = probed(tmp_path, files, "loose")
    got = classify.import_failure(probe, ["loose"])
    assert got.verdict is Verdict.IMPORT_FAILED and got.cause is None
    assert got.hint.startswith("loose raised ImportError on import")


def test_a_cell_that_names_no_requirements_is_not_told_a_dependency_is_unpinned(tmp_path):
    """With no requirements (the image's own packages), no dependency is one 'no pin names'."""
    probe = probed(tmp_path, chain("helper requires numpy>=2.0", NUMPY_1, HOLDER), "app")
    got = classify.import_failure(probe)
    assert "no pin names" not in got.hint and got.cause is None


def test_a_dependency_whose_metadata_states_no_version_is_named_in_the_cause_without_one(tmp_path):
    """A dist-info without a Version: the cause still names the distribution, and no version."""
    files = chain("helper is broken", NUMPY_1)
    files["helper-2.1.dist-info/METADATA"] = "Name: helper\nRequires-Dist: numpy\n"
    probe = probed(tmp_path, files, "app")
    got = classify.import_failure(probe, ["app"])
    assert got.cause.kind == "transitive"
    assert (got.cause.facts["distribution"], got.cause.facts["version"]) == ("helper", None)
    assert got.cause.facts["required_by"] == ["app 1.0"]


def test_an_undefined_symbol_too_long_is_cut_in_the_hint_and_the_advice_kept(tmp_path):
    """A C++ symbol of 480 characters (templates mangle long): the hint names its start and still ends with
    what to do; the evidence keeps as much of it as an evidence line holds."""
    symbol = "_ZN3c104impl24BoxedKernelWrapperIF" + "St8optionalIN3c1010ScalarTypeEE" * 14 + "EvE4callE"
    probe = probed(tmp_path, {"ops/__init__.py": f"raise ImportError('/x/_C.so: undefined symbol: {symbol}')\n"}, "ops")
    got = classify.import_failure(probe)
    assert got.hint.startswith(f"a compiled extension was built against another version of a library it links to "
                               f"(undefined symbol {symbol[:100]}")
    assert got.hint.endswith("…): install builds made for this torch and CUDA")
    named = got.hint.split("(undefined symbol ", 1)[1].rsplit("): install", 1)[0]
    assert len(named) <= 160  # a line's worth of the symbol, not the evidence's 300 characters
    assert symbol[:200] in got.evidence[0]


def test_an_import_hint_too_long_is_cut_at_500_characters(tmp_path):
    """A module the cell names by a very deep dotted path that raises on import: the hint that names it is
    cut at 500 characters."""
    parts = ["edge", *["accelerated_inference_runtime_plugin"] * 14]
    files = {"/".join(parts[:i]) + "/__init__.py": "" for i in range(1, len(parts))}
    files["/".join(parts) + "/__init__.py"] = "raise RuntimeError('no backend')\n"
    module = ".".join(parts)
    got = classify.import_failure(probed(tmp_path, files, module))
    assert got.hint.startswith(f"{module[:400]}")
    assert len(got.hint) == 500 and got.hint.endswith("…")


def test_a_library_named_by_path_is_named_by_file_and_needed_by_the_distribution_whose_folder_holds_it(tmp_path):
    """app loads a library sounddata should hold (ctypes, by its path): the image's package for the file, and
    sounddata, not app, needs it."""
    files = {**dist("app", "1.0", "sounddata"), **dist("sounddata", "1.0"), "sounddata/__init__.py": "",
             "app/__init__.py": "import ctypes, os, sounddata\n"
                                "ctypes.CDLL(os.path.join(os.path.dirname(sounddata.__file__), 'libsndfile.so.1'))\n"}
    probe = probed(tmp_path, files, "app")
    assert probe["imports"][0]["error"]["library_of"] == "sounddata"
    got = classify.import_failure(probe, ["app"], distribution=DEBIAN_12)
    assert (got.cause.facts["library"], got.cause.facts["needed_by"]) == ("libsndfile.so.1", "sounddata 1.0")
    assert got.cause.facts["package"] == "libsndfile1"
    assert got.hint.startswith("sounddata 1.0 needs libsndfile.so.1")
# --- mutation survivors: cls-b ---


from harness.verdicts.evidence import clip  # noqa: E402  (how an evidence line is written)


def _held_back(tmp_path: Path, start: dict, *holders: dict[str, str]) -> list[str]:
    """The holders (each requiring numpy<2 under a marker) that the hint says hold numpy back, for a cell
    whose probe recorded `start`: those whose marker holds in that cell."""
    probe = probed(tmp_path, chain("helper requires numpy>=2.0", NUMPY_1, *holders), "app")
    hint = classify.import_failure({**probe, "start": start}, ["app"]).hint
    said = hint.split("held back by ")[1].split(": pin")[0] if "held back by" in hint else ""
    return [part.split(" ")[0] for part in said.split("), ")] if said else []


# the marker environment packaging computes on a Windows host: none of it is the cell's
WINDOWS_HOST = {"implementation_name": "cpython", "implementation_version": "3.12.1", "os_name": "nt",
                "platform_machine": "AMD64", "platform_release": "10", "platform_system": "Windows",
                "platform_version": "10.0.19045", "python_full_version": "3.12.1",
                "platform_python_implementation": "CPython", "python_version": "3.12", "sys_platform": "win32"}


def test_markers_are_judged_for_the_cells_linux_and_machine_not_for_the_host_the_harness_runs_on(tmp_path,
                                                                                                 monkeypatch):
    """A requirement's marker holds or not as it does in the cell (Linux, the probe's machine and full
    Python version), whatever the host that judges the log."""
    import packaging.markers

    monkeypatch.setattr(packaging.markers, "default_environment", lambda: dict(WINDOWS_HOST))
    holders = [dist("onarm", "1.0", "numpy<2; platform_machine == 'aarch64'"),
               dist("onamd", "1.0", "numpy<2; platform_machine == 'AMD64' or platform_machine == 'x86_64'"),
               dist("early38", "1.0", "numpy<2; python_full_version < '3.8.11'"),
               dist("onlinux", "1.0", "numpy<2; sys_platform == 'linux'"),
               dist("linuxsys", "1.0", "numpy<2; platform_system == 'Linux'"),
               dist("onposix", "1.0", "numpy<2; os_name == 'posix'"),
               dist("onwindows", "1.0", "numpy<2; sys_platform == 'win32' or platform_system == 'Windows' "
                                        "or os_name == 'nt'")]
    start = {"python": "3.8.10", "implementation": "cpython", "machine": "aarch64"}
    assert sorted(_held_back(tmp_path, start, *holders)) == ["early38", "linuxsys", "onarm", "onlinux", "onposix"]


def test_a_probe_record_without_implementation_or_machine_is_cpython_on_no_machine_made_up(tmp_path):
    """A start record that does not say the implementation is read as CPython; one that names no machine
    leaves it empty (platform.machine()'s own answer when it cannot tell), not this host's."""
    holders = [dist("oncpython", "1.0", "numpy<2; implementation_name == 'cpython'"),
               dist("onx86", "1.0", "numpy<2; platform_machine == 'x86_64'"),
               dist("nomachine", "1.0", "numpy<2; platform_machine == ''")]
    assert _held_back(tmp_path, {"python": "3.11.2"}, *holders) == ["nomachine", "oncpython"]


def test_graalpy_and_an_implementation_the_harness_has_no_name_for_are_taken_for_neither_cpython_nor_pypy(tmp_path):
    """platform_python_implementation is what the cell's own interpreter says: GraalVM on GraalPy (whose
    sys.implementation.name is graalpy), the probe's name for one the harness does not know."""
    holders = [dist("ongraal", "1.0", "numpy<2; platform_python_implementation == 'GraalVM'"),
               dist("known", "1.0", "numpy<2; platform_python_implementation in 'CPython PyPy'"),
               dist("otherimpl", "1.0", "numpy<2; platform_python_implementation not in 'CPython PyPy'")]
    graalpy = {"python": "3.11.7", "implementation": "graalpy", "machine": "x86_64"}
    assert _held_back(tmp_path, graalpy, *holders) == ["ongraal", "otherimpl"]
    rustpython = {**graalpy, "implementation": "rustpython"}
    assert _held_back(tmp_path, rustpython, *holders) == ["otherimpl"]


def test_a_ca_bundle_without_a_certificate_is_a_trust_problem_not_an_outage(tmp_path):
    """The driver's real check when the CA bundle the cell was given holds no certificate: the hint says
    to give pip the right bundle, not to wait for the index."""
    from harness.incell import driver

    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    index = "https://127.0.0.1:9/simple"
    check = driver.check_index(index, index, "edgeops", {"PIP_CERT": str(bundle)})
    assert check["error"]
    got = classify.install_failure("", [check], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.hint.startswith(f"pip does not trust the certificate of {index}: set PIP_CERT")


def test_a_tls_failure_that_names_no_certificate_is_not_called_an_outage(tmp_path):
    """An https:// index URL for a server that speaks plain HTTP: the driver's real check fails in TLS,
    which a re-run does not cure, so the hint does not say to wait for the index."""
    from harness.incell import driver
    from harness.run.serve import WheelhouseServer

    with WheelhouseServer(tmp_path) as server:
        index = server.url.replace("http://", "https://")
        check = driver.check_index(index, index, "edgeops", {})
    assert "SSL" in check["error"] and "CERTIFICATE" not in check["error"]
    got = classify.install_failure("", [check], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert "did not answer" not in got.hint and "re-run" not in got.hint


def test_a_tls_handshake_that_timed_out_is_an_outage_not_a_certificate_problem(monkeypatch):
    """An index that accepts the connection and never answers the TLS handshake: the driver's real check
    times out in Python's ssl module (its words name `_ssl.c`, not SSL), which a re-run may cure."""
    import socket

    from harness.incell import driver

    monkeypatch.setattr(driver, "CHECK_TIMEOUT", 0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        index = f"https://127.0.0.1:{silent.getsockname()[1]}/simple"
        check = driver.check_index(index, index, "edgeops", {})
    assert check["transient"] and "timed out" in check["error"]
    got = classify.install_failure("", [check], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.hint.startswith(f"{index} did not answer on the only attempt")


def test_pips_retries_against_a_dead_index_are_quoted_two_at_most():
    """pip's default five retries each print a line: the evidence quotes the first two and pip's last error."""
    recorded_output = (LOGS / "pip-unreachable-dns.txt").read_text().splitlines()
    [retry] = [line for line in recorded_output if line.startswith("WARNING: Retrying")]
    retries = [retry.replace("total=0", f"total={n}") for n in range(4, -1, -1)]
    output = "\n".join([recorded_output[0], *retries, *recorded_output[-2:]]) + "\n"
    got = classify.install_failure(output, [], [])
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.evidence == (*map(clip, retries[:2]), recorded_output[-1])


def test_an_untrusted_index_is_quoted_once_however_many_hosts_pip_ignored():
    """Two plain-HTTP indexes pip ignored: the evidence quotes pip's warning for the first, the hint names it."""
    recorded_output = (LOGS / "pip-untrusted-http.txt").read_text().splitlines()
    second = recorded_output[1].replace("wheels.invalid", "mirror.invalid")
    output = "\n".join([recorded_output[0], recorded_output[1], second, *recorded_output[2:]]) + "\n"
    got = classify.install_failure(output, [], [])
    assert got.evidence == (clip(recorded_output[1]), recorded_output[-1])
    assert "wheels.invalid" in got.hint and "mirror.invalid" not in got.hint


def test_a_failed_build_quotes_at_most_two_of_pips_lines_about_it():
    """pip says a build failed three ways (subprocess, wheel, wheels): two of its lines are evidence enough."""
    got = classify.install_failure(PIP_WHEEL_FAILED, [], [])
    pips = [e for e in got.evidence if not e.startswith("the build said: ")]
    assert pips == [line.strip() for line in PIP_WHEEL_FAILED.splitlines() if classify.BUILD_FAILED.search(line)][:2]


def test_a_conflict_said_on_each_attempt_is_quoted_once_and_its_hint_names_every_cause_in_order():
    """conflict.fixtures.log's install, run twice (the driver retried it): pip's "Cannot install" line once,
    then the causes pip gave, which the hint lists in pip's order."""
    said = events.parse((LOGS / "conflict.fixtures.log").read_text()).output["install"].splitlines()
    output = "\n".join([*said, "harness: retrying the install (attempt 2 of 2)", *said]) + "\n"
    lines = output.splitlines()
    start = lines.index("The conflict is caused by:") + 1
    causes = [line.strip() for line in lines[start:lines.index("", start)]]
    assert len(causes) == 2
    got = classify.install_failure(output, [], [])
    assert got.verdict is Verdict.CONFLICT
    assert [e for e in got.evidence if e.startswith("ERROR: Cannot install")] == [
        next(line for line in said if line.startswith("ERROR: Cannot install"))]
    assert got.evidence[1:] == tuple(causes)
    assert f"({'; '.join(causes)})" in got.hint


def test_an_install_failure_the_harness_cannot_place_quotes_pips_last_three_errors_and_sends_to_the_log():
    """Nothing the classifier recognises: pip's last three error lines (the last where pip stopped), and a
    hint that says so and points at the log."""
    errors = [f"ERROR: something new went wrong, step {n}" for n in range(1, 5)]
    got = classify.install_failure("Collecting x\n" + "\n".join(errors) + "\n", [], [])
    assert got.verdict is Verdict.INSTALL_FAILED
    assert got.evidence == tuple(errors[-3:])
    assert got.hint.startswith("pip failed for a reason the harness does not recognise")
    assert got.hint.endswith("read the cell's log")
# --- mutation survivors: cls-c ---


def numpy_step(name: str) -> tuple[dict, dict, dict]:
    """(the failed import step, the probe, the release dates) of a real cell's numpy-ABI failure."""
    parsed = events.parse((LOGS / f"real-{name}.log").read_text())
    return parsed.failed_imports[0], parsed.probe, parsed.release_dates


@pytest.mark.parametrize("importer", ["numpy", None])
def test_a_numpy_failure_raised_inside_numpy_or_nowhere_known_is_blamed_on_the_module_being_imported(importer):
    """NumPy's own code (or an unknown frame) raising is not numpy's fault: the imported module's distribution is."""
    step, probe, found = numpy_step("pandas-numpy2")
    step = {**step, "error": {**step["error"], "importer": importer}}
    got = classify.numpy_abi(step, probe, ["pandas"], ["numpy==2.0.2"], found)
    assert got.cause.facts["distribution"] == "pandas" and got.cause.facts["version"] == "2.0.3"
    assert got.hint.startswith("pandas 2.0.3 was built for NumPy 1.x")
    # neither the raiser nor the module is an installed distribution: not a case numpy_abi can name
    unknown = {**step, "module": "elsewhere", "error": {**step["error"], "importer": "nowhere"}}
    assert classify.numpy_abi(unknown, probe, ["pandas"], ["numpy==2.0.2"], found) is None


def test_a_numpy_failure_in_a_distribution_without_a_recorded_version_still_names_it():
    """A distribution whose metadata gives no version is named by its name, its version left unknown."""
    step, probe, found = numpy_step("pandas-numpy2")
    dists = {**probe["distributions"], "pandas": {**probe["distributions"]["pandas"], "version": None}}
    got = classify.numpy_abi(step, {**probe, "distributions": dists}, ["pandas"], [], found)
    assert got.cause.facts["distribution"] == "pandas" and got.cause.facts["version"] is None
    assert got.hint.startswith("pandas was built for NumPy 1.x")


def test_every_numpy_pin_of_the_cell_and_every_holder_is_named_in_the_numpy_hint():
    """Two numpy pins and two distributions that hold the fix back: the hint lists each, comma-separated."""
    step, probe, found = numpy_step("pandas-numpy2")
    pins = ["numpy>=2.0", "numpy!=2.0.1"]
    dists = {**probe["distributions"], "jax": {"version": "0.5.0", "requires": ["numpy>=2.0"]},
             "jaxlib": {"version": "0.5.0", "requires": ["numpy>=2.0"]}}
    got = classify.numpy_abi(step, {**probe, "distributions": dists}, ["pandas"], pins, found)
    assert f"the cell pins {', '.join(pins)}" in got.hint
    assert f"in place of the cell's {', '.join(pins)}" in got.hint
    assert "(held back by jax 0.5.0 (numpy>=2.0), jaxlib 0.5.0 (numpy>=2.0))" in got.hint
    assert got.cause.facts["numpy_pins"] == pins


def test_numpys_words_quoted_as_evidence_are_at_most_three_and_nothing_but_them_without_release_dates():
    """Several extensions each printing NumPy's warning: three of its lines are quoted, and no empty entry."""
    step, probe, _ = numpy_step("opencv-numpy2")
    twice = {**step, "messages": step["messages"] * 2}  # two extension modules, each failing the same way
    got = classify.numpy_abi(twice, probe, ["opencv-python"], [], None)
    assert len(got.evidence) == 3
    assert all(line.startswith("NumPy said: ") for line in got.evidence)


def test_the_distributions_that_require_the_failing_one_are_facts_only_when_no_pin_names_it():
    """pyarrow, required by db-dtypes: named as its requirer when the cell does not pin pyarrow, not when it does."""
    step, probe, found = numpy_step("arrow-numpy1")
    unpinned = classify.numpy_abi(step, probe, ["db-dtypes"], [], found)
    assert unpinned.cause.facts["required_by"] == ["db-dtypes 1.9.0"]
    pinned = classify.numpy_abi(step, probe, ["db-dtypes", "pyarrow"], [], found)
    assert pinned.cause.facts["required_by"] == []
    assert "which no pin names" not in pinned.hint


def test_a_numpy_hint_is_cut_at_600_characters():
    """Many distributions asking for numpy make a long hint: it is cut to 600 characters with an ellipsis."""
    step, probe, found = numpy_step("pandas-numpy2")
    users = {f"user-{i}": {"version": "1.0", "requires": ["numpy>=1.20"]} for i in range(30)}
    got = classify.numpy_abi(step, {**probe, "distributions": {**probe["distributions"], **users}}, ["pandas"], [],
                             found)
    assert len(got.hint) == 600 and got.hint.endswith("…")


def test_an_index_named_by_a_long_url_still_says_there_is_no_release_for_the_installed_numpy():
    """The evidence line cut before its second part: the hint still says none is on the index, and the fix stays."""
    from packaging.version import Version

    step, probe, found = numpy_step("pandas-numpy2")
    newer = [v for v in numpy_dates("pandas-numpy2", "pandas") if Version(v) > Version("2.0.3")]
    url = "https://packages.example.com/" + "very-long-path/" * 16 + "simple"  # 275 characters
    checks = [{**c, "index": url, "dates": {v: d for v, d in c["dates"].items() if v not in newer}}
              if c["project"] == "pandas" else {**c, "index": url} for c in found["checks"]]
    got = classify.numpy_abi(step, probe, ["pandas"], [], {**found, "checks": checks})
    assert got.evidence[-1].startswith(url) and got.evidence[-1].endswith("…")
    assert "(none on the index: " in got.hint
    assert got.cause.facts["fixes"] == ["numpy<2"]


def test_a_dependency_without_a_recorded_version_is_told_to_be_pinned_by_its_name(tmp_path):
    """transitive() for a distribution known by its name alone names that name in the advice."""
    probe = probed(tmp_path, chain("helper is broken", NUMPY_1), "app")
    said = classify.transitive("helper", probe, "helper is broken", ["app"])
    assert said.startswith("helper, which no pin names (required by app 1.0)")
    assert said.endswith("pin helper to a release that works here (or the version of what requires it)")


def test_a_dependency_that_needs_a_prerelease_is_not_held_back_by_what_allows_it(tmp_path):
    """A requirement that admits the pre-release the message asks for holds nothing back."""
    probe = probed(tmp_path, chain("helper requires numpy>=2.0.0rc1", NUMPY_1, dist("relaxed", "1.0", "numpy>=1.20"),
                                   HOLDER), "app")
    got = classify.import_failure(probe, ["app"])
    assert "it needs numpy 2.0.0rc1 or newer, but numpy 1.26.4 is installed" in got.hint
    assert "held back by holder 3.0 (numpy<2)" in got.hint
    assert "relaxed" not in got.hint


def test_a_prerelease_need_is_judged_the_same_under_packagings_rule_before_26(tmp_path, monkeypatch):
    """pyproject allows packaging>=23; before 26.0, SpecifierSet.contains left a pre-release out unless told
    otherwise. The classifier says which pre-releases count itself, so the verdict does not depend on it."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    real = SpecifierSet.contains

    def before_26(self, item, prereleases=None, installed=None):
        if prereleases is None:
            prereleases = self.prereleases
        if not prereleases and Version(str(item)).is_prerelease:
            return False
        return real(self, item, prereleases=True, installed=installed)

    monkeypatch.setattr(SpecifierSet, "contains", before_26)
    assert not SpecifierSet(">=1.20").contains("2.0.0rc1")  # the older rule, in force
    probe = probed(tmp_path, chain("helper requires numpy>=2.0.0rc1", NUMPY_1, dist("relaxed", "1.0", "numpy>=1.20"),
                                   HOLDER), "app")
    got = classify.import_failure(probe, ["app"])
    assert "held back by holder 3.0 (numpy<2)" in got.hint
    assert "relaxed" not in got.hint


def test_uvs_hash_mismatch_headline_alone_is_a_hash_mismatch(mismatched):
    """uv's words without the hashes it could not print are still a hash mismatch, not another failure."""
    _, uv, _ = mismatched
    headline = "\n".join(line for line in uv.splitlines() if "Hash mismatch for" in line or line.startswith("error:"))
    assert "Expected" not in headline
    assert classify.hash_mismatch(headline).verdict is Verdict.HASH_MISMATCH
    assert classify.install_failure(headline, [], []).verdict is Verdict.HASH_MISMATCH


def test_pips_hash_mismatch_headlines_alone_quote_at_most_the_last_two_error_lines(mismatched):
    """Three attempts that each ended on pip's headline (its details cut): the last two error lines are quoted."""
    pip, _, _ = mismatched
    headline = next(line for line in pip.splitlines() if "DO NOT MATCH THE HASHES" in line)
    attempts = [headline.replace("ERROR: ", f"ERROR: (attempt {n}) ", 1) for n in (1, 2, 3)]
    got = classify.hash_mismatch("\n".join(attempts) + "\n")
    assert got.evidence == tuple(attempts[-2:])


def lost_in(module: str, text: str, probe: dict) -> list[tuple[str, str, str]]:
    """The losses the classifier reads from one import of `module` that said `text`."""
    return classify.degradations([{"module": module, "ok": True, "messages": [{"kind": "log", "text": text}]}], probe)


def test_a_loss_names_the_torch_of_whichever_distribution_provides_the_module_torch():
    """The torch in a loss's hint is found by the module torch's owner, whatever that distribution is called."""
    probe = {"owners": {"torch": ["torch-cpu"], "edgeops": ["edgeops"]},
             "distributions": {"torch-cpu": {"version": "2.13.0"}, "edgeops": {"version": "1.0"}}}
    lost = lost_in("edgeops", "edgeops: unable to initialize the fast path", probe)
    hint, _ = classify.degraded_hint(lost, probe, None)
    assert hint.startswith("edgeops 1.0 failed to load part of itself with torch-cpu 2.13.0:")


SOUND = {"distributions": {"soundops": {"version": "1.0"}}}


def test_a_missing_library_given_by_its_path_is_named_by_its_file_name():
    """The loader's message may give the library's whole path: the hint and the cause name its file."""
    text = ("Failed to load /v/soundops/_native.so: /usr/lib/x86_64-linux-gnu/libsndfile.so.1: cannot open shared "
            "object file: No such file or directory")
    hint, cause = classify.degraded_hint(lost_in("soundops", text, SOUND), SOUND, None)
    assert cause.facts["library"] == "libsndfile.so.1" and cause.facts["package"] == "libsndfile1"
    assert "needs libsndfile.so.1 " in hint and "/usr/lib" not in hint


@pytest.mark.parametrize("torch", [None, CPU_TORCH])
def test_a_missing_library_only_the_loader_names_is_the_hints_cause(torch):
    """A library that logs only "could not load X.so": the loader's words for X name what the image lacks."""
    text = "Failed to load /v/soundops/_native.so: Could not load this library: /v/soundops/_native.so"
    probe = {**SOUND, "torch": torch,
             "loader": {"/v/soundops/_native.so": "libsndfile.so.1: cannot open shared object file: No such file or "
                                                  "directory"}}
    hint, cause = classify.degraded_hint(lost_in("soundops", text, probe), probe, None)
    assert cause.kind == "missing-library" and cause.facts["library"] == "libsndfile.so.1"
    assert "soundops 1.0 needs libsndfile.so.1" in hint


def test_on_a_cpu_build_a_loss_is_not_blamed_on_a_cuda_library_the_loader_missed_for_another_file():
    """The loader's libcudart for torchao's CUDA kernels is what a CPU build never had: no cause of another loss."""
    parsed = events.parse((LOGS / "real-chain-2.13-torchao-0.15.probe.log").read_text())
    # what the loader said of torchao's CUDA kernels on the same CPU torch (a later torchao logs them)
    loader = events.parse((LOGS / "real-torch-2.13-torchao-0.18-loader.probe.log").read_text()).probe["loader"]
    assert any("libcudart" in str(said) for said in loader.values())
    probe = {**parsed.probe, "loader": loader}
    lost = classify.degradations(probe["imports"], probe)
    hint, cause = classify.degraded_hint(lost, probe, parsed.begin.get("distribution"))
    assert cause is None and "libcudart" not in hint
    assert hint.endswith(": install the torchao release built for this torch, or the torch it was built for")
    # the same loader's words on a CUDA build: a library the image lacks, and the hint's cause
    cuda = {**probe, "torch": {"version": "2.13.0+cu130", "cuda_version": "13.0"}}
    hint, cause = classify.degraded_hint(lost, cuda, parsed.begin.get("distribution"))
    assert cause.facts["library"] == "libcudart.so.13"
