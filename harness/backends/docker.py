"""The Docker engine adapter: the only module that imports `docker`.

Containers are created detached, fed their files with put_archive (works for remote engines too),
watched against our own monotonic deadline (the SDK's timeouts are only HTTP read timeouts), killed
when it passes, and removed in a `finally` whatever happened, Ctrl-C included, unless kept.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import io
import json
import os
import platform
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from harness import files, redact
from harness.backends import dockerfile, hostfacts, imagearchive, images, logkeep
from harness.backends.base import (
    LABEL_CELL,
    LABEL_RUN,
    Backend,
    CannotRunHere,
    EngineFailure,
    Execution,
    ImageUnavailable,
    Job,
    Prepared,
)
from harness.errors import EngineUnavailable
from harness.incell import driver
from harness.model import IMAGE_PREFIX, Arch, GpuAccess, GpuMode, Image

CELL_ROOT = "/ewh"
CACHE_ROOT = "/ewh-cache"  # where a cell sees its shared download cache (a named volume)
# Who runs a cell's venv, install and probe: a user of its own, the same on every image (one that
# names no such user too: a uid needs no /etc/passwd entry), so the shared caches belong to it once.
# A high id: no image's own user, and none of a host's people, is likely to have it.
CELL_UID = CELL_GID = 10001
CELL_USER = f"{CELL_UID}:{CELL_GID}"
VIDEO_GID = "44"  # the video group of Ubuntu and L4T: it owns a Jetson's GPU device nodes
SCRATCH = "/tmp"  # the cell's own writable folder: a fresh volume, removed with the container
HOME = f"{SCRATCH}/ewh-home"
TMPDIR = f"{SCRATCH}/ewh-tmp"
OWNER_MARK = ".ewh-owner"  # in a cache volume: whose its files are, written once they all are
# Run as root, once per cache volume, by the harness (never a package): the volume's files become the
# cell user's (a volume older than unprivileged cells holds root's), then the mark says so.
OWN_VOLUME = (
    "import os, sys\n"
    "root, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
    "for top, dirs, files in os.walk(root):\n"
    "    for name in [top] + [os.path.join(top, n) for n in dirs + files]:\n"
    "        os.lchown(name, uid, gid)\n"
    "mark = os.path.join(root, sys.argv[4])\n"
    "with open(mark + '.tmp', 'w') as f:\n"
    "    f.write('%d:%d\\n' % (uid, gid))\n"
    "os.replace(mark + '.tmp', mark)\n"
)
OWNER_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER"]
READ_ONLY_REFUSED = "Read-only file system"  # what a process says when it writes to the read-only root
LABEL_CACHE = "edge-wheel-harness.cache"
LABEL_KEPT = "edge-wheel-harness.kept"  # a container kept for debugging (--keep): only `clean` removes it
POLL_SLICE = 1.0
ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException)


def engine_address(environ: Mapping[str, str] | None = None) -> str:
    """Which engine a client made from this environment talks to: DOCKER_HOST, else the docker CLI's
    current context (as docker.from_env follows it), else the default socket."""
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_HOST"):
        return environ["DOCKER_HOST"]
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
        if context is not None and context.Host:
            return str(context.Host)
    except Exception:  # noqa: BLE001 - no CLI configuration: the default socket
        pass
    return "unix:///var/run/docker.sock"


def connect(timeout: float = 5.0) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST (or the current docker context, or the default socket)
    names; EngineUnavailable if none answers. ssh:// engines go through OpenSSH (its config, agent and
    jump hosts), tcp:// ones take DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI does."""
    address = engine_address()
    try:
        client = docker.from_env(timeout=timeout, use_ssh_client=address.startswith("ssh://"))
        client.ping()
    except ENGINE_ERRORS as exc:
        raise EngineUnavailable(
            f"no Docker engine answered at {redact.url(address)} ({exc})",
            hint="start one (e.g. `dockerd &` or `systemctl start docker`) or set DOCKER_HOST",
        ) from None
    client.api.timeout = 600  # short only for the first answer: imports and logs can take minutes
    return client



