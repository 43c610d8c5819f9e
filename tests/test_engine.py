"""The Docker backend against the real engine: what happens when the engine itself fails us, memory
limits and the crash branches, what `docker inspect` shows of a cell, and the engine commands of the
CLI (clean, images)."""

from __future__ import annotations

import docker
import pytest
from forwarder import Forwarder, engine_socket

from harness import runner
from harness.engine import DockerBackend
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Verdict

pytestmark = pytest.mark.docker


def bookworm_cell(name: str = "p", requirements=("edgeops",), modules=("edgeops",), **index) -> Cell:
    return Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i", **index),
                packages=PackageSet(name=name, requirements=tuple(requirements), modules=tuple(modules)))


def test_an_engine_that_drops_its_connection_while_checking_the_image_is_an_engine_error(docker_backend, bookworm,
                                                                                         tmp_path):
    target = engine_socket()
    if target is None:
        pytest.skip("the engine is not on a unix socket: no forwarder can stand in front of it")
    with Forwarder(target, tmp_path / "engine.sock") as forwarder:
        backend = DockerBackend(docker.DockerClient(base_url=forwarder.url, timeout=10))
        assert backend.has_image(bookworm)  # through the forwarder, the engine answers
        forwarder.cut()
        result = runner.run_cell(bookworm_cell(), backend, runner.RunOptions(run_id=runner.new_run_id()),
                                 matrix="m", host={})
    assert forwarder.dropped >= 1  # the request reached the forwarder and was cut off there
    assert result.verdict is Verdict.ENGINE_ERROR, result.evidence
    assert result.evidence[0].startswith(f"the Docker engine failed while looking for image {bookworm}: ")
    assert "doctor" in result.hint
