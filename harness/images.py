"""Local base images built from the distribution's own packages, for hosts that cannot pull any.

`mmdebstrap` writes a root filesystem tarball from the host's apt sources (for a foreign architecture
under QEMU binfmt emulation); an `ImageStore` (the engine) imports it as an image. Nothing here imports
`docker`: the engine implements `ImageStore`, and every process call goes through the injected `run`.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from .errors import HarnessError
from .model import IMAGE_PREFIX, Arch, Image, local_image_ref

REF_PREFIX = IMAGE_PREFIX
BINFMT_ROOT = Path("/proc/sys/fs/binfmt_misc")
OUTPUT_TAIL_LINES = 20

# Docker's `import --change` lines: a plain rootfs tarball carries no config at all.
IMAGE_CHANGES: tuple[str, ...] = (
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """What mmdebstrap puts into an image: a suite, a variant and the packages on top of it."""

    suite: str
    variant: str = "apt"
    packages: tuple[str, ...] = ()
    python_version: str | None = None  # what the suite's python3 is (for `plan`)
    glibc: str | None = None  # the suite's glibc (the manylinux level `plan` resolves for)


LOCAL_RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        "debian-bookworm": Recipe(
            suite="bookworm",
            variant="apt",
            packages=("python3-venv", "python3-pip", "ca-certificates"),
            python_version="3.11",
            glibc="2.36",
        ),
    }
)


class ImageBuildError(HarnessError):
    """A local image could not be built; the message says why and what to do."""


class ImageStore(Protocol):
    """The two things building needs from an engine."""

    def has_image(self, ref: str) -> bool: ...

    def import_rootfs(self, tarball: Path, ref: str, *, arch: Arch, changes: list[str]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class BuildOutcome:
    ref: str
    built: bool
    seconds: float
    reason: str


RunFn = Callable[..., "subprocess.CompletedProcess[str]"]
LogFn = Callable[[str], None]


def local_ref(recipe: str, arch: Arch) -> str:
    """The tag a locally built image gets: `edge-wheel-harness/debian-bookworm:amd64`."""
    return local_image_ref(recipe, arch)


def get_recipe(name: str) -> Recipe:
    try:
        return LOCAL_RECIPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(LOCAL_RECIPES), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(LOCAL_RECIPES))
        raise ImageBuildError(f"unknown local image recipe {name!r}{suggestion} (known: {known})") from None


def binfmt_registered(arch: Arch, *, root: Path = BINFMT_ROOT, native: Arch | None = None) -> bool:
    """Whether this host can run `arch` binaries: natively, or through an enabled QEMU binfmt entry."""
    if arch is (native or Arch.native()):
        return True
    if _first_line(root / "status") == "disabled":  # binfmt_misc switched off as a whole
        return False
    return _first_line(root / f"qemu-{arch.machine}") == "enabled"


def _first_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.readline().strip()
    except OSError:
        return None


def mmdebstrap_command(
    recipe: Recipe, arch: Arch, tarball: Path, *, executable: str = "mmdebstrap"
) -> list[str]:
    """The mmdebstrap call for one image. No mirror argument: the host's own apt sources are used."""
    cmd = [
        executable,
        f"--variant={recipe.variant}",
        f"--arch={arch.value}",
        "--aptopt=Apt::Install-Recommends \"false\"",
        # Documentation, man pages and translations are dead weight in a throwaway cell.
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
    ]
    if recipe.packages:
        cmd.append("--include=" + ",".join(recipe.packages))
    cmd += [recipe.suite, str(tarball)]
    return cmd


