"""Whole runs against another Docker engine, for real: a second engine on this machine reached through
its own socket, and the same engine reached over ssh (an sshd this test starts). Nothing is shared on
disk with the cells: no bind mount in any of them, the wheelhouse, the CA bundle, the served index and
the user's own check script reach them through the engine's API; the results say which engine ran
each cell, and the verdicts are the same as on the local engine.

Needs root (a second dockerd, an sshd, a network bridge of its own), as CI has."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import engines
import pytest
import trustme
from wheels import CHAIN_MODULES, TORCHAO_WITHOUT_QUANTIZATION, fixture_chain

from harness.backends.base import LABEL_RUN

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]


def need_root() -> None:
    engines.need_root("sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def second_engine(docker_backend, bookworm):
    """A second dockerd with its own socket, data, and network bridge, the bookworm image loaded into it."""
    need_root()
    engine = engines.SecondEngine()
    try:
        engine.start()
        engine.load(docker_backend.client, bookworm)
        yield engine.sock
    finally:
        engine.remove()


@pytest.fixture(scope="module")
def over_ssh(second_engine, tmp_path_factory):
    """The second engine behind an sshd on loopback: a key whose forced command is the engine's
    `docker system dial-stdio`, and an `ssh` on PATH that uses this test's own config."""
    home = tmp_path_factory.mktemp("ssh")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    forced = f'command="DOCKER_HOST=unix://{second_engine} docker system dial-stdio",no-pty,no-port-forwarding'
    (home / "authorized_keys").write_text(f"{forced} {(home / 'client.pub').read_text()}")
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nStrictModes no\nUsePAM no\n")
    (home / "ssh_config").write_text(
        f"Host *\n  IdentityFile {home / 'client'}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {home / "ssh_config"} "$@"\n')
    (bin_dir / "ssh").chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    sshd = subprocess.Popen([shutil.which("sshd"), "-D", "-e", "-f", str(home / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=(home / "sshd.log").open("wb"))
    env = {"DOCKER_HOST": f"ssh://root@127.0.0.1:{port}", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    try:
        for _ in range(30):
            if subprocess.run(["docker", "version"], env={**os.environ, **env}, capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        yield env
    finally:
        sshd.terminate()
        sshd.wait(timeout=30)


CHAIN_CHECK = """import torchao.quantization as q
model = object()
assert q.quantize_(model, None) is model, "quantize_ must hand the model back"
print("quantize_ hands the model back")
"""


def matrix_file(tmp_path: Path) -> Path:
    (tmp_path / "chain_check.py").write_text(CHAIN_CHECK)
    house = fixture_chain(tmp_path / "house")
    lan = fixture_chain(tmp_path / "lan", torchao_files=TORCHAO_WITHOUT_QUANTIZATION, torchao_version="0.1.0")
    path = tmp_path / "remote.toml"
    path.write_text(f"""
[matrix]
timeout = 600
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[indexes.house]
find_links = ["{house}"]
no_index = true
[indexes.lan]
serve = ["{lan}"]
no_index = true
[packages.chain]
requirements = ["torch", "torchao", "torchtune"]
modules = {CHAIN_MODULES}
checks = ["chain_check.py"]  # the user's own (the fixture torch has no tensors for the built-in checks)
""")
    return path


def run(matrix: Path, results: Path, env: dict[str, str], ca: Path) -> dict[str, dict]:
    """The whole run through the CLI, cells kept so their mounts can be looked at; records by cell."""
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(matrix), "--results", str(results),
                           "--keep", "--progress", "lines"], capture_output=True, text=True, timeout=1200, cwd=ROOT,
                          env={**os.environ, "PIP_CERT": str(ca), **env})
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # lan's cell is import-failed
    out = {}
    for path in (results / "remote").glob("*.json"):
        record = json.loads(path.read_text())
        out[record["cell_id"]] = record
    return out


def mounts_of_kept_cells(env: dict[str, str], records: dict[str, dict], monkeypatch) -> list[dict]:
    import docker

    with monkeypatch.context() as patch:
        patch.setenv("PATH", env.get("PATH", os.environ["PATH"]))  # this test's ssh, for the ssh engine
        client = docker.DockerClient(base_url=env["DOCKER_HOST"],
                                     use_ssh_client=env["DOCKER_HOST"].startswith("ssh"))
        found = []
        for record in records.values():
            kept = next(n.split(": ", 1)[1] for n in record["notes"] if n.startswith("kept for debugging"))
            container = client.containers.get(kept)
            found += container.attrs["Mounts"]
            container.remove(force=True)
        client.close()
    return found


@pytest.mark.slow
def test_whole_runs_on_another_engine_by_socket_and_over_ssh_need_nothing_shared_on_disk(
        docker_backend, second_engine, over_ssh, tmp_path, monkeypatch):
    matrix = matrix_file(tmp_path)
    ca = tmp_path / "corporate-ca.pem"
    if os.environ.get("PIP_CERT"):  # behind a corporate proxy: the bundle pip really needs
        shutil.copyfile(os.environ["PIP_CERT"], ca)
    else:  # a CA of our own: the cells reach only find-links and loopback indexes, it just has to be lent
        trustme.CA().cert_pem.write_to_path(str(ca))
    local_env = {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    socket_env = {"DOCKER_HOST": f"unix://{second_engine}"}
    runs = {}
    for name, env in (("local", local_env), ("socket", socket_env), ("ssh", over_ssh)):
        runs[name] = run(matrix, tmp_path / name, env, ca)
        mounts = mounts_of_kept_cells(env, runs[name], monkeypatch)
        assert mounts and {m["Type"] for m in mounts} == {"volume"}, mounts  # no bind mount in any cell
    verdicts = {name: {cell: r["verdict"] for cell, r in records.items()} for name, records in runs.items()}
    assert verdicts["local"] == {"bookworm-amd64__house__chain": "pass", "bookworm-amd64__lan__chain": "import-failed"}
    assert verdicts["socket"] == verdicts["ssh"] == verdicts["local"]
    # The user's check ran on every engine, copied in with the cell's files.
    for records in runs.values():
        [check] = records["bookworm-amd64__house__chain"]["checks"]
        assert (check["check"], check["outcome"]) == ("chain_check.py", "passed")
        assert check["output"] == ["quantize_ hands the model back"]

    # Each result says which engine ran it.
    hosts = {name: next(iter(records.values()))["host"] for name, records in runs.items()}
    assert hosts["socket"]["engine_host"] == f"unix://{second_engine}" and hosts["socket"]["engine_local"] is True
    assert hosts["ssh"]["engine_host"].startswith("ssh://***@127.0.0.1:") and hosts["ssh"]["engine_local"] is False
    assert hosts["local"]["engine_host"] == "unix:///var/run/docker.sock"
    # The remote engine's facts were read from its machine, not assumed from this one.
    assert hosts["ssh"]["platform"]["sources"]["engine_facts"].startswith("read from the engine's machine through")
    # A wheelhouse served on this machine's loopback is reached by a local engine's cells, copied in for ssh's.
    lan = {name: records["bookworm-amd64__lan__chain"] for name, records in runs.items()}
    assert lan["ssh"]["notes"][0].startswith("served wheelhouse copied into the cell as a find-links folder")
    assert not any(n.startswith("served wheelhouse copied") for n in lan["socket"]["notes"])
    # The local engine's and the second engine's results merge into one table: each cell twice, by host.
    merged = subprocess.run([sys.executable, "-m", "harness", "merge", str(tmp_path / "local"),
                             str(tmp_path / "socket"), "--results", str(tmp_path / "merged")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert merged.returncode == 0, merged.stderr
    rows = [line for line in (tmp_path / "merged" / "remote" / "README.md").read_text().splitlines()
            if line.startswith("| `")]
    assert [row.split(" |")[0].rstrip() for row in rows] == [
        f"| `bookworm-amd64__house__chain` on {hosts['local']['engine_name']}",
        f"| `bookworm-amd64__house__chain` on {hosts['local']['engine_name']} (unix://{second_engine})",
        f"| `bookworm-amd64__lan__chain` on {hosts['local']['engine_name']}",
        f"| `bookworm-amd64__lan__chain` on {hosts['local']['engine_name']} (unix://{second_engine})"]
    # Nothing left behind on either engine.
    for env in (local_env, socket_env):
        left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL_RUN}"], capture_output=True,
                              text=True, env={**os.environ, **env}).stdout.split()
        kept = {r["run_id"] for records in runs.values() for r in records.values()}
        assert not [c for c in left if c in kept]
