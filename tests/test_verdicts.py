"""The classifier on recorded logs: real cell logs (tests/data/logs/*.log, recorded by
test_verdicts_docker.py with EWH_RECORD_LOGS) and real pip output (pip-*.txt, recorded by
tools/record_installer_output.py, and run live here too)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import incell
from harness.backends.base import Execution
from harness.incell import driver
from harness.matrix import templates
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Verdict
from harness.verdicts import classify, events

LOGS = Path(__file__).parent / "data" / "logs"


def cell(modules=("edgeops",), pip_args=()) -> Cell:
    return Cell(image=Image(name="bookworm", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i", pip_args=tuple(pip_args)),
                packages=PackageSet(name="p", requirements=("edgeops",), modules=tuple(modules)))


def judge(name: str, the_cell: Cell | None = None, **cell_args) -> classify.Judgement:
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    execution = Execution(log=log, exit_code=0 if parsed.end and parsed.end.get("ok") else 1)
    return classify.judge(the_cell or cell(**cell_args), execution, parsed, "none")


def index_of(name: str) -> str:
    """The index (URL or folder) the driver checked in a recorded log."""
    return events.parse((LOGS / name).read_text()).index_checks[0]["index"]


def test_recorded_aarch64_only_index_is_no_distribution_with_what_it_offers():
    got = judge("no-distribution.arm-only.log")
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence == ("ERROR: Could not find a version that satisfies the requirement edgeops "
                            "(from versions: none)", "ERROR: No matching distribution found for edgeops",
                            f"{index_of('no-distribution.arm-only.log')} has nothing of edgeops for this target "
                            "(cp311, manylinux_2_36_x86_64): edgeops 1.0 exists only as wheels for other targets "
                            "(py3-none-manylinux2014_aarch64)")
    assert got.hint.startswith("no distribution of edgeops fits linux/amd64 and the image's Python (cp311, "
                               "manylinux_2_36_x86_64) on this index variant (the evidence lists what it has)")


def test_a_log_from_an_older_driver_lists_the_offers_as_the_index_gave_them():
    """Recorded before the driver said what its interpreter is: nothing to filter by, so nothing is."""
    got = judge("older-driver.arm-only.log")
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[2].endswith("offers edgeops: edgeops-1.0-py3-none-manylinux2014_aarch64.whl")
    assert "(the evidence lists what it has)" in got.hint


@pytest.mark.parametrize("exit_code", [143, -15])  # the engine's way to say SIGTERM, and the host's
def test_recorded_cell_stopped_by_its_engine_shutting_down_is_an_engine_error_not_a_broken_image(exit_code):
    """Recorded by tests/test_faults.py: dockerd stopped (SIGTERM) while the cell made its venv."""
    log = (LOGS / "stopped-from-outside.venv.log").read_text()
    parsed = events.parse(log)
    found = classify.judge(cell(), Execution(log=log, exit_code=exit_code), parsed, "none")
    assert found.verdict is Verdict.ENGINE_ERROR
    assert found.evidence == (f"the cell was stopped from outside (SIGTERM, exit {exit_code}) while its venv phase "
                              "ran: the engine stopping, `docker stop` or `docker kill`, or the host",)
    assert "python3-venv" not in found.hint and found.hint.startswith("the cell was stopped from outside")
    # the same log with the kernel's OOM flag is not "from outside"
    oom = classify.judge(cell(), Execution(log=log, exit_code=137, oom_killed=True), parsed, "none")
    assert oom.verdict is not Verdict.ENGINE_ERROR


def test_recorded_build_that_forked_without_end_is_crashed_at_the_process_limit_saying_so():
    """Recorded by tools/record_limit_logs.py: a setup.py fork bomb, in a cell allowed 64 processes."""
    log = (LOGS / "process-limit.install.log").read_text()
    parsed = events.parse(log)
    assert parsed.limit["limit"] == "processes" and parsed.limit["phase"] == "install"
    found = classify.judge(cell(), Execution(log=log, exit_code=1), parsed, "none")
    assert found.verdict is Verdict.CRASHED
    [evidence] = found.evidence
    assert evidence == (f"the install hit the cell's limit of 64 processes (the kernel refused "
                        f"{parsed.limit['refused']} more processes or threads): the cell was stopped there")
    assert found.hint.startswith("something in the install starts processes or threads without end")


@pytest.mark.parametrize(("name", "memory", "during", "hint"), [
    # the build was killed (its setup.py ate the memory); pip itself lived to say so: a source build's OOM
    ("oom.install.log", 256 << 20, "the install", "ran out of memory at the build's default parallelism"),
    ("stopped-from-outside.venv.log", None, "the venv", "the cell ran out of memory: give it more"),
])
def test_an_oom_says_the_phase_it_hit_and_the_cap(name, memory, during, hint):
    import dataclasses

    log = (LOGS / name).read_text()
    the_cell = dataclasses.replace(cell(), memory=memory)
    found = classify.judge(the_cell, Execution(log=log, exit_code=137, oom_killed=True), events.parse(log), "none")
    cap = " at its 256 MiB limit" if memory else ""
    killed = f"the kernel killed the cell for memory (OOMKilled){cap} during {during}"
    if during == "the install":  # a build's OOM leads with what the build was given, then the kernel's word
        assert found.evidence[:2] == (f"the source build ran out of memory{cap} at the build's default parallelism",
                                      killed)
    else:
        assert found.evidence[0] == killed
    assert found.hint.startswith(hint.replace("the cell ran out of memory", f"the cell ran out of memory{cap}"))


def test_recorded_pure_python_install_passes():
    got = judge("no-distribution.pure.log")
    assert (got.verdict, got.evidence, got.hint) == (Verdict.PASS, (), None)


def test_recorded_conflict_quotes_the_cause():
    got = judge("conflict.fixtures.log")
    assert got.verdict is Verdict.CONFLICT
    assert got.evidence == ("ERROR: Cannot install alpha==1.0 and beta==2.0 because these package versions have "
                            "conflicting dependencies.", "The user requested beta==2.0", "alpha 1.0 depends on beta<2")


@pytest.mark.parametrize(("name", "package", "cause", "hint"), [
    ("build-cause.pg.log", "needspg", "the build said: Error: pg_config executable not found.",
     "the build needs pg_config (PostgreSQL's client library, libpq), which the image lacks: add libpq-dev to the "
     "image, or install needspg-binary instead (the project's own message names it)"),
    ("build-cause.nvcc.log", "callsnvcc", "the build said: FileNotFoundError: [Errno 2] No such file or directory: "
     "'nvcc'", "the build needs CUDA's compiler nvcc, which the image lacks: use an image with the CUDA toolkit"),
    ("build-cause.cext.log", "fastops", "the build said: error: command 'x86_64-linux-gnu-gcc' failed: No such file "
     "or directory", "the build needs a C compiler (x86_64-linux-gnu-gcc), which the image lacks: add build-essential"),
    ("source-build.build.log", "needsnvcc", "the build said: RuntimeError: nvcc not found: set CUDA_HOME to build the "
     "CUDA extension", "the build needs CUDA's compiler nvcc, which the image lacks"),
    ("build-cause.odd.log", "oddbuild", "the build said: ValueError: EDGE_MODE must be 'fast' or 'small', not ''",
     "the build failed without stating a cause the harness recognises (its last error line is quoted"),
])
def test_recorded_failed_builds_quote_the_cause_and_name_what_the_image_lacks(name, package, cause, hint):
    got = judge(name)
    assert got.verdict is Verdict.SOURCE_BUILD_FAILED
    assert got.evidence[0] == cause
    assert got.hint.startswith(f"pip had to compile {package} from source and ")
    assert hint in got.hint


def test_recorded_build_quotes_the_stated_cause_and_the_prebuilt_alternative_not_its_closing_url():
    log = (LOGS / "build-cause.pg.log").read_text()
    said = [line.strip() for line in log.splitlines()]
    last = said[said.index("[end of output]") - 2]  # the build's last words (a blank line, then pip's marker)
    assert last == "<https://www.psycopg.org/docs/install.html>)."
    got = judge("build-cause.pg.log")
    assert got.evidence == ("the build said: Error: pg_config executable not found.",
                            "the build said: pg_config is required to build needspg from source.",
                            "the build said: If you prefer to avoid building needspg from source, please install the "
                            "PyPI 'needspg-binary' package instead.",
                            "error: subprocess-exited-with-error", "error: metadata-generation-failed")
    assert not any("psycopg.org" in e for e in got.evidence)


def test_recorded_sdist_only_pin_under_only_binary_names_the_sdist_and_only_what_fits():
    url = index_of("only-binary.wheels-only.log")
    got = judge("only-binary.wheels-only.log", pip_args=("--only-binary", ":all:"))
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence == (
        "ERROR: Could not find a version that satisfies the requirement edgebin==2.0 (from versions: 1.0)",
        "ERROR: No matching distribution found for edgebin==2.0",
        f"{url} offers edgebin for this target (cp311, manylinux_2_36_x86_64): edgebin-1.0-py3-none-any.whl",
        f"{url}: edgebin 2.0 exists only as an sdist (edgebin-2.0.tar.gz) and wheels for other targets "
        "(cp311-cp311-macosx_11_0_arm64, cp311-cp311-win_amd64, cp39-cp39-manylinux_2_17_x86_64)",
        "would be built from source: edgebin (edgebin-2.0.tar.gz)")
    assert got.hint == ("edgebin==2.0 comes only as source here and only_binary refuses to compile it: find a wheel "
                        "(another index variant, or a version the evidence lists for this target), or allow the "
                        "source build")


def test_recorded_only_binary_refusal_is_no_distribution_naming_the_sdist():
    got = judge("source-build.wheels-only.log", pip_args=("--only-binary", ":all:"))
    assert got.verdict is Verdict.NO_DISTRIBUTION
    folder = index_of("source-build.wheels-only.log")
    assert got.evidence[2:] == (f"{folder} has nothing of needsnvcc for this target (cp311, manylinux_2_36_x86_64): "
                                "needsnvcc 1.0 exists only as an sdist (needsnvcc-1.0.tar.gz)",
                                "would be built from source: needsnvcc (needsnvcc-1.0.tar.gz)")
    assert got.hint.startswith("needsnvcc comes only as source here")
    # The same log without only_binary in the cell: no claim about only_binary.
    assert "only_binary" not in judge("source-build.wheels-only.log").hint


def jetson_cell(name: str, templated: bool = True) -> Cell:
    """The cell of a recorded index-root log as the matrix made it: the index URL a template filled from the
    image's jetpack and cuda (or, with `templated` False, the same URL written out)."""
    base = re.search(r"^Looking in indexes: (http://127\.0\.0\.1:\d+)/", (LOGS / name).read_text(), re.M).group(1)
    image = Image(name="jp6", arch=Arch.AMD64, local_build="debian-bookworm", jetpack="6.2", cuda="12.6")
    url = base + ("/jp{jetpack_major}/cu{cuda_nodot}" if templated else "/jp6/cu126")
    index = templates.fill(IndexVariant(name="jetson", index_url=url), image)
    return Cell(image=image, index=index, packages=PackageSet(name="p", requirements=("edgeops",),
                                                              modules=("edgeops",)))


