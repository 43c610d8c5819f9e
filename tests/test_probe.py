"""probe.py and cell.py as real processes, on fixture modules made in tmp_path."""

from __future__ import annotations

import ast
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from wheels import shared_library

from harness import incell
from harness.verdicts import events

PROBE = Path(incell.FILES["probe.py"])
CELL = Path(incell.FILES["cell.py"])

MODULES = {
    "good/__init__.py": "VALUE = 1\n",
    "noisy.py": """
        import logging, sys, warnings
        warnings.warn("old api", DeprecationWarning)
        logging.getLogger("x").warning("Skipping import of cpp extensions due to incompatible torch")
        print("libfoo not found", file=sys.stderr)
        print("half a line", end="")
    """,
    "a/__init__.py": "present = True\n",
    "b.py": "from a import missing_thing\n",
    "c.py": "import a.nothere\n",
    "boom.py": "import os\nos.abort()\n",
    "chatty.py": """
        import logging, sys
        for i in range(20000):
            print("line %d" % i)
            logging.getLogger("loop").warning("again %d", i)
        sys.stdout.write("x" * 100000)
    """,
    "gooddist-1.2.3.dist-info/METADATA": "Metadata-Version: 2.1\nName: gooddist\nVersion: 1.2.3\n",
    "gooddist-1.2.3.dist-info/top_level.txt": "good\n",
    "Record_Only-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: Record_Only\nVersion: 0.1\n",
    "Record_Only-0.1.dist-info/RECORD": "b.py,,\nc.py,,\nRecord_Only-0.1.dist-info/METADATA,,\n",
    # A stand-in for torch with one GPU: its capability comes from FAKE_CAPABILITY ("8.7"), or cannot
    # be read when that is unset; tensors are just enough for the probe's allocate/multiply/sync.
    "torch/__init__.py": """
        from . import cuda, version
        __version__ = "9.9.9+test"
        class Tensor:
            def __init__(self, value): self.value = value
            def __matmul__(self, other): return Tensor(self.value * other.value * 256)
            def sum(self): return Tensor(self.value * 256 * 256)
            def item(self): return self.value
        def ones(shape, device=None):
            assert shape == (256, 256) and device == "cuda"
            return Tensor(1.0)
    """,
    "torch/version.py": "cuda = '12.6'\n",
    "torch/cuda.py": """
        import os
        def is_available(): return True
        def device_count(): return 1
        def get_device_name(i): return "Orin"
        def get_device_capability(i):
            if "FAKE_CAPABILITY" not in os.environ: raise RuntimeError("no driver")
            return tuple(int(x) for x in os.environ["FAKE_CAPABILITY"].split("."))
        def get_arch_list(): return os.environ.get("FAKE_ARCH_LIST", "sm_80,sm_90").split(",")
        def synchronize(): pass
    """,
}


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    for name, text in MODULES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(argv: list[str], cwd: Path, pythonpath: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **(env or {})}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, preexec_fn=no_core_dumps
    )


