"""tools/import_graph.py, the lint check that keeps the module seams: it passes on the harness and
fails on each kind of violation, written into a throwaway package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402


def package(tmp_path: Path, modules: dict[str, str]) -> Path:
    directory = tmp_path / "harness"
    directory.mkdir()
    for name, text in modules.items():
        (directory / f"{name}.py").write_text(text)
    return directory


def test_the_harness_has_no_cycle_and_keeps_its_seams():
    assert import_graph.problems(ROOT / "harness") == []
    edges, external = import_graph.graph(ROOT / "harness")
    assert {m for m, names in external.items() if "docker" in names} == {"engine"}
    assert {m for m, targets in edges.items() if "engine" in targets} == {"backends"}


@pytest.mark.parametrize(("modules", "expected"), [
    ({"a": "from . import b\n", "b": "def f():\n    from .c import x\n", "c": "from .a import y\n"},
     "import cycle: a -> b -> c -> a"),
    ({"runner": "import docker\n", "engine": "import docker\n"}, "runner imports docker: only engine may"),
    ({"runner": "from .engine import DockerBackend\n", "engine": ""}, "runner imports engine: only backends may"),
    ({"table": "from harness import plan\n", "plan": ""}, "table imports plan: only __main__, runner may"),
    ({"probe": "import json\nimport packaging\n"}, "probe runs inside cells and must import the standard "
                                                   "library only, not packaging"),
    ({"cell": "from .model import Cell\n", "model": ""}, "cell runs inside cells and must import the standard "
                                                         "library only, not model"),
])
def test_each_violation_is_named(tmp_path, modules, expected):
    assert expected in import_graph.problems(package(tmp_path, modules))


def test_the_script_exits_1_on_a_violation_and_0_on_the_harness(tmp_path):
    bad = package(tmp_path, {"a": "from . import b\n", "b": "from . import a\n"})
    script = ROOT / "tools" / "import_graph.py"
    failed = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1 and "import cycle: a -> b -> a" in failed.stdout
    clean = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    assert "no cycle, seams hold" in clean.stdout