def test_recorded_index_whose_root_answers_404_is_a_wrong_url_with_the_template_named():
    got = judge("index-root.jetson.log", jetson_cell("index-root.jetson.log"))
    url = index_of("index-root.jetson.log")
    base = url.rsplit("/jp6", 1)[0]
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[0] == f"{url} does not answer as a package index: GET {url}/ → HTTP 404"
    assert got.hint == (f"the index URL {url} is wrong or not an index (its root answers HTTP 404): check the URL; it "
                        f"was filled from the template {base}/jp{{jetpack_major}}/cu{{cuda_nodot}} ({{jetpack_major}} "
                        '= 6, {cuda_nodot} = 126) with image jp6\'s jetpack = "6.2" and cuda = "12.6": check that the '
                        "index has a path for that JetPack/CUDA release, or correct the image's declaration")
    written = judge("index-root.jetson.log", jetson_cell("index-root.jetson.log", templated=False))
    assert written.hint == f"the index URL {url} is wrong or not an index (its root answers HTTP 404): check the URL"


def test_recorded_index_root_without_projects_is_a_wrong_url_and_a_real_index_is_not():
    landing = judge("index-root.landing.log")
    url = index_of("index-root.landing.log")
    assert landing.evidence[0] == (f"{url} does not answer as a package index: GET {url}/ → HTTP 200 with a page that "
                                   "lists no projects")
    assert landing.hint.startswith(f"the index URL {url} is wrong or not an index")
    real = judge("index-root.real.log")
    assert real.verdict is Verdict.NO_DISTRIBUTION
    assert real.evidence[2:] == (f"{index_of('index-root.real.log')} has no edgeops",)
    # an index that answers as one and has no edgeops: the name is no project there, not a platform problem
    assert real.hint == (f"edgeops is not a project on {index_of('index-root.real.log')} (its page answers 404): "
                         "check the name's spelling")
    assert real.cause.to_json() == {"kind": "no-such-project", "project": "edgeops",
                                    "indexes": [index_of("index-root.real.log")], "close": []}


