"""Dockerfile images: built with the docker CLI and BuildKit, passing over clients that lack it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.backends import dockerfile
from harness.model import Arch, Image

DOCKERFILE = Path(__file__).parent / "data" / "dockerfiles" / "cache-mount.Dockerfile"


def image(**kw) -> Image:
    return Image(name="cache-mount", arch=Arch.native(), dockerfile=str(DOCKERFILE), **kw)


class FakeRun:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, cmd, env, **kw):
        self.calls.append((cmd, env))
        rc, out = self.answers.pop(0)
        return subprocess.CompletedProcess(cmd, rc, stdout="", stderr=out)


def test_a_client_without_buildkit_is_passed_over():
    run = FakeRun([(1, "ERROR: BuildKit is enabled but the buildx component is missing or broken."), (0, "")])
    dockerfile.build_dockerfile(image(build_args=(("BASE", "b:1"),)), clients=["new", "old"], run=run, environ={},
                           log=lambda _: None)
    assert [c[0][0] for c in run.calls] == ["new", "old"]
    cmd, env = run.calls[1]
    assert env["DOCKER_BUILDKIT"] == "1"
    assert cmd[:2] == ["old", "build"] and "--build-arg" in cmd and "BASE=b:1" in cmd
    assert cmd[-1] == str(DOCKERFILE.parent) and "--platform" not in cmd


def test_a_failing_build_names_the_dockerfile_and_shows_the_output():
    run = FakeRun([(1, "step 1\nERROR: failed to solve: pull access denied for nvcr.io/x")])
    with pytest.raises(dockerfile.BuildError) as err:
        dockerfile.build_dockerfile(image(), clients=["docker"], run=run, environ={}, log=lambda _: None)
    assert "cache-mount.Dockerfile" in str(err.value) and "pull access denied" in str(err.value)


def test_no_client_able_to_build_says_what_to_install():
    run = FakeRun([(1, "buildx component is missing")])
    with pytest.raises(dockerfile.BuildError) as err:
        dockerfile.build_dockerfile(image(), clients=["docker"], run=run, environ={}, log=lambda _: None)
    assert "docker: no BuildKit" in str(err.value) and "docker.io" in err.value.hint


def test_a_foreign_architecture_asks_for_that_platform():
    other = Arch.ARM64 if Arch.native() is Arch.AMD64 else Arch.AMD64
    cmd = dockerfile.build_command("docker", Image(name="x", arch=other, dockerfile=str(DOCKERFILE)))
    assert cmd[cmd.index("--platform") + 1] == other.platform


@pytest.mark.docker
def test_buildkit_recipe_is_built_cold_then_cached_and_recorded_as_image_time(docker_backend, bookworm):
    img = image(build_args=(("BASE", bookworm),))
    try:
        first = docker_backend.prepare(img)
        assert first.seconds > 0 and first.built == "cold" and docker_backend.has_image(img.tag)
        again = docker_backend.prepare(img)  # an unchanged recipe: BuildKit's cache answers
        assert again.built == "cached"
        assert again.identity == first.identity == docker_backend.client.images.get(img.tag).id
        out = docker_backend.client.containers.run(img.tag, ["cat", "/etc/ewh-buildkit"], remove=True)
        assert out.decode().strip() == "built with BuildKit"
    finally:
        docker_backend.client.images.remove(img.tag, force=True)