def probe(fixtures: Path, *modules: str, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    args = [a for m in modules for a in ("--module", m)]
    proc = run([sys.executable, str(PROBE), *args], fixtures.parent, fixtures, env=env)
    lines = proc.stdout.splitlines()
    steps = [json.loads(line[len("@@probe ") :]) for line in lines if line.startswith("@@probe ")]
    return proc.returncode, steps


def imports(steps: list[dict]) -> dict[str, dict]:
    return {s["module"]: s for s in steps if s["step"] == "import"}


def test_good_module_and_distributions(fixtures: Path) -> None:
    rc, steps = probe(fixtures, "good", "good")
    assert rc == 0
    assert [s["step"] for s in steps] == ["start", "import", "distributions", "summary"]
    start, imp, dists, summary = steps
    assert start["implementation"] == "cpython" and start["python"].count(".") == 2
    assert imp == {**imp, "module": "good", "ok": True, "error": None, "messages": []}
    assert dists["items"]["gooddist"] == {"version": "1.2.3", "location": str(fixtures), "requires": []}
    assert dists["owners"] == {"good": ["gooddist"]}
    assert summary["ok"] is True and summary["failed"] == []


def test_owners_fallback_without_packages_distributions(fixtures: Path) -> None:
    from importlib import metadata

    from harness.incell.probe import _packages_distributions

    provided = _packages_distributions(list(metadata.distributions(path=[str(fixtures)])))
    assert provided["good"] == ["gooddist"]
    assert provided["b"] == provided["c"] == ["Record_Only"]


@pytest.mark.parametrize(("capability", "arch_list", "expected"), [
    ("8.7", "sm_87", {"exact": True, "compatible": True}),
    ("8.7", "sm_80,sm_90", {"exact": False, "compatible": True}),    # sm_80 cubins run on 8.7
    ("8.7", "sm_90,sm_100", {"exact": False, "compatible": False}),  # not built for this GPU: flagged
    ("9.0", "sm_80,compute_80", {"exact": False, "compatible": True}),  # PTX JIT-compiles forward
])
def test_torch_arch_list_is_checked_against_the_device(fixtures: Path, capability, arch_list, expected) -> None:
    rc, steps = probe(fixtures, "torch", env={"FAKE_CAPABILITY": capability, "FAKE_ARCH_LIST": arch_list})
    torch = next(s for s in steps if s["step"] == "torch")
    assert torch["devices"][0]["capability"] == capability
    assert torch["devices"][0]["built_for"] == expected


def test_torch_step(fixtures: Path) -> None:
    rc, steps = probe(fixtures, "torch")
    assert rc == 0
    torch = next(s for s in steps if s["step"] == "torch")
    assert torch["version"] == "9.9.9+test" and torch["cuda_version"] == "12.6"
    assert torch["file"] == str(fixtures / "torch" / "__init__.py")
    assert torch["cuda_available"] is True and torch["device_count"] == 1
    assert torch["devices"] == [
        {"index": 0, "name": "Orin", "capability": None, "errors": {"capability": "RuntimeError: no driver"},
         "built_for": None}
    ]
    assert torch["arch_list"] == ["sm_80", "sm_90"]
    assert torch["gpu_op"]["ok"] is True and torch["gpu_op"]["seconds"] >= 0
    assert "error" not in torch
    assert [s["step"] for s in steps][-2:] == ["torch", "summary"]


def test_no_modules(fixtures: Path) -> None:
    rc, steps = probe(fixtures)
    assert rc == 0
    assert [s["step"] for s in steps] == ["start", "distributions", "summary"]


def test_messages_are_recorded(fixtures: Path) -> None:
    rc, steps = probe(fixtures, "noisy", "good")
    assert rc == 0
    messages = imports(steps)["noisy"]["messages"]
    warning = next(m for m in messages if m["kind"] == "warning")
    assert warning["category"] == "DeprecationWarning" and warning["text"] == "old api"
    assert warning["source"].endswith("noisy.py:3")
    assert {"kind": "log", "logger": "x", "level": "WARNING",
            "text": "Skipping import of cpp extensions due to incompatible torch"} in messages
    assert {"kind": "stderr", "text": "libfoo not found"} in messages
    # Text without a newline is still recorded, and the next marker still starts its own line.
    assert {"kind": "stdout", "text": "half a line"} in messages
    assert imports(steps)["good"]["messages"] == []


def test_an_import_that_prints_without_end_keeps_a_bounded_step_with_its_first_and_last_lines(fixtures: Path):
    rc, steps = probe(fixtures, "chatty", "good")
    assert rc == 0
    messages = imports(steps)["chatty"]["messages"]
    out = [m["text"] for m in messages if m["kind"] == "stdout"]
    logs = [m["text"] for m in messages if m["kind"] == "log"]
    assert out[:2] == ["line 0", "line 1"] and out[-2] == "line 19999"
    assert "[probe: 19601 lines of output left out here]" in out  # 20001 lines: 200 first, 200 last kept
    assert out[-1].startswith("x" * 4000 + " [... ") and len(out[-1]) < 4100  # no newline for 100 kB: cut
    assert logs[0] == "again 0" and logs[-1] == "again 19999" and "19600 log records left out here" in logs
    assert len(json.dumps(imports(steps)["chatty"])) < 64_000
    assert imports(steps)["good"]["ok"]


def test_import_errors(fixtures: Path) -> None:
    rc, steps = probe(fixtures, "b", "c", "good")
    assert rc == 1
    found = imports(steps)
    b, c = found["b"]["error"], found["c"]["error"]
    assert b["type"] == "ImportError" and b["missing_name"] == "missing_thing"
    assert b["last_line"].startswith("ImportError: cannot import name 'missing_thing'")
    assert b["where"].startswith('File "') and "b.py" in b["where"]
    assert c["type"] == "ModuleNotFoundError" and c["missing_module"] == "a.nothere"
    assert c["missing_name"] is None
    assert found["good"]["ok"] is True
    assert steps[-1] == {**steps[-1], "step": "summary", "ok": False, "failed": ["b", "c"]}


def test_abort_keeps_earlier_lines(fixtures: Path) -> None:
    rc, steps = probe(fixtures, "good", "noisy", "boom", "b")
    assert rc == -signal.SIGABRT
    assert [s.get("module") for s in steps] == [None, "good", "noisy"]


def write_spec(tmp_path: Path, fixtures: Path, modules: list[str]) -> Path:
    spec = {
        "workdir": str(tmp_path / "cell"),
        "requirements": [],
        "modules": modules,
        "env": {"PYTHONPATH": str(fixtures)},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_cell_end_to_end(tmp_path: Path, fixtures: Path) -> None:
    proc = run([sys.executable, str(CELL), str(write_spec(tmp_path, fixtures, ["good", "b"]))], tmp_path)
    assert proc.returncode == 1, proc.stderr
    parsed = events.parse(proc.stdout)
    assert parsed.garbage == 0
    assert parsed.begin["executable"] == sys.executable
    assert [(p["phase"], p["status"]) for p in parsed.phases] == [
        ("venv", "ok"), ("install", "skipped"), ("probe", "failed")
    ]
    assert parsed.phase("probe")["returncode"] == 1
    assert parsed.probe["complete"] and parsed.crash is None
    assert [i["module"] for i in parsed.failed_imports] == ["b"]
    # the module the failed import missed ("a") is looked up too: nothing provides it
    assert parsed.probe["owners"] == {"good": ["gooddist"], "b": ["record-only"], "a": []}
    assert parsed.end == {"event": "end", "ok": False, "failed_phase": "probe"}


def test_cell_reports_abort(tmp_path: Path, fixtures: Path) -> None:
    proc = run([sys.executable, str(CELL), str(write_spec(tmp_path, fixtures, ["good", "boom"]))], tmp_path)
    assert proc.returncode == 1, proc.stderr
    parsed = events.parse(proc.stdout)
    assert parsed.crash == {"returncode": -signal.SIGABRT, "signal": "SIGABRT"}
    assert parsed.phase("probe")["signal"] == "SIGABRT"
    assert [i["module"] for i in parsed.probe["imports"]] == ["good"]
    assert parsed.probe["summary"] is None and not parsed.probe["complete"]


def test_cell_stops_after_failed_venv(tmp_path: Path, fixtures: Path) -> None:
    blocker = tmp_path / "cell"
    blocker.mkdir()
    (blocker / "venv").write_text("a file where the venv should go")
    proc = run([sys.executable, str(CELL), str(write_spec(tmp_path, fixtures, ["good"]))], tmp_path)
    assert proc.returncode == 1
    parsed = events.parse(proc.stdout)
    assert [(p["phase"], p["status"]) for p in parsed.phases] == [
        ("venv", "failed"), ("install", "skipped"), ("probe", "skipped")
    ]
    assert parsed.end["failed_phase"] == "venv" and parsed.crash is None


@pytest.mark.parametrize("path", [PROBE, CELL], ids=lambda p: p.name)
def test_the_grammar_is_python_38s(path: Path) -> None:
    """Grammar only (a 3.9+ construct fails here): no Python 3.8 runs on this machine. The code runs for real
    under the oldest Python a local image gives, 3.9: tests/test_oldest_python.py (Docker)."""
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))
    with pytest.raises(SyntaxError):  # the check itself refuses what 3.8 cannot parse
        ast.parse("if (n := 1):\n    d = {} | {}\nmatch n:\n    case 1: pass\n", feature_version=(3, 8))


