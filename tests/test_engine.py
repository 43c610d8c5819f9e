"""The Docker backend against the real engine: what happens when the engine itself fails us, memory
limits and the crash branches, what `docker inspect` shows of a cell, and the engine commands of the
CLI (clean, images)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from forwarder import Forwarder, engine_socket
from harness_cli import cli

from harness.backends.docker import DockerBackend
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Verdict
from harness.run import runner
from harness.run.job import make_job
from harness.run.options import RunOptions, new_run_id

pytestmark = pytest.mark.docker


def bookworm_cell(name: str = "p", requirements=("edgeops",), modules=("edgeops",), **index) -> Cell:
    return Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i", **index),
                packages=PackageSet(name=name, requirements=tuple(requirements), modules=tuple(modules)))


def test_an_engine_that_drops_its_connection_while_checking_the_image_is_an_engine_error(docker_backend, bookworm,
                                                                                         tmp_path):
    target = engine_socket()
    if target is None:  # tcp:// or ssh://: no forwarder stands in front of it; a loopback engine that drops
        from test_engine_dropped import test_a_dropped_connection_while_looking_for_the_image_is_an_engine_error
        return test_a_dropped_connection_while_looking_for_the_image_is_an_engine_error()  # (runs anywhere)
    with Forwarder(target, tmp_path / "engine.sock") as forwarder:
        backend = DockerBackend(docker.DockerClient(base_url=forwarder.url, timeout=10))
        assert backend.has_image(bookworm)  # through the forwarder, the engine answers
        forwarder.cut()
        result = runner.run_cell(bookworm_cell(), backend, RunOptions(run_id=new_run_id()),
                                 matrix="m", host={})
    assert forwarder.dropped >= 1  # the request reached the forwarder and was cut off there
    assert result.verdict is Verdict.ENGINE_ERROR, result.evidence
    assert result.evidence[0].startswith(f"the Docker engine failed while looking for image {bookworm}: ")
    assert "doctor" in result.hint


def run_job(backend, cell: Cell, **job_changes):
    """The cell's job as the runner makes it (with `job_changes`), executed and judged for real."""
    import dataclasses

    from harness.verdicts import classify, events

    job = dataclasses.replace(make_job(cell, backend, RunOptions(run_id=new_run_id())),
                              **job_changes)
    execution = backend.execute(job)
    return execution, classify.judge(cell, execution, events.parse(execution.log), "none"), job


def test_a_cell_over_its_memory_limit_is_crashed_killed_for_memory(docker_backend, bookworm, tmp_path):
    from wheels import make_wheel

    # 1 GiB written byte by byte, in a cell allowed 200 MB and no swap
    make_wheel(tmp_path / "w", "hog", "1.0", {"hog.py": "DATA = b'\\x01' * (1 << 30)\n"})
    cell = bookworm_cell(requirements=("hog",), modules=("json", "hog"), find_links=(str(tmp_path / "w"),),
                         no_index=True)
    execution, got, job = run_job(docker_backend, cell, memory=200 * 1000 * 1000)
    assert execution.oom_killed is True
    assert got.verdict is Verdict.CRASHED, got.evidence
    assert got.evidence[0] == "the kernel killed the cell for memory (OOMKilled) during the imports (probe)"
    assert got.evidence[1] == "the probe died (SIGKILL) while importing hog"
    assert leftovers(docker_backend, job.labels) == []


def test_a_cell_whose_driver_never_starts_is_crashed_saying_so(docker_backend, bookworm):
    import dataclasses

    cell = bookworm_cell()
    cell = dataclasses.replace(cell, image=dataclasses.replace(cell.image, python="/usr/bin/python9"))
    execution, got, job = run_job(docker_backend, cell)
    assert got.verdict is Verdict.CRASHED, got.evidence
    assert got.evidence[0].startswith(f"the cell driver never started (exit {execution.exit_code}): ")
    assert "/usr/bin/python9" in got.evidence[0]
    assert "Python 3.8+ at the configured path" in got.hint
    assert leftovers(docker_backend, job.labels) == []


def leftovers(backend, labels) -> list:
    from harness.backends.base import LABEL_RUN

    return backend.leftovers(labels[LABEL_RUN])


def test_docker_inspect_of_a_cell_shows_no_credentials(docker_backend, bookworm, tmp_path):
    """pip gets a credentialed index URL through the spec file copied into the container, never through
    its environment or command line, which `docker inspect` shows to anyone who can ask the engine."""
    import json

    from wheels import make_wheel

    from harness.run.serve import WheelhouseServer

    make_wheel(tmp_path / "house", "edgeops", "1.0", {"edgeops/__init__.py": ""})
    options = RunOptions(run_id=new_run_id(), keep=True)
    try:
        with WheelhouseServer(tmp_path / "house") as index:
            cell = bookworm_cell(index_url=index.url.replace("http://", "http://bot:s3cret-tok@"))
            result = runner.run_cell(cell, docker_backend, options, matrix="m", host={})
        assert result.verdict is Verdict.PASS, result.evidence  # pip did use the credentialed URL
        [kept] = docker_backend.leftovers(options.run_id)
        inspected = json.dumps(docker_backend.client.api.inspect_container(kept.id))
        assert "s3cret-tok" not in inspected
        assert "bot:" not in inspected
    finally:
        docker_backend.clean(options.run_id)
    assert docker_backend.leftovers(options.run_id) == []


