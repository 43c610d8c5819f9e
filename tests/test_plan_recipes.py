"""The validation plan's build strategies, built for real: each smoke recipe (dockerfiles/smoke-*.Dockerfile)
is built by the harness with BuildKit from the local Debian image, the real torch 2.13.0 CPU wheel (from the
host's pip configuration, put into the build's context) and pip's default index (through the host's CA
bundle, a BuildKit secret): cold, then cached after a change to its source file. Its cell installs
nothing and imports, and its row of the plan table and the findings say what was measured.

The shipped smoke matrix is run as a user runs it, with its recipes' images renamed (so the user's own
images are left alone) and its wheelhouse in a folder of the test's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from harness_cli import cli

from harness.reports import documents, table

pytestmark = [pytest.mark.docker, pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"Original": "smoke-original", "Pre-built cache": "smoke-prebuilt-cache",
           "Multi-stage": "smoke-multistage", "Package-based": "smoke-package"}
PREFIX = "ewh-test-"
CHAIN = ["torch 2.13.0+cpu", "torchao 0.15.0", "torchtune 0.6.1"]


def smoke_copy(root: Path) -> Path:
    """The shipped smoke matrix with the recipes' images renamed, its paths made absolute, its wheelhouse
    the test's own."""
    text = (REPO / "matrices" / "smoke.toml").read_text()
    text = text.replace('image = "smoke-', f'image = "{PREFIX}smoke-')
    text = text.replace("[images.smoke-", f"[images.{PREFIX}smoke-")
    text = text.replace('"../.wheelhouse/smoke"', json.dumps(str(root / "wheelhouse"))).replace('"../', f'"{REPO}/')
    path = root / "smoke.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def plan(docker_backend, bookworm, tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    matrix = smoke_copy(root)
    doc = root / "plan.md"
    doc.write_text("# Plan\n\n" + "\n".join(
        f"{documents.begin_marker('smoke', 'plan', kind)}\n{documents.end_marker('smoke', 'plan', kind)}\n"
        for kind in ("table", "findings")))
    tags = [f"edge-wheel-harness/{PREFIX}{name}:latest" for name in RECIPES.values()]
    for tag in tags:  # a leftover of an earlier run: the builds must be fresh ones
        if docker_backend.has_image(tag):
            docker_backend.client.images.remove(tag, force=True)
    try:
        done = cli("run", matrix, "--backend", "docker", "--results", root / "results", "--doc", doc,
                   "--only", f"{PREFIX}smoke-*", "--no-plan", timeout=3600)
        sizes = {name: docker_backend.client.images.get(tag).attrs["Size"]
                 for name, tag in zip(RECIPES, tags) if docker_backend.has_image(tag)}
    finally:
        for tag in tags:
            if docker_backend.has_image(tag):
                docker_backend.client.images.remove(tag, force=True)
    records = {approach: json.loads((root / "results" / "smoke" / f"{PREFIX}{name}__wheelhouse__chain-2.13.json")
                                    .read_text()) for approach, name in RECIPES.items()}
    return {"done": done, "records": records, "sizes": sizes, "doc": doc.read_text()}


def rows(text: str) -> dict[str, list[str]]:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def test_every_recipe_builds_and_its_cell_is_the_chain_as_the_run_time_cells_get_it(plan):
    assert plan["done"].returncode == 0, plan["done"].stdout[-3000:] + plan["done"].stderr[-3000:]
    for approach, record in plan["records"].items():
        assert record["verdict"] == "degraded", (approach, record["evidence"])
        assert record["evidence"][0].startswith("torchao: Skipping import of cpp extensions due to incompatible "
                                                "torch version 2.13.0+cpu for torchao version 0.15.0"), approach
        install = next(p for p in record["phases"] if p["phase"] == "install")
        assert install["status"] == "skipped", approach  # the image holds the chain: nothing to install
        assert f"nothing to install: the image holds every requirement ({', '.join(CHAIN)})" in record["notes"]
        versions = {n: d["version"] for n, d in record["probe"]["distributions"].items()}
        assert [f"{n} {versions[n]}" for n in ("torch", "torchao", "torchtune")] == CHAIN


