"""harness.backends.docker's container removal: a container already gone, or already being removed by someone
else (`wheel-harness clean` from another shell), must not turn a cell's result into a crashed run."""

from __future__ import annotations

import uuid

import docker.errors
import docker.models.containers
import pytest
import requests

from harness.backends.base import LABEL_CELL, LABEL_RUN
from harness.backends.docker import DockerBackend


class Response(requests.Response):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status_code = status


class Container:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.calls: list[dict] = []

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.calls.append({"force": force, "v": v})
        if self.error:
            raise self.error


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    return docker.errors.APIError(f"{status} Client Error", response=Response(status), explanation=explanation)


@pytest.mark.parametrize("error", [
    None,
    docker.errors.NotFound("gone", response=Response(404)),
    api_error(409, 'removal of container 25791f672d78 is already in progress'),
])
def test_a_container_gone_or_being_removed_is_removed(error):
    """Removed once, forced (a running cell's container too); gone or being removed is no error."""
    container = Container(error)
    assert DockerBackend._remove(container) is None
    assert container.calls == [{"force": True, "v": True}]  # its own volumes (files, scratch) go with it


def test_another_engine_error_still_says_so():
    with pytest.raises(docker.errors.APIError):
        DockerBackend._remove(Container(api_error(500, "driver failed")))
    with pytest.raises(docker.errors.APIError):
        DockerBackend._remove(Container(api_error(409, "container is paused")))


@pytest.mark.docker
def test_a_container_removed_while_being_listed_is_left_out_of_clean_and_leftovers(docker_backend, bookworm,
                                                                                    monkeypatch):
    """docker-py lists the containers, then inspects each one: another run removing its own container in
    between (or `clean` in another shell) made that inspection raise NotFound, and `clean` failed with
    "the Docker engine failed while listing". The race is made certain here: the inspection of one
    container finds it removed just before."""
    run_id = f"test-race-{uuid.uuid4().hex[:8]}"
    client = docker_backend.client
    made = [client.containers.create(bookworm, ["true"], labels={LABEL_RUN: run_id, LABEL_CELL: name})
            for name in ("vanishing", "staying")]
    vanishing = made[0].id
    original = docker.models.containers.ContainerCollection.get

    def get_after_someone_removed_it(self, container_id):
        if container_id == vanishing:
            client.api.remove_container(vanishing, force=True)  # the other run, at just this moment
        return original(self, container_id)

    try:
        monkeypatch.setattr(docker.models.containers.ContainerCollection, "get", get_after_someone_removed_it)
        assert [c.id for c in docker_backend.leftovers(run_id)] == [made[1].id]
        assert docker_backend.clean(run_id) == [f"{made[1].short_id} staying"]
    finally:
        monkeypatch.undo()
        for container in made:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
