"""The checks: what the built-in ones decide (against facts recorded from the real distributions:
tests/data/checks, tools/record_check_facts.py), the user's own run by the real driver in a real venv
(a script that asserts a wrong value, one that segfaults, a PEP 723 script, a pytest file), their
records through events, the classifier and the reports, and the matrix's `checks` keys."""

from __future__ import annotations

import ast
import dataclasses
import enum
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from wheels import make_wheel

from harness import checks as host_checks
from harness import incell
from harness.answers import steps
from harness.backends.base import Execution
from harness.incell import checks as incell_checks
from harness.matrix import reader
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Verdict
from harness.reports import junit, table
from harness.run import job as job_mod
from harness.verdicts import checks as checked
from harness.verdicts import classify, events

DATA = Path(__file__).parent / "data"
FACTS = DATA / "checks"
LOGS = DATA / "logs"
CELL = Path(incell.FILES["cell.py"])
LINUX_X86_311 = {"platform_system": "Linux", "platform_machine": "x86_64", "sys_platform": "linux",
                 "os_name": "posix", "python_version": "3.11", "python_full_version": "3.11.2",
                 "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ()}


@pytest.mark.parametrize("name", sorted(incell.FILES))
def test_the_in_cell_files_parse_as_python_38(name):
    path = Path(incell.FILES[name])
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


# --- the nvidia-* wheels torch declares, against what is installed -----------------------------------


def requires(name: str) -> list[str]:
    return [line for line in (FACTS / name).read_text().splitlines() if line.strip()]


TORCH = requires("torch-2.13.0-linux-x86_64.requires.txt")
TOOLKIT = requires("cuda-toolkit-13.0.3.requires.txt")


def installed_as_declared() -> dict[str, str]:
    """What pip installs for torch 2.13.0 on Linux x86_64: each pinned CUDA wheel at its pin (a `.*` pin
    at a release inside it), from the recorded requirements."""
    out = {}
    for line in TORCH + TOOLKIT:
        name, _, clauses, _ = incell_checks.parse_requirement(line)
        pins = [v for op, v in clauses if op == "=="]
        low = [v for op, v in clauses if op == ">="]
        version = (pins[0].replace(".*", ".1") if pins else low[0] if low else "1.0")
        out.setdefault(incell_checks.canonical(name), version)
    return out


def toolkit_requires(name: str) -> list[str]:
    return TOOLKIT if incell_checks.canonical(name) == "cuda-toolkit" else []


def test_torch_2_13s_cuda_wheels_installed_as_declared_all_match_through_cuda_toolkits_extras():
    matched, wrong = incell_checks.cuda_wheel_mismatches(TORCH, installed_as_declared(), LINUX_X86_311,
                                                         toolkit_requires)
    assert wrong == []
    names = {re.match(r"[\w.-]+", name).group(0) for name, _ in matched}
    # torch's own pins, and what cuda-toolkit's extras bring (cublas, cudart, …), but no extra not asked
    assert {"nvidia-cudnn-cu13", "cuda-toolkit", "nvidia-cublas", "nvidia-cuda-runtime", "nvidia-nvjitlink"} <= names
    assert "nvidia-npp" not in names and "nvidia-cuda-nvcc" not in names  # extras torch does not ask for


def test_a_cudnn_wheel_other_than_torchs_pin_is_named_with_both_versions():
    installed = {**installed_as_declared(), "nvidia-cudnn-cu13": "9.5.1.17"}
    _, wrong = incell_checks.cuda_wheel_mismatches(TORCH, installed, LINUX_X86_311, toolkit_requires)
    assert wrong == ["nvidia-cudnn-cu13 9.5.1.17 is installed where ==9.20.0.48 is declared"]


def test_a_cublas_outside_cuda_toolkits_wildcard_pin_is_named_and_a_missing_wheel_too():
    installed = {**installed_as_declared(), "nvidia-cublas": "13.2.0.1"}
    del installed["nvidia-nccl-cu13"]
    _, wrong = incell_checks.cuda_wheel_mismatches(TORCH, installed, LINUX_X86_311, toolkit_requires)
    assert wrong == ["nvidia-nccl-cu13 ==2.29.7 is declared and not installed",
                     "nvidia-cublas 13.2.0.1 is installed where ==13.1.1.3.* is declared"]


def test_markers_decide_which_declared_wheels_apply():
    windows = dict(LINUX_X86_311, platform_system="Windows", sys_platform="win32", platform_machine="AMD64")
    matched, wrong = incell_checks.cuda_wheel_mismatches(TORCH, {}, windows, toolkit_requires)
    assert (matched, wrong) == ([], [])  # torch declares its CUDA wheels for Linux only
    line = next(r for r in TOOLKIT if r.startswith("nvidia-cuda-opencl") and "extra == 'opencl'" in r)
    marker = line.split(";", 1)[1]
    assert incell_checks.marker_holds(marker, dict(LINUX_X86_311, extra=("opencl",))) is True
    assert incell_checks.marker_holds(marker, dict(LINUX_X86_311, platform_machine="aarch64",
                                                   extra=("opencl",))) is False  # no opencl wheel on arm64
    assert incell_checks.marker_holds(marker, dict(LINUX_X86_311, extra=("cublas",))) is False
    assert incell_checks.marker_holds('python_version < "3.15"', LINUX_X86_311) is True
    assert incell_checks.marker_holds('python_version < "3.10"', LINUX_X86_311) is False
    assert incell_checks.marker_holds("platform_system ==", LINUX_X86_311) is None  # unreadable: unknown


@pytest.mark.parametrize(("have", "op", "want", "holds"), [
    ("13.1.1.3", "==", "13.1.1.3.*", True), ("13.1.10.1", "==", "13.1.1.*", False), ("13.0.88", ">=", "13.0.88", True),
    ("14.0", "<", "14", False), ("9.20.0.48", "==", "9.20.0.48", True), ("2.13.0+cu130", "==", "2.13.0", True),
    ("1.4.2", "~=", "1.4", True), ("2.0", "~=", "1.4", False), ("3.7.1", "!=", "3.7.*", False)])
def test_version_clauses(have, op, want, holds):
    assert incell_checks.version_compare(have, op, want) is holds


@pytest.mark.parametrize(("runtime", "built", "ok"), [
    ((9, 20, 0), (9, 20, 0), True), ((9, 21, 1), (9, 20, 0), True), ((9, 1, 0), (9, 20, 0), False),
    ((8, 9, 7), (9, 1, 0), False), ((6, 1, 0), (6, 0, 0), False)])
def test_cudnn_at_run_time_against_the_build_by_torchs_own_rule(runtime, built, ok):
    assert incell_checks.cudnn_compatible(runtime, built) is ok


# --- torchao: the API of the installed release ------------------------------------------------------

APIS = json.loads((FACTS / "torchao-apis.json").read_text())


def release(version: str) -> tuple[types.SimpleNamespace, types.SimpleNamespace]:
    """torchao.quantization and its quant_api as the release defines them: every recorded name present
    (a stand-in callable), Int4WeightOnlyConfig a dataclass with the release's fields, its packing format
    an enum with the release's members."""
    facts = APIS[version]
    members = facts["Int4PackingFormat"]
    formats = enum.Enum("Int4PackingFormat", {m: m.lower() for m in members}) if members else None

    def namespace(names: list[str]) -> types.SimpleNamespace:
        space = types.SimpleNamespace(**{n: (lambda *a, **k: (a, k)) for n in names})
        if "Int4WeightOnlyConfig" in names and facts["Int4WeightOnlyConfig"]:
            fields = [(f, object, dataclasses.field(default=None)) for f in facts["Int4WeightOnlyConfig"]]
            if formats is not None:
                fields = [(f, object, dataclasses.field(default=formats.PLAIN if f == "int4_packing_format" else None))
                          for f, _, _ in fields]
            space.Int4WeightOnlyConfig = dataclasses.make_dataclass("Int4WeightOnlyConfig", fields)
        return space

    return namespace(facts["quantization"]), namespace(facts["quant_api"])


@pytest.mark.parametrize(("version", "int8", "int4"), [
    ("0.1", "change_linear_weights_to_int8_woqtensors(model)", None),
    ("0.3.1", "quantize(model, int8_weight_only())", "quantize(model, int4_weight_only(group_size=32))"),
    ("0.5.0", "quantize_(model, int8_weight_only())", "quantize_(model, int4_weight_only(group_size=32))"),
    ("0.10.0", "quantize_(model, Int8WeightOnlyConfig())", "quantize_(model, Int4WeightOnlyConfig(group_size=32))"),
    ("0.15.0", "quantize_(model, Int8WeightOnlyConfig())",
     'quantize_(model, Int4WeightOnlyConfig(group_size=32, int4_packing_format="tile_packed_to_4d"))'),
    ("0.18.0", "quantize_(model, Int8WeightOnlyConfig())",
     'quantize_(model, Int4WeightOnlyConfig(group_size=32, int4_packing_format="tile_packed_to_4d"))'),
])
def test_each_torchao_release_gets_the_weight_only_api_it_has(version, int8, int4):
    quantization, quant_api = release(version)
    assert incell_checks.int8_api(quantization, quant_api)[0] == int8
    assert incell_checks.int4_api(quantization, quant_api)[0] == int4


def test_the_int4_api_of_0_15_passes_the_tile_packed_format_to_the_release_config():
    quantization, quant_api = release("0.15.0")
    seen = []
    quantization.quantize_ = lambda model, config: seen.append(config)
    _, apply = incell_checks.int4_api(quantization, quant_api)
    apply("model")
    assert seen[0].group_size == 32 and seen[0].int4_packing_format.name == "TILE_PACKED_TO_4D"


@pytest.mark.parametrize(("device", "capability", "api", "why"), [
    ("cpu", None, "x", "int4 weight-only is checked on CUDA only: its kernels (tinygemm) are CUDA's, not the CPU's"),
    ("cuda:0", (7, 2), "x", "int4 weight-only needs CUDA capability 8.0 or newer (tinygemm); this GPU has 7.2"),
    ("cuda:0", (8, 7), None, "this torchao release has no int4 weight-only API the check knows"),
    ("cuda:0", (8, 7), "x", None), ("cuda:0", (9, 0), "x", None)])
def test_int4_weight_only_runs_where_it_can_and_says_why_not_elsewhere(device, capability, api, why):
    """Capabilities of real boards: Xavier 7.2, Orin 8.7, H100 9.0."""
    assert incell_checks.int4_not_applicable(device, capability, api) == why


def test_torchtune_lora_builder_is_looked_up_and_missing_is_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchtune", types.ModuleType("torchtune"))
    monkeypatch.setitem(sys.modules, "torchtune.models", types.ModuleType("torchtune.models"))
    for name in ("torchtune.models.llama2", "torchtune.models.llama3"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails: the release has neither
    assert incell_checks.lora_builder() == (None, None)
    llama3 = types.ModuleType("torchtune.models.llama3")
    llama3.lora_llama3 = object()
    monkeypatch.setitem(sys.modules, "torchtune.models.llama3", llama3)
    assert incell_checks.lora_builder() == ("torchtune.models.llama3.lora_llama3", llama3.lora_llama3)


def test_parts_make_the_outcome_failed_over_passed_over_not_applicable():
    parts: list[dict] = []
    incell_checks.run_part(parts, "a", lambda: {"x": 1})
    incell_checks.run_part(parts, "b", lambda: (_ for _ in ()).throw(incell_checks.NotApplicable("no GPU")))
    assert incell_checks.outcome_of(parts) == "passed"
    assert parts[1] == {"part": "b", "outcome": "not-applicable", "reason": "no GPU", "seconds": parts[1]["seconds"]}
    assert incell_checks.outcome_of(parts[1:]) == "not-applicable"
    incell_checks.run_part(parts, "c", lambda: incell_checks.close_enough(0.4, 0.05, "the int8 model's output"))
    assert incell_checks.outcome_of(parts) == "failed"
    assert parts[2]["error"]["last_line"] == ("CheckFailure: the int8 model's output is off by 0.4 relative to the "
                                              "reference (tolerance 0.05)")
    nan = []
    incell_checks.run_part(nan, "d", lambda: incell_checks.close_enough(float("nan"), 0.05, "matmul in float16"))
    assert nan[0]["outcome"] == "failed"  # NaN is no result


# --- the user's own checks, run by the real driver in a real venv ------------------------------------

WRONG = """import sys
value = sum([1, 2, 3])
print("summed", value)
assert value == 7, "expected 7, got %d" % value
"""
SEGV = """import ctypes
print("about to read address 0", flush=True)
ctypes.string_at(0)
"""
PEP723 = """# /// script
# requires-python = ">=3.8"
# dependencies = ["tinydep==1.0"]
# ///
import sys
import tinydep
print("tinydep", tinydep.VERSION, "from", tinydep.__file__)
assert tinydep.__file__.startswith(sys.prefix), "tinydep must come from the cell's venv"
"""
TWO_TESTS = """import pytest

def test_adds():
    assert 1 + 1 == 2

def test_adds_wrong():
    assert 1 + 1 == 3, "arithmetic"

@pytest.mark.skip(reason="needs a GPU")
def test_on_gpu():
    pass

class TestGroup:
    def test_inside(self):
        assert True
"""
SLEEPS = "import time\ntime.sleep(60)\n"


def user_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text in (("wrong.py", WRONG), ("segv.py", SEGV), ("pep.py", PEP723), ("test_two.py", TWO_TESTS),
                       ("sleeps.py", SLEEPS)):
        out[name] = folder / name
        out[name].write_text(text)
    return out


def a_cell(checks: tuple[str, ...], *, timeout: float = 600.0, check_timeout: float = 120.0) -> Cell:
    return Cell(image=Image(name="bookworm", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i"), timeout=timeout,
                packages=PackageSet(name="p", requirements=(), modules=("json",), checks=checks,
                                    check_timeout=check_timeout))


def run_driver(tmp_path: Path, cell: Cell, *, pip_args: tuple[str, ...] = (), env: dict | None = None) -> str:
    """The real driver over a real venv, with the job's own check spec and files laid out as a backend
    lays them out; its log."""
    spec, files = job_mod.check_spec(cell)
    root = tmp_path / "root"
    for name, data in {**{n: Path(p).read_bytes() for n, p in incell.FILES.items()}, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "spec.json").write_text(json.dumps({
        "workdir": str(tmp_path / "work"), "requirements": [], "modules": list(cell.packages.modules),
        "pip_args": list(pip_args), "env": env or {}, "checks": spec}))
    done = subprocess.run([sys.executable, str(root / "cell.py"), str(root / "spec.json")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900, cwd=tmp_path,  # one log, as cells have
                          env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    return done.stdout


def judged(log: str, cell: Cell) -> tuple[events.CellEvents, classify.Judgement]:
    parsed = events.parse(log)
    return parsed, classify.judge(cell, Execution(log=log, exit_code=0), parsed, "none")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    house = tmp_path_factory.mktemp("house")
    make_wheel(house, "tinydep", "1.0", {"tinydep/__init__.py": "VERSION = '1.0'\n"})
    return house


def test_a_script_asserting_a_wrong_value_is_check_failed_with_the_assertion_and_a_pep723_dep_in_the_venv(
        tmp_path, wheelhouse, monkeypatch):
    files = user_files(tmp_path / "project" / "checks")
    monkeypatch.chdir(tmp_path / "project")
    cell = a_cell((str(files["wrong.py"]), str(files["pep.py"])))
    log = run_driver(tmp_path, cell, pip_args=("--no-index", "--find-links", str(wheelhouse)))
    parsed, got = judged(log, cell)
    assert parsed.phase("check-install")["status"] == "ok"
    started = next(json.loads(line[len(events.HARNESS):]) for line in log.splitlines()
                   if line.startswith(events.HARNESS) and '"phase": "check-install", "status": "start"' in line)
    assert started["argv"][-1] == "tinydep==1.0"  # from the PEP 723 block
    assert started["argv"][started["argv"].index("-c") + 1].endswith("check-constraints.txt")  # held to the venv
    wrong, pep = parsed.checks
    assert (wrong["check"], wrong["outcome"], wrong["returncode"]) == ("checks/wrong.py", "failed", 1)
    assert wrong["error"]["last_line"] == "AssertionError: expected 7, got 6"
    assert wrong["error"]["frames"] == ['File "checks/wrong.py", line 4, in <module>']  # as the user knows it
    assert wrong["output"][0] == "summed 6"
    assert pep["outcome"] == "passed", pep
    venv = tmp_path / "work" / "venv"
    assert pep["output"][0].startswith(f"tinydep 1.0 from {venv}/")
    assert got.verdict is Verdict.CHECK_FAILED
    assert got.evidence == ("check checks/wrong.py failed: AssertionError: expected 7, got 6",
                            'at File "checks/wrong.py", line 4, in <module>')
    assert got.hint.startswith("the check checks/wrong.py fails with the cell's packages")


def test_a_check_that_segfaults_is_crashed_naming_it_and_where(tmp_path, monkeypatch):
    files = user_files(tmp_path / "project" / "checks")
    monkeypatch.chdir(tmp_path / "project")
    cell = a_cell((str(files["segv.py"]), str(files["wrong.py"])))
    log = run_driver(tmp_path, cell)
    parsed, got = judged(log, cell)
    segv = parsed.checks[0]
    assert (segv["outcome"], segv["signal"], segv["returncode"]) == ("crashed", "SIGSEGV", -signal.SIGSEGV)
    assert 'File "checks/segv.py", line 3, in <module>' in segv["error"]["frames"]  # faulthandler's, as shown
    assert got.verdict is Verdict.CRASHED  # outranks the other check's failure
    assert got.evidence[0] == ("check checks/segv.py crashed: killed by SIGSEGV (Fatal Python error: "
                               "Segmentation fault)")
    assert got.hint.startswith("the interpreter died running the check checks/segv.py")


def test_a_pytest_file_gives_one_record_per_test_and_one_junit_testcase_each(tmp_path, monkeypatch):
    files = user_files(tmp_path / "project" / "tests")
    monkeypatch.chdir(tmp_path / "project")
    cell = a_cell((str(files["test_two.py"]),))
    assert host_checks.requirements_of(cell.packages.checks, ()) == ["pytest"]  # asked for: installed
    pytest_home = str(Path(pytest.__file__).parents[1])  # this pytest, so the test needs no index
    log = run_driver(tmp_path, cell, env={"PYTHONPATH": pytest_home}, pip_args=("--no-index",))
    parsed, got = judged(log, cell)
    by_name = {c["check"]: c for c in parsed.checks}
    assert {n: c["outcome"] for n, c in by_name.items()} == {
        "tests/test_two.py::test_adds": "passed", "tests/test_two.py::test_adds_wrong": "failed",
        "tests/test_two.py::test_on_gpu": "not-applicable", "tests/test_two.py::TestGroup::test_inside": "passed"}
    failed = by_name["tests/test_two.py::test_adds_wrong"]
    assert failed["error"]["last_line"] == "AssertionError: arithmetic"
    assert failed["error"]["frames"] == ["tests/test_two.py:7"]
    assert by_name["tests/test_two.py::test_on_gpu"]["reason"] == "needs a GPU"
    assert got.verdict is Verdict.CHECK_FAILED
    assert "check tests/test_two.py::test_on_gpu not applicable: needs a GPU" in got.notes
    record = {"cell_id": "c", "matrix": "m", "verdict": got.verdict.value, "expected": False,
              "cell": {"expect": "pass"}, "checks": list(parsed.checks), "timings": {}}
    xml = junit.render([record])
    suite = next(iter(xml))
    cases = {case.name: case for case in suite}
    assert set(cases) == {"c", "c :: tests/test_two.py::test_adds", "c :: tests/test_two.py::test_adds_wrong",
                          "c :: tests/test_two.py::test_on_gpu", "c :: tests/test_two.py::TestGroup::test_inside"}
    assert cases["c :: tests/test_two.py::test_adds"].is_passed
    wrong = cases["c :: tests/test_two.py::test_adds_wrong"].result[0]
    assert (type(wrong).__name__, wrong.message) == ("Failure", "failed: AssertionError: arithmetic")
    assert cases["c :: tests/test_two.py::test_on_gpu"].is_skipped
    assert table.checks_text(record) == "2/3: tests/test_two.py::test_adds_wrong failed (1 n/a)"


def test_a_check_past_its_timeout_is_killed_and_the_cell_is_timeout_naming_it(tmp_path, monkeypatch):
    files = user_files(tmp_path / "project" / "checks")
    monkeypatch.chdir(tmp_path / "project")
    cell = a_cell((str(files["sleeps.py"]),), check_timeout=2.0)
    log = run_driver(tmp_path, cell)
    parsed, got = judged(log, cell)
    [slow] = parsed.checks
    assert slow["outcome"] == "timeout" and slow["seconds"] < 30
    assert got.verdict is Verdict.TIMEOUT
    assert got.evidence[0] == "check checks/sleeps.py timed out: ran past its 2 s timeout"


def test_dependencies_that_cannot_be_installed_fail_every_user_check_with_pips_words(tmp_path, monkeypatch):
    files = user_files(tmp_path / "project" / "checks")
    monkeypatch.chdir(tmp_path / "project")
    cell = a_cell((str(files["pep.py"]),))
    log = run_driver(tmp_path, cell, pip_args=("--no-index",))  # tinydep is nowhere
    parsed, got = judged(log, cell)
    assert parsed.phase("check-install")["status"] == "failed" and parsed.phase("checks")["status"] == "skipped"
    [pep] = parsed.checks
    assert pep["outcome"] == "failed"
    assert pep["error"]["last_line"].startswith("its dependencies could not be installed beside the cell's "
                                                "packages: ERROR: No matching distribution found for tinydep==1.0")
    assert got.verdict is Verdict.CHECK_FAILED


# --- a built-in check that kills the probe ----------------------------------------------------------

CRASHING_TORCH = {
    "torch/__init__.py": "__version__ = '2.13.0+fixture'\nfrom . import version, cuda\n"
                         "def Generator():\n    import ctypes\n    return ctypes.string_at(0)\n"
                         "float32 = float16 = bfloat16 = 'a dtype'\n",
    "torch/version.py": "cuda = None\n",
    "torch/cuda.py": "def is_available():\n    return False\ndef device_count():\n    return 0\n",
}


def test_a_built_in_check_that_kills_the_probe_is_crashed_naming_the_check_and_where(tmp_path):
    """A torch that imports and dies in its first operation (the wheel built for another CPU or GPU)."""
    site = tmp_path / "site"
    for name, text in CRASHING_TORCH.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    cell = dataclasses.replace(a_cell(("torch",)), packages=PackageSet(name="p", requirements=(), modules=("torch",),
                                                                       checks=("torch",)))
    log = run_driver(tmp_path, cell, env={"PYTHONPATH": str(site)})
    parsed, got = judged(log, cell)
    assert parsed.probe["imports"][0]["ok"] and parsed.phase("probe")["signal"] == "SIGSEGV"
    [crash] = parsed.checks
    assert (crash["check"], crash["device"], crash["outcome"]) == ("torch", "cpu", "crashed")
    assert f'File "{site / "torch" / "__init__.py"}", line 5, in Generator' in crash["error"]["frames"]
    assert got.verdict is Verdict.CRASHED
    assert got.evidence[0] == ("check torch [cpu] crashed: the probe process died (SIGSEGV): Fatal Python error: "
                               "Segmentation fault")
    assert got.hint.startswith("the interpreter died running the check torch [cpu]")


SLOW_TORCH = {**CRASHING_TORCH, "torch/__init__.py": CRASHING_TORCH["torch/__init__.py"].replace(
    "import ctypes\n    return ctypes.string_at(0)", "import time\n    time.sleep(120)")}


def probe_steps(tmp_path: Path, *args: str) -> list[dict]:
    site = tmp_path / "site"
    for name, text in SLOW_TORCH.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    done = subprocess.run([sys.executable, incell.FILES["probe.py"], "--module", "torch", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(site)})
    return [json.loads(line[len(events.PROBE):]) for line in done.stdout.splitlines() if line.startswith(events.PROBE)]


def test_a_built_in_check_past_its_timeout_is_stopped_and_the_probe_goes_on(tmp_path):
    steps = probe_steps(tmp_path, "--check", "torch", "--check-timeout", "1")
    [check] = [s for s in steps if s["step"] == "check"]
    assert (check["outcome"], check["error"]["last_line"]) == ("timeout", "ran past its 1 s timeout")
    assert check["seconds"] < 10 and steps[-1]["step"] == "summary"


def test_a_built_in_check_the_cells_timeout_leaves_no_time_for_is_not_started(tmp_path):
    steps = probe_steps(tmp_path, "--check", "torch", "--check-timeout", "100", "--check-deadline", "0")
    [check] = [s for s in steps if s["step"] == "check"]
    assert (check["outcome"], check["error"]["last_line"]) == ("timeout", "the cell's timeout left it no time")


# --- verdicts from a recorded real cell (tests/test_checks_docker.py with EWH_RECORD_LOGS) -------------

CHAIN = ("torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training")
SKIPPED = ("Skipping import of cpp extensions due to incompatible torch version 2.13.0+cpu for torchao "
           "version 0.15.0")


def recorded(name: str) -> tuple[str, events.CellEvents]:
    log = (LOGS / name).read_text()
    return log, events.parse(log)


def chain_cell() -> Cell:
    return Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="wheelhouse"),
                packages=PackageSet(name="chain", requirements=("torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"),
                                    modules=CHAIN, checks=("torch", "torchao", "torchtune")))


def test_the_real_chains_checks_are_read_back_from_its_log():
    _, parsed = recorded("checks.real-chain.log")
    assert [(table.check_name(c), c["outcome"]) for c in parsed.checks] == [
        ("torch [cpu]", "passed"), ("torchao [cpu]", "passed"), ("torchtune [cpu]", "passed"),
        ("checks/sdpa.py", "failed"), ("checks/wrong.py", "failed"), ("checks/pep.py", "passed"),
        ("tests/test_two.py::test_adds", "passed"), ("tests/test_two.py::test_adds_wrong", "failed")]
    torchao = parsed.checks[1]
    assert [(p["part"], p["outcome"]) for p in torchao["parts"]] == [("int8 weight-only", "passed"),
                                                                     ("int4 weight-only", "not-applicable")]
    assert torchao["parts"][0]["detail"]["relative_error"] <= torchao["parts"][0]["detail"]["tolerance"] == 0.05


def test_a_check_needing_an_extension_torchao_skipped_says_so_and_outranks_degraded():
    log, parsed = recorded("checks.real-chain.log")
    got = classify.judge(chain_cell(), Execution(log=log, exit_code=0), parsed, "none")
    assert got.verdict is Verdict.CHECK_FAILED
    assert got.evidence[0].startswith("check checks/sdpa.py failed: NotImplementedError: Could not run "
                                      "'torchao::qscaled_dot_product'")
    assert got.evidence[1].startswith(f"torchao skipped its C++ extensions at import, and the check needs them: "
                                      f"{SKIPPED}")
    assert got.evidence[-1].startswith(f"also lost at import: torchao: {SKIPPED}")  # the loss stays in the evidence
    assert got.hint == ("torchao's C++ extensions were skipped: install the torchao built for this torch (or the "
                        "torch it was built for)")
    # the same failure where torchao had not skipped them: no such cause is claimed
    loaded = dataclasses.replace(parsed, probe={**parsed.probe, "imports": [
        {**s, "messages": [m for m in s.get("messages") or () if "Skipping import" not in str(m.get("text"))]}
        for s in parsed.probe["imports"]]})
    got = classify.judge(chain_cell(), Execution(log=log, exit_code=0), loaded, "none")
    assert got.verdict is Verdict.CHECK_FAILED and not any("skipped its C++" in e for e in got.evidence)
    assert got.hint.startswith("the check checks/sdpa.py fails with the cell's packages")


def test_passing_checks_never_clear_a_loss():
    log, parsed = recorded("checks.real-chain.log")
    built_in = dataclasses.replace(parsed, checks=tuple(c for c in parsed.checks if c["kind"] == "builtin"))
    got = classify.judge(chain_cell(), Execution(log=log, exit_code=0), built_in, "none")
    assert got.verdict is Verdict.DEGRADED
    assert got.evidence[0].startswith(f"torchao: {SKIPPED}")
    assert ("check torchao [cpu]: int4 weight-only not run: int4 weight-only is checked on CUDA only: its kernels "
            "(tinygemm) are CUDA's, not the CPU's") in got.notes


def test_a_recorded_segfaulting_check_in_a_container_is_crashed_naming_it():
    log, parsed = recorded("checks.segv.log")
    got = classify.judge(chain_cell(), Execution(log=log, exit_code=0), parsed, "none")
    assert got.verdict is Verdict.CRASHED
    assert got.evidence[0] == "check checks/segv.py crashed: killed by SIGSEGV (Fatal Python error: Segmentation fault)"


def test_an_int4_kernel_failure_on_a_gpu_older_than_ampere_says_why():
    """No GPU here to record it on: the record as the torchao check writes it, with Xavier's capability."""
    int4 = {"check": "torchao", "kind": "builtin", "device": "cuda:0", "outcome": "failed",
            "error": {"part": "int4 weight-only", "last_line": "RuntimeError: _weight_int4pack_mm is not supported"}}
    xavier = {"torch": {"devices": [{"name": "Xavier", "capability": "7.2"}]}}
    assert checked.judge([int4], [], xavier).hint.startswith("int4 weight-only needs CUDA capability ≥ 8.0 (this GPU "
                                                             "has 7.2)")
    orin = {"torch": {"devices": [{"name": "Orin", "capability": "8.7"}]}}
    assert checked.judge([int4], [], orin).hint.startswith(
        "torchao's int4 weight-only does not work on cuda:0 with this torch")


def real_record() -> dict:
    log, parsed = recorded("checks.real-chain.log")
    got = classify.judge(chain_cell(), Execution(log=log, exit_code=0), parsed, "none")
    return {"matrix": "real", "cell_id": "bookworm-amd64__wheelhouse__chain", "run_id": "r",
            "verdict": got.verdict.value, "expected": False, "evidence": list(got.evidence), "hint": got.hint,
            "notes": list(got.notes), "cell": chain_cell().to_json(), "checks": [dict(c) for c in parsed.checks],
            "timings": {"total": 60.0}, "probe": parsed.probe}


def test_the_reports_show_each_check():
    from harness.reports import diff, html, jobsummary

    record = real_record()
    assert table.checks_text(record) == "5/8: checks/sdpa.py failed, checks/wrong.py failed (+1)"
    rendered = table.render_table([record, {"cell_id": "other", "verdict": "pass"}])
    assert rendered.splitlines()[0].split("|")[8].strip() == "Checks"
    assert rendered.splitlines()[3].split("|")[8].strip() == "—"  # a cell without checks
    assert "Checks" not in table.render_table([{"cell_id": "other", "verdict": "pass"}])
    timed = {"timings": {"probe": 20.0, "check-install": 2.5, "checks": 4.0}}
    assert html.phase_seconds(timed) == {"probe.rest": 20.0, "check-install": 2.5, "checks": 4.0}
    assert junit.timings(timed) == {"probe": 20.0, "check-install": 2.5, "checks": 4.0}
    page = html.render("real", [record])
    assert page.count('data-check="') == 8 and 'data-check="checks/wrong.py"\n data-outcome="failed"' in page
    summary = jobsummary.render("real", [record], "TABLE")
    assert "**check-failed**, expected pass; checks 5/8: checks/sdpa.py failed, checks/wrong.py failed (+1)" in summary
    fixed = {**record, "checks": [{**c, "outcome": "passed"} if c["check"] == "checks/wrong.py" else c
                                  for c in record["checks"]]}
    assert diff.check_changes(record, fixed) == ["checks/wrong.py failed → passed"]
    changed = diff.compare([record], [fixed])
    assert [c.detail for c in changed.checks] == ["checks/wrong.py failed → passed"]
    assert "### Check changes" in diff.render_markdown(changed, "a", "b")


# --- the matrix's keys ------------------------------------------------------------------------------


def matrix(tmp_path: Path, packages: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text('[images.a]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n[indexes.default]\n'
                    + packages)
    return path


def test_the_default_is_the_built_in_checks_of_what_the_set_installs_and_an_empty_list_is_import_only(tmp_path):
    m = reader.load(matrix(tmp_path, '[packages.chain]\nrequirements = ["torch==2.13.0", "torchao", "numpy"]\n'
                                     'modules = ["torch", "torchtune.training"]\n'
                                     '[packages.bare]\nrequirements = ["numpy"]\nmodules = ["numpy"]\n'
                                     '[packages.none]\nrequirements = ["torch"]\nmodules = ["torch"]\nchecks = []\n'))
    sets = {p.name: p.checks for p in m.package_sets}
    assert sets == {"chain": ("torch", "torchao", "torchtune"), "bare": (), "none": ()}


def test_user_checks_are_resolved_next_to_the_matrix_and_recorded_relative_to_the_working_folder(tmp_path,
                                                                                                 monkeypatch):
    user_files(tmp_path / "checks")
    m = reader.load(matrix(tmp_path, '[packages.p]\nrequirements = ["torch"]\nmodules = ["torch"]\n'
                                     'checks = ["torch.compile", "checks/pep.py", "checks/test_two.py::test_adds"]\n'
                                     'check_requires = ["numpy>=2"]\ncheck_timeout = 60\n'))
    [p] = m.package_sets
    assert p.checks == ("torch.compile", str(tmp_path / "checks" / "pep.py"),
                        str(tmp_path / "checks" / "test_two.py") + "::test_adds")
    assert (p.check_requires, p.check_timeout) == (("numpy>=2",), 60.0)
    monkeypatch.chdir(tmp_path)
    spec, files = job_mod.check_spec(m.cells[0])
    assert spec["builtin"] == ["torch.compile"]
    assert spec["user"] == [
        {"name": "checks/pep.py", "kind": "script", "file": "user-checks/0/pep.py", "node": None},
        {"name": "checks/test_two.py::test_adds", "kind": "pytest", "file": "user-checks/1/test_two.py",
         "node": "test_adds"}]
    assert spec["requires"] == ["numpy>=2", "tinydep==1.0", "pytest"]
    assert files == {"user-checks/0/pep.py": PEP723.encode(), "user-checks/1/test_two.py": TWO_TESTS.encode()}


@pytest.mark.parametrize(("entry", "fragment"), [
    ('"torchoa"', "'torchoa' is neither a built-in check (torch, torch.compile, torchao, torchtune) nor a Python "
                  "file (a script, or a pytest file or node id like tests/test_model.py::test_x) (did you mean "
                  "'torchao'?)"),
    ('"checks/nothere.py"', "'checks/nothere.py' is not a file (relative to"),
    ('"checks/bad723.py"', "'checks/bad723.py': its '# /// script' block lists 'no such thing', not a PEP 508 "
                           "requirement"),
    ('"torch", "torch"', "'torch' is listed twice"),
])
def test_check_entries_that_cannot_run_are_one_line_problems(tmp_path, entry, fragment):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "bad723.py").write_text('# /// script\n# dependencies = ["no such thing"]\n# ///\n')
    problems = reader.validate(matrix(tmp_path, f'[packages.p]\nrequirements = []\nmodules = ["x"]\n'
                                                f'checks = [{entry}]\n'))
    assert len(problems) == 1 and problems[0].key.startswith("packages.p.checks[")
    assert fragment in problems[0].message and "\n" not in str(problems[0])


def test_pep723_metadata_is_read_as_the_pep_writes_it():
    text = textwrap.dedent("""\
        # /// script
        # requires-python = ">=3.11"
        # dependencies = [
        #   "requests<3",
        #   "rich",
        # ]
        # ///

        import requests
        """)
    assert host_checks.script_dependencies(text) == ["requests<3", "rich"]
    assert host_checks.script_dependencies("print('no block')\n") == []
    with pytest.raises(ValueError, match="more than one"):
        host_checks.script_dependencies(text + "\n" + text)


# --- answers: solve and bisect read failed checks like any finding ------------------------------------


def test_solve_takes_the_checks_of_the_set_naming_its_packages_else_the_built_ins(tmp_path):
    from harness.answers import solve

    user_files(tmp_path / "checks")
    m = reader.load(matrix(tmp_path, '[packages.chain]\nrequirements = ["torch", "torchao"]\nmodules = ["torch"]\n'
                                     'checks = ["torch", "checks/wrong.py"]\ncheck_timeout = 60\n'))
    declared = solve.package_set(m, ["torchao>=0.15", "torch==2.13.0"], ("torch",))
    assert (declared.checks, declared.check_timeout) == (("torch", str(tmp_path / "checks" / "wrong.py")), 60.0)
    assert solve.package_set(m, ["torchtune"], ("torchtune",)).checks == ("torchtune",)
    step = steps.step_cell(m.cells[0], ["torch==2.13.0", "torchao==0.15.0"], made_by="solve")
    assert step.packages.checks == declared.checks  # a step runs the checks its base runs


def test_a_set_whose_check_failed_is_not_a_working_set_and_its_answer_block_keeps_its_checks(tmp_path):
    from harness.answers import solve
    from harness.model import CellResult

    record = {**real_record(), "backend": "docker", "started_at": "t0", "finished_at": "t1", "host": {}}
    result = CellResult.from_json(record)
    assert result.verdict is Verdict.CHECK_FAILED and solve.rank(result) is None
    passing = dataclasses.replace(result, verdict=Verdict.PASS)
    cell = dataclasses.replace(chain_cell(), packages=dataclasses.replace(chain_cell().packages, checks=()))
    answer = solve.Solution(names=("torch",), base=cell,
                            best=solve.Decision(pins=("torch==2.13.0",), versions={"torch": "2.13.0"},
                                                step=steps.Step(cell=cell, result=passing)))
    assert "checks = []" in answer.block().splitlines()
    default = dataclasses.replace(cell, packages=chain_cell().packages)  # the built-ins: the default, not written
    with_default = dataclasses.replace(answer, best=dataclasses.replace(answer.best,
                                                                        step=steps.Step(cell=default, result=passing)))
    assert not any(line.startswith("checks") for line in with_default.block().splitlines())


def test_bisect_says_which_checks_turned():
    from harness.answers import bisection
    from harness.model import CellResult

    record = {**real_record(), "backend": "docker", "started_at": "t0", "finished_at": "t1", "host": {}}
    after = CellResult.from_json(record)
    before = dataclasses.replace(after, verdict=Verdict.DEGRADED, checks=tuple(
        {**c, "outcome": "passed"} if c["check"] == "checks/wrong.py" else c for c in after.checks))
    assert "checks: checks/wrong.py passed → failed" in bisection.changes(before, after)