def test_recorded_refused_connection_after_a_retry():
    got = judge("index-unreachable.closed.log")
    assert got.verdict is Verdict.INDEX_UNREACHABLE
    assert got.evidence[0].startswith("http://127.0.0.1:")
    assert "ConnectionRefusedError" in got.evidence[0]
    assert "did not answer after 2 attempts" in got.hint
    assert any(n.startswith("install retried (attempt 2 of 2)") for n in got.notes)


def test_recorded_503_is_unreachable_on_the_drivers_check_alone():
    log = (LOGS / "index-503.down.log").read_text()
    assert "503" not in events.parse(log).output["install"]  # pip itself said nothing about it
    got = judge("index-503.down.log")
    assert got.verdict is Verdict.INDEX_UNREACHABLE and "HTTP 503" in got.evidence[0]


def test_recorded_degraded_import_quotes_the_message():
    got = judge("imports.skipping.log", modules=("torch", "torchao"))
    assert got.verdict is Verdict.DEGRADED
    assert got.evidence == ("torchao: Skipping import of cpp extensions due to incompatible torch version "
                            "2.13.0+fixture for torchao version 0.15.0",)


def test_real_torchao_skipping_its_extensions_with_a_newer_torch_is_degraded():
    """Recorded from the smoke matrix: real torch 2.13.0+cpu with real torchao 0.15.0 and torchtune 0.6.1."""
    got = judge("real-chain-2.13-torchao-0.15.probe.log",
                modules=("torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"))
    assert got.verdict is Verdict.DEGRADED
    assert got.evidence[0].startswith("torchao: Skipping import of cpp extensions due to incompatible torch version "
                                      "2.13.0+cpu for torchao version 0.15.0")
    assert got.hint.startswith("torchao 0.15.0 skipped its C++ extensions with torch 2.13.0+cpu")


def test_real_torchao_0_18_on_a_cpu_torch_loses_nothing_the_platform_ever_had():
    """Recorded from the smoke matrix: real torch 2.13.0+cpu with real torchao 0.18.0. torchao logs only
    "Failed to load …_C_mxfp8….so"; the probe loads the files itself and the loader names libcudart:
    CUDA function a CPU build never had. So: pass, with notes, and no advice to install anything."""
    got = judge("real-torch-2.13-torchao-0.18-loader.probe.log", modules=("torch", "torchao", "torchao.quantization"))
    assert (got.verdict, got.evidence, got.hint) == (Verdict.PASS, (), None)
    cuda_notes = [n for n in got.notes if "libcudart.so.13" in n]
    assert [n.split(" did not load")[0] for n in cuda_notes] == ["torchao: _C_mxfp8.cpython-310-x86_64-linux-gnu.so",
                                                                 "torchao: _C_cutlass_90a.abi3.so"]
    assert any(n.startswith("torchao: runs without triton") for n in got.notes)