def test_each_recipe_is_measured_cold_then_after_a_change_to_its_source(plan):
    for approach, record in plan["records"].items():
        cold, cached, restored = record["image"]["builds"]
        assert (cold["how"], cached["how"], restored["how"]) == ("cold", "cached", "unchanged"), approach
        assert restored["steps_run"] == [], approach  # the recipe as written again: every layer from the cache
        assert cold["steps_cached"] == 0 and cold["steps_run"], approach  # no layer cache
        assert cached["what"] == "warm cache, after a change to chain-smoke/chain_smoke/__init__.py"
        assert any("COPY chain-smoke/ /app/" in step for step in cached["steps_run"]), (approach, cached)
        reinstalled = [step for step in cached["steps_run"] if "pip install" in step or "pip wheel" in step]
        if approach in ("Pre-built cache", "Multi-stage"):  # the dependency layers sit below the source
            assert not reinstalled and cached["steps_cached"] > 0, (approach, cached)
        else:  # the source is copied in before the install (Original), or is the package (Package-based)
            assert reinstalled, (approach, cached)


def test_the_image_size_is_the_engines_and_multi_stage_ships_no_more_than_the_venv(plan):
    sizes = plan["sizes"]
    for approach, record in plan["records"].items():
        assert record["image"]["size"] == sizes[approach]
        assert sum(layer["size"] for layer in record["image"]["layers"]) == sizes[approach]
    # what the install leaves behind (pip's cache, where pip writes one) stays in the builder
    assert sizes["Multi-stage"] <= sizes["Original"]
    layers = [layer["created_by"] for layer in plan["records"]["Multi-stage"]["image"]["layers"]]
    assert layers[1:] == ["COPY /opt/venv /opt/venv # buildkit", "COPY chain-smoke/ /app/ # buildkit"]


def test_the_plan_row_shows_build_times_size_and_run_time_as_measured(plan):
    shown = rows(plan["doc"])
    assert list(shown)[:8] == ["Approach", "Original", "PyPI wheels", "Jetson wheels", "Pre-built cache",
                               "Multi-stage", "Minimal + runtime", "Package-based"]
    assert shown["Approach"] == ["Build Time", "Image size", "Run Time", "Notes"]
    for approach, record in plan["records"].items():
        cold, cached, _ = record["image"]["builds"]
        timings = record["timings"]
        build, size, run, notes = shown[approach]
        seconds = [table.format_seconds(b["seconds"]) for b in (cold, cached)]
        assert build == f"cold {seconds[0]}, cached {seconds[1]}"
        assert size == table.format_bytes(plan["sizes"][approach])
        assert run == table.format_seconds(timings["container_start"] + timings["probe"])  # start + imports
        assert notes.startswith("**degraded** (as expected): torchao 0.15.0 skipped its C++ extensions")
    assert shown["Jetson wheels"][3].startswith("**not run here**: needs a Jetson")
    assert shown["PyPI wheels"][3] == "not run yet"  # not selected by this run


def test_the_findings_compare_each_recipe_with_original(plan):
    text = plan["doc"]
    block = text[text.index(documents.begin_marker("smoke", "plan", "findings")):]
    sizes = plan["sizes"]
    for approach in ("Pre-built cache", "Multi-stage"):
        item = next(line for line in block.splitlines() if line.startswith(f"- **{approach}** "))
        assert re.match(rf"- \*\*{re.escape(approach)}\*\* \(degraded, as expected\): image "
                        rf"{re.escape(table.format_bytes(sizes[approach]))}, [^;]+ Original's;", item), item
        cached = plan["records"][approach]["image"]["builds"][1]["seconds"]
        original = plan["records"]["Original"]["image"]["builds"][1]["seconds"]
        assert re.search(rf"cached build {re.escape(table.format_seconds(cached))}, [^;]+ than Original's "
                         rf"{re.escape(table.format_seconds(original))}", item), item
    assert "**What worked, with a loss**" in block and "- **Jetson wheels**: not run here: needs a Jetson" in block