def build_local(
    recipe: str,
    arch: Arch,
    store: ImageStore,
    *,
    workdir: Path,
    run: RunFn = subprocess.run,
    log: LogFn = print,
    force: bool = False,
    which: Callable[[str], str | None] = shutil.which,
    native: Arch | None = None,
    binfmt_root: Path = BINFMT_ROOT,
) -> BuildOutcome:
    """Build `recipe` for `arch` into `store` unless it is there already (or `force`)."""
    spec = get_recipe(recipe)
    ref = local_ref(recipe, arch)
    if not force and store.has_image(ref):
        log(f"image {ref} exists; not rebuilt")
        return BuildOutcome(ref=ref, built=False, seconds=0.0, reason="exists")

    if not binfmt_registered(arch, root=binfmt_root, native=native):
        machine = arch.machine
        raise ImageBuildError(
            f"cannot build {ref}: this host cannot run {arch.value} binaries "
            f"(no enabled binfmt_misc entry qemu-{machine} under {binfmt_root}). "
            f"Install QEMU user emulation (apt-get install qemu-user-static binfmt-support), "
            f"then run: update-binfmts --enable qemu-{machine}"
        )
    executable = which("mmdebstrap")
    if executable is None:
        raise ImageBuildError(
            f"cannot build {ref}: mmdebstrap is not on PATH. Install it with: apt-get install mmdebstrap"
        )

    workdir.mkdir(parents=True, exist_ok=True)
    tarball = workdir / f"{REF_PREFIX}-{recipe}-{arch.value}.tar"
    cmd = mmdebstrap_command(spec, arch, tarball, executable=executable)
    log(f"building {ref}: {shlex.join(cmd)}")
    started = time.monotonic()
    try:
        _run_mmdebstrap(cmd, run)
        if not tarball.is_file():
            raise ImageBuildError(
                f"mmdebstrap reported success but wrote no tarball at {tarball}\ncommand: {shlex.join(cmd)}"
            )
        store.import_rootfs(tarball, ref, arch=arch, changes=list(IMAGE_CHANGES))
    finally:
        tarball.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    reason = "rebuilt (force)" if force else "missing"
    log(f"built {ref} in {seconds:.1f} s")
    return BuildOutcome(ref=ref, built=True, seconds=seconds, reason=reason)


def _run_mmdebstrap(cmd: list[str], run: RunFn) -> None:
    try:
        proc = run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    except OSError as exc:
        raise ImageBuildError(f"could not start mmdebstrap: {exc}\ncommand: {shlex.join(cmd)}") from exc
    if proc.returncode != 0:
        output = proc.stdout or ""
        if isinstance(output, bytes):
            output = output.decode("utf-8", errors="replace")
        tail = "\n".join(output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise ImageBuildError(
            f"mmdebstrap failed with exit code {proc.returncode}\n"
            f"command: {shlex.join(cmd)}\n"
            f"last lines of its output:\n{tail or '(no output)'}"
        )


def needed_local_images(images: Iterable[Image]) -> list[tuple[str, Arch]]:
    """The (recipe, arch) pairs the given images need built locally, without repeats, in order."""
    seen: dict[tuple[str, Arch], None] = {}
    for image in images:
        if image.local_build:
            seen.setdefault((image.local_build, image.arch), None)
    return list(seen)


def _parse_changes(changes: Iterable[str]) -> dict[str, object]:
    """The subset of Dockerfile instructions `IMAGE_CHANGES` uses (ENV, CMD, ENTRYPOINT, WORKDIR)."""
    config: dict[str, object] = {}
    env: list[str] = []
    for change in changes:
        keyword, _, value = change.strip().partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "ENV":
            name, sep, val = value.partition("=")
            if not sep:
                name, _, val = value.partition(" ")
            env = [e for e in env if not e.startswith(name + "=")] + [f"{name}={val.strip()}"]
        elif keyword in ("CMD", "ENTRYPOINT"):
            parsed = json.loads(value) if value.startswith("[") else ["/bin/sh", "-c", value]
            config["Cmd" if keyword == "CMD" else "Entrypoint"] = parsed
        elif keyword == "WORKDIR":
            config["WorkingDir"] = value
        else:
            raise ValueError(f"unsupported image change {change!r}")
    if env:
        config["Env"] = env
    return config


def write_image_archive(rootfs: Path, dest: Path, ref: str, *, arch: Arch, changes: Iterable[str]) -> Path:
    """Wrap a rootfs tarball as a one-layer `docker save` archive whose config names `arch`.

    For engines whose import ignores a platform (Docker 20.10's `import --platform` records the host's
    architecture, so an arm64 rootfs becomes an "amd64" image that `--platform linux/arm64` will not find):
    loading this archive instead gives the image the right architecture.
    """
    digest = hashlib.sha256()
    with rootfs.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    layer_id = digest.hexdigest()
    config = {
        "architecture": arch.value,
        "os": "linux",
        **({"variant": "v8"} if arch is Arch.ARM64 else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": _parse_changes(changes),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created_by": f"{REF_PREFIX} mmdebstrap rootfs"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = f"{layer_id}/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()

    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(dest, "w") as tar:
        add_bytes(tar, config_name, config_bytes)
        tar.add(rootfs, arcname=layer_name, recursive=False)
        add_bytes(tar, "manifest.json", manifest)
    return dest