def test_without_the_loaders_words_a_failed_load_still_counts_as_lost():
    """Recorded before the probe asked the loader: the cause is unknown, so the lost parts stay lost
    (degraded), while "no triton" on this CPU build is a note."""
    got = judge("real-torch-2.13-torchao-0.18.probe.log", modules=("torch", "torchao", "torchao.quantization"))
    assert got.verdict is Verdict.DEGRADED
    assert [e.split(": ", 1)[1][:16] for e in got.evidence] == ["Failed to load /", "Failed to load /"]
    assert "_C_mxfp8" in got.evidence[0] and "_C_cutlass_90a" in got.evidence[1]
    assert got.hint.startswith("torchao 0.18.0 failed to load part of itself with torch 2.13.0+cpu")
    assert any(n.startswith("torchao: runs without triton") for n in got.notes)


def test_on_a_cuda_build_the_same_messages_are_losses():
    text = "Failed to load /v/torchao/_C_mxfp8.so: Could not load this library: /v/torchao/_C_mxfp8.so"
    loader = {"/v/torchao/_C_mxfp8.so": "libcudart.so.13: cannot open shared object file: No such file or directory"}
    cpu = {"torch": {"version": "2.13.0+cpu", "cuda_version": None}, "loader": loader}
    cuda = {"torch": {"version": "2.13.0+cu130", "cuda_version": "13.0"}, "loader": loader}
    assert "needs libcudart.so.13" in classify.never_had(text, cpu)
    assert classify.never_had(text, cuda) is None
    assert classify.never_had("Detected no triton", cuda) is None
    assert classify.never_had(text, {**cpu, "loader": {"/v/torchao/_C_mxfp8.so": "undefined symbol: _ZN3c10"}}) is None
    assert classify.never_had(text, {"torch": None}) is None  # torch did not import: nothing is known


def test_recorded_missing_name_names_both_distributions():
    got = judge("imports.lacking.log", modules=("torch", "torchao", "torchtune", "torchtune.training"))
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.hint.startswith("torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which "
                               "torchao 0.17.0 does not provide")


PIP_CASES = pytest.mark.parametrize(("name", "verdict", "evidence", "hint"), [
    ("pip-unreachable-tls", Verdict.INDEX_UNREACHABLE, "CERTIFICATE_VERIFY_FAILED", "set PIP_CERT"),
    ("uv-unreachable-tls", Verdict.INDEX_UNREACHABLE, "invalid peer certificate: UnknownIssuer", "set PIP_CERT"),
    ("pip-unreachable-dns", Verdict.INDEX_UNREACHABLE, "Name or service not known", "did not answer"),
    ("pip-untrusted-http", Verdict.INDEX_UNREACHABLE, "not a trusted or secure host",
     'pip_args = ["--trusted-host", "wheels.invalid"]'),
    ("pip-no-distribution-python", Verdict.NO_DISTRIBUTION, "requires a different Python: ",
     "oldpy requires Python <3.9, the image has "),
])


@PIP_CASES
def test_recorded_pip_output_alone(name, verdict, evidence, hint):
    """pip's own words, without the driver's index checks (as from an older driver, or a host run), as
    tools/record_installer_output.py recorded them."""
    got = classify.install_failure((LOGS / f"{name}.txt").read_text(), [], [])
    assert got.verdict is verdict
    assert any(evidence in e for e in got.evidence), got.evidence
    assert hint in got.hint


@PIP_CASES
def test_pip_output_live(tmp_path, name, verdict, evidence, hint):
    """The same cases with this host's pip, now (offline): the recording still says what pip says."""
    from installer_output import CASES

    got = classify.install_failure(CASES[name](tmp_path), [], [])
    assert got.verdict is verdict
    assert any(evidence in e for e in got.evidence), got.evidence
    assert hint in got.hint


def test_dns_hint_names_the_index_pip_looked_in():
    got = classify.install_failure((LOGS / "pip-unreachable-dns.txt").read_text(), [], [])
    assert got.hint.startswith("https://wheels.invalid/simple did not answer on the only attempt")


def test_unrecognised_pip_failure_is_install_failed_with_its_error_lines():
    got = classify.install_failure("Collecting x\nERROR: something new went wrong\n", [], [])
    assert got.verdict is Verdict.INSTALL_FAILED
    assert got.evidence == ("ERROR: something new went wrong",)


@pytest.mark.parametrize(("text", "lost"), [
    ("Skipping import of cpp extensions due to incompatible torch version 2.9.0 for torchao version 0.15.0",
     "skipped its C++ extensions"),
    ("Failed to load the C++ extension: libtorchao_ops_aten.so", "failed to load part of itself"),
    ("/x/_C.so: undefined symbol: _ZN3c10", "a compiled library did not load"),
    ("triton not found; kernels fall back to eager", "runs without triton"),
])
def test_degradation_messages(text, lost):
    steps = [{"module": "torchao", "ok": True, "messages": [{"kind": "log", "text": text}]}]
    assert classify.degradations(steps) == [("torchao", lost, text)]


def probed(tmp_path: Path, files: dict[str, str], *modules: str) -> dict:
    """What the real probe (harness/incell/probe.py) records importing fixture modules, read back as the runner
    reads it."""
    import subprocess
    import sys

    site = tmp_path / "site"
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    probe = incell.FILES["probe.py"]
    done = subprocess.run([sys.executable, str(probe), *(a for m in modules for a in ("--module", m))],
                          capture_output=True, text=True, env={"PYTHONPATH": str(site), "PATH": ""}, timeout=60)
    return events.parse(done.stdout).probe


