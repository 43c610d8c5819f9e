"""A cell runs untrusted code (a source distribution's build, a package's import): what such code
cannot do, provoked for real in containers — a build that forks without end, a package that writes
outside its venv, one that looks for the host's files — and how a kept cell's container is set up
(`docker inspect`). Each records itself in the fault tally (tests/faults.py; `nox -s faults`)."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
from faults import CANARY
from harness_cli import cli
from wheels import AMD64_IMAGE, make_sdist, make_wheel

from harness.backends import docker as docker_backend_module
from harness.backends.base import LABEL_CELL, LABEL_RUN
from harness.matrix import reader
from harness.model import Verdict
from harness.run import job as job_mod
from harness.run import runner, schedule
from harness.run.options import RunOptions, new_run_id

pytestmark = pytest.mark.docker


@pytest.fixture
def namespace(docker_backend):
    """A shared-cache namespace of this test's own, removed afterwards."""
    name = f"test-{secrets.token_hex(3)}-"
    yield name
    prefix = docker_backend.volume_name(name)
    for volume in docker_backend.client.volumes.list(filters={"label": "edge-wheel-harness.cache"}):
        if volume.name.startswith(prefix):
            volume.remove(force=True)


def harness_containers(client, run_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}, ignore_removed=True)


def anonymous_volumes(client) -> set[str]:
    """The engine's volumes that no one named (a container's own, removed with it)."""
    return {v.name for v in client.volumes.list() if not v.attrs.get("Labels") and len(v.name) == 64}


def sdist_matrix(tmp_path: Path, name: str, setup_extra: str, module: str = "X = 1\n", *,
                 include: str = "", pip_args: str = '"--no-build-isolation"') -> Path:
    """A matrix of one cell installing a local sdist whose setup.py runs `setup_extra` first (setuptools
    comes from the venv: bookworm's Python 3.11 venvs carry it, so no index is needed)."""
    wheelhouse = tmp_path / "wheels"
    make_sdist(wheelhouse, name, "1.0", module, setup_extra=setup_extra)
    path = tmp_path / f"{name}.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.local]\nfind_links = ["{wheelhouse}"]\nno_index = true\n'
                    f'pip_args = [{pip_args}]\n'
                    f'[packages.p]\nrequirements = ["{name}"]\nmodules = ["{name}"]\n'
                    f'[matrix]\ntimeout = 600\n{include}')
    return path


# -- a build that forks without end -----------------------------------------------------------------

# A fork bomb in a setup.py: it starts processes (that sleep) and, when the kernel refuses one, tries
# again, without end. A safety cap (far above the test's limit) keeps it from taking this machine down
# should the limit ever fail: then the cell sits at its deadline with the cap's processes instead.
FORK_BOMB = """
import os, time
made = 0
while True:
    if made < 400:
        try:
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
            made += 1
        except OSError:
            pass  # the limit: try again, without end
    else:
        time.sleep(0.01)
"""