def test_requires_lists_what_a_distribution_needs_without_its_extras(fixtures: Path) -> None:
    meta = fixtures / "needy-1.0.dist-info" / "METADATA"
    meta.parent.mkdir()
    meta.write_text("Metadata-Version: 2.1\nName: needy\nVersion: 1.0\nRequires-Dist: numpy<2\n"
                    "Requires-Dist: pytest; extra == \"test\"\n"
                    "Requires-Dist: typing-extensions; python_version < \"3.99\"\n")
    _, steps = probe(fixtures, "good")
    dists = next(s for s in steps if s["step"] == "distributions")
    assert dists["items"]["needy"]["requires"] == ["numpy<2", 'typing-extensions; python_version < "3.99"']


@pytest.mark.parametrize(("needs", "verdict"), [("libcudnn_ewhtest.so.9", "pass"), ("libfoo_ewhtest.so.1", "degraded")])
def test_the_loader_is_asked_why_a_library_did_not_load(fixtures: Path, needs, verdict) -> None:
    """A library that logs only "Failed to load X.so" (as torchao does): the probe loads the file
    itself and records the loader's words, and the classifier rests on them. On this CPU torch a
    missing CUDA library is function the platform never had; any other missing library is a loss."""
    from harness.backends.base import Execution
    from harness.model import Arch, Cell, Image, IndexVariant, PackageSet
    from harness.verdicts import classify

    (fixtures / "torch" / "version.py").write_text("cuda = None\n")  # a CPU build
    (fixtures / "torch" / "cuda.py").write_text("def is_available(): return False\ndef device_count(): return 0\n")
    lib = shared_library(fixtures / "quantlib", "_C_kernels", needs)
    (fixtures / "quantlib" / "__init__.py").write_text(
        "import ctypes, logging\n"
        f"try:\n    ctypes.CDLL({str(lib)!r})\n"
        "except OSError:\n"
        f"    logging.getLogger('quantlib').warning('Failed to load {lib}: Could not load this library')\n")
    rc, steps = probe(fixtures, "torch", "quantlib")
    assert rc == 0
    [loader] = [s for s in steps if s["step"] == "loader"]
    assert loader["files"] == [{"file": str(lib), "error": f"{needs}: cannot open shared object file: No such file "
                                                            "or directory"}]
    log = "\n".join("@@probe " + json.dumps(s) for s in steps)
    parsed = events.parse('@@harness {"event": "begin"}\n@@harness {"event": "phase", "phase": "probe", '
                          '"status": "start"}\n' + log + '\n@@harness {"event": "phase", "phase": "probe", '
                          '"status": "ok", "returncode": 0, "seconds": 1}\n')
    cell = Cell(image=Image(name="i", arch=Arch.AMD64, ref="i"), index=IndexVariant(name="x"),
                packages=PackageSet(name="p", requirements=(), modules=("torch", "quantlib")))
    got = classify.judge(cell, Execution(log=log, exit_code=0), parsed, "none")
    assert got.verdict.value == verdict
    if verdict == "pass":
        assert got.hint is None and any(f"needs {needs}, a CUDA library" in n for n in got.notes)
    else:
        assert f"loading _C_kernels.so: {needs}: cannot open shared object file" in " ".join(got.evidence)
        # a library the harness knows no package for, on an image whose distribution was not read: no guess
        assert got.hint.endswith(f"needs {needs}, which the image lacks: find the package that provides it with "
                                 f"`apt-file search {needs}`, and add it to the image")
        assert (got.cause.kind, got.cause.facts["library"]) == ("missing-library", needs)


