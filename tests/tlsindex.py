"""An HTTPS server on loopback whose certificate a CA of the test's own signed (trustme): what a company
mirror behind a private CA looks like to pip, uv, the driver and the harness's own index reader."""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path


class TlsIndex:
    """`with TlsIndex(tmp_path) as url`: the index URL (`…/simple`) while it serves. `bundle` is the CA's
    certificate as a PIP_CERT file; nobody is given it unless a test says so. `handler` answers the
    requests (by default the files of the working folder: every index page is a 404)."""

    def __init__(self, tmp_path: Path, handler: type = http.server.SimpleHTTPRequestHandler) -> None:
        import trustme

        self.ca = trustme.CA()
        self.bundle = tmp_path / f"ca-{id(self)}.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))
        self.handler = handler

    def __enter__(self) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"https://127.0.0.1:{self.server.server_address[1]}/simple"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
