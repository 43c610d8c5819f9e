"""An engine that drops the connection while the harness looks for the cell's image (defect 3 of 2026-11-26):
the cell is an engine-error result, never a traceback. Runs everywhere, no engine needed: docker-py's own
client talks to a loopback server that accepts each connection and closes it unanswered. The same against a
real engine behind a forwarder that cuts it: tests/test_engine.py (Docker)."""

from __future__ import annotations

import socket
import threading

import docker

from harness.backends.docker import DockerBackend
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Verdict
from harness.run import runner
from harness.run.options import RunOptions, new_run_id


class Dropping:
    """A TCP server on loopback that reads each request and closes the connection without an answer."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.dropped = 0
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.dropped += 1

    def __enter__(self) -> Dropping:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()


def test_a_dropped_connection_while_looking_for_the_image_is_an_engine_error():
    cell = Cell(image=Image(name="bookworm-amd64", arch=Arch.AMD64, local_build="debian-bookworm"),
                index=IndexVariant(name="i"), packages=PackageSet(name="p", requirements=("edgeops",),
                                                                  modules=("edgeops",)))
    with Dropping() as engine:
        client = docker.DockerClient(base_url=engine.url, version="1.41", timeout=10)  # no request until used
        backend = DockerBackend(client, address=engine.url)
        result = runner.run_cell(cell, backend, RunOptions(run_id=new_run_id(), plan=False), matrix="m", host={})
    assert engine.dropped >= 1  # the request reached the engine's address and was cut off there
    assert result.verdict is Verdict.ENGINE_ERROR, result.evidence
    assert result.evidence[0].startswith("the Docker engine failed while looking for image "
                                         "edge-wheel-harness/debian-bookworm:amd64: ")
    assert "doctor" in result.hint
