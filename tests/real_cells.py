"""Real cells for the causes the hints name: real wheels from pip's default index, installed and
imported in fresh containers of the local Debian bookworm amd64 image.

`python tools/record_real_cells.py` runs them and writes each cell's log to
tests/data/logs/real-<package set>.log (the registry's host names replaced, pip's progress bars left
out); tests/test_verdicts.py judges those files, and tests/test_verdicts_docker.py runs some of them
live (marked `network`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from wheels import AMD64_IMAGE

# Each package set is one cell on the bookworm image and pip's default index. "tune" is never run: it
# is the matrix's own name that the misspelt requirement of "typo" is close to.
SETS = {
    # an extension built for NumPy 1.x under NumPy 2, in each of NumPy's words
    "pandas-numpy2": (["pandas==2.0.3", "numpy==2.0.2"], ["pandas"]),  # "numpy.dtype size changed", a .pyx frame
    "opencv-numpy2": (["opencv-python-headless==4.9.0.80", "numpy==2.0.2"], ["cv2"]),  # "_ARRAY_API not found"
    # one built for NumPy 2 under NumPy 1.x, failing in a distribution no pin names, in a .pyx frame
    "arrow-numpy1": (["db-dtypes==1.9.0", "numpy==1.26.4"], ["db_dtypes"]),
    # a system library the image lacks
    "opencv-gui": (["opencv-python==4.10.0.84", "numpy==2.0.2"], ["cv2"]),  # libGL.so.1
    "lightgbm": (["lightgbm==4.7.0"], ["lightgbm"]),  # libgomp.so.1
    # a requirement that names no project
    "typo": (["torchtnue"], ["torchtune"]),
    "tune": (["torchtune==0.6.1"], ["torchtune"]),
}
NOT_RUN = ("tune",)


def matrix_text() -> str:
    sets = "".join(f'[packages.{name}]\nrequirements = {list(reqs)!r}\nmodules = {list(mods)!r}\n'.replace("'", '"')
                   for name, (reqs, mods) in SETS.items())
    excluded = ", ".join(f'{{packages = "{name}"}}' for name in NOT_RUN)
    return (f'[matrix]\nname = "real"\ntimeout = 900\nexclude = [{excluded}]\n{AMD64_IMAGE}'
            f'[indexes.pypi]\n{sets}')


def write_matrix(path: Path) -> Path:
    path.write_text(matrix_text())
    return path


PROGRESS = re.compile(r"^\s*━")
HOST = re.compile(r"(https?://)([^/\s\"'@]+@)?([^/\s\"':]+)")


def scrubbed(log: str, index_url: str) -> str:
    """A cell's log as the repository keeps it: pip's progress bars left out, and every host that is
    not this machine's loopback replaced (pip's default index by index.invalid, the hosts it sends
    files from by files.invalid)."""
    index_host = HOST.match(index_url).group(3) if HOST.match(index_url) else None

    def host(m: re.Match[str]) -> str:
        name = m.group(3)
        if name in ("127.0.0.1", "localhost"):
            return m.group(0)
        return m.group(1) + ("index.invalid" if name == index_host else "files.invalid")

    return "".join(HOST.sub(host, line) for line in log.splitlines(keepends=True) if not PROGRESS.match(line))


def hosts_in(texts: Iterable[str]) -> set[str]:
    """The hosts named by URLs in the texts, other than loopback (what a recorded log must not keep)."""
    return {m.group(3) for text in texts for m in HOST.finditer(text)} - {"127.0.0.1", "localhost", "index.invalid",
                                                                            "files.invalid"}