class CellProcesses:
    """Counts, on this machine, the processes in a container's cgroup while a run goes on (the most
    seen at once), and how long starting a process here takes meanwhile (the host stays usable)."""

    def __init__(self, client, run_id: str) -> None:
        self.client, self.run_id = client, run_id
        self.most = 0
        self.spawns: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        cid = None
        while not self.stop.is_set():
            if cid is None:
                found = harness_containers(self.client, self.run_id)
                cid = found[0].id if found else None
            if cid is not None:
                self.most = max(self.most, self.count(cid))
            began = time.monotonic()
            subprocess.run(["true"], check=True)  # EAGAIN here would be the host's process table full
            self.spawns.append(time.monotonic() - began)
            time.sleep(0.1)

    @staticmethod
    def count(cid: str) -> int:
        found = 0
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                found += cid in Path(f"/proc/{pid}/cgroup").read_text()
            except OSError:
                continue
        return found

    def __enter__(self) -> CellProcesses:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_a_build_that_forks_without_end_stops_at_the_process_limit_with_its_verdict(docker_backend, bookworm,
                                                                                   tmp_path, fault):
    m = reader.load(sdist_matrix(tmp_path, "forker", FORK_BOMB, include=(
        '[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "local"\npackages = "p"\nprocesses = 64\n')))
    opts = RunOptions(run_id=new_run_id(), shared_caches=False)
    volumes = anonymous_volumes(docker_backend.client)
    with CellProcesses(docker_backend.client, opts.run_id) as seen:
        [result] = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                    log=lambda _: None)
    assert result.verdict is Verdict.CRASHED, (result.evidence, result.hint)  # not `timeout`: stopped at once
    assert result.evidence[0].startswith("the install hit the cell's limit of 64 processes (the kernel refused ")
    assert "raise `processes` in the matrix or the include, or --processes" in result.hint
    assert result.cell["processes"] == 64
    install = next(p for p in result.phases if p["phase"] == "install")
    assert install["status"] == "failed" and install["signal"] == "SIGKILL"
    assert [p["status"] for p in result.phases if p["phase"] == "probe"] == ["skipped"]
    assert 0 < seen.most <= 64, seen.most  # never more processes than the limit, seen from this machine
    assert seen.spawns  # this machine kept starting processes all along
    assert harness_containers(docker_backend.client, opts.run_id) == []
    assert anonymous_volumes(docker_backend.client) <= volumes  # the cell's own volumes went with it
    print(result.timings, f"install phase: {install['seconds']:.1f} s; the cell: {result.timings['total']:.1f} s; "
          f"slowest process start on the host meanwhile: {max(seen.spawns):.3f} s")


# -- a package that writes outside its venv -------------------------------------------------------

# Run by the package's setup.py (as the install builds it) and again when it is imported: it tries each
# place and prints what happened, one line each time (pip -v shows a build's output).
SCRIBBLE = """
import errno, json, os, sysconfig

def scribble(when):
    places = {
        "the image's site-packages": "/usr/lib/python3/dist-packages/ewh-scribble.pth",
        "the image's programs": "/usr/local/bin/ewh-scribble",
        "/etc": "/etc/ewh-scribble.conf",
        "root's home": "/root/.ewh-scribble",
        "/var/tmp": "/var/tmp/ewh-scribble",
        "the cell driver": "/ewh/cell.py",
        "the cell's files": "/ewh/ewh-scribble",
        "its venv": os.path.join(sysconfig.get_paths()["purelib"], "ewh-scribble.txt"),
        "its scratch folder": "/tmp/ewh-scribble-" + when,
        "its home": os.path.join(os.environ["HOME"], "ewh-scribble-" + when),
        "its temp folder": os.path.join(os.environ.get("TMPDIR", "/tmp"), "ewh-scribble-" + when),
        "the shared cache": "/ewh-cache/ewh-scribble-" + when,
    }
    said = {}
    for name, path in places.items():
        try:
            with open(path, "a") as f:
                f.write("scribbled\\n")
            said[name] = "written"
        except OSError as exc:
            said[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    print("SCRIBBLE " + json.dumps({"when": when, "uid": os.getuid(), "said": said}), flush=True)
"""
OUTSIDE = ("the image's site-packages", "the image's programs", "/etc", "root's home", "/var/tmp", "the cell driver",
           "the cell's files")
INSIDE = ("its venv", "its scratch folder", "its home", "its temp folder", "the shared cache")


def scribbles(log: str) -> dict[str, dict]:
    lines = [json.loads(line.strip()[len("SCRIBBLE "):]) for line in log.splitlines()
             if line.strip().startswith("SCRIBBLE {")]  # as the build and the import printed them
    return {said["when"]: said for said in lines}


