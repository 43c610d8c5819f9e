"""harness.engine's container removal: a container already gone, or already being removed by someone
else (`wheel-harness clean` from another shell), must not turn a cell's result into a crashed run."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from harness.engine import DockerBackend


class Response(requests.Response):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status_code = status


class Container:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def remove(self, force: bool = False) -> None:
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
    DockerBackend._remove(Container(error))


def test_another_engine_error_still_says_so():
    with pytest.raises(docker.errors.APIError):
        DockerBackend._remove(Container(api_error(500, "driver failed")))
    with pytest.raises(docker.errors.APIError):
        DockerBackend._remove(Container(api_error(409, "container is paused")))
