"""Build a matrix image from its Dockerfile with the docker CLI and BuildKit.

Why the CLI and not the SDK: the SDK's `images.build` speaks to the classic builder only, and our
recipes use BuildKit cache mounts (`RUN --mount=type=cache`) for pip and apt. A machine may carry
more than one docker client (e.g. a newer one without the buildx plugin, which refuses BuildKit
builds, and the distribution's, which has BuildKit built in), so the candidates are tried in order
and one that cannot do BuildKit is passed over with the reason kept for the error message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.errors import HarnessError
from harness.model import Arch, Image

NO_BUILDKIT_MARKERS = ("buildx component is missing", "BuildKit is enabled but", "unknown flag: --mount")


class BuildError(HarnessError):
    pass


def docker_clients(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The docker clients to try: the one on PATH, then the distribution's."""
    found = [which("docker"), "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None]
    return list(dict.fromkeys(c for c in found if c))


def build_command(client: str, image: Image) -> list[str]:
    assert image.dockerfile, image
    dockerfile = Path(image.dockerfile)
    cmd = [client, "build", "--file", str(dockerfile), "--tag", image.tag]
    if image.arch is not Arch.native():  # pick the foreign variant of multi-arch bases
        cmd += ["--platform", image.arch.platform]
    for key, value in image.build_args:
        cmd += ["--build-arg", f"{key}={value}"]
    return [*cmd, str(dockerfile.parent)]


def build_dockerfile(image: Image, *, clients: list[str] | None = None, run: Callable[..., subprocess.CompletedProcess]
                     = subprocess.run, environ: Mapping[str, str] | None = None, log: Callable[[str], None] = print,
                     ) -> float:
    """Build `image` from its Dockerfile; return the seconds it took. Raises BuildError."""
    env = {**(os.environ if environ is None else environ), "DOCKER_BUILDKIT": "1"}
    tried: list[str] = []
    for client in clients if clients is not None else docker_clients():
        cmd = build_command(client, image)
        log(f"Building {image.tag} from {Path(image.dockerfile or '').name} with {client} (BuildKit)")
        start = time.monotonic()
        done = run(cmd, env=env, capture_output=True, text=True)
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode == 0:
            return time.monotonic() - start
        if done.returncode == 125 and "unknown flag" in output:  # an old client: no --build-arg etc.
            tried.append(f"{client}: {output.strip().splitlines()[0]}")
            continue
        if any(marker in output for marker in NO_BUILDKIT_MARKERS):
            tried.append(f"{client}: no BuildKit")
            continue
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise BuildError(f"building {image.tag} from {image.dockerfile} failed:\n{tail}",
                         hint="fix the Dockerfile or its build args; base images must be pullable or present")
    raise BuildError(f"no docker client here can build {image.tag} with BuildKit ({'; '.join(tried) or 'none found'})",
                     hint="install Debian's docker.io (BuildKit built in) or the docker buildx plugin")


PARSE_ONLY_TARGET = "ewh-parse-only"


def check_dockerfile(dockerfile: Path, *, clients: list[str] | None = None,
                     run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """Have BuildKit parse a recipe without pulling or building anything; None when it parses.

    Asking for a build target that does not exist makes BuildKit parse the whole Dockerfile (mount
    types, instructions, stages) and stop before it resolves any base image.
    """
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    for client in clients if clients is not None else docker_clients():
        cmd = [client, "build", "--target", PARSE_ONLY_TARGET, "--file", str(dockerfile), str(dockerfile.parent)]
        done = run(cmd, env=env, capture_output=True, text=True, timeout=120)
        output = (done.stdout or "") + (done.stderr or "")
        if any(marker in output for marker in NO_BUILDKIT_MARKERS):
            continue
        if f"target stage {PARSE_ONLY_TARGET} could not be found" in output:
            return None
        lines = [ln for ln in output.strip().splitlines() if "error" in ln.lower()] or output.strip().splitlines()
        return lines[-1] if lines else f"{client} exited {done.returncode}"
    raise BuildError("no docker client here can parse Dockerfiles with BuildKit",
                     hint="install Debian's docker.io (BuildKit built in) or the docker buildx plugin")