def test_a_package_cannot_write_outside_its_venv_and_leaves_the_image_untouched(docker_backend, bookworm,
                                                                               tmp_path, namespace, fault):
    m = reader.load(sdist_matrix(tmp_path, "scribbler", SCRIBBLE + "scribble('build')\n",
                                 SCRIBBLE + "scribble('import')\n", pip_args='"--no-build-isolation", "-v"'))
    opts = RunOptions(run_id=new_run_id(), keep=True, cache_namespace=namespace)
    [result] = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                log=lambda _: None)
    [kept] = harness_containers(docker_backend.client, opts.run_id)
    try:
        changed = {c["Path"] for c in kept.diff() or ()}
    finally:
        kept.remove(force=True, v=True)
    assert result.verdict is Verdict.PASS, (result.evidence, result.hint)
    said = scribbles((tmp_path / "results" / result.log).read_text())
    assert set(said) == {"build", "import"}  # the install's build, then the import, both tried
    for when in ("build", "import"):
        assert said[when]["uid"] != 0
        for place in OUTSIDE:
            assert said[when]["said"][place] in ("EROFS", "EACCES"), (when, place, said[when])
        for place in INSIDE:
            assert said[when]["said"][place] == "written", (when, place, said[when])
    # The image is as it was: the engine's own mount points and init are all that differ.
    assert changed <= {"/ewh", "/ewh-cache", "/usr", "/usr/sbin", "/usr/sbin/docker-init"}, changed


# -- a package that looks for the host's files ------------------------------------------------------

PEEK = """
import json, os

def peek(secret, socket):
    name = os.path.basename(secret)
    found = []
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
        found += [root for f in files if f == name]
    said = {"exists": os.path.exists(secret), "found": found,
            "sockets": [p for p in ("/var/run/docker.sock", "/run/docker.sock", socket) if os.path.exists(p)],
            "environment": sorted(k for k, v in os.environ.items() if "{canary}" in v)}
    try:
        with open(secret) as f:
            said["read"] = "{canary}" in f.read()
    except OSError as exc:
        said["read"] = type(exc).__name__
    print("PEEK " + json.dumps(said), flush=True)
"""


def test_a_package_cannot_see_the_hosts_files_its_engine_or_its_environment(docker_backend, bookworm, tmp_path,
                                                                            fault):
    secret = tmp_path / "host-only" / f"secret-{secrets.token_hex(4)}.txt"
    secret.parent.mkdir()
    secret.write_text(f"token={CANARY}\n")
    socket = docker_backend.address.removeprefix("unix://")
    code = PEEK.replace("{canary}", CANARY) + f"peek({str(secret)!r}, {socket!r})\n"
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "peeker", "1.0", {"peeker.py": code})
    path = tmp_path / "peek.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.local]\nfind_links = ["{wheels}"]\nno_index = true\n'
                    '[packages.p]\nrequirements = ["peeker"]\nmodules = ["peeker"]\n')
    m = reader.load(path)
    opts = RunOptions(run_id=new_run_id(), shared_caches=False,
                      environ={**os.environ, "HOST_TOKEN": CANARY, "HTTPS_PROXY": ""})
    [result] = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                                log=lambda _: None)
    assert result.verdict is Verdict.PASS, (result.evidence, result.hint)
    [step] = [s for s in result.probe["imports"] if s["module"] == "peeker"]
    [line] = [msg["text"] for msg in step["messages"] if msg["text"].startswith("PEEK ")]
    said = json.loads(line[len("PEEK "):])
    assert said == {"exists": False, "found": [], "sockets": [], "environment": [], "read": "FileNotFoundError"}
    assert fault.secrets_in(tmp_path / "results") == 0
    assert harness_containers(docker_backend.client, opts.run_id) == []


# -- what `docker inspect` shows of a kept cell ------------------------------------------------------