def test_a_degradation_naming_a_missing_module_says_to_add_it(tmp_path):
    text = "Failed to initialize NumPy: No module named 'numpy' (Triggered internally at tensor_numpy.cpp:84.)"
    probe = probed(tmp_path, {"torch/__init__.py": f"import warnings\nwarnings.warn({text!r}, UserWarning)\n",
                              "torch-2.13.0+cpu.dist-info/METADATA": "Name: torch\nVersion: 2.13.0+cpu\n",
                              "torch-2.13.0+cpu.dist-info/top_level.txt": "torch\n"}, "torch")
    parsed = events.CellEvents(begin={"event": "begin"}, probe=probe)
    got = classify.judge(cell(modules=("torch",)), Execution(log="", exit_code=0), parsed, "none")
    assert got.verdict is Verdict.DEGRADED
    assert got.hint == ("torch 2.13.0+cpu failed to load part of itself because numpy is not installed: add it to the "
                        "cell's requirements")


def test_a_driver_bug_is_reported_as_such(capsys):
    """The driver's own words when it raises inside a phase (its real code, its real output)."""
    from harness.incell import driver

    driver.say(event="begin", python="3.11", executable="python3", machine="x86_64")
    assert driver.timed_phase("install", lambda: driver.install(None, [], ["x"], "/nowhere", {}, spec=[])) is False
    log = capsys.readouterr().out
    got = classify.judge(cell(), Execution(log=log, exit_code=1), events.parse(log), "none")
    assert got.verdict is Verdict.CRASHED
    assert got.evidence[0].startswith(f"{driver.DRIVER_FAILED}: TypeError: ")
    assert "bug in the harness" in got.hint


def test_deprecations_and_failed_imports_are_not_degradations():
    steps = [{"module": "a", "ok": True, "messages": [{"kind": "warning", "category": "DeprecationWarning",
                                                       "text": "failed to load old API, use new"}]},
             {"module": "b", "ok": False, "messages": [{"kind": "log", "text": "Failed to load x"}]},
             {"module": "c", "ok": True, "messages": [{"kind": "stdout", "text": "loaded 3 plugins"}]}]
    assert classify.degradations(steps) == []


@pytest.mark.parametrize(("message", "hint"), [
    ("/lib/libc.so.6: version `GLIBC_2.34' not found", "needs glibc 2.34"),
    ("/x/_C.so: undefined symbol: _ZN3c104cuda9SetDeviceEi", "undefined symbol _ZN3c104cuda9SetDeviceEi"),
    ("libcudart.so.12: cannot open shared object file: No such file or directory",
     "libcudart.so.12 is needed, CUDA 12's runtime (cudart), which the image lacks: use an image that ships it (an "
     "NVIDIA CUDA runtime image, or on Jetson the JetPack image)"),
])
def test_import_failure_hints_follow_the_message(tmp_path, message, hint):
    probe = probed(tmp_path, {"torchao/__init__.py": f"raise ImportError({message!r})\n"}, "torchao")
    got = classify.import_failure(probe)
    assert got.evidence[0] == f"import torchao: ImportError: {message}"
    assert got.evidence[1].startswith('File "') and "torchao/__init__.py" in got.evidence[1]
    assert hint in got.hint


def test_import_failure_without_a_known_cause_invents_none(tmp_path):
    probe = probed(tmp_path, {"x.py": "raise RuntimeError('boom')\n"}, "x")
    got = classify.import_failure(probe)
    assert got.hint == "x raised RuntimeError on import: the evidence shows where; the log has the traceback"
    assert got.cause is None


# --- real cells (tests/real_cells.py, recorded by tools/record_real_cells.py) -------------------------


def real_cell(name: str) -> Cell:
    """The real cell of package set `name` (tests/real_cells.py) on the bookworm image and pip's default index."""
    import real_cells

    requirements, modules = real_cells.SETS[name]
    return Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="pypi"),
                packages=PackageSet(name=name, requirements=tuple(requirements), modules=tuple(modules)))


def real(name: str) -> classify.Judgement:
    """A real cell's recorded log judged as the runner judges it: its cell, and the matrix's names."""
    import real_cells

    sets = [PackageSet(name=n, requirements=tuple(r), modules=tuple(m)) for n, (r, m) in real_cells.SETS.items()]
    log = (LOGS / f"real-{name}.log").read_text()
    return classify.judge(real_cell(name), Execution(log=log, exit_code=1), events.parse(log), "none",
                          names=classify.matrix_names(sets))


def test_real_pandas_built_for_numpy_1_under_numpy_2_names_both_fixes():
    """pandas 2.0.3 with numpy 2.0.2: "numpy.dtype size changed", raised in a Cython frame."""
    got = real("pandas-numpy2")
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.evidence[:2] == ("import pandas: ValueError: numpy.dtype size changed, may indicate binary "
                                "incompatibility. Expected 96 from C header, got 88 from PyObject",
                                'File "pandas/_libs/interval.pyx", line 1, in init pandas._libs.interval')
    assert got.evidence[2] == ("pip's default index: NumPy 2.0.0 came out on 2024-06-16; the first pandas release "
                               "after it is 2.2.3 (2024-09-20)")
    assert got.hint == ("pandas 2.0.3 was built for NumPy 1.x and numpy 2.0.2 is installed (the cell pins "
                        "numpy==2.0.2; pandas asks for numpy>=1.23.2): pin numpy<2 in place of the cell's "
                        "numpy==2.0.2, or use a release of pandas built for NumPy 2.x: pandas>=2.2.3, the first "
                        "released after NumPy 2 (`wheel-harness bisect` finds the oldest that works)")
    assert got.cause.to_json() == {
        "kind": "numpy-abi", "distribution": "pandas", "version": "2.0.3", "built_for": "numpy<2", "numpy": "2.0.2",
        "numpy_pins": ["numpy==2.0.2"], "numpy_required_by": [], "asks": "numpy>=1.23.2", "required_by": [],
        "fixes": ["numpy<2", "pandas>=2.2.3"]}