def test_clean_removes_the_containers_of_the_run_it_names_and_no_other(docker_backend, bookworm):
    from harness.backends.base import LABEL_CELL, LABEL_RUN

    runs = [new_run_id(), new_run_id()]
    made = [docker_backend.client.containers.create(bookworm, command=["true"],
                                                    labels={LABEL_RUN: run, LABEL_CELL: f"left__over__{i}"})
            for i, run in enumerate(runs)]
    try:
        done = cli("clean", "--run-id", runs[0])
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [f"removed {made[0].short_id} left__over__0",
                                            "1 leftover container(s) removed"]
        assert docker_backend.leftovers(runs[0]) == []
        assert [c.id for c in docker_backend.leftovers(runs[1])] == [made[1].id]  # another run's: kept
    finally:
        for container in made:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_images_lists_the_smoke_matrixs_images():
    smoke = Path(__file__).resolve().parents[1] / "matrices" / "smoke.toml"
    listed = cli("images", "list", smoke)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["edge-wheel-harness/debian-bookworm:amd64",
                                          "edge-wheel-harness/debian-bookworm:arm64",
                                          "edge-wheel-harness/bookworm-amd64-runtime:latest",
                                          *(f"edge-wheel-harness/smoke-{kind}:latest"
                                            for kind in ("original", "prebuilt-cache", "multistage", "package"))]


def test_images_lists_and_builds_only_what_is_missing(docker_backend, bookworm, tmp_path):
    """A local image and a recipe on it (the smoke matrix's shape, without its chain builds, which take
    minutes and an index): what is there is not built again."""
    recipe = Path(__file__).parent / "data" / "dockerfiles" / "cache-mount.Dockerfile"
    matrix = tmp_path / "images.toml"
    matrix.write_text(f'[images.bookworm-amd64]\nlocal_build = "debian-bookworm"\nplatform = "linux/amd64"\n'
                      f'[images.ewh-test-images-recipe]\ndockerfile = "{recipe}"\nplatform = "linux/amd64"\n'
                      f'build_args = {{ BASE = "{bookworm}" }}\n'
                      '[indexes.default]\n[packages.p]\nrequirements = ["numpy"]\nmodules = ["numpy"]\n')
    tag = "edge-wheel-harness/ewh-test-images-recipe:latest"
    listed = cli("images", "list", matrix)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [bookworm, tag]
    try:
        built = cli("images", "build", matrix)
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"{bookworm}: exists" in built.stdout.splitlines()  # there already: not rebuilt
        assert f"{tag}: built cold in " in built.stdout
        again = cli("images", "build", matrix)  # everything is there now: nothing is built twice
        assert again.returncode == 0, again.stdout + again.stderr
        lines = again.stdout.splitlines()
        assert all(f"{name}: exists" in lines for name in listed.stdout.splitlines()), again.stdout
        assert not [line for line in lines if ": built" in line], again.stdout
    finally:
        if docker_backend.has_image(tag):
            docker_backend.client.images.remove(tag, force=True)


def test_validate_dockerfiles_has_buildkit_parse_each_recipe(docker_backend, tmp_path):
    recipes = {"good": "ARG BASE=debian:bookworm\nFROM ${BASE}\nRUN --mount=type=cache,target=/a true\n",
               "bad": "ARG BASE=debian:bookworm\nFROM ${BASE}\nRUN --mount=type=cach,target=/a true\n"}
    for name, text in recipes.items():
        (tmp_path / f"{name}.Dockerfile").write_text(text)
        (tmp_path / f"{name}.toml").write_text(
            f'[images.{name}]\ndockerfile = "{name}.Dockerfile"\nplatform = "linux/amd64"\n[indexes.default]\n'
            '[packages.p]\nrequirements = ["edgeops"]\nmodules = ["edgeops"]\n')
    good = cli("validate", "--dockerfiles", tmp_path / "good.toml")
    assert (good.returncode, good.stdout.strip()) == (0, f"{tmp_path / 'good.toml'}: ok, 1 cells")
    bad = cli("validate", "--dockerfiles", tmp_path / "bad.toml")
    assert bad.returncode == 2
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith(f"{tmp_path / 'bad.toml'}: images.bad.dockerfile: BuildKit cannot parse it: ")
    assert 'unsupported mount type "cach"' in line
    # without --dockerfiles the same file is valid: only the matrix is checked
    assert cli("validate", tmp_path / "bad.toml").returncode == 0