# Code that raises in a frame named as Cython names compiled code: its source path as built, relative.
COMPILED = {
    "arrowish/__init__.py": "from arrowish import lib\n",
    "arrowish/lib.py": "exec(compile(\"raise ImportError('arrowish requires NumPy 2.0 or newer, found 1.26.4')\", "
                       "'arrowish/lib.pyx', 'exec'))\n",
    "arrowish-26.0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: arrowish\nVersion: 26.0.1\n",
    "arrowish-26.0.1.dist-info/top_level.txt": "arrowish\n",
    "dtypesish/__init__.py": "import arrowish\n",
    "dtypesish-1.9.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: dtypesish\nVersion: 1.9.0\n"
                                          "Requires-Dist: arrowish>=13\n",
    "dtypesish-1.9.0.dist-info/top_level.txt": "dtypesish\n",
    "elsewhere/__init__.py": "exec(compile('raise RuntimeError(1)', 'src/arrowish/lib.pyx', 'exec'))\n",
    "nowhere/__init__.py": "exec(compile('raise RuntimeError(1)', 'notapackage/lib.pyx', 'exec'))\n",
    "sofail/__init__.py": "raise ImportError('/v/lib/python3.11/site-packages/sharedish/_C.so: undefined symbol: x')\n",
}


def test_a_compiled_frame_is_owned_by_the_package_whose_folder_holds_it(fixtures: Path) -> None:
    """A Cython frame names its source as built ("pyarrow/lib.pyx"), with no site-packages path: the probe
    finds the importable package whose folder holds it (first part that is one: "src/arrowish/…"), and
    None for a path no package holds. A shared object in site-packages named by the error is owned too."""
    for name, text in COMPILED.items():
        (fixtures / name).parent.mkdir(parents=True, exist_ok=True)
        (fixtures / name).write_text(text)
    _, steps = probe(fixtures, "dtypesish", "elsewhere", "nowhere", "sofail")
    errors = {m: s["error"] for m, s in imports(steps).items()}
    assert errors["dtypesish"]["where"] == 'File "arrowish/lib.pyx", line 1, in <module>'
    assert [errors[m]["importer"] for m in ("dtypesish", "elsewhere", "nowhere")] == ["arrowish", "arrowish", None]
    assert errors["sofail"]["library_of"] == "sharedish"
    [dists] = [s for s in steps if s["step"] == "distributions"]
    assert dists["owners"]["arrowish"] == ["arrowish"]