def test_real_numpy_cause_whose_index_could_not_be_asked_gives_the_fix_without_a_version():
    """The same cell recorded by tools/record_real_cells.py on a run where the cell's DNS failed for the
    driver's question (after pip had installed): the hint says so instead of naming a release."""
    log = (LOGS / "real-pandas-numpy2.unasked.log").read_text()
    [check, _] = events.parse(log).release_dates["checks"]
    assert check["error"] == "gaierror: [Errno -3] Temporary failure in name resolution"
    got = judge("real-pandas-numpy2.unasked.log", real_cell("pandas-numpy2"))
    assert got.hint.endswith("or use a release of pandas built for NumPy 2.x (pip's default index did not say when "
                             "releases came out: gaierror: [Errno -3] Temporary failure in name resolution)")
    assert got.cause.facts["fixes"] == ["numpy<2"]


def test_real_opencv_built_for_numpy_1_under_numpy_2_quotes_what_numpy_printed():
    """opencv-python-headless 4.9.0.80 with numpy 2.0.2: NumPy prints "A module that was compiled using
    NumPy 1.x cannot be run in NumPy 2.0.2" and "_ARRAY_API not found", then "multiarray failed to import"."""
    got = real("opencv-numpy2")
    assert got.evidence[0] == "import cv2: ImportError: numpy.core.multiarray failed to import"
    assert got.evidence[2:4] == ("NumPy said: A module that was compiled using NumPy 1.x cannot be run in",
                                 "NumPy said: AttributeError: _ARRAY_API not found")
    assert got.hint.startswith("opencv-python-headless 4.9.0.80 was built for NumPy 1.x and numpy 2.0.2 is installed")
    assert got.cause.facts["fixes"] == ["numpy<2", "opencv-python-headless>=4.10.0.84"]


def test_real_pyarrow_built_for_numpy_2_in_a_dependency_no_pin_names():
    """db-dtypes 1.9.0 with numpy 1.26.4: the newest pyarrow, which db-dtypes requires and which declares
    no numpy, says "pyarrow requires NumPy 2.0 or newer" in a Cython frame (pyarrow/lib.pyx): the hint names
    pyarrow, who required it, and a pyarrow from before NumPy 2."""
    got = real("arrow-numpy1")
    assert got.evidence[:2] == ("import db_dtypes: ImportError: pyarrow requires NumPy 2.0 or newer, found 1.26.4",
                                'File "pyarrow/lib.pyx", line 42, in init pyarrow.lib')
    assert got.hint == ("pyarrow 26.0.1, which no pin names (required by db-dtypes 1.9.0), was built for NumPy 2.0 or "
                        "newer and numpy 1.26.4 is installed (the cell pins numpy==1.26.4; required by db-dtypes 1.9.0 "
                        "(numpy>=1.24.0), pandas 3.0.6 (numpy>=1.26.0); pyarrow's metadata names no numpy): pin "
                        "numpy>=2.0 in place of the cell's numpy==1.26.4, or use a release of pyarrow for NumPy 1.x: "
                        "pyarrow<=16.1.0, the last released before NumPy 2.0 (a later one may work too: `wheel-harness "
                        "bisect` finds the newest that does)")
    assert (got.cause.kind, got.cause.facts["required_by"], got.cause.facts["fixes"]) == (
        "numpy-abi", ["db-dtypes 1.9.0"], ["numpy>=2.0", "pyarrow<=16.1.0"])


def _real_step(name: str) -> dict:
    return events.parse((LOGS / f"real-{name}.log").read_text()).failed_imports[0]


@pytest.mark.parametrize(("name", "wording"), [
    ("pandas-numpy2", "numpy.dtype size changed, may indicate binary incompatibility"),
    ("opencv-numpy2", "_ARRAY_API not found"),
    ("opencv-numpy2", "A module that was compiled using NumPy 1.x cannot be run in"),
    ("opencv-numpy2", "numpy.core.multiarray failed to import"),
    ("arrow-numpy1", "requires NumPy 2.0 or newer, found 1.26.4"),
])
def test_each_of_numpys_wordings_alone_is_the_numpy_cause(name, wording):
    """Each wording, as a real cell printed it, is recognised on its own (the recorded steps hold several)."""
    step = _real_step(name)
    said = [str((step.get("error") or {}).get("message"))] + [m["text"] for m in step.get("messages") or ()]
    [line] = [text for text in said if wording in text][:1]
    alone = {**step, "error": {**step["error"], "message": line}, "messages": []}
    probe = events.parse((LOGS / f"real-{name}.log").read_text()).probe
    found = classify.numpy_abi(alone, probe, (), (), None)
    assert found is not None and found.cause.kind == "numpy-abi", line
    assert found.hint.endswith("(the driver did not ask the index (a log from an older driver))")


def test_a_numpy_message_without_numpy_installed_is_not_the_numpy_cause():
    step = _real_step("pandas-numpy2")
    probe = events.parse((LOGS / "real-pandas-numpy2.log").read_text()).probe
    without = {**probe, "distributions": {k: v for k, v in probe["distributions"].items() if k != "numpy"}}
    assert classify.numpy_abi(step, without, (), (), None) is None


