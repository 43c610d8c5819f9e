"""pip's and uv's own words for the failures the classifier and `plan` read, produced for real.

Each case runs the real installer offline against fixture indexes on loopback (or a name that resolves
nowhere) and returns what it printed. uv runs exactly as `plan` runs it (plan.predict, its output
captured); pip runs as `pip install --dry-run` on the host, without the host's pip configuration.
`python tools/record_installer_output.py` writes each case to tests/data/logs/<case>.txt; the uv cases
take about a second each, so tests/test_plan.py also runs them live.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tlsindex import TlsIndex
from wheels import make_sdist, make_wheel

from harness.model import Arch, Cell, Image, IndexVariant, PackageSet
from harness.plan import prediction
from harness.run.serve import WheelhouseServer

BOOKWORM = Image(name="bookworm", arch=Arch.AMD64, local_build="debian-bookworm")  # Python 3.11, glibc 2.36


def _cell(index: IndexVariant, requirements: tuple[str, ...], image: Image = BOOKWORM) -> Cell:
    return Cell(image=image, index=index, packages=PackageSet(name="p", requirements=requirements, modules=()))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uv_as_plan_runs_it(cell: Cell, environ: dict[str, str] | None = None) -> str:
    """What uv printed when `plan` predicted `cell`."""
    said: list[str] = []

    def run(argv, **kwargs):
        done = subprocess.run(argv, **kwargs)
        said.append(done.stderr)
        return done

    prediction.predict(cell, run=run, environ={"PATH": os.environ.get("PATH", ""), **(environ or {})})
    return said[-1]


@contextmanager
def served(tmp: Path, name: str, make: Callable[[Path], object]) -> Iterator[str]:
    house = tmp / name
    make(house)
    with WheelhouseServer(house) as server:
        yield server.url


def uv_nodist_platform(tmp: Path) -> str:
    make = lambda d: make_wheel(d, "edgeops", "1.0", {"edgeops/__init__.py": ""},  # noqa: E731
                                tag="py3-none-manylinux2014_aarch64")
    with served(tmp, "arm", make) as url:
        return uv_as_plan_runs_it(_cell(IndexVariant(name="arm", index_url=url), ("edgeops",)))


def uv_missing(tmp: Path) -> str:
    with served(tmp, "pure", lambda d: make_wheel(d, "edgeops", "1.0", {"edgeops/__init__.py": ""})) as url:
        return uv_as_plan_runs_it(_cell(IndexVariant(name="pure", index_url=url), ("nosuch",)))


def uv_torch_py38(tmp: Path) -> str:
    """torch 2.6.0 as its index has it: wheels for CPython 3.9 to 3.13 only, asked for by a JetPack 5 image."""
    def make(d: Path) -> None:
        for py in ("cp39", "cp310", "cp311", "cp312", "cp313"):
            make_wheel(d, "torch", "2.6.0", {"torch/__init__.py": ""}, tag=f"{py}-{py}-manylinux_2_28_aarch64")

    jp5 = Image(name="xavier", arch=Arch.ARM64, ref="l4t", jetpack="5.1.2")
    with served(tmp, "torch", make) as url:
        return uv_as_plan_runs_it(_cell(IndexVariant(name="torch", index_url=url), ("torch==2.6.0",), jp5))


def uv_conflict(tmp: Path) -> str:
    def make(d: Path) -> None:
        make_wheel(d, "alpha", "1.0", {"alpha/__init__.py": ""}, requires=("beta<2",))
        for version in ("1.0", "2.0"):
            make_wheel(d, "beta", version, {"beta/__init__.py": ""})

    with served(tmp, "pins", make) as url:
        return uv_as_plan_runs_it(_cell(IndexVariant(name="pins", index_url=url), ("alpha==1.0", "beta==2.0")))


def uv_sdist_only(tmp: Path) -> str:
    with served(tmp, "sdist", lambda d: make_sdist(d, "needsnvcc", "1.0", "X = 1\n")) as url:
        return uv_as_plan_runs_it(_cell(IndexVariant(name="sdist", index_url=url), ("needsnvcc",)))


def uv_build_failed(tmp: Path) -> str:
    """A cell's `uv pip install` of an sdist whose build fails (setuptools from this interpreter, no index)."""
    make_sdist(tmp / "links", "fastops", "1.0", "X = 1\n",
               setup_extra='raise SystemExit("error: fastops needs a compiler this image lacks")')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    from harness.installers import uv_binary

    done = subprocess.run([uv_binary(), "pip", "install", "--python", sys.executable, "--target", str(tmp / "t"),
                           "--no-index", "--find-links", str(tmp / "links"), "--no-build-isolation", "fastops"],
                          capture_output=True, text=True, env=env, cwd=tmp)
    return done.stderr.replace(sys.executable, "python")  # this machine's interpreter path, not the cell's


def uv_refused(tmp: Path) -> str:
    index = IndexVariant(name="closed", index_url=f"http://127.0.0.1:{_closed_port()}/simple")
    return uv_as_plan_runs_it(_cell(index, ("edgeops",)), {"UV_HTTP_RETRIES": "0"})


def pip_dry_run(index_url: str, requirement: str, *extra: str) -> str:
    """`pip install --dry-run` on the host, its output merged as a cell's log has it."""
    # none of the host's pip settings (files or PIP_* variables) or proxies: the index alone decides
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and not k.lower().endswith("_proxy")}
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--disable-pip-version-check",
                           "--no-cache-dir", "--retries", "1", "--timeout", "5", "--index-url", index_url, *extra,
                           requirement], capture_output=True, text=True, env={**env, "PIP_CONFIG_FILE": os.devnull},
                          stdin=subprocess.DEVNULL, timeout=120)
    return done.stdout + done.stderr


def pip_unreachable_dns(tmp: Path) -> str:
    return pip_dry_run("https://wheels.invalid/simple", "armonly")  # .invalid resolves nowhere


def pip_untrusted_http(tmp: Path) -> str:
    return pip_dry_run("http://wheels.invalid/simple", "edgeops")


def pip_unreachable_tls(tmp: Path) -> str:
    """An HTTPS index whose certificate pip does not trust (a test CA's, which pip was not given)."""
    with TlsIndex(tmp) as url:
        return pip_dry_run(url, "armonly")


def uv_unreachable_tls(tmp: Path) -> str:
    """uv (rustls) against an HTTPS index whose certificate it does not trust: its own words for it."""
    with TlsIndex(tmp) as url:  # its CA's bundle is given to no one
        index = IndexVariant(name="untrusted", index_url=url)
        return uv_as_plan_runs_it(_cell(index, ("armonly",)), {"UV_HTTP_RETRIES": "0"})


def pip_no_distribution_python(tmp: Path) -> str:
    make = lambda d: make_wheel(d, "oldpy", "1.0", {"oldpy.py": ""}, requires_python="<3.9")  # noqa: E731
    with served(tmp, "oldpy", make) as url:
        return pip_dry_run(url, "oldpy")


CASES: dict[str, Callable[[Path], str]] = {
    "uv-nodist-platform": uv_nodist_platform,
    "uv-missing": uv_missing,
    "uv-torch-py38": uv_torch_py38,
    "uv-conflict": uv_conflict,
    "uv-sdist-only": uv_sdist_only,
    "uv-refused": uv_refused,
    "uv-build-failed": uv_build_failed,
    "uv-unreachable-tls": uv_unreachable_tls,
    "pip-unreachable-dns": pip_unreachable_dns,
    "pip-untrusted-http": pip_untrusted_http,
    "pip-unreachable-tls": pip_unreachable_tls,
    "pip-no-distribution-python": pip_no_distribution_python,
}
