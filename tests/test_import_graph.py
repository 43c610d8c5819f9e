"""tools/import_graph.py, the lint check that keeps the folders' rules: it passes on the harness and
fails on each kind of violation, written into a throwaway package (and into a copy of the harness)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402


def package(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A package `harness` with these modules ("run/runner" → harness/run/runner.py, folders get an
    __init__.py)."""
    directory = tmp_path / "harness"
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    for name, text in modules.items():
        path = directory / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(directory).parents:
            (directory / folder / "__init__.py").touch()
        path.write_text(text)
    return directory


def test_the_harness_has_no_cycle_and_keeps_its_folders_rules():
    assert import_graph.problems(ROOT / "harness") == []
    edges, external = import_graph.graph(ROOT / "harness")
    assert {m for m, names in external.items() if "docker" in names} == {"backends.docker"}
    assert {m for m, targets in edges.items() if "backends.docker" in targets} == {"backends.choose"}
    assert {import_graph.folder_of(m) for m, targets in edges.items() if "plan.prediction" in targets} <= {"cli", "run"}
    for module in (m for m in edges if m.startswith("incell")):
        assert not edges[module] - {"incell", "incell.driver", "incell.probe"}


@pytest.mark.parametrize(("modules", "expected"), [
    ({"a": "from . import b\n", "b": "def f():\n    from .c import x\n", "c": "from .a import y\n"},
     "import cycle: a -> b -> c -> a"),
    ({"run/a": "from harness.plan import b\n", "plan/b": "from harness.run import c\n", "run/c": ""},
     "import cycle between folders: plan -> run -> plan"),
    ({"run/runner": "import docker\n", "backends/docker": "import docker\n"},
     "run.runner imports docker: only backends.docker may"),
    ({"run/runner": "from harness.backends.docker import DockerBackend\n", "backends/docker": ""},
     "run.runner imports backends.docker: only backends.choose may"),
    ({"reports/table": "from harness.plan import prediction\n", "plan/prediction": ""},
     "reports.table imports plan.prediction: only cli, run may"),
    ({"reports/html": "from harness.run import runner\n", "run/runner": ""},
     "reports.html imports run.runner: reports/ never imports run/"),
    ({"results/store": "from harness.backends.base import Job\n", "backends/base": ""},
     "results.store imports backends.base: results/ never imports backends/"),
    ({"verdicts/classify": "from ..reports import table\n", "reports/table": ""},
     "verdicts.classify imports reports.table: verdicts/ never imports reports/"),
    ({"run/runner": "from harness.cli import main\n", "cli/main": ""}, "run.runner imports cli: only __main__ may"),
    ({"incell/probe": "import json\nimport packaging\n"},
     "incell.probe runs inside cells and must import the standard library only, not packaging"),
    ({"incell/driver": "from harness.model import Cell\n", "model": ""},
     "incell.driver runs inside cells and must import the standard library only, not model"),
    ({"resources/__init__": "from harness.model import Cell\n", "model": ""},
     "resources imports model: resources/ is a leaf, it imports nothing of the package"),
])
def test_each_violation_is_named(tmp_path, modules, expected):
    assert expected in import_graph.problems(package(tmp_path, modules))


def test_a_forbidden_import_added_to_the_harness_fails_the_lint(tmp_path):
    copy = tmp_path / "harness"
    shutil.copytree(ROOT / "harness", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert import_graph.problems(copy) == []
    html = copy / "reports" / "html.py"
    html.write_text(html.read_text() + "\n\ndef _later():\n    from harness.run import runner  # noqa\n")
    assert import_graph.problems(copy) == ["reports.html imports run.runner: reports/ never imports run/"]


def test_the_script_exits_1_on_a_violation_and_0_on_the_harness(tmp_path):
    bad = package(tmp_path, {"a": "from . import b\n", "b": "from . import a\n"})
    script = ROOT / "tools" / "import_graph.py"
    failed = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1 and "import cycle: a -> b -> a" in failed.stdout
    clean = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    assert "no cycle, seams hold" in clean.stdout