def test_a_kept_cell_runs_as_a_user_read_only_within_its_process_limit_and_its_share_of_memory(
        docker_backend, bookworm, tmp_path, fault):
    wheels = tmp_path / "wheels"
    wheel = make_wheel(wheels, "tiny", "1.0", {"tiny.py": f"X = {secrets.token_hex(4)!r}\n"})
    wheel.chmod(0o600)  # this machine's owner only: lent to the cell user all the same
    path = tmp_path / "kept.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.local]\nfind_links = ["{wheels}"]\nno_index = true\n'
                    '[packages.a]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n'
                    '[packages.b]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n'
                    '[[matrix.include]]\nimage = "bookworm-amd64"\nindex = "local"\npackages = "b"\nprocesses = 300\n')
    volumes = anonymous_volumes(docker_backend.client)
    done = cli("run", path, "--no-plan", "--cold", "--keep", "--jobs", "2", "--results", tmp_path / "results",
               timeout=600)
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("Run "))
    kept = {c.labels[LABEL_CELL]: c.attrs for c in harness_containers(docker_backend.client, run_id)}
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(kept) == {"bookworm-amd64__local__a", "bookworm-amd64__local__b"}
        total = docker_backend.client.info()["MemTotal"]
        share = (total - max(1 << 30, total // 10)) // 2  # docs/explanation/cache.md: the host keeps max(1 GiB, 10 %)
        for cell, attrs in kept.items():
            host = attrs["HostConfig"]
            user = attrs["Config"]["User"]
            assert user and user.split(":")[0] not in ("0", "root"), user
            assert host["ReadonlyRootfs"] is True
            assert host["PidsLimit"] == (300 if cell.endswith("__b") else schedule.DEFAULT_PROCESSES)
            assert abs(host["Memory"] - share) < 1 << 20, (host["Memory"], share)  # the engine rounds to pages
            assert host["MemorySwap"] == host["Memory"]
            assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
            writable = sorted(mt["Destination"] for mt in attrs["Mounts"] if mt["RW"])
            assert writable == ["/ewh", "/tmp"], attrs["Mounts"]  # its own volumes (/ewh stays root's)
    finally:
        cleaned = cli("clean", "--run-id", run_id, timeout=120)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert harness_containers(docker_backend.client, run_id) == []
    assert anonymous_volumes(docker_backend.client) <= volumes


# -- the shared caches: the cell user's, once -------------------------------------------------------

def test_a_cache_volume_from_before_is_given_to_the_cell_user_once(docker_backend, bookworm, uv_wheel, tmp_path,
                                                                  namespace, fault, monkeypatch):
    # uv installed from the index variant into the shared cache, as where the harness's own uv cannot be
    # lent (an emulated image, a remote engine): the cell user must own what it writes there too
    monkeypatch.setattr(job_mod, "lent_uv", lambda cell, backend: [])
    client = docker_backend.client
    volume = docker_backend.volume_name(f"{namespace}linux-amd64-py3.11")
    client.volumes.create(name=volume, labels={"edge-wheel-harness.cache": f"{namespace}linux-amd64-py3.11"})
    # what a cell that ran as root left there: a cache folder and a file of root's
    client.containers.run(bookworm, ["sh", "-c", "mkdir -p /fill/pip/http && echo old > /fill/pip/http/old"],
                          volumes={volume: {"bind": "/fill", "mode": "rw"}}, remove=True)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tiny", "1.0", {"tiny.py": "X = 1\n"})
    shutil.copy(uv_wheel, wheels)  # uv cells install uv from their index variant, into the shared cache
    path = tmp_path / "cache.toml"
    path.write_text(f'{AMD64_IMAGE}[indexes.local]\nfind_links = ["{wheels}"]\nno_index = true\n'
                    '[packages.a]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n'
                    '[packages.b]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n'
                    '[matrix]\ninstallers = ["pip", "uv"]\n')
    m = reader.load(path)
    since = time.time()
    for _ in range(2):  # two runs: two backends, each asking the volume whose it is
        backend = docker_backend_module.DockerBackend(client=client, address=docker_backend.address)
        opts = RunOptions(run_id=new_run_id(), cache_namespace=namespace)
        results = runner.run_cells(m, list(m.cells), backend, opts, results_dir=tmp_path / "results",
                                   log=lambda _: None)
        assert {r.verdict for r in results} == {Verdict.PASS}, [(r.cell_id, r.evidence) for r in results]
    owners = client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "start", "label": f"{LABEL_RUN}=cache-owner"})
    assert sum(1 for _ in owners) == 1  # given once, by the first cell of the first run
    listing = client.containers.run(bookworm, ["sh", "-c", "stat -c '%u:%g %n' /fill /fill/pip/http/old; "
                                               "cat /fill/.ewh-owner; ls /fill"],
                                    volumes={volume: {"bind": "/fill", "mode": "ro"}}, remove=True).decode()
    lines = listing.splitlines()
    uid = f"{docker_backend_module.CELL_UID}:{docker_backend_module.CELL_GID}"
    assert lines[:3] == [f"{uid} /fill", f"{uid} /fill/pip/http/old", uid], listing
    assert {"pip", "uv", "tools"} <= set(lines[3:]), listing  # both installers wrote their caches there


