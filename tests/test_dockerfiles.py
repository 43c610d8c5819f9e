"""The shipped recipes: every one parses under BuildKit, pins its base as a build arg, and is used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.backends import dockerfile
from harness.matrix import reader

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "dockerfiles").glob("*.Dockerfile"))


def test_there_are_recipes():
    assert len(RECIPES) >= 5


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_pins_its_base_as_a_build_arg(recipe: Path):
    text = recipe.read_text()
    assert not text.startswith("# syntax="), "a syntax directive pulls a frontend image: offline builds break"
    default = re.search(r"^ARG BASE=(\S+)", text, re.M)
    assert default, "the base image must be a build arg with a default"
    assert ":" in default.group(1) and not default.group(1).endswith(":latest"), "pin the base by tag"
    assert re.search(r"^FROM \$\{BASE\}", text, re.M)


@pytest.mark.docker
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_parses_under_buildkit(docker_backend, recipe: Path):
    assert dockerfile.check_dockerfile(recipe) is None


@pytest.mark.docker
def test_a_broken_recipe_is_reported(docker_backend, tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("ARG BASE=debian:bookworm\nFROM ${BASE}\nRUN --mount=type=cach,target=/a true\n")
    problem = dockerfile.check_dockerfile(bad)
    assert problem and 'unsupported mount type "cach"' in problem


def test_every_recipe_is_used_by_a_shipped_matrix():
    used = {Path(img.dockerfile).name for m in (ROOT / "matrices").glob("*.toml")
            for img in reader.load(m).images if img.dockerfile}
    assert {r.name for r in RECIPES} - {"python-slim.Dockerfile"} <= used


@pytest.mark.parametrize(("matrix", "app", "packages"), [("smoke.toml", "chain-smoke", "chain-2.13"),
                                                         ("jetson-jp6.toml", "chain-jp6", "preinstalled")])
def test_the_build_recipes_install_the_chain_their_matrix_installs_at_run_time(matrix, app, packages):
    """requirements.txt (Original, Pre-built cache, Multi-stage) and the package's dependencies
    (Package-based) are the package set the matrix's cells on those images ask for (torch aside on
    JetPack 6, where the package names it and the image's own torch satisfies it)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    m = reader.load(ROOT / "matrices" / matrix)
    wanted = next(p for p in m.package_sets if p.name == packages).requirements
    folder = ROOT / "dockerfiles" / app
    listed = [line.strip() for line in (folder / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert tuple(listed) == wanted
    dependencies = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in dependencies if d != "torch" or "torch" in wanted] == list(wanted)
    built = [c for c in m.cells if c.image.source_file]
    assert len(built) == 4 and {c.packages.name for c in built} == {packages}
    assert all(c.image.ships_torch and (Path(c.image.dockerfile).parent / c.image.source_file).is_file()
               for c in built)
    assert {Path(c.image.dockerfile).name for c in built} == {
        f"{app.split('-')[1]}-{kind}.Dockerfile" for kind in ("original", "prebuilt-cache", "multistage", "package")}