def _tar(files: Mapping[str, bytes], root: str) -> bytes:
    """A tar of `files` (name → content, names may hold folders) under `root`, folders included."""
    buf = io.BytesIO()
    now = time.time()
    top = root.strip("/")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folders = {top} | {f"{top}/{parent}" for name in files
                           for parent in ("/".join(name.split("/")[:i]) for i in range(1, name.count("/") + 1))}
        for folder in sorted(f for f in folders if f):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _owned_folders(names: list[str], mode: int = 0o700) -> bytes:
    """A tar of empty folders that belong to the cell user (extracted as they are, owner included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, time.time()
            info.uid, info.gid = CELL_UID, CELL_GID
            tar.addfile(info)
    return buf.getvalue()


def _readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A lent file as every cell sees it: root's, readable by all (the cell user included), whatever
    its owner and mode on this machine."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o644
    return info


def _folder_tar(directory: str, spool: Any) -> None:
    """The files directly in `directory` (what pip's find-links sees), as a tar written to `spool`."""
    with tarfile.open(fileobj=spool, mode="w") as tar:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.is_file():
                tar.add(entry.path, arcname=entry.name, recursive=False, filter=_readable)
    spool.seek(0)


def _drain(pump: threading.Thread, keeper: logkeep.Keeper, stall: float = 60.0) -> None:
    """Wait for the log reader to reach the end of a cell's output: as long as it makes progress (a
    cell that printed hundreds of megabytes takes a while to read), but not past `stall` seconds
    without any."""
    seen, since = -1, time.monotonic()
    while pump.is_alive():
        pump.join(timeout=1.0)
        if keeper.fed != seen:
            seen, since = keeper.fed, time.monotonic()
        elif time.monotonic() - since > stall:
            return


class DockerBackend(Backend):
    name = "docker"
    root = CELL_ROOT
    inherits_environment = False  # a cell sees its image (ships_torch says whether the image's packages count)
    contains_cells = True  # each cell a container of its own, with its memory and process limits

    def __init__(self, client: docker.DockerClient | None = None, address: str | None = None) -> None:
        self.client = client or connect()
        self.address = address or engine_address()  # recorded in every result: which engine ran the cell
        # A unix socket is on this machine: its engine shares this machine's files, network and facts.
        # Anything else (ssh://, tcp://) may be another machine: its facts are asked of it, and a
        # wheelhouse served on this machine's loopback is copied in instead.
        self.local = self.address.startswith("unix://")
        self._lent: dict[str, str] = {}
        self._owned: set[str] = set()  # cache volumes known to be the cell user's
        self._writable: dict[str, str] = {}  # image tag → why its cells run with a writable root
        self.unremoved: list[str] = []  # containers of this run the engine failed to remove
        self._lending = threading.Lock()
        self._engine: dict[str, Any] | None = None

    @property
    def arch(self) -> Arch:
        """The engine machine's architecture (not necessarily this one's)."""
        machine = self.info().get("Architecture") or platform.machine()
        try:
            return Arch.native(machine)
        except ValueError:
            return Arch.native()

    @property
    def reaches_host_loopback(self) -> bool:
        """Cells on the host network reach this machine's 127.0.0.1 (a wheelhouse served there)."""
        return self.local

    # -- Backend -------------------------------------------------------------------------------
    def cell_path(self, mount_host_path: str, slot: str) -> str:
        return f"{CELL_ROOT}/mnt/{slot}"

    def info(self) -> dict[str, Any]:
        """The engine's `docker info` (architecture, runtimes, name, version …), asked once per backend;
        {} while it will not say (asked again next time)."""
        if self._engine is None:
            try:
                self._engine = dict(self.client.info())
            except ENGINE_ERRORS:
                return {}
        return self._engine

    def host_facts(self) -> hostfacts.HostFacts:
        """What the engine's machine is. A local engine's is this one; a remote engine's files are read
        through a container that is never started (an empty image, the engine's root bound read-only),
        and its commands are not run from here (nvidia-smi: its GPUs are not listed)."""
        info = self.info()
        if self.local:
            return hostfacts.detect(engine_info=info)
        machine = info.get("Architecture") or "unknown"
        with tempfile.TemporaryDirectory(prefix="ewh-engine-facts-") as root:
            said = self._engine_files(Path(root))

            def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
                raise OSError(f"not run on the remote engine's machine from here ({redact.url(self.address)})")

            facts = hostfacts.detect(root=Path(root), run=run, engine_info=info, machine=machine, read_binfmt=False)
        # the files were read from a copy here: name them as the engine's own
        sources = {k: v.replace(str(root), "engine:") for k, v in facts.sources.items()}
        return dataclasses.replace(facts, sources={**sources, "engine_facts": said})

    def _engine_files(self, root: Path) -> str:
        """Copy the files hostfacts reads from the engine's machine under `root`; says how it went."""
        wanted = {"etc/nv_tegra_release": "etc/nv_tegra_release",  # where on the engine → where hostfacts reads
                  "sys/firmware/devicetree/base/compatible": "proc/device-tree/compatible",
                  "usr/local/cuda/version.json": "usr/local/cuda/version.json",
                  "usr/local/cuda/version.txt": "usr/local/cuda/version.txt"}
        try:
            image = self._facts_image()
            reader = self.client.containers.create(image, ["/none"], labels={LABEL_RUN: "engine-facts"},
                                                   volumes={"/": {"bind": "/engine", "mode": "ro"}})
        except ENGINE_ERRORS as exc:
            return f"the engine's files could not be read ({exc})"
        try:
            for source, target in wanted.items():
                data = _engine_file(reader, source)
                if data is not None:
                    (root / target).parent.mkdir(parents=True, exist_ok=True)
                    (root / target).write_bytes(data)
        finally:
            self._remove(reader)
        return f"read from the engine's machine through {redact.url(self.address)}"

    def _facts_image(self) -> str:
        """An image with nothing in it (never started): enough for a container to read files through."""
        ref = f"{IMAGE_PREFIX}/engine-facts:empty"
        if not self.has_image(ref):
            with tempfile.TemporaryDirectory(prefix="ewh-facts-") as tmp:
                empty = Path(tmp) / "rootfs.tar"
                with tarfile.open(empty, "w"):
                    pass
                self.import_rootfs(empty, ref, arch=self.arch, changes=[])
        return ref

    def gpu_access(self, facts: hostfacts.HostFacts) -> GpuAccess:
        return hostfacts.gpu_access(facts)

    def can_run(self, arch: Arch) -> bool | None:
        """Whether this engine's machine runs `arch` images: natively, or under QEMU binfmt emulation;
        None where that cannot be read from here (a remote engine: the image is tried instead)."""
        if arch is self.arch:
            return True
        return hostfacts.binfmt_registered(arch, native=self.arch) if self.local else None

    def facts(self) -> dict[str, Any]:
        where = {"engine": "docker", "engine_host": redact.url(self.address), "engine_local": self.local}
        try:
            version = self.client.version()
        except ENGINE_ERRORS as exc:
            return {"arch": self.arch.value, **where, "engine_error": str(exc)}
        info = self.info()
        return {
            "arch": self.arch.value,
            "machine": info.get("Architecture") or platform.machine(),
            **where,
            "engine_name": info.get("Name"),  # the engine machine's host name
            "engine_id": info.get("ID"),
            "engine_version": version.get("Version"),
            "engine_api_version": version.get("ApiVersion"),
            "engine_os": info.get("OperatingSystem"),
            "runtimes": sorted((info.get("Runtimes") or {}).keys()),
        }

    def has_image(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineFailure(f"the Docker engine failed while looking for image {ref}: {exc}",
                                hint="`wheel-harness doctor` shows whether the engine answers; re-run") from None

    def prepare(self, image: Image) -> Prepared:
        """Make sure the image is there, and say what it is (its image id, size and layers).

        A local image is built once when missing. A Dockerfile image is (re)built every run
        (dockerfile.make): when missing, with no layer cache (and measured after a source change where
        the recipe names one); when there, from BuildKit's cache, which picks up edits in seconds; when
        such a rebuild fails (e.g. an offline device cannot reach the base image's registry) the image
        that exists is used. The engine failing on the way is an EngineFailure, never a traceback.
        """
        try:
            return self._prepare(image)
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"the Docker engine failed while preparing {image.tag}: {exc}") from None

    def _prepare(self, image: Image) -> Prepared:
        start = time.monotonic()
        how: str | None = None
        runs = self.can_run(image.arch)
        if runs is False:
            raise CannotRunHere(
                f"{image.arch.platform} cannot run on this {self.arch.platform} host: "
                "no QEMU binfmt emulation is registered",
                hint="apt-get install qemu-user-static binfmt-support (then update-binfmts --enable "
                     f"qemu-{image.arch.machine})",
            )
        if image.local_build and not self.has_image(image.tag):
            try:
                with tempfile.TemporaryDirectory(prefix="ewh-image-") as workdir:
                    images.build_local(image.local_build, image.arch, self, workdir=Path(workdir))
                how = "cold"
            except images.ImageBuildError as exc:
                raise ImageUnavailable(f"building {image.tag} failed: {exc}") from None
        builds: list = []
        if image.dockerfile:
            self._local_bases(image)
            existed = self.has_image(image.tag)
            try:
                builds = dockerfile.make(image, fresh=not existed)
                how = builds[0].how
            except dockerfile.BuildError as exc:
                if not existed:
                    raise ImageUnavailable(str(exc), hint=exc.hint) from None
        try:
            found = self.client.images.get(image.tag)
            identity = found.id
            self._drop_replaced(builds, identity)
        except docker.errors.ImageNotFound:
            hint = ("build it with `wheel-harness images build MATRIX` (or `nox -s images`)"
                    if image.local_build or image.dockerfile else
                    "pull it with `docker pull` on a machine that reaches its registry, or load it with `docker load`")
            raise ImageUnavailable(f"image {image.tag!r} for {image.name!r} is not in the engine", hint=hint) from None
        if runs is None:
            self._try_foreign(image)
        return Prepared(seconds=time.monotonic() - start, built=how, identity=identity, builds=tuple(builds),
                        size=found.attrs.get("Size"), layers=_layers(found))

    def _drop_replaced(self, builds: list, identity: str) -> None:
        """The image a measurement's cold build made, replaced by its cached build: removed, not left
        untagged (its layers below the source change stay, shared)."""
        for build in builds:
            if build.image_id and build.image_id != identity:
                try:
                    self.client.images.remove(build.image_id, noprune=False)
                except docker.errors.APIError:
                    pass  # in use, or gone already: an untagged image, nothing more

    def _local_bases(self, image: Image) -> None:
        """A recipe built on an image the harness makes itself (a build arg naming its tag, such as
        BASE=edge-wheel-harness/debian-bookworm:amd64): that image is made first when missing."""
        for _, value in image.build_args:
            base = images.local_recipe_of(value)
            if base is None or self.has_image(value):
                continue
            try:
                with tempfile.TemporaryDirectory(prefix="ewh-image-") as workdir:
                    images.build_local(*base, self, workdir=Path(workdir))
            except images.ImageBuildError as exc:
                raise ImageUnavailable(f"building {value}, the base of {image.tag}, failed: {exc}") from None

    def _try_foreign(self, image: Image) -> None:
        """On a remote engine, whether it runs a foreign-architecture image is learnt by trying."""
        try:
            self.client.containers.run(image.tag, [image.python, "-c", "pass"], remove=True,
                                       labels={LABEL_RUN: "arch-check"})
        except docker.errors.ContainerError as exc:
            raise CannotRunHere(
                f"{image.arch.platform} does not run on the engine's {self.arch.platform} machine "
                f"({redact.url(self.address)}): {str(exc.stderr or exc)[-200:]}",
                hint="install qemu-user-static and binfmt-support on the engine's machine, or run the "
                     "cell on a machine of that architecture") from None

    # -- folders lent to cells -------------------------------------------------------------------
    def _lend_folder(self, directory: str, image: Image) -> str:
        """A volume holding a copy of the files in `directory`, named by their content: made (filled
        through a container that is never started) the first time this content is lent, then reused."""
        # (with the mode its files get: a volume filled before they were all made readable is not reused)
        digest = files.digest({"files": files.folder_contents(directory), "mode": "0644"})[:16]
        name = f"{IMAGE_PREFIX}-files-{digest}"
        with self._lending:
            if digest in self._lent:
                return self._lent[digest]
            volume = self._volume(name, f"files-{digest}")
            filler = self.client.containers.create(image.tag, ["/none"], labels={LABEL_RUN: "lend-files"},
                                                   volumes={volume: {"bind": "/fill", "mode": "rw"}})
            try:
                try:
                    filler.get_archive("/fill/.ewh-complete")  # filled before (by this or another run)
                except docker.errors.NotFound:
                    with tempfile.TemporaryFile() as spool:
                        _folder_tar(directory, spool)
                        filler.put_archive("/fill", spool)
                    filler.put_archive("/fill", _tar({".ewh-complete": digest.encode()}, ""))
            finally:
                self._remove(filler)
            self._lent[digest] = volume
            return volume

    def _volume(self, name: str, label: str) -> str:
        """A labelled volume, made when missing; safe when cells race to make it."""
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            try:
                self.client.volumes.create(name=name, labels={LABEL_CACHE: label})
            except docker.errors.APIError:
                self.client.volumes.get(name)  # another cell made it first
        return name

    # -- shared download caches ------------------------------------------------------------------
    @staticmethod
    def volume_name(name: str) -> str:
        return f"{IMAGE_PREFIX}-cache-{name}"

    def cache_dir(self, name: str) -> str:
        return CACHE_ROOT

    def _cache_volume(self, name: str, image: Image) -> str:
        """The named volume of cache `name`, made (labelled) when missing, and the cell user's."""
        volume = self._volume(self.volume_name(name), name)
        with self._lending:
            if volume not in self._owned:
                if self._owner(volume, image) != CELL_USER:
                    self._own(volume, image)
                self._owned.add(volume)
        return volume

    def _owner(self, volume: str, image: Image) -> str | None:
        """Whose the volume's files are, as its mark says (read through a container never started)."""
        reader = self.client.containers.create(image.tag, ["/none"], labels={LABEL_RUN: "cache-owner"},
                                               volumes={volume: {"bind": "/fill", "mode": "ro"}})
        try:
            stream, _ = reader.get_archive(f"/fill/{OWNER_MARK}")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                mark = tar.extractfile(member) if member is not None and member.isfile() else None
                return mark.read().decode("utf-8", "replace").strip() if mark else None
        except docker.errors.NotFound:
            return None
        finally:
            self._remove(reader)

    def _own(self, volume: str, image: Image, timeout: float = 600.0) -> None:
        """Give every file of the volume to the cell user, once (the harness's own code, as root with
        only the capabilities that takes, no network); the mark it leaves says so to later runs."""
        owner = self.client.containers.create(
            image.tag, [image.python, "-c", OWN_VOLUME, "/fill", str(CELL_UID), str(CELL_GID), OWNER_MARK],
            user="0:0", labels={LABEL_RUN: "cache-owner"}, volumes={volume: {"bind": "/fill", "mode": "rw"}},
            cap_drop=["ALL"], cap_add=OWNER_CAPABILITIES, security_opt=["no-new-privileges"], network_mode="none",
            init=True)
        try:
            owner.start()
            if self._wait(owner, time.monotonic() + timeout):
                raise EngineFailure(f"giving the cache volume {volume} to the cell user took over {timeout:g} s",
                                    hint="`wheel-harness clean --caches` empties the caches; run again")
            owner.reload()
            code = owner.attrs.get("State", {}).get("ExitCode")
            if code != 0:
                said = owner.logs(stdout=True, stderr=True).decode("utf-8", "replace").strip().splitlines()
                raise EngineFailure(f"giving the cache volume {volume} to the cell user failed (exit {code}): "
                                    f"{said[-1] if said else 'no output'}",
                                    hint="`wheel-harness clean --caches` empties the caches; run again")
        finally:
            self._remove(owner)

    def clear_caches(self, names: tuple[str, ...] | None = None) -> list[str]:
        removed = []
        try:
            for volume in self.client.volumes.list(filters={"label": LABEL_CACHE}):
                if names is not None and volume.attrs.get("Labels", {}).get(LABEL_CACHE) not in names:
                    continue
                volume.remove(force=True)
                removed.append(volume.name)
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"removing the cache volumes failed: {exc}",
                                hint="a running cell may still use one: wait for it, or `wheel-harness clean` first"
                                ) from None
        return removed

    def import_rootfs(self, tarball: Path, ref: str, *, arch: Arch, changes: list[str]) -> None:
        """A root filesystem tarball becomes an image (the ImageStore that harness.backends.images builds into).

        Loaded as a one-layer image archive rather than `docker import`ed, because import records the
        host's architecture whatever the rootfs holds; the archive's config names the real one.
        """
        archive = tarball.with_suffix(".image.tar")
        try:
            imagearchive.write_image_archive(tarball, archive, ref, arch=arch, changes=changes)
            with archive.open("rb") as fh:
                self.client.images.load(fh)
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"loading {tarball.name} as {ref} failed: {exc}") from None
        finally:
            archive.unlink(missing_ok=True)
        if not self.has_image(ref):
            raise EngineFailure(f"the engine accepted {tarball.name} but has no image {ref} afterwards")

    def execute(self, job: Job, *, cancel: threading.Event | None = None,
                output: Callable[[str], None] | None = None) -> Execution:
        """The job in a container of its own, as the cell user, with its limits, its root filesystem
        read-only. An image that cannot run so (the engine refuses it, or the image's own start-up
        writes to it) runs its cells again with a writable root, and their results say so."""
        why = self._writable.get(job.image.tag)
        if why is None:
            try:
                execution = self._execute(job, read_only=True, cancel=cancel, output=output)
                why = _needs_writable_root(execution)
                if why is None:
                    return execution
                if execution.kept:  # the attempt that could not run is not the one to look at
                    self._remove(self.client.containers.get(execution.kept))
            except _ReadOnlyRefused as exc:
                why = f"the engine refused it ({exc})"
            self._writable[job.image.tag] = why
        execution = self._execute(job, read_only=False, cancel=cancel, output=output)
        note = f"ran with a writable root filesystem: the image cannot run read-only ({why})"
        return dataclasses.replace(execution, notes=(*execution.notes, note))

    def _execute(self, job: Job, *, read_only: bool, cancel: threading.Event | None,
                 output: Callable[[str], None] | None) -> Execution:
        timings: dict[str, float] = {}
        container = None
        started = False  # a container that never started is removed, even when kept
        argv = [job.image.python, *(f"{CELL_ROOT}/{a}" if a in job.files else a for a in job.argv)]
        try:
            volumes = {m.host: {"bind": m.cell, "mode": "ro"} for m in job.mounts if m.engine_side}
            lent_files: dict[str, bytes] = {}
            for m in job.mounts:
                if m.engine_side:
                    continue
                if os.path.isdir(m.host):  # a wheelhouse: a volume holding a copy, made once per content
                    volumes[self._lend_folder(m.host, job.image)] = {"bind": m.cell, "mode": "ro"}
                else:  # a CA bundle: copied in beside the cell's own files
                    lent_files[m.cell] = Path(m.host).read_bytes()
            if job.cache:
                volumes[self._cache_volume(job.cache, job.image)] = {"bind": CACHE_ROOT, "mode": "rw"}
            limits = {"mem_limit": job.memory, "memswap_limit": job.memory} if job.memory else {}
            start = time.monotonic()  # the start: from here (lending the folders above is not the cell's start)
            if job.processes:
                limits["pids_limit"] = job.processes
            container = self.client.containers.create(
                job.image.tag,
                command=argv,
                labels={**job.labels, **({LABEL_KEPT: "1"} if job.keep else {})},
                init=True,
                detach=True,
                working_dir=SCRATCH,
                volumes=volumes,
                # The cell's own files and its scratch folder are fresh volumes (removed with it): the
                # files are put there before it starts, which a read-only root would refuse.
                mounts=[docker.types.Mount(target=CELL_ROOT, source=None, type="volume"),
                        docker.types.Mount(target=SCRATCH, source=None, type="volume")],
                read_only=read_only,
                # least privilege: pip, uv and the probe need no capability (measured: venv, install, import)
                # and no root: the cell user owns only its scratch folder and the shared cache
                user=CELL_USER,
                environment={"HOME": HOME, "TMPDIR": TMPDIR, "USER": "ewh-cell", "LOGNAME": "ewh-cell"},
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                # A bridge network cannot reach the host's 127.0.0.1; an index served there needs the host's.
                **({"network_mode": "host"} if job.host_network else {}),
                **({"network_mode": "none"} if job.no_network and not job.host_network else {}),
                **limits,
                # the engine keeps at most this much of a cell's output on its disk (the harness reads it
                # as it is written, and keeps its head and tail: harness.backends.logkeep)
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "64m", "max-file": "2"}),
                **self.gpu_options(job.gpu),
            )
            cell_files = dict(job.files)
            for path, data in lent_files.items():
                if not path.startswith(CELL_ROOT + "/"):
                    raise EngineFailure(f"cannot lend {path}: files are lent under {CELL_ROOT}")
                cell_files[path[len(CELL_ROOT) + 1:]] = data
            container.put_archive(CELL_ROOT, _tar(cell_files, ""))  # root's: the cell reads, never changes them
            container.put_archive(SCRATCH, _owned_folders([Path(HOME).name, Path(TMPDIR).name]))
            try:
                container.start()
            except docker.errors.APIError as exc:
                if read_only and "read-only" in str(exc).lower():
                    raise _ReadOnlyRefused(exc.explanation or str(exc)) from None
                raise
            started = True
            timings["container_start"] = time.monotonic() - start
            keeper = logkeep.Keeper()
            pump = self._follow(container, keeper, output)
            run_start = time.monotonic()
            deadline = run_start + job.timeout
            timed_out = self._wait(container, deadline, cancel)
            timings["run"] = time.monotonic() - run_start
            container.reload()
            state = container.attrs.get("State", {})
            _drain(pump, keeper)
            if pump.is_alive() or not getattr(pump, "complete", False):
                keeper = logkeep.Keeper()  # the stream broke off: read the log again, as the engine kept it
                for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=False):
                    keeper.feed_bytes(chunk)
            log = keeper.text()
            return Execution(
                log=log,
                exit_code=None if timed_out else state.get("ExitCode"),
                timed_out=timed_out,
                oom_killed=bool(state.get("OOMKilled")),
                timings=timings,
                kept=container.id[:12] if job.keep else None,
                error=state.get("Error") or None,
            )
        except docker.errors.ImageNotFound as exc:
            raise ImageUnavailable(f"image {job.image.tag!r} vanished from the engine during the run: "
                                   f"{exc.explanation}",
                                   hint="something removed it while the run went on (a prune, `docker rmi`, "
                                        "another runner's clean-up): run again, and keep image clean-ups away "
                                        "from running matrices") from None
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"the Docker engine failed for {job.image.tag}: {exc}") from None
        finally:
            if container is not None and not (job.keep and started):
                try:
                    self._remove(container)
                except ENGINE_ERRORS:
                    self.unremoved.append(container.id)  # the engine is gone: removed when it is back

    def tidy(self, run_id: str | None = None) -> list[str]:
        """What runs left behind that is certainly dead: this run's containers the engine could not
        remove when it failed, and exited, not kept containers of any earlier run (the engine stopped
        under them). A running container may belong to a run still going on: never touched."""
        removed = []
        try:
            for cid in list(self.unremoved):
                try:
                    self._remove(self.client.containers.get(cid))
                except docker.errors.NotFound:
                    pass
                self.unremoved.remove(cid)
                removed.append(cid[:12])
            for container in self._listed({"label": LABEL_RUN, "status": "exited"}):
                if LABEL_KEPT not in container.labels and container.labels.get(LABEL_RUN) != run_id:
                    self._remove(container)
                    removed.append(f"{container.short_id} {container.labels.get(LABEL_CELL, '?')}")
        except ENGINE_ERRORS:
            pass  # still gone: said by the caller
        return removed

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def gpu_options(mode: GpuMode) -> dict[str, Any]:
        """How a container gets the GPU: Jetson's NVIDIA hook refuses device requests and wants the
        nvidia runtime; x86 and SBSA hosts take a GPU device request; anything else gets none. On a
        Jetson the GPU's device nodes are the video group's (mode 0660): the cell user joins it."""
        mode = GpuMode(mode)  # ValueError for a mode that is none of these
        if mode is GpuMode.NVIDIA_RUNTIME:
            return {"runtime": "nvidia", "group_add": [VIDEO_GID]}
        if mode is GpuMode.DEVICE_REQUEST:
            return {"device_requests": [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]}
        return {}

    def _wait(self, container: Any, deadline: float, cancel: threading.Event | None = None) -> bool:
        """Poll in short slices against our own deadline; kill the container when it passes (True), or
        when `cancel` is set (KeyboardInterrupt, after the kill)."""
        while True:
            left = deadline - time.monotonic()
            stop = cancel is not None and cancel.is_set()
            if left <= 0 or stop:
                try:
                    container.kill()
                except docker.errors.APIError:
                    pass  # it exited between our poll and the kill
                container.wait(timeout=30)
                if stop:
                    raise KeyboardInterrupt
                return True
            try:
                container.wait(timeout=max(0.1, min(POLL_SLICE, left)))
                return False
            except requests.RequestException:
                continue

    @staticmethod
    def _follow(container: Any, keeper: logkeep.Keeper, output: Callable[[str], None] | None) -> threading.Thread:
        """Read the cell's log as it is written into `keeper` (and hand it to `output`, for progress),
        in a daemon thread that ends with the container; `thread.complete` says it read to the end."""

        def pump() -> None:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            try:
                for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
                    text = decoder.decode(chunk)
                    keeper.feed(text)
                    if output is not None:
                        output(text)
                keeper.feed(decoder.decode(b"", final=True))
                thread.complete = True  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - the log is read again from the engine after the run
                return

        thread = threading.Thread(target=pump, name=f"log-{container.short_id}", daemon=True)
        thread.complete = False  # type: ignore[attr-defined]
        thread.start()
        return thread

    @staticmethod
    def _remove(container: Any) -> None:
        """Remove a container, forced; gone already, or being removed by someone else, is done too
        (e.g. `wheel-harness clean` from another shell): a failing cell stays a result."""
        try:
            container.remove(force=True, v=True)  # v: its anonymous volumes (the cell's files, its scratch) too
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or "already in progress" not in str(exc):
                raise

    def _listed(self, filters: dict[str, Any]) -> list[Any]:
        """The containers matching `filters`, those removed while being listed left out: docker-py
        lists, then inspects each, and by default raises NotFound for one another run (or `clean` in
        another shell) removed in between."""
        return self.client.containers.list(all=True, filters=filters, ignore_removed=True)

    def leftovers(self, run_id: str | None = None) -> list[Any]:
        label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
        try:
            return self._listed({"label": label})
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineFailure(f"the Docker engine failed while listing the harness's containers: {exc}") from None

    def clean(self, run_id: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove the harness's containers (of one run; or only those created more than `older_than`
        seconds ago: on a shared runner, a younger one may belong to a run still going on)."""
        removed = []
        now = time.time()
        try:
            for container in self.leftovers(run_id):
                if older_than is not None and now - _created(container.attrs.get("Created")) < older_than:
                    continue
                self._remove(container)
                removed.append(f"{container.short_id} {container.labels.get(LABEL_CELL, '?')}")
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"removing leftover containers failed: {exc}") from None
        return removed

    def trim_caches(self, limit: int, names: tuple[str, ...] | None = None) -> list[str]:
        """Remove shared cache volumes (all, or those named), oldest first, until they hold at most
        `limit` bytes together; a volume a running cell uses is left alone (and said)."""
        try:
            volumes = [v for v in self.client.df().get("Volumes") or ()
                       if LABEL_CACHE in (v.get("Labels") or {})
                       and (names is None or (v.get("Labels") or {}).get(LABEL_CACHE) in names)]
        except ENGINE_ERRORS as exc:
            raise EngineFailure(f"asking the engine for its volumes' sizes failed: {exc}") from None
        size = {v["Name"]: max(0, int((v.get("UsageData") or {}).get("Size") or 0)) for v in volumes}
        total = sum(size.values())
        out = []
        for volume in sorted(volumes, key=lambda v: (_created(v.get("CreatedAt")), v["Name"])):
            if total <= limit:
                break
            try:
                self.client.volumes.get(volume["Name"]).remove()
            except docker.errors.APIError as exc:
                out.append(f"kept {volume['Name']} ({size[volume['Name']]} bytes): in use ({exc.explanation})")
                continue
            total -= size[volume["Name"]]
            out.append(f"removed {volume['Name']} ({size[volume['Name']]} bytes)")
        return out

    def remove_images(self, keep: set[str]) -> list[str]:
        """Remove the images the harness built (tagged edge-wheel-harness/…) whose tag is not in `keep`."""
        removed = []
        for image in self.client.images.list(name=f"{IMAGE_PREFIX}/*"):
            for tag in image.tags:
                if tag.startswith(f"{IMAGE_PREFIX}/") and tag not in keep:
                    try:
                        self.client.images.remove(tag)
                        removed.append(tag)
                    except docker.errors.APIError as exc:
                        removed.append(f"kept {tag}: {exc.explanation}")
        return removed


def _layers(image: Any) -> tuple[dict[str, Any], ...]:
    """The image's layers that hold content, base first: their size and the instruction that made them."""
    try:
        history = image.history()
    except ENGINE_ERRORS:
        return ()
    layers = []
    for step in reversed(history or []):
        size = step.get("Size") or 0
        if size > 0:
            made = " ".join(str(step.get("CreatedBy") or "").split()).replace("/bin/sh -c #(nop) ", "")
            layers.append({"size": size, "created_by": made[:160]})
    return tuple(layers)