@pytest.mark.parametrize(("name", "hint"), [
    ("opencv-gui", "opencv-python 4.10.0.84 needs libGL.so.1 (OpenGL, from libglvnd), which the image lacks: add the "
                   "package libgl1 to the image (`apt-get install` on Debian 12); or install opencv-python-headless "
                   "instead of opencv-python, a build that does without it"),
    ("lightgbm", "lightgbm 4.7.0 needs libgomp.so.1 (GCC's OpenMP runtime), which the image lacks: add the package "
                 "libgomp1 to the image (`apt-get install` on Debian 12)"),
])
def test_real_wheels_needing_a_system_library_name_the_package_for_the_images_distribution(name, hint):
    got = real(name)
    assert got.verdict is Verdict.IMPORT_FAILED
    assert got.hint == hint
    assert got.cause.kind == "missing-library" and got.cause.facts["image_distribution"] == "Debian 12"


@pytest.mark.parametrize(("dist", "hint"), [
    ("cudaops", "cudaops 1.0 needs libcudnn.so.9, cuDNN 9 (for CUDA), which the image lacks: use an image that ships "
                "it (an NVIDIA CUDA cudnn-runtime image, or on Jetson the JetPack image)"),
    ("soundops", "soundops 1.0 needs libsndfile.so.1 (libsndfile, for audio files), which the image lacks: add the "
                 "package libsndfile1 to the image (`apt-get install` on Debian 12)"),
    ("oddops", "oddops 1.0 needs libewhodd.so.3, which the image lacks: find the package that provides it on Debian 12 "
               "with `apt-file search libewhodd.so.3`, and add it to the image"),
])
def test_recorded_extensions_needing_a_library_the_image_lacks(dist, hint):
    """Recorded by test_verdicts_docker.py: real ELF extensions, loaded in the bookworm image."""
    got = judge(f"missing-library.{dist}.log", house_cell(dist))
    assert (got.verdict, got.hint) == (Verdict.IMPORT_FAILED, hint)


def house_cell(dist: str) -> Cell:
    """The cell of a recorded missing-library log: its fixture distribution from the find-links house."""
    return Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="house"), packages=PackageSet(name=dist, requirements=(dist,), modules=(dist,)))


def test_real_misspelt_requirement_is_no_project_with_the_close_name_from_the_matrix():
    got = real("typo")
    assert got.verdict is Verdict.NO_DISTRIBUTION
    assert got.evidence[-1] == "pip's default index has no torchtnue"
    assert got.hint == ("torchtnue is not a project on pip's default index (its page answers 404): a misspelt name? "
                        "Close names: torchtune (in the matrix); correct the requirement")
    assert "platform" not in got.hint and "Python" not in got.hint
    assert got.cause.to_json() == {"kind": "no-such-project", "project": "torchtnue",
                                   "indexes": ["pip's default index"], "close": ["torchtune"]}


def test_recorded_misspelt_requirement_gets_close_names_from_the_indexs_own_list():
    got = judge("no-such-project.house.log")
    url = index_of("no-such-project.house.log")
    assert got.hint == (f"edgeopz is not a project on {url} (its page answers 404): a misspelt name? Close names: "
                        "edgeops (on the index); correct the requirement")


def test_uvs_words_for_a_name_no_index_has_are_no_project_too():
    """uv's own output (recorded by tools/record_installer_output.py) with the driver's 404 for the name, as
    the real typo cell recorded it: the same cause, not uv's platform hint."""
    [check] = events.parse((LOGS / "real-typo.log").read_text()).index_checks
    got = classify.install_failure((LOGS / "uv-missing.txt").read_text(), [{**check, "project": "nosuch"}], [],
                                   uv_cell(), names=["no-such", "torch"])
    assert got.hint == ("nosuch is not a project on pip's default index (its page answers 404): a misspelt name? Close "
                        "names: no-such (in the matrix); correct the requirement")
    assert "platform" not in got.hint


def uv_cell(**kwargs) -> Cell:
    import dataclasses

    return dataclasses.replace(cell(**kwargs), installer="uv")


@pytest.mark.parametrize(("name", "verdict", "evidence"), [
    ("uv.conflicting__pins__uv.log", Verdict.CONFLICT, "all versions of alpha depend on beta<2"),
    ("uv.arm__edge__uv.log", Verdict.NO_DISTRIBUTION, "has no wheels with a matching platform tag"),
    ("uv.good__chain__uv.log", Verdict.PASS, None),
])
def test_recorded_uv_cells(name, verdict, evidence):
    """Cells that installed with `uv pip install`: uv's words classify as pip's do."""
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    modules = ("torch", "torchtune") if "chain" in name else ("alpha",) if "pins" in name else ("edgeops",)
    got = classify.judge(uv_cell(modules=modules), Execution(log=log, exit_code=0), parsed, "none")
    assert got.verdict is verdict, got.evidence
    if evidence:
        assert any(evidence in e for e in got.evidence), got.evidence
        assert got.hint.startswith("uv ")
    else:
        assert parsed.install["installer"] == "uv" and len(parsed.install["items"]) == 3


# --- the timeout names its phase; the torch guard without Docker ----------------------------------


