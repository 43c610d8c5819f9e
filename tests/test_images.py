"""Unit tests for harness.backends.images: no Docker, no mmdebstrap, no /proc."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.backends.hostfacts import binfmt_registered
from harness.backends.imagearchive import write_image_archive
from harness.backends.images import (
    IMAGE_CHANGES,
    BuildOutcome,
    ImageBuildError,
    build_local,
    mmdebstrap_command,
    needed_local_images,
)
from harness.model import LOCAL_RECIPES, Arch, Image, Recipe
from harness.model import local_image_ref as local_ref


class FakeStore:
    """An in-memory ImageStore."""

    def __init__(self, refs: tuple[str, ...] = ()) -> None:
        self.refs = set(refs)
        self.imports: list[dict] = []

    def has_image(self, ref: str) -> bool:
        return ref in self.refs

    def import_rootfs(self, tarball: Path, ref: str, *, arch: Arch, changes: list[str]) -> None:
        assert tarball.is_file(), "the tarball must still exist while it is imported"
        self.imports.append(
            {
                "tarball": tarball,
                "content": tarball.read_bytes(),
                "ref": ref,
                "arch": arch,
                "changes": changes,
            }
        )
        self.refs.add(ref)


class FakeRun:
    """Records each command; writes the tarball (the last argument) or fails with given output."""

    def __init__(self, *, returncode: int = 0, output: str = "", write: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.kwargs: list[dict] = []
        self.returncode = returncode
        self.output = output
        self.write = write

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        self.kwargs.append(kwargs)
        if self.returncode == 0 and self.write:
            Path(cmd[-1]).write_bytes(b"rootfs")
        return subprocess.CompletedProcess(cmd, self.returncode, stdout=self.output, stderr=None)


def which_found(name: str) -> str | None:
    return f"fake-bin/{name}"


def which_missing(name: str) -> str | None:
    return None


@pytest.fixture
def binfmt(tmp_path: Path) -> Path:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    (root / "status").write_text("enabled\n")
    return root


def enable(root: Path, machine: str, state: str = "enabled") -> None:
    (root / f"qemu-{machine}").write_text(f"{state}\ninterpreter /fake/qemu-{machine}\nflags: PF\n")


def build(store, arch=Arch.AMD64, *, tmp_path: Path, run=None, which=which_found, **kw):
    logs: list[str] = []
    outcome = build_local(
        "debian-bookworm",
        arch,
        store,
        workdir=tmp_path / "work",
        run=run if run is not None else FakeRun(),
        log=logs.append,
        which=which,
        native=Arch.AMD64,
        **kw,
    )
    return outcome, logs


# --- names and recipes ---------------------------------------------------------------------------


def test_recipe_and_ref():
    assert LOCAL_RECIPES["debian-bookworm"] == Recipe(
        suite="bookworm", variant="apt", packages=("python3-venv", "python3-pip", "ca-certificates"),
        python_version="3.11", glibc="2.36",
    )
    assert local_ref("debian-bookworm", Arch.AMD64) == "edge-wheel-harness/debian-bookworm:amd64"
    assert local_ref("debian-bookworm", Arch.ARM64) == "edge-wheel-harness/debian-bookworm:arm64"


def test_recipes_are_read_only():
    with pytest.raises(TypeError):
        LOCAL_RECIPES["other"] = Recipe(suite="trixie")  # type: ignore[index]


def test_mmdebstrap_command_uses_host_sources(tmp_path: Path):
    cmd = mmdebstrap_command(LOCAL_RECIPES["debian-bookworm"], Arch.ARM64, tmp_path / "x.tar")
    assert cmd[0] == "mmdebstrap"
    assert "--variant=apt" in cmd and "--arch=arm64" in cmd
    assert "--include=python3-venv,python3-pip,ca-certificates" in cmd
    # suite then target, and no mirror after them
    assert cmd[-2:] == ["bookworm", str(tmp_path / "x.tar")]
    assert any(a.startswith("--customize-hook=") and "var/lib/apt/lists" in a for a in cmd)


# --- binfmt ----------------------------------------------------------------------------------------


def test_native_arch_needs_no_binfmt(tmp_path: Path):
    assert binfmt_registered(Arch.AMD64, root=tmp_path / "absent", native=Arch.AMD64)
    assert binfmt_registered(Arch.ARM64, root=tmp_path / "absent", native=Arch.ARM64)


def test_foreign_arch_enabled(binfmt: Path):
    enable(binfmt, "aarch64")
    assert binfmt_registered(Arch.ARM64, root=binfmt, native=Arch.AMD64)


def test_foreign_arch_disabled(binfmt: Path):
    enable(binfmt, "aarch64", "disabled")
    assert not binfmt_registered(Arch.ARM64, root=binfmt, native=Arch.AMD64)


def test_foreign_arch_missing_entry(binfmt: Path, tmp_path: Path):
    enable(binfmt, "x86_64")  # the wrong one
    assert not binfmt_registered(Arch.ARM64, root=binfmt, native=Arch.AMD64)
    assert not binfmt_registered(Arch.ARM64, root=tmp_path / "not-mounted", native=Arch.AMD64)


def test_foreign_arch_with_binfmt_switched_off(binfmt: Path):
    enable(binfmt, "aarch64")
    (binfmt / "status").write_text("disabled\n")
    assert not binfmt_registered(Arch.ARM64, root=binfmt, native=Arch.AMD64)


def test_empty_entry_file(binfmt: Path):
    (binfmt / "qemu-aarch64").write_text("")
    assert not binfmt_registered(Arch.ARM64, root=binfmt, native=Arch.AMD64)


# --- build_local -----------------------------------------------------------------------------------


def test_existing_image_is_not_rebuilt(tmp_path: Path):
    ref = "edge-wheel-harness/debian-bookworm:amd64"
    store = FakeStore((ref,))
    run = FakeRun()
    outcome, logs = build(store, tmp_path=tmp_path, run=run)
    assert outcome == BuildOutcome(ref=ref, built=False, seconds=0.0, reason="exists")
    assert run.calls == []
    assert store.imports == []


def test_existing_image_is_not_rebuilt_even_without_tools(tmp_path: Path):
    # Nothing to build: a host without mmdebstrap or binfmt must not fail.
    store = FakeStore(("edge-wheel-harness/debian-bookworm:arm64",))
    outcome, _ = build(
        store, Arch.ARM64, tmp_path=tmp_path, which=which_missing
    )
    assert not outcome.built


def test_build_imports_and_removes_tarball(tmp_path: Path):
    store = FakeStore()
    run = FakeRun()
    outcome, logs = build(store, tmp_path=tmp_path, run=run)
    assert outcome.built and outcome.reason == "missing"
    assert outcome.ref == "edge-wheel-harness/debian-bookworm:amd64"
    assert outcome.seconds >= 0
    assert len(run.calls) == 1
    cmd = run.calls[0]
    assert cmd[0] == "fake-bin/mmdebstrap"
    assert "--arch=amd64" in cmd
    tarball = Path(cmd[-1])
    assert tarball.parent == tmp_path / "work"
    assert run.kwargs[0]["stderr"] == subprocess.STDOUT
    [imp] = store.imports
    assert imp["ref"] == outcome.ref and imp["arch"] is Arch.AMD64 and imp["content"] == b"rootfs"
    assert imp["tarball"] == tarball
    assert imp["changes"] == list(IMAGE_CHANGES)
    assert 'CMD ["/bin/bash"]' in imp["changes"] and "ENV LANG=C.UTF-8" in imp["changes"]
    assert any(c.startswith("ENV PATH=") for c in imp["changes"])
    assert not tarball.exists()
    assert any("built" in line for line in logs)


def test_force_rebuilds(tmp_path: Path):
    store = FakeStore(("edge-wheel-harness/debian-bookworm:amd64",))
    run = FakeRun()
    outcome, _ = build(store, tmp_path=tmp_path, run=run, force=True)
    assert outcome.built and outcome.reason == "rebuilt (force)"
    assert len(run.calls) == 1 and len(store.imports) == 1


def test_foreign_arch_builds(tmp_path: Path):
    store = FakeStore()
    run = FakeRun()
    outcome, _ = build(store, Arch.ARM64, tmp_path=tmp_path, run=run)
    assert outcome.ref == "edge-wheel-harness/debian-bookworm:arm64"
    assert "--arch=arm64" in run.calls[0]
    assert store.imports[0]["arch"] is Arch.ARM64


def test_foreign_arch_without_arch_test_fails_with_advice(tmp_path: Path):
    """mmdebstrap refuses a foreign architecture without arch-test (a Recommends that
    --no-install-recommends skips): say so before running it, with the package to install."""
    run = FakeRun()
    with pytest.raises(ImageBuildError) as info:
        build(FakeStore(), Arch.ARM64, tmp_path=tmp_path, run=run,
              which=lambda name: None if name == "arch-test" else f"fake-bin/{name}")
    message = str(info.value)
    assert "apt-get install arch-test" in message and "arm64" in message
    assert run.calls == []
    # the native architecture does not need it
    outcome, _ = build(FakeStore(), Arch.AMD64, tmp_path=tmp_path, run=FakeRun(),
                       which=lambda name: None if name == "arch-test" else f"fake-bin/{name}")
    assert outcome.built


def test_missing_mmdebstrap_fails_with_advice(tmp_path: Path):
    run = FakeRun()
    with pytest.raises(ImageBuildError, match="apt-get install mmdebstrap"):
        build(FakeStore(), tmp_path=tmp_path, run=run, which=which_missing)
    assert run.calls == []


def test_mmdebstrap_failure_carries_output_tail(tmp_path: Path):
    output = "\n".join(f"line {i}" for i in range(100)) + "\nE: Unable to locate package python3-venv\n"
    store = FakeStore()
    run = FakeRun(returncode=1, output=output)
    with pytest.raises(ImageBuildError) as info:
        build(store, tmp_path=tmp_path, run=run)
    message = str(info.value)
    assert "E: Unable to locate package python3-venv" in message
    assert "line 99" in message and "line 81" in message
    assert "line 50" not in message
    assert "mmdebstrap" in message and "--arch=amd64" in message  # the command
    assert "exit code 1" in message
    assert store.imports == []
    assert list((tmp_path / "work").iterdir()) == []


def test_mmdebstrap_failure_removes_partial_tarball(tmp_path: Path):
    class PartialRun(FakeRun):
        def __call__(self, cmd, **kwargs):
            Path(cmd[-1]).write_bytes(b"half")
            return super().__call__(cmd, **kwargs)

    with pytest.raises(ImageBuildError):
        build(FakeStore(), tmp_path=tmp_path, run=PartialRun(returncode=2, output="boom"))
    assert list((tmp_path / "work").iterdir()) == []


def test_mmdebstrap_that_cannot_start(tmp_path: Path):
    def run(cmd, **kwargs):
        raise PermissionError(13, "Permission denied", cmd[0])

    with pytest.raises(ImageBuildError, match="could not start mmdebstrap"):
        build(FakeStore(), tmp_path=tmp_path, run=run)


def test_success_without_tarball_is_an_error(tmp_path: Path):
    store = FakeStore()
    with pytest.raises(ImageBuildError, match="no tarball"):
        build(store, tmp_path=tmp_path, run=FakeRun(write=False))
    assert store.imports == []


def test_import_failure_still_removes_tarball(tmp_path: Path):
    class BrokenStore(FakeStore):
        def import_rootfs(self, tarball, ref, *, arch, changes):
            raise RuntimeError("engine said no")

    with pytest.raises(RuntimeError, match="engine said no"):
        build(BrokenStore(), tmp_path=tmp_path)
    assert list((tmp_path / "work").iterdir()) == []


def test_unknown_recipe_suggests(tmp_path: Path):
    with pytest.raises(ImageBuildError, match="did you mean 'debian-bookworm'"):
        build_local("debian-bookwrm", Arch.AMD64, FakeStore(), workdir=tmp_path, run=FakeRun(), log=print)


# --- needed_local_images ---------------------------------------------------------------------------


def test_needed_local_images_dedups_in_order():
    images = [
        Image(name="pulled", arch=Arch.AMD64, ref="python:3.11-slim"),
        Image(name="b-arm", arch=Arch.ARM64, local_build="debian-bookworm"),
        Image(name="b-amd", arch=Arch.AMD64, local_build="debian-bookworm"),
        Image(name="b-arm-again", arch=Arch.ARM64, local_build="debian-bookworm"),
    ]
    assert needed_local_images(images) == [("debian-bookworm", Arch.ARM64), ("debian-bookworm", Arch.AMD64)]
    assert needed_local_images([]) == []
    assert needed_local_images(iter(images[:1])) == []


def test_write_image_archive_records_arch_and_config(tmp_path: Path):
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        data = b"cell\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "image.tar"
    ref = local_ref("debian-bookworm", Arch.ARM64)
    assert write_image_archive(rootfs, dest, ref, arch=Arch.ARM64, changes=IMAGE_CHANGES) == dest
    with tarfile.open(dest) as tar:
        [manifest] = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest["Config"]))
        layer = tar.extractfile(manifest["Layers"][0]).read()
    assert manifest["RepoTags"] == [ref]
    assert layer == rootfs.read_bytes()
    assert config["architecture"] == "arm64" and config["os"] == "linux" and config["variant"] == "v8"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Cmd"] == ["/bin/bash"]
    assert "LANG=C.UTF-8" in config["config"]["Env"]
    assert any(e.startswith("PATH=/usr/local/sbin:") for e in config["config"]["Env"])


def test_write_image_archive_rejects_unknown_changes(tmp_path: Path):
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported image change"):
        write_image_archive(rootfs, tmp_path / "x.tar", "r:t", arch=Arch.AMD64, changes=["RUN true"])
