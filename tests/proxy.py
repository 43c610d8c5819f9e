"""A small recording HTTP proxy on the host's loopback, for tests of what goes through a proxy.

Every request is recorded (method, target, User-Agent). A GET for any host is relayed to one upstream
(e.g. a WheelhouseServer), so `http://wheels.invalid/simple/x/` through the proxy is the upstream's
`/simple/x/`: a name that resolves nowhere is reachable only through the proxy. CONNECT (HTTPS) is
recorded and refused.
"""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")  # scheme://host:port, no path
        self.seen: list[tuple[str, str, str]] = []  # (method, target, user agent)
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        proxy = self
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                proxy.seen.append(("GET", self.path, self.headers.get("User-Agent", "")))
                parts = urlsplit(self.path)
                target = proxy.upstream + parts.path + (f"?{parts.query}" if parts.query else "")
                try:
                    with direct.open(target, timeout=10) as resp:
                        status, body, kind = resp.status, resp.read(), resp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    status, body, kind = exc.code, exc.read(), "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self):  # noqa: N802
                proxy.seen.append(("CONNECT", self.path, self.headers.get("User-Agent", "")))
                self.send_error(403, "this test proxy does not tunnel")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def targets(self, agent: str) -> list[str]:
        """What was asked for by clients whose User-Agent contains `agent`."""
        return [target for _, target, ua in self.seen if agent in ua]