def test_a_timeout_names_the_phase_that_ran_past_the_deadline_in_the_evidence_and_the_hint():
    """Recorded by tests/test_faults.py: a cell stopped while its venv phase ran. The same log with the
    deadline's flag is a timeout during venv, and the hint gives the deadline the cell ran under."""
    log = (LOGS / "stopped-from-outside.venv.log").read_text()
    parsed = events.parse(log)
    slow = dataclasses.replace(cell(), timeout=42.0)
    got = classify.judge(slow, Execution(log=log, exit_code=137, timed_out=True), parsed, "none")
    assert got.verdict is Verdict.TIMEOUT
    assert got.evidence == ("killed at its deadline during venv",)
    assert got.hint.startswith("the cell ran past its 42 s timeout during venv: ")


def torch_state(tmp_path: Path, name: str, version_py: str | None) -> dict:
    """What the cell driver's own torch-state code (incell.driver.TORCH_STATE) says of a site folder with
    this torch/version.py (None: no torch there), run for real in a child interpreter."""
    site = tmp_path / name
    site.mkdir()
    if version_py is not None:
        (site / "torch").mkdir()
        (site / "torch" / "__init__.py").write_text("")
        (site / "torch" / "version.py").write_text(version_py)
    env = {"PYTHONPATH": str(site), "PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"}
    out = subprocess.run([sys.executable, "-S", "-c", driver.TORCH_STATE], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def torches(tmp_path_factory) -> dict:
    """The image's CUDA torch, a CPU build of the same version, another version, and none at all."""
    tmp = tmp_path_factory.mktemp("torches")
    return {"cuda": torch_state(tmp, "cuda", "__version__ = '2.5.0+nv24.08'\ncuda: 'str' = '12.6'\n"),
            "cpu": torch_state(tmp, "cpu", "__version__ = '2.5.0+nv24.08'\ncuda = None\n"),
            "newer": torch_state(tmp, "newer", "__version__ = '2.13.0'\ncuda = None\n"),
            "none": torch_state(tmp, "none", None)}


def test_the_torch_guard_flags_a_cpu_build_of_the_same_version_another_version_and_a_removal(torches):
    cuda, cpu = torches["cuda"], torches["cpu"]
    assert (cuda["version"], cuda["cuda"], cpu["version"], cpu["cuda"]) == ("2.5.0+nv24.08", "12.6",
                                                                            "2.5.0+nv24.08", None)
    same_version = classify.torch_replaced({"before": cuda, "after": cpu})
    assert same_version == (f"the install replaced the image's torch: torch 2.5.0+nv24.08 (CUDA 12.6) at "
                            f"{cuda['location']} → torch 2.5.0+nv24.08 (CPU build) at {cpu['location']}")
    assert classify.torch_replaced({"before": cuda, "after": torches["newer"]}).endswith(
        f"→ torch 2.13.0 (CPU build) at {torches['newer']['location']}")
    removed = classify.torch_replaced({"before": cuda, "after": torches["none"]})
    assert removed.endswith(f"(CUDA 12.6) at {cuda['location']} → no torch")
    # what is not a replacement: the same torch after, a CPU torch that stays, an image without torch, no "after"
    assert classify.torch_replaced({"before": cuda, "after": dict(cuda)}) is None
    assert classify.torch_replaced({"before": cpu, "after": dict(cpu)}) is None
    assert classify.torch_replaced({"before": torches["none"], "after": torches["newer"]}) is None
    assert classify.torch_replaced({"before": cuda}) is None
    assert classify.torch_replaced({}) is None


@pytest.mark.parametrize("name, modules, verdict", [
    ("real-chain-2.13-torchao-0.15.probe.log", ("torch", "torchao"), Verdict.DEGRADED),
    ("no-distribution.pure.log", ("edgeops",), Verdict.PASS),
    ("imports.lacking.log", ("torch", "torchao", "torchtune", "torchtune.training"), Verdict.IMPORT_FAILED),
])
def test_torch_replaced_comes_first_and_keeps_the_verdict_it_replaced_as_a_note(torches, name, modules, verdict):
    log = (LOGS / name).read_text()
    parsed = events.parse(log)
    the_cell = cell(modules=modules)
    execution = Execution(log=log, exit_code=0 if parsed.end and parsed.end.get("ok") else 1)
    alone = classify.judge(the_cell, execution, parsed, "none")
    assert alone.verdict is verdict
    guarded = dataclasses.replace(parsed, torch_states={"before": torches["cuda"], "after": torches["cpu"]})
    got = classify.judge(the_cell, execution, guarded, "none")
    assert got.verdict is Verdict.TORCH_REPLACED
    assert got.evidence == (classify.torch_replaced(guarded.torch_states),)
    assert got.hint.startswith("pip replaced the image's torch: pin torch==2.5.0+nv24.08 in the cell's requirements")
    assert [n for n in got.notes if n.startswith("also ")] == [f"also {verdict.value}: {e}" for e in alone.evidence]
    kept = dataclasses.replace(parsed, torch_states={"before": torches["cuda"], "after": dict(torches["cuda"])})
    assert classify.judge(the_cell, execution, kept, "none").verdict is verdict


def test_a_frame_in_the_evidence_names_the_package_file_not_the_runs_venv():
    # the venv's folder is named by run and cell: left in, the same failure would read differently in
    # every run (and `diff` would see a change where there is none)
    log = (LOGS / "missing-library.cudaops.log").read_text()
    assert '"where": "File \\"/tmp/ewh-work/venv/lib/python3.11/site-packages/cudaops/__init__.py\\"' in log
    found = judge("missing-library.cudaops.log", modules=("cudaops",))
    assert found.evidence[1] == 'File ".../site-packages/cudaops/__init__.py", line 1, in <module>'
    assert classify.stable_path('File "/opt/app/main.py", line 3') == 'File "/opt/app/main.py", line 3'
