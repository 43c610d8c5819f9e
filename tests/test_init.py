"""`wheel-harness init`: a starting matrix for a user's stack, written where they run it, commented,
valid (for the reader and for the schema), never over a file that is there, asking only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import tomllib

from harness import resources
from harness.matrix import reader, starter

REQUIREMENTS = """\
# what our service runs on
torch==2.13.0
torchao>=0.15  # the quantisation kernels
PyYAML
--extra-index-url https://wheels.example.org/simple
-e ./vendored/tool
"""


def init(cwd: Path, *args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "init", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=stdin, timeout=120)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "requirements.txt").write_text(REQUIREMENTS)
    return tmp_path


def test_init_writes_a_valid_commented_matrix_from_a_requirements_file(folder):
    done = init(folder, "mystack", "--base", "smoke", "--image", "bookworm-amd64")
    assert done.returncode == 0, done.stderr
    path = folder / "matrices" / "mystack.toml"
    text = path.read_text()
    assert text.splitlines()[0] == starter.SCHEMA_LINE
    assert (folder / "matrices" / resources.SCHEMA.name).read_text() == resources.SCHEMA.read_text()
    assert "wheel-harness run matrices/mystack.toml" in text  # it says how to run it
    m = reader.load(path)
    sets = {p.name: p for p in m.package_sets}
    assert sets["requirements"].requirements == ("torch==2.13.0", "torchao>=0.15", "PyYAML")
    assert sets["requirements"].modules == ("torch", "torchao", "yaml")
    assert sets["requirements-newest"].requirements == ("torch", "torchao", "PyYAML")
    assert {i.name: i.extra_index_urls for i in m.indexes} == {
        "default": (), "requirements-index": ("https://wheels.example.org/simple",)}
    assert [i.name for i in m.images] == ["bookworm-amd64"]
    assert len(m.cells) == 4
    assert "-e ./vendored/tool" in text  # named as left out
    schema = json.loads(resources.SCHEMA.read_text())
    assert not list(jsonschema.Draft7Validator(schema).iter_errors(tomllib.loads(text)))
    assert f"Wrote {Path('matrices/mystack.toml')}: 4 cell(s)" in done.stdout


def test_init_never_overwrites(folder):
    assert init(folder, "mystack", "--base", "smoke").returncode == 0
    path = folder / "matrices" / "mystack.toml"
    path.write_text("# mine\n")
    again = init(folder, "mystack", "--base", "smoke")
    assert again.returncode == 2
    assert "exists: init never overwrites" in again.stderr
    assert path.read_text() == "# mine\n"


def test_a_dockerfile_image_brings_its_recipe_along(folder):
    done = init(folder, "runtime", "--base", "smoke", "--image", "bookworm-amd64-runtime", "--no-input")
    assert done.returncode == 0, done.stderr
    recipe = folder / "dockerfiles" / "bookworm-runtime.Dockerfile"
    assert recipe.read_bytes() == (resources.DOCKERFILES / recipe.name).read_bytes()
    [image] = reader.load(folder / "matrices" / "runtime.toml").images
    assert Path(image.dockerfile) == recipe.resolve()


def test_solve_answer_becomes_a_package_set(tmp_path):
    answer = {"names": ["torch", "torchao"], "best": ["torch==2.13.0", "torchao==0.15.0"], "verdict": "degraded",
              "cell_id": "bookworm-amd64__default__solve-1"}
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    done = init(tmp_path, "solved", "--base", "smoke", "--solve", "answer.json")
    assert done.returncode == 0, done.stderr
    sets = {p.name: p for p in reader.load(tmp_path / "matrices" / "solved.toml").package_sets}
    assert sets == {"solved": sets["solved"]}
    assert sets["solved"].requirements == ("torch==2.13.0", "torchao==0.15.0")


def test_without_a_terminal_it_asks_nothing(folder):
    """stdin is not a terminal (and closed): the defaults answer — the folder's name, ./requirements.txt."""
    done = init(folder, "--base", "smoke")
    assert done.returncode == 0, done.stderr
    name = starter.set_name(folder.name)
    assert {p.name for p in reader.load(folder / "matrices" / f"{name}.toml").package_sets} >= {"requirements"}
    assert "[" not in done.stdout.split("Wrote")[0]  # no question printed


def test_on_a_terminal_it_asks(folder):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "init", "--base", "smoke"], cwd=folder,
                            stdin=follower, stdout=follower, stderr=follower, env={**os.environ, "TERM": "dumb"})
    os.close(follower)
    seen = b""
    for answer in (b"asked\n", b"\n", b"bookworm-amd64\n"):  # name; requirements (default); images
        while not seen.rstrip().endswith(b"]:"):
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, seen
            seen += os.read(leader, 4096)
        os.write(leader, answer)
        seen += b"|"
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    m = reader.load(folder / "matrices" / "asked.toml")
    assert [i.name for i in m.images] == ["bookworm-amd64"]
    assert b"Name of the matrix" in seen and b"Requirements file (empty: none) [requirements.txt]" in seen


def test_the_requirements_reader():
    found = starter.read_requirements(REQUIREMENTS + "-i https://mirror.example.org/simple\nnot a requirement!\n",
                                      "r.txt")
    assert found.requirements == ("torch==2.13.0", "torchao>=0.15", "PyYAML")
    assert found.index_url == "https://mirror.example.org/simple"
    assert found.extra_index_urls == ("https://wheels.example.org/simple",)
    assert found.left_out == ("-e ./vendored/tool", "not a requirement!")
