"""A second Docker engine on this machine, for tests that need one to themselves (remote engines; an
engine that stops in the middle of a run): its own socket, data, exec root and network bridge — never
--bridge=none, which removes docker0, the first engine's bridge. Needs root, as CI has."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import under_ci


def need_root(*tools: str) -> None:
    """Skip without root and the tools, but FAIL under CI, where .ci/run provides them."""
    missing = [t for t in ("dockerd", *tools) if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        why = f"needs root and {', '.join(('dockerd', *tools))} (.ci/packages)"
        if under_ci():
            pytest.fail(f"CI and this test {why}", pytrace=False)
        pytest.skip(why)


class SecondEngine:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.base = Path(f"/tmp/ewh-e2-{self.tag}")  # short: unix socket paths are limited to 108 bytes
        self.base.mkdir()
        self.bridge = f"ewhbr{self.tag}"[:15]
        self.sock = self.base / "d.sock"
        self.address = f"unix://{self.sock}"
        self.daemon: subprocess.Popen | None = None
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"172.30.{int(self.tag[:2], 16) % 250}.1/24", "dev", self.bridge],
                       check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.address}

    def start(self) -> None:
        """Start dockerd (again: the same data, so what it held is there when it is back)."""
        log = (self.base / "dockerd.log").open("ab")
        self.daemon = subprocess.Popen(
            ["dockerd", "--host", self.address, "--data-root", str(self.base / "data"),
             "--exec-root", str(self.base / "x"), "--pidfile", str(self.base / "pid"), "--bridge", self.bridge,
             "--iptables=false", "--ip6tables=false"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        for _ in range(60):
            if subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(1)
        pytest.fail("the second dockerd did not answer: " + (self.base / "dockerd.log").read_text()[-2000:])

    def stop(self) -> None:
        """Stop dockerd as a service manager would (SIGTERM: it stops its containers and exits)."""
        if self.daemon is None:
            return
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.address)

    def load(self, first_client, ref: str) -> None:
        """Copy an image of the first engine into this one (no registry can be reached)."""
        second = self.client()
        second.images.load(b"".join(first_client.images.get(ref).save()))
        second.close()

    def remove(self) -> None:
        self.stop()
        subprocess.run(["ip", "link", "delete", self.bridge], check=False)
        # dockerd leaves its network namespace mounted under its exec-root: unmount before removing
        mounted = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                   if line.split()[1].startswith(str(self.base))]
        for point in sorted(mounted, reverse=True):
            subprocess.run(["umount", point], check=False)
        shutil.rmtree(self.base, ignore_errors=True)