# -- an image that cannot run read-only --------------------------------------------------------------

@pytest.fixture
def image_writing_at_start(docker_backend, bookworm):
    """An image whose entry point writes to a folder of its own before it runs anything (as some
    images' start-up scripts do): it cannot run with a read-only root."""
    tag = f"edge-wheel-harness/writes-at-start-{secrets.token_hex(3)}:amd64"
    script = b'#!/bin/sh\necho started >> /opt/state/started || exit 1\nexec "$@"\n'
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in (("opt/state/", None, 0o777), ("usr/local/bin/start", script, 0o755)):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    maker = docker_backend.client.containers.create(bookworm, ["true"])
    try:
        maker.put_archive("/", buf.getvalue())
        repo, version = tag.rsplit(":", 1)
        maker.commit(repository=repo, tag=version, changes=['ENTRYPOINT ["/usr/local/bin/start"]'])
    finally:
        maker.remove(force=True)
    yield tag
    docker_backend.client.images.remove(tag, force=True)


def test_an_image_that_cannot_run_read_only_runs_writable_and_the_result_says_so(docker_backend,
                                                                                 image_writing_at_start,
                                                                                 tmp_path, fault):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tiny", "1.0", {"tiny.py": "X = 1\n"})
    path = tmp_path / "writes.toml"
    path.write_text(f'[images.writes]\nref = "{image_writing_at_start}"\nplatform = "linux/amd64"\n'
                    f'[indexes.local]\nfind_links = ["{wheels}"]\nno_index = true\n'
                    '[packages.a]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n'
                    '[packages.b]\nrequirements = ["tiny"]\nmodules = ["tiny"]\n')
    m = reader.load(path)
    opts = RunOptions(run_id=new_run_id(), shared_caches=False)
    since = time.time()
    results = runner.run_cells(m, list(m.cells), docker_backend, opts, results_dir=tmp_path / "results",
                               log=lambda _: None)
    for result in results:
        assert result.verdict is Verdict.PASS, (result.evidence, result.hint)
        [note] = [n for n in result.notes if n.startswith("ran with a writable root filesystem")]
        assert note.startswith("ran with a writable root filesystem: the image cannot run read-only (its start "
                               "said: /usr/local/bin/start: ")
        assert note.endswith("Read-only file system)")
    starts = docker_backend.client.events(since=int(since), until=int(time.time()) + 1, decode=True, filters={
        "type": "container", "event": "start", "label": f"{LABEL_RUN}={opts.run_id}"})
    assert sum(1 for _ in starts) == 3  # read-only once; then writable, for both cells
    assert harness_containers(docker_backend.client, opts.run_id) == []