class _ReadOnlyRefused(Exception):
    """The engine would not start the container with a read-only root filesystem."""


def _needs_writable_root(execution: Execution) -> str | None:
    """Why a cell run read-only must run again with a writable root: its driver never began, and
    something said it could not write to the read-only root (the image's own start-up); else None."""
    if f'{driver.MARKER}{{"event": "begin"' in execution.log:
        return None
    said = next((line.strip() for line in execution.log.splitlines() if READ_ONLY_REFUSED in line), None)
    return f"its start said: {said[:200]}" if said else None


def _created(text: str | None) -> float:
    """An engine timestamp (`2026-11-26T21:40:03.123456789Z`) as epoch seconds; 0 when unreadable."""
    import datetime as dt

    if not text:
        return 0.0
    stamp = str(text).replace("Z", "+00:00")
    head, dot, rest = stamp.partition(".")
    if dot:  # nanoseconds: keep microseconds for fromisoformat
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        stamp = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        return dt.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def _path_stat(reader: Any, path: str) -> dict[str, Any] | None:
    """What the engine says a path in a container is (size, mode, link target), without its content: a
    HEAD request on the archive endpoint (a GET of a folder would send the whole tree)."""
    api = reader.client.api
    res = api.head(api._url("/containers/{0}/archive", reader.id), params={"path": path})
    if res.status_code == 404:
        return None
    api._raise_for_status(res)
    header = res.headers.get("X-Docker-Container-Path-Stat")
    return json.loads(base64.b64decode(header)) if header else None


SYMLINK = 1 << 27  # Go's os.ModeSymlink, as the engine reports a path's mode


def _engine_file(reader: Any, path: str, hops: int = 8) -> bytes | None:
    """A file of the engine's machine, read through `reader` (a container with the engine's root at
    /engine). Symlinks are followed by hand: the engine would resolve an absolute one inside the
    container (/usr/local/cuda → /etc/alternatives/cuda → /usr/local/cuda-12.6 on a Jetson)."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    try:
        while parts:
            here = "/".join(done + [parts[0]])
            stat = _path_stat(reader, f"/engine/{here}")
            if stat is None:
                return None
            if int(stat.get("mode") or 0) & SYMLINK:
                hops -= 1
                if hops < 0:
                    return None
                link = str(stat.get("linkTarget") or "")
                base = [] if link.startswith("/") else done
                parts = [p for p in "/".join(base + [link]).split("/") if p] + parts[1:]
                done = []
                continue
            done.append(parts.pop(0))
        stream, _ = reader.get_archive("/engine/" + "/".join(done))
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member is not None and member.isfile() else None
            return extracted.read() if extracted else None
    except (docker.errors.APIError, requests.RequestException, tarfile.TarError, ValueError):
        return None
