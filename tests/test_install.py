"""The tool as a user gets it: the wheel built as a release builds it (python -m build: the sdist, then
the wheel from it), installed with pipx into an environment of its own, run from an empty folder.
With no matrix named it runs the shipped default for this host and says so, results land in ./results,
and nothing is written into the installed package; `init` then `run` works there for a requirements
file. One fast cell each (a tiny pure wheel from pip's default index on the local Debian image, which
the harness builds itself when the engine lacks it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.docker, pytest.mark.network, pytest.mark.slow]


def sh(*args: object, cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"$ {' '.join(map(str, args))}  → {done.returncode}\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory, docker_backend):
    """(the wheel-harness command pipx installed, the environment to run it in, the wheel)."""
    base = tmp_path_factory.mktemp("install")
    env = {**os.environ, "PIPX_HOME": str(base / "pipx"), "PIPX_BIN_DIR": str(base / "bin"),
           "PIPX_MAN_DIR": str(base / "man")}
    built = sh(sys.executable, "-m", "build", "--outdir", base / "dist", ROOT, cwd=base, env=env)
    assert built.returncode == 0
    [wheel] = (base / "dist").glob("*.whl")
    done = sh(sys.executable, "-m", "pipx", "install", wheel, cwd=base, env=env)
    assert done.returncode == 0
    return base / "bin" / "wheel-harness", env, wheel


def test_the_wheel_carries_the_matrices_the_schema_and_the_recipes(installed):
    names = set(zipfile.ZipFile(installed[2]).namelist())
    shipped = [p for folder in ("matrices", "dockerfiles") for p in (ROOT / folder).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.match("chain-smoke/*/__init__.py") for p in shipped)  # build contexts are in the walk
    for path in shipped:  # every file a shipped matrix may name: recipes, build contexts, the wheelhouse folder
        assert f"harness/resources/{path.relative_to(ROOT).as_posix()}" in names, path


def test_run_with_no_matrix_in_an_empty_folder_uses_the_shipped_default(installed, tmp_path):
    command, env, _ = installed
    done = sh(command, "run", "--only", "bookworm-amd64__default__numpy", "--progress", "lines", cwd=tmp_path, env=env)
    assert done.returncode == 0
    assert "No matrix named: using " in done.stdout and "shipped with the harness" in done.stdout
    record = json.loads((tmp_path / "results" / "smoke" / "bookworm-amd64__default__numpy.json").read_text())
    assert record["verdict"] == "pass"
    assert (tmp_path / "results" / "smoke" / "README.md").is_file()
    package = Path(sh(env["PIPX_HOME"] + "/venvs/edge-wheel-harness/bin/python", "-c",
                      "import harness.resources as r; print(r.HERE)", cwd=tmp_path, env=env).stdout.strip())
    assert not (package / ".wheelhouse").exists()  # a shipped matrix's wheelhouse is never the package's
    assert {p.name for p in tmp_path.iterdir()} <= {"results", ".wheelhouse", ".cache"}  # nothing else here


def test_init_then_run_for_a_requirements_file(installed, tmp_path):
    command, env, _ = installed
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    init = sh(command, "init", "mystack", "--base", "smoke", "--image", "bookworm-amd64", cwd=tmp_path, env=env)
    assert init.returncode == 0
    assert (tmp_path / "matrices" / "mystack.toml").is_file()
    done = sh(command, "run", "matrices/mystack.toml", "--only", "*__default__requirements", "--progress", "lines",
              cwd=tmp_path, env=env)
    assert done.returncode == 0
    record = json.loads((tmp_path / "results" / "mystack" / "bookworm-amd64__default__requirements.json").read_text())
    assert record["verdict"] == "pass"
    assert record["install"] and any(i["name"] == "six" and i["version"] == "1.17.0"
                                     for i in record["install"]["items"])
