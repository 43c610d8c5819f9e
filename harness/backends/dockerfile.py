"""Build a matrix image from its Dockerfile with the docker CLI and BuildKit.

Why the CLI and not the SDK: the SDK's `images.build` speaks to the classic builder only, and our
recipes use BuildKit cache mounts (`RUN --mount=type=cache`) for pip and apt. A machine may carry
more than one docker client (e.g. a newer one without the buildx plugin, which refuses BuildKit
builds, and the distribution's, which has BuildKit built in), so the candidates are tried in order
and one that cannot do BuildKit is passed over with the reason kept for the error message.

What a build reaches without a path of this machine in the recipe: the host's CA bundle as the BuildKit
secret `ca-bundle` (a recipe mounts it over its own bundle for the steps that download), its proxy
variables as the predefined proxy build args, and the image's `build_folders` (a wheelhouse) inside a
copy of the recipe's folder, under their names. `make` builds an image for a run and measures it: with
no layer cache (`cold`), then, for a recipe that names a `source_file`, from the warm cache after a
change to that file (`cached`), as a code change below the dependency layers would, and as written again.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness import installers
from harness.backends.base import Build
from harness.errors import HarnessError
from harness.model import Arch, Image

CA_SECRET = "ca-bundle"  # the BuildKit secret id the recipes mount over their CA bundle
STEP_LINE = re.compile(r"^#(\d+) \[(?!internal\])([^\]]+)\] (.*)$")  # BuildKit's plain progress: a step begins
STATUS_LINE = re.compile(r"^#(\d+) (DONE|CACHED|ERROR)\b")
STEP_MAX = 120
# What the cached build's copy of a recipe's source file ends with: a change no earlier build has seen (a
# token of its own), so the layers from that file up are rebuilt, and only those.
SOURCE_CHANGE = "# wheel-harness: a change to this file, to measure a cached build after it ({token})\n"

NO_BUILDKIT_MARKERS = ("buildx component is missing", "BuildKit is enabled but", "unknown flag: --mount")


class BuildError(HarnessError):
    pass


def docker_clients(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The docker clients to try: the one on PATH, then the distribution's."""
    found = [which("docker"), "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None]
    return list(dict.fromkeys(c for c in found if c))


def build_command(client: str, image: Image, *, context: Path | None = None, no_cache: bool = False,
                  environ: Mapping[str, str] | None = None, iidfile: Path | None = None) -> list[str]:
    """The build's command line; `context` is a copy of the recipe's folder (see `assemble_context`), and
    `environ` the host environment whose CA bundle and proxy variables the build gets."""
    assert image.dockerfile, image
    dockerfile = Path(image.dockerfile)
    folder = context or dockerfile.parent
    cmd = [client, "build", "--progress", "plain", "--file", str(folder / dockerfile.name), "--tag", image.tag]
    if no_cache:
        cmd.append("--no-cache")
    if iidfile is not None:
        cmd += ["--iidfile", str(iidfile)]
    if image.arch is not Arch.native():  # pick the foreign variant of multi-arch bases
        cmd += ["--platform", image.arch.platform]
    for key, value in image.build_args:
        cmd += ["--build-arg", f"{key}={value}"]
    if environ is not None:
        bundle = installers.ca_bundle(environ)
        if bundle:
            cmd += ["--secret", f"id={CA_SECRET},src={bundle}"]
        given = dict(image.build_args)
        for var in installers.PROXY_VARIABLES:  # BuildKit's predefined proxy args: not in the cache key
            for name in (var, var.lower()):
                if environ.get(name) and name not in given:
                    cmd += ["--build-arg", f"{name}={environ[name]}"]
    return [*cmd, str(folder)]


def _link_or_copy(source: str, target: str) -> str:
    """A hard link where the file system allows one (a wheelhouse holds hundreds of megabytes), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def assemble_context(image: Image, into: Path, *, changed: bool = False) -> Path:
    """A copy of the recipe's folder at `into`, each of the image's build folders in it under its name
    (its files, not its subfolders: what pip's find-links sees), and with `changed` the recipe's source
    file ending in SOURCE_CHANGE. The folder's own .dockerignore travels with it. Raises BuildError."""
    assert image.dockerfile, image
    source = Path(image.dockerfile).parent
    names = {name for name, _ in image.build_folders}
    shutil.copytree(source, into, copy_function=_link_or_copy,
                    ignore=lambda folder, entries: [e for e in entries if Path(folder) == source and e in names])
    for name, folder in image.build_folders:
        if not Path(folder).is_dir():
            raise BuildError(f"build folder {name!r} of {image.name} ({folder}) is not a directory",
                             hint="fill it first: a wheelhouse an index variant prefetches into is filled by "
                                  "`wheel-harness run` before images are built")
        (into / name).mkdir()
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file():
                _link_or_copy(entry.path, str(into / name / entry.name))
    if changed and image.source_file:
        path = into / image.source_file
        if not path.is_file():
            raise BuildError(f"source_file {image.source_file!r} of {image.name} is not a file in {source}",
                             hint="name a file the recipe copies in after its dependency layers")
        text = path.read_bytes()
        path.unlink()  # a hard link to the recipe's own file: never written through
        change = SOURCE_CHANGE.format(token=secrets.token_hex(8)).encode()
        path.write_bytes(text + (b"" if text.endswith(b"\n") or not text else b"\n") + change)
    return into


def make(image: Image, *, fresh: bool, clients: list[str] | None = None,
         run: Callable[..., subprocess.CompletedProcess] = subprocess.run, environ: Mapping[str, str] | None = None,
         log: Callable[[str], None] = print) -> list[Build]:
    """Build `image` for a run and say how each build went. Raises BuildError.

    `fresh` (the image is not there, or a rebuild is asked for): built with no layer cache (`cold`; cache
    mounts such as pip's download cache stay as they are); a recipe with a `source_file` is then built
    from the warm cache with a change to that file no build has seen (`cached`: the build after a source
    change), and once more as written (`unchanged`: every layer from the cold build's cache), so the
    image is the recipe as written. Not fresh: rebuilt from the cache (edits to the recipe are picked
    up): `cached` for a recipe without a source file, `unchanged` for one with (nothing changed)."""
    environ = os.environ if environ is None else environ
    kw = {"clients": clients, "run": run, "environ": environ, "log": log}
    with tempfile.TemporaryDirectory(prefix="ewh-context-") as tmp:

        def context(changed: bool) -> Path | None:
            if not (image.build_folders or image.source_file):
                return None  # the recipe's folder as it is
            where = Path(tmp) / ("changed" if changed else "as-written")
            return where if where.is_dir() else assemble_context(image, where, changed=changed)

        def build(how: str, what: str, *, changed: bool = False, no_cache: bool = False) -> Build:
            iidfile = Path(tmp) / f"{how}.iid"
            seconds, output = _build(image, context=context(changed), no_cache=no_cache, iidfile=iidfile, **kw)
            ran, cached = steps(output)
            made = iidfile.read_text().strip() if iidfile.is_file() else None
            return Build(how=how, seconds=seconds, what=what, steps_run=ran, steps_cached=cached, image_id=made)

        if not fresh:
            return [build("unchanged" if image.source_file else "cached", "rebuilt from BuildKit's cache, nothing "
                          "changed")]
        if not image.source_file:
            return [build("cold", "no layer cache", no_cache=True)]
        return [build("cold", "no layer cache", no_cache=True),
                build("cached", f"warm cache, after a change to {image.source_file}", changed=True),
                build("unchanged", "the recipe as written again, from the cache")]


VERTEX_LINE = re.compile(r"^#(\d+) (\[[^\]]+\] .*?)\s*$")
ERROR_LINE = re.compile(r"^#(\d+) ERROR: (.*)$")
BASE_METADATA = re.compile(r"^\[internal\] load metadata for (\S+?):?$")
UNPULLABLE = ("failed to do request", "no such host", "pull access denied", "manifest unknown", "unauthorized",
              "i/o timeout", "connection refused", "not found")


def failure(output: str) -> tuple[str, str]:
    """Why a build failed, in BuildKit's words (its last error), and what to do: a base image that cannot
    be pulled from here (no registry, no such tag) says which, and how to bring it."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    names = {m.group(1): m.group(2) for m in map(VERTEX_LINE.match, lines) if m}
    errors = [m for m in map(ERROR_LINE.match, lines) if m]
    solve = [line for line in lines if line.startswith(("failed to solve", "error:", "ERROR:"))]
    cause = (solve or [e.group(2) for e in errors] or lines[-1:] or ["no output"])[-1]
    failed = BASE_METADATA.match(names.get(errors[-1].group(1), "")) if errors else None
    if failed and any(word in errors[-1].group(2) for word in UNPULLABLE):
        return cause, (f"the base image {failed.group(1)} cannot be pulled here: `docker load` it "
                       "(dockerfiles/README.md), or run where its registry is reachable")
    return cause, "fix the Dockerfile or its build args; base images must be pullable or present"


def steps(output: str) -> tuple[tuple[str, ...], int]:
    """From BuildKit's plain progress: the recipe's steps that ran (`[stage-0 3/4] RUN …`, FROM lines left
    out), and how many came from the cache."""
    names: dict[str, str] = {}
    status: dict[str, str] = {}
    for line in output.splitlines():
        begun = STEP_LINE.match(line)
        if begun and not begun.group(3).startswith("FROM "):
            instruction = " ".join(t for t in begun.group(3).split() if not t.startswith("--mount="))
            text = f"[{begun.group(2)}] {instruction}"
            names.setdefault(begun.group(1), text if len(text) <= STEP_MAX else text[:STEP_MAX - 1] + "…")
            continue
        ended = STATUS_LINE.match(line)
        if ended:
            status[ended.group(1)] = ended.group(2)
    ran = tuple(name for vertex, name in names.items() if status.get(vertex) == "DONE")
    return ran, sum(1 for vertex in names if status.get(vertex) == "CACHED")


def build_dockerfile(image: Image, *, clients: list[str] | None = None, run: Callable[..., subprocess.CompletedProcess]
                     = subprocess.run, environ: Mapping[str, str] | None = None, log: Callable[[str], None] = print,
                     context: Path | None = None, no_cache: bool = False) -> float:
    """Build `image` from its Dockerfile (in `context`, a copy of its folder, when given); return the seconds
    it took. Raises BuildError."""
    return _build(image, clients=clients, run=run, environ=environ, log=log, context=context, no_cache=no_cache)[0]


def _build(image: Image, *, clients: list[str] | None, run: Callable[..., subprocess.CompletedProcess],
           environ: Mapping[str, str] | None, log: Callable[[str], None], context: Path | None,
           no_cache: bool, iidfile: Path | None = None) -> tuple[float, str]:
    """One build: the seconds it took and BuildKit's output."""
    environ = os.environ if environ is None else environ
    env = {**environ, "DOCKER_BUILDKIT": "1"}
    tried: list[str] = []
    for client in clients if clients is not None else docker_clients():
        cmd = build_command(client, image, context=context, no_cache=no_cache, environ=environ, iidfile=iidfile)
        log(f"Building {image.tag} from {Path(image.dockerfile or '').name} with {client} (BuildKit"
            + (", no layer cache)" if no_cache else ")"))
        start = time.monotonic()
        done = run(cmd, env=env, capture_output=True, text=True)
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode == 0:
            return time.monotonic() - start, output
        if done.returncode == 125 and "unknown flag" in output:  # an old client: no --build-arg etc.
            tried.append(f"{client}: {output.strip().splitlines()[0]}")
            continue
        if any(marker in output for marker in NO_BUILDKIT_MARKERS):
            tried.append(f"{client}: no BuildKit")
            continue
        tail = "\n".join(output.strip().splitlines()[-15:])
        cause, hint = failure(output)
        raise BuildError(f"building {image.tag} from {Path(image.dockerfile or '').name} failed: {cause}\n{tail}",
                         hint=hint)
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
