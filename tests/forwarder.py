"""A unix socket in front of the real engine's socket that a test can cut: each connection is relayed
byte for byte until `cut()`, after which every connection (open or new) is dropped mid-request, as an
engine that goes away while the harness talks to it."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path


def engine_socket() -> str | None:
    """The engine's unix socket path (DOCKER_HOST or the default), None for a TCP/SSH engine."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


class Forwarder:
    def __init__(self, target: str, path: Path) -> None:
        self.target, self.path = target, path
        self.dropped = 0  # requests cut off after cut()
        self._cut = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> Forwarder:
        self._listener.bind(str(self.path))
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()
        self._listener.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.recv(65536)  # the request arrives; the answer never does
                self.dropped += 1
                client.close()
                continue
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.target)
            with self._lock:
                self._open += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
