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
