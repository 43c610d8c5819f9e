"""Headless Chromium driven over its DevTools pipe (stdlib only): open a page, wait until a condition
about its DOM holds, and return the DOM then. A test waits for what it checks, not for a time budget."""

from __future__ import annotations

import json
import os
import subprocess
import time


class Page:
    def __init__(self, binary: str, flags: tuple[str, ...], profile: str) -> None:
        to_browser, self._to_browser = os.pipe()  # Chromium reads commands from its fd 3 …
        self._from_browser, from_browser = os.pipe()  # … and writes answers to its fd 4
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', binary, *flags,
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id, self.session = b"", 0, None

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:  # events come in between: the answer is the message with our id
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed its DevTools pipe: {self.proc.stderr.read()[-2000:]!r}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def dom_when(self, condition: str, deadline: float = 120.0, state: str = "") -> str:
        """The page's DOM once the JavaScript `condition` is true; an error naming it past `deadline` s (a
        bound for a page that never gets there, not a wait: it returns as soon as the condition holds),
        with what the JavaScript `state` says of the page then."""
        until = time.monotonic() + deadline
        while not self.evaluate(f"Boolean({condition})"):
            if time.monotonic() > until:
                seen = f"; the page: {self.evaluate(state)}" if state else ""
                raise AssertionError(f"after {deadline:g} s the page still lacks: {condition}{seen}")
            time.sleep(0.1)
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, width: int, height: int) -> bytes:
        """A PNG of the page as a window of this size shows it."""
        import base64

        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