def test_a_compiled_frame_in_a_dependency_no_pin_names_gets_the_transitive_hint(fixtures: Path) -> None:
    from harness.verdicts import classify

    for name, text in COMPILED.items():
        (fixtures / name).parent.mkdir(parents=True, exist_ok=True)
        (fixtures / name).write_text(text)
    _, steps = probe(fixtures, "dtypesish")
    parsed = events.parse("\n".join("@@probe " + json.dumps(s) for s in steps))
    got = classify.import_failure(parsed.probe, ["dtypesish"])
    assert got.hint.startswith("arrowish 26.0.1, which no pin names (required by dtypesish 1.9.0) fails on import")
    assert got.cause.to_json() == {"kind": "transitive", "distribution": "arrowish", "version": "26.0.1",
                                   "required_by": ["dtypesish 1.9.0"]}


def test_the_probe_records_its_steps_for_the_driver(fixtures: Path, tmp_path: Path) -> None:
    record = tmp_path / "steps.jsonl"
    proc = run([sys.executable, str(PROBE), "--module", "good", "--module", "b", "--record", str(record)],
               fixtures.parent, fixtures)
    printed = [json.loads(line[len("@@probe "):]) for line in proc.stdout.splitlines() if line.startswith("@@probe ")]
    assert [json.loads(line) for line in record.read_text().splitlines()] == printed
