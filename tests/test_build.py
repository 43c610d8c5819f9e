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


# --- what a build reaches, and how a recipe's builds are measured -----------------------------------

SOURCE_CHANGE = Path(__file__).parent / "data" / "dockerfiles" / "source-change" / "source-change.Dockerfile"
BUILDKIT = Path(__file__).parent / "data" / "buildkit"  # recorded by tools/record_buildkit_output.py


def measured(house: Path, **kw) -> Image:
    return Image(name="measured", arch=Arch.native(), dockerfile=str(SOURCE_CHANGE), build_args=(("BASE", "b:1"),),
                 build_folders=(("wheelhouse", str(house)),), source_file="app/main.py", **kw)


def test_a_build_gets_the_hosts_ca_bundle_as_a_secret_and_its_proxies_as_build_args(tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {"PIP_CERT": str(bundle), "HTTPS_PROXY": "http://proxy.example:3128", "no_proxy": "localhost"}
    cmd = dockerfile.build_command("docker", image(), environ=environ, no_cache=True)
    assert cmd[cmd.index("--secret") + 1] == f"id=ca-bundle,src={bundle}"
    args = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--build-arg"]
    assert args == ["HTTPS_PROXY=http://proxy.example:3128", "no_proxy=localhost"]
    assert "--no-cache" in cmd and cmd[cmd.index("--progress") + 1] == "plain"
    plain = dockerfile.build_command("docker", image(), environ={"PIP_CERT": str(tmp_path / "gone.pem")})
    assert "--secret" not in plain and "--no-cache" not in plain  # no bundle there: the image's own


def test_the_build_context_is_a_copy_with_the_build_folders_in_it_and_the_recipe_untouched(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    (house / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"wheel")
    (house / "nested").mkdir()  # find-links sees files only: so does the build
    original = (SOURCE_CHANGE.parent / "app" / "main.py").read_bytes()
    context = dockerfile.assemble_context(measured(house), tmp_path / "ctx", changed=True)
    again = dockerfile.assemble_context(measured(house), tmp_path / "ctx-again", changed=True)
    assert sorted(p.name for p in (context / "wheelhouse").iterdir()) == [
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"]
    assert (context / "source-change.Dockerfile").read_bytes() == SOURCE_CHANGE.read_bytes()
    assert (context / ".dockerignore").is_file()
    changed = (context / "app" / "main.py").read_bytes()
    assert changed.startswith(original) and changed[len(original):].startswith(b"# wheel-harness: a change")
    assert (again / "app" / "main.py").read_bytes() != changed  # a change no earlier build has seen
    assert (SOURCE_CHANGE.parent / "app" / "main.py").read_bytes() == original  # a hard link is never written through
    as_written = dockerfile.assemble_context(measured(house), tmp_path / "ctx2")
    assert (as_written / "app" / "main.py").read_bytes() == original


def test_a_build_folder_that_is_not_there_is_a_build_error_naming_it(tmp_path):
    with pytest.raises(dockerfile.BuildError) as err:
        dockerfile.assemble_context(measured(tmp_path / "never-filled"), tmp_path / "ctx")
    assert "build folder 'wheelhouse' of measured" in str(err.value) and "never-filled" in str(err.value)
    assert "prefetch" in err.value.hint


class ContextRun(FakeRun):
    """Answers like FakeRun and keeps, per call, the source file as the build saw it in its context."""

    def __init__(self, answers):
        super().__init__(answers)
        self.sources = []

    def __call__(self, cmd, env, **kw):
        self.sources.append((Path(cmd[-1]) / "app" / "main.py").read_text())
        return super().__call__(cmd, env, **kw)


def test_a_missing_measured_recipe_is_built_cold_then_cached_after_a_source_change_then_as_written(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    as_written = (SOURCE_CHANGE.parent / "app" / "main.py").read_text()
    run = ContextRun([(0, (BUILDKIT / "cold.txt").read_text()), (0, (BUILDKIT / "cached.txt").read_text()),
                      (0, (BUILDKIT / "unchanged.txt").read_text())])
    cold, cached, restored = dockerfile.make(measured(house), fresh=True, clients=["docker"], run=run, environ={},
                                             log=lambda _: None)
    assert (cold.how, cached.how, restored.how) == ("cold", "cached", "unchanged")
    assert ["--no-cache" in cmd for cmd, _ in run.calls] == [True, False, False]
    assert [source == as_written for source in run.sources] == [True, False, True]
    assert cached.what == "warm cache, after a change to app/main.py"
    assert (cached.steps_run, cached.steps_cached) == (("[3/3] COPY app/ /app/",), 1)


def test_a_present_measured_recipe_is_rebuilt_unchanged_and_an_unmeasured_one_cached(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    run = ContextRun([(0, ""), (0, "")])
    [again] = dockerfile.make(measured(house), fresh=False, clients=["docker"], run=run, environ={},
                              log=lambda _: None)
    assert again.how == "unchanged" and "--no-cache" not in run.calls[0][0]
    assert run.sources[0] == (SOURCE_CHANGE.parent / "app" / "main.py").read_text()
    plain = FakeRun([(0, ""), (0, "")])
    [cold] = dockerfile.make(image(), fresh=True, clients=["docker"], run=plain, environ={}, log=lambda _: None)
    [cached] = dockerfile.make(image(), fresh=False, clients=["docker"], run=plain, environ={}, log=lambda _: None)
    assert (cold.how, cached.how) == ("cold", "cached")
    assert [("--no-cache" in cmd, cmd[-1]) for cmd, _ in plain.calls] == [(True, str(DOCKERFILE.parent)),
                                                                          (False, str(DOCKERFILE.parent))]


def test_the_steps_buildkit_ran_and_took_from_its_cache_are_read_from_its_output():
    """Recorded from real builds: cold, every step runs; after the source change, only the COPY of it;
    as written again, none. A step is named without its mount options."""
    ran, cached = dockerfile.steps((BUILDKIT / "cold.txt").read_text())
    assert ran == ("[2/3] RUN ls /wheelhouse > /etc/ewh-wheelhouse", "[3/3] COPY app/ /app/") and cached == 0
    ran, cached = dockerfile.steps((BUILDKIT / "cached.txt").read_text())
    assert ran == ("[3/3] COPY app/ /app/",) and cached == 1
    assert dockerfile.steps((BUILDKIT / "unchanged.txt").read_text()) == ((), 2)


@pytest.mark.docker
def test_a_measured_recipe_is_built_cold_then_after_a_source_change_and_is_the_recipe_as_written(
        docker_backend, bookworm, tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    (house / "example-1.0-py3-none-any.whl").write_bytes(b"listed by the recipe")
    img = Image(name="ewh-test-source-change", arch=Arch.AMD64, dockerfile=str(SOURCE_CHANGE),
                build_args=(("BASE", bookworm),), build_folders=(("wheelhouse", str(house)),),
                source_file="app/main.py")
    if docker_backend.has_image(img.tag):  # a leftover of an earlier run: the first build must be a fresh one
        docker_backend.client.images.remove(img.tag, force=True)
    try:
        first = docker_backend.prepare(img)
        cold, cached, restored = first.builds
        assert (first.built, cold.how, cached.how, restored.how) == ("cold", "cold", "cached", "unchanged")
        assert cold.steps_cached == 0 and [s.split("] ", 1)[1].split()[0] for s in cold.steps_run] == ["RUN", "COPY"]
        assert [s.split("] ", 1)[1] for s in cached.steps_run] == ["COPY app/ /app/"] and cached.steps_cached == 1
        assert restored.steps_run == () and restored.image_id == first.identity != cached.image_id
        assert not docker_backend.has_image(cached.image_id)  # the changed variant is not left behind
        assert first.size == docker_backend.client.images.get(img.tag).attrs["Size"]
        assert first.layers and all(layer["size"] > 0 for layer in first.layers)
        out = docker_backend.client.containers.run(img.tag, ["cat", "/etc/ewh-wheelhouse", "/app/main.py"],
                                                   remove=True).decode()
        assert out == "example-1.0-py3-none-any.whl\n" + (SOURCE_CHANGE.parent / "app" / "main.py").read_text()
        again = docker_backend.prepare(img)  # there now: rebuilt from the cache, nothing changed
        assert [b.how for b in again.builds] == ["unchanged"] and again.identity == first.identity
    finally:
        docker_backend.client.images.remove(img.tag, force=True)


def test_a_base_that_cannot_be_pulled_is_named_with_bringing_it_as_the_hint():
    """Recorded from a real build on a base no registry here serves: the row says why, and what to do."""
    output = (BUILDKIT / "unpullable.txt").read_text()
    run = FakeRun([(1, output)])
    with pytest.raises(dockerfile.BuildError) as err:
        dockerfile.build_dockerfile(image(), clients=["docker"], run=run, environ={}, log=lambda _: None)
    first = str(err.value).splitlines()[0]
    assert first.startswith("building edge-wheel-harness/cache-mount:latest from cache-mount.Dockerfile failed: "
                            "failed to solve with frontend dockerfile.v0: ") and first.endswith("no such host")
    assert err.value.hint == ("the base image docker.io/edge-wheel-harness/not-pullable:never cannot be pulled here: "
                              "`docker load` it (dockerfiles/README.md), or run where its registry is reachable")
    cause, hint = dockerfile.failure((BUILDKIT / "cold.txt").read_text() + "#6 ERROR: process did not complete\n")
    assert cause == "process did not complete" and hint.startswith("fix the Dockerfile")
