"""A wheelhouse served as a PEP 503 simple index on the host, for cells to install from.

For air-gapped Jetsons (a folder of wheels carried in on a disk) and for sharing downloads between
cells: one folder, one small HTTP server, every cell of the run points its `--index-url` at it.
The listing is read from the folder on every request, so wheels added while a run goes on are seen.

Each link carries the file's sha256 (pip checks it) and, for wheels and sdists that declare it, no
Requires-Python: pip reads that from the metadata it downloads.
"""

from __future__ import annotations

import html
import http.server
import re
import threading
import urllib.parse
from pathlib import Path

from harness.errors import HarnessError
from harness.files import file_sha256
from harness.plan.offers import project_of


def projects(directory: Path) -> dict[str, list[Path]]:
    """Distribution files in `directory` (not recursive) grouped by normalised project name."""
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        project = project_of(path.name) if path.is_file() else None
        if project:
            found.setdefault(project, []).append(path)
    return found


def _page(title: str, links: list[tuple[str, str]]) -> bytes:
    body = "\n".join(f'<a href="{html.escape(href)}">{html.escape(text)}</a><br>' for href, text in links)
    return (f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
            f"<title>{html.escape(title)}</title></head><body>\n{body}\n</body></html>\n").encode()


FILE_MAX_AGE = 3600  # seconds a cell's pip may keep a served file without asking again (the URL has the run's port)


class _Handler(http.server.BaseHTTPRequestHandler):
    directory: Path  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass  # the cells' own logs say what they fetched

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        try:
            if parts == ["simple"]:
                names = sorted(projects(self.directory))
                return self._send(200, _page("Simple index", [(f"{n}/", n) for n in names]))
            if len(parts) == 2 and parts[0] == "simple":
                wanted = re.sub(r"[-_.]+", "-", parts[1]).lower()
                files = projects(self.directory).get(wanted)
                if not files:
                    return self._send(404, b"not found\n", "text/plain")
                links = []
                for f in files:
                    st = f.stat()
                    links.append((f"../../files/{urllib.parse.quote(f.name)}#sha256="
                                  f"{file_sha256(f, st)}", f.name))
                return self._send(200, _page(f"Links for {wanted}", links))
            if len(parts) == 2 and parts[0] == "files" and project_of(parts[1]):
                target = self.directory / parts[1]
                if target.is_file():
                    # cacheable, as an index's files are: where pip caches plain HTTP (a --trusted-host), cells
                    # of the run share one download, and `lock --wheelhouse` finds the file there
                    return self._send(200, target.read_bytes(), "application/octet-stream",
                                      {"Cache-Control": f"max-age={FILE_MAX_AGE}",
                                       "ETag": f'"{file_sha256(target)}"'})
            return self._send(404, b"not found\n", "text/plain")
        except OSError as exc:
            return self._send(500, f"cannot read the wheelhouse: {exc}\n".encode(), "text/plain")


class WheelhouseServer:
    """`with WheelhouseServer(folder) as server: server.url` → `http://127.0.0.1:PORT/simple`."""

    def __init__(self, directory: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise HarnessError(f"wheelhouse {self.directory} is not a folder",
                               hint="create it and put wheels in it, or set `prefetch` to have the harness fill it")
        handler = type("WheelhouseHandler", (_Handler,), {"directory": self.directory})
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise HarnessError(f"cannot serve wheelhouse {self.directory} on {host}:{port}: {exc}",
                               hint="choose another port, or free this one") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="wheelhouse", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/simple"

    def __enter__(self) -> WheelhouseServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
