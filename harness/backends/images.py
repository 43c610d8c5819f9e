"""Local base images built from the distribution's own packages, for hosts that cannot pull any.

`mmdebstrap` writes a root filesystem tarball from the host's apt sources (for a foreign architecture
under QEMU binfmt emulation, which the caller checks: `Backend.prepare`, `wheel-harness images`); an
`ImageStore` (the engine) imports it as an image. The recipes themselves are data in the model
(model.LOCAL_RECIPES). Nothing here imports `docker`, and every process call goes through the
injected `run`.
"""

from __future__ import annotations

import difflib
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError
from harness.model import IMAGE_PREFIX, LOCAL_RECIPES, Arch, Image, Recipe, local_image_ref

OUTPUT_TAIL_LINES = 20

# The image's config, written as Dockerfile instructions (imagearchive parses them into the archive's
# config): a plain rootfs tarball carries no config at all.
IMAGE_CHANGES: tuple[str, ...] = (
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)


class ImageBuildError(HarnessError):
    """A local image could not be built; the message says why and what to do."""

    exit_code = 3


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


def get_recipe(name: str) -> Recipe:
    try:
        return LOCAL_RECIPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(LOCAL_RECIPES), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(LOCAL_RECIPES))
        raise ImageBuildError(f"unknown local image recipe {name!r}{suggestion} (known: {known})") from None


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
) -> BuildOutcome:
    """Build `recipe` for `arch` into `store` unless it is there already (or `force`).

    The caller has made sure this host runs `arch` (natively or under QEMU binfmt emulation).
    """
    spec = get_recipe(recipe)
    ref = local_image_ref(recipe, arch)
    if not force and store.has_image(ref):
        log(f"image {ref} exists; not rebuilt")
        return BuildOutcome(ref=ref, built=False, seconds=0.0, reason="exists")

    executable = which("mmdebstrap")
    if executable is None:
        raise ImageBuildError(
            f"cannot build {ref}: mmdebstrap is not on PATH. Install it with: apt-get install mmdebstrap"
        )
    if arch is not (native or Arch.native()) and which("arch-test") is None:
        # a Recommends of mmdebstrap, which --no-install-recommends leaves out
        raise ImageBuildError(
            f"cannot build {ref}: mmdebstrap needs arch-test for a foreign architecture ({arch.value}), "
            "and it is not on PATH. Install it with: apt-get install arch-test"
        )

    workdir.mkdir(parents=True, exist_ok=True)
    tarball = workdir / f"{IMAGE_PREFIX}-{recipe}-{arch.value}.tar"
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


def local_recipe_of(ref: str) -> tuple[str, Arch] | None:
    """(recipe, arch) when `ref` is the tag of an image the harness makes itself, else None."""
    for recipe in LOCAL_RECIPES:
        for arch in Arch:
            if ref == local_image_ref(recipe, arch):
                return recipe, arch
    return None


def needed_local_images(images: Iterable[Image]) -> list[tuple[str, Arch]]:
    """The (recipe, arch) pairs the given images need built locally, without repeats, in order."""
    seen: dict[tuple[str, Arch], None] = {}
    for image in images:
        if image.local_build:
            seen.setdefault((image.local_build, image.arch), None)
    return list(seen)
