"""The harness's command line run as a person runs it: `python -m harness …` in a child process, with
the environment of the tests plus what a test adds (`env`), its output captured as text."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(*args: object, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
