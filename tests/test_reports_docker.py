"""The reports from real cells in containers: the bookworm image, a recipe the harness builds with
BuildKit (cold on the first run, from its cache on the second: the plan table's Build Time), and an
image the engine does not have (an infrastructure verdict: a JUnit error). Between the two runs the
fixture index drops the module torchtune imports, and `diff` must catch it.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from test_reports_from_runs import JUNIT_XSD, cli
from wheels import CHAIN_MODULES, TORCHAO_WITHOUT_QUANTIZATION, fixture_chain, make_wheel

from harness.reports import documents, table
from harness.results import store

pytestmark = pytest.mark.docker

RECIPE_TAG = "edge-wheel-harness/reports-recipe:latest"
CHAIN = "bookworm-amd64__fixtures__chain"
RECIPE = "reports-recipe__fixtures__torch-only"
GONE = "gone__fixtures__torch-only"


def matrix_text(wheelhouse: Path, recipe: Path, base: str) -> str:
    return f"""
[matrix]
name = "reports-docker"
timeout = 300
images = []

[[matrix.include]]
image = "bookworm-amd64"
index = "fixtures"
packages = "chain"
approach = "Fixture wheels"

[[matrix.include]]
image = "reports-recipe"
index = "fixtures"
packages = "torch-only"
approach = "Recipe image"

[[matrix.include]]
image = "gone"
index = "fixtures"
packages = "torch-only"
approach = "Missing image"

[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"

[images.reports-recipe]
dockerfile = "{recipe}"
platform = "linux/amd64"
build_args = {{ BASE = "{base}" }}

[images.gone]
ref = "edge-wheel-harness/no-such-image:never"
platform = "linux/amd64"

[indexes.fixtures]
find_links = ["{wheelhouse}"]
no_index = true

[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = []

[packages.torch-only]
requirements = ["torch"]
modules = ["torch"]
checks = []

[tables.plan]
cells = ["Fixture wheels", "Recipe image", "Missing image"]
columns = ["approach", "build", {{ value = "run", header = "Run Time" }}, {{ value = "summary", header = "Notes" }}]
"""


@pytest.fixture(scope="module")
def docker_runs(docker_backend, bookworm, tmp_path_factory):
    root = tmp_path_factory.mktemp("reports-docker")
    wheelhouse = fixture_chain(root / "wheels")
    recipe = root / "recipe" / "reports.Dockerfile"
    recipe.parent.mkdir()
    recipe.write_text("ARG BASE\nFROM ${BASE}\nRUN echo built by the reports test > /etc/reports-recipe\n")
    m = root / "reports-docker.toml"
    m.write_text(matrix_text(wheelhouse, recipe, bookworm))
    doc = root / "plan.md"
    doc.write_text(f"# Plan\n\n{documents.begin_marker('reports-docker', 'plan')}\n"
                   f"{documents.end_marker('reports-docker', 'plan')}\n")
    results = root / "results"
    outputs = []
    try:
        for n in (1, 2):
            if n == 2:
                shutil.copytree(results / "reports-docker", root / "first-run")
                for old in wheelhouse.glob("torchao-*.whl"):
                    old.unlink()
                make_wheel(wheelhouse, "torchao", "0.19.0", TORCHAO_WITHOUT_QUANTIZATION, requires=("torch",))
            outputs.append(cli("run", str(m), "--backend", "docker", "--results", str(results), "--doc", str(doc),
                               "--junit", str(root / f"junit-{n}.xml"), "--no-plan"))
    finally:
        docker_backend.client.images.remove(RECIPE_TAG, force=True)
    return {"root": root, "doc": doc, "folder": results / "reports-docker", "first": root / "first-run",
            "outputs": outputs}


def test_build_time_shows_the_recipe_built_cold_then_from_cache(docker_runs):
    first, second = docker_runs["outputs"]
    assert first.returncode == 1, first.stdout + first.stderr  # the missing image is unexpected (infrastructure)
    assert f"UNEXPECTED (infrastructure, not a finding) {GONE}: image-unavailable" in first.stdout
    timeline = store.load_timeline(docker_runs["folder"])
    assert [r["timings"]["image_build"] for r in timeline[RECIPE]] == ["cold", "cached"]
    builds = [(b["how"], b["seconds"]) for r in timeline[RECIPE] for b in r["image"]["builds"]]  # the builds alone
    assert [how for how, _ in builds] == ["cold", "cached"]
    text = docker_runs["doc"].read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    assert re.fullmatch(r"\| Approach +\| Build Time +\| Run Time +\| Notes +\|",
                        next(line for line in text.splitlines() if line.startswith("| Approach")))
    assert rows["Recipe image"][0] == (f"cold {table.format_seconds(builds[0][1])}, "
                                       f"cached {table.format_seconds(builds[1][1])}")
    assert rows["Fixture wheels"][0] == "image present"
    assert rows["Missing image"][2].startswith("**image-unavailable** (expected pass)")
    assert rows["Missing image"][0] == "no image"


def test_junit_makes_an_infrastructure_verdict_an_error(docker_runs):
    path = docker_runs["root"] / "junit-2.xml"
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(path))
    suite = ET.parse(path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    error = cases[GONE].find("error")
    assert error is not None and error.get("type") == "image-unavailable"
    assert error.get("message").startswith("image-unavailable: image 'edge-wheel-harness/no-such-image:never'")
    assert cases[CHAIN].find("failure").get("type") == "import-failed"
    assert cases[RECIPE].find("failure") is None and cases[RECIPE].find("error") is None


def test_diff_catches_the_module_the_index_dropped(docker_runs):
    done = cli("diff", str(docker_runs["first"]), str(docker_runs["folder"]))
    assert done.returncode == 1, done.stdout + done.stderr
    regressions = done.stdout.split("### Regressions")[1].split("###")[0]
    assert f"`{CHAIN}` | pass | import-failed (expected pass) | import torchao.quantization: ModuleNotFoundError" \
        in regressions
    assert GONE not in regressions and RECIPE not in regressions  # an outage both times is no regression
