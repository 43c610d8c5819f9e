"""The two installers a cell can use, pip and uv, behind one seam.

What each takes for an index variant (pip's options, and the same options as uv has them), the
environment each needs in a cell and the variables that must not leak into one, and how to read what
uv printed (its errors explain themselves; `plan` and the classifier read them the same way).
The installing itself happens inside the cell (harness/incell/driver.py, stdlib-only). Also here: the
one rule for the CA bundle and the proxies that everything the harness and its cells ask of an index uses.

A new installer: a class here with the `Installer` methods, its name in model.INSTALLERS, and its
install step in the cell driver.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from packaging.utils import canonicalize_name

from harness.errors import HarnessError
from harness.model import IndexVariant

# pip settings an image's environment may carry (dustynv images bake in their build mirrors) that
# would silently replace or extend the cell's index variant.
PIP_INDEX_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
                       "PIP_TRUSTED_HOST", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV", "PIP_CONFIG_FILE")
# uv's settings from the environment that would replace the cell's index variant.
UV_INDEX_VARIABLES = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS",
                      "UV_NO_INDEX", "UV_INDEX_STRATEGY", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_CONFIG_FILE")
INDEX_VARIABLES = PIP_INDEX_VARIABLES + UV_INDEX_VARIABLES  # dropped inside every cell

# The CA bundle: the first of these that names a file, pip's own variable first (what pip itself
# trusts). Everything asks indexes with it: pip and uv in the cell, the driver's index checks (which
# keep the same order: incell/driver.CA_VARIABLES), `plan`'s uv and a search's releases on the host.
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")  # forwarded as set, either case


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The CA bundle `environ` names (see CA_VARIABLES), or None for the system's own."""
    for var in CA_VARIABLES:
        path = environ.get(var)
        if path and os.path.isfile(path):
            return path
    return None


def pip_install_args(index: IndexVariant, *, served: Sequence[str] = (), links: Sequence[str] = ()) -> list[str]:
    """pip install options for an index variant: `served` are the URLs of its served wheelhouses,
    `links` its find-links folders as the cell sees them."""
    args: list[str] = []
    urls = list(served)
    if index.no_index and urls:  # only the served wheelhouse(s): the first is the index
        args += ["--index-url", urls[0]]
        urls = urls[1:]
    if index.index_url:
        args += ["--index-url", index.index_url]
    for url in (*index.extra_index_urls, *urls):
        args += ["--extra-index-url", url]
    if index.no_index and not index.serve:
        args.append("--no-index")
    for where in links:
        args += ["--find-links", where]
    if index.only_binary:
        args += ["--only-binary", ":all:"]
    return args + list(index.pip_args)


# pip options that have a uv equivalent; options uv lacks are left out and named in the notes.
_WITH_VALUE = {"--index-url": "--index-url", "--extra-index-url": "--extra-index-url", "--find-links": "--find-links",
               "-f": "--find-links", "-i": "--index-url", "--only-binary": None, "--no-binary": "--no-binary"}
_DROPPED_WITH_VALUE = ("--retries", "--timeout", "--trusted-host", "--cert", "--proxy", "--report")
_FLAGS = {"--no-index": "--no-index", "--pre": "--prerelease=allow", "--require-hashes": "--require-hashes",
          "--no-deps": "--no-deps"}
_HARMLESS = ("--no-build-isolation", "--prefer-binary", "--no-cache-dir", "--disable-pip-version-check", "--no-input")


def translate_pip_args(pip_args: Sequence[str], *, only_binary: bool = True) -> tuple[list[str], list[str]]:
    """pip install options as uv pip takes them, and notes on the ones uv has no equivalent for.

    `only_binary=False` drops --only-binary (the plan refuses every build anyway).
    """
    args: list[str] = []
    notes: list[str] = []
    i = 0
    while i < len(pip_args):
        arg = pip_args[i]
        name, _, inline = arg.partition("=")
        if name in _WITH_VALUE or name in _DROPPED_WITH_VALUE:
            value = inline or (pip_args[i + 1] if i + 1 < len(pip_args) else "")
            i += 1 if inline else 2
            if name in _DROPPED_WITH_VALUE:
                continue
            if name == "--only-binary":
                if only_binary:
                    args += ["--only-binary", value]
                continue
            args += [_WITH_VALUE[name], value]
            continue
        if arg in _FLAGS:
            args.append(_FLAGS[arg])
        elif arg not in _HARMLESS:
            notes.append(f"pip option {arg} has no uv equivalent here: left out")
        i += 1
    return args, notes


class Installer(Protocol):
    name: str

    def install_args(self, pip_args: Sequence[str]) -> list[str]:
        """The options this installer's own install command takes, from the cell's pip options."""

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The cell's environment with what this installer needs added (its CA bundle variable)."""

    def resolution_args(self) -> list[str]:
        """uv pip compile options that make `plan` resolve as this installer does."""


class Pip:
    name = "pip"

    def install_args(self, pip_args: Sequence[str]) -> list[str]:
        return []  # pip takes the cell's pip options as they are (spec["pip_args"])

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return dict(env)

    def resolution_args(self) -> list[str]:
        # pip picks the best version across all indexes; uv's default takes the first index that has it
        return ["--index-strategy", "unsafe-best-match"]


class Uv:
    name = "uv"

    def install_args(self, pip_args: Sequence[str]) -> list[str]:
        return translate_pip_args(pip_args)[0]  # what uv lacks is named in the plan's notes

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        out = dict(env)
        cert = next((env[var] for var in CA_VARIABLES if env.get(var)), None)
        if cert:  # uv reads SSL_CERT_FILE, not pip's variables: the bundle CA_VARIABLES choose
            out["SSL_CERT_FILE"] = cert
        return out

    def resolution_args(self) -> list[str]:
        return []  # uv's own index strategy: the first index that has a package wins


_INSTALLERS: dict[str, Installer] = {"pip": Pip(), "uv": Uv()}


def get(name: str) -> Installer:
    try:
        return _INSTALLERS[name]
    except KeyError:
        raise HarnessError(f"unknown installer {name!r}", hint=f"use one of {', '.join(_INSTALLERS)}") from None


def resolution_args(index: IndexVariant, installer: str = "pip") -> tuple[list[str], list[str]]:
    """uv pip compile options for an index variant, resolving as `installer` would, and notes on
    what could not be mapped."""
    args: list[str] = []
    if index.index_url:
        args += ["--index-url", index.index_url]
    for url in index.extra_index_urls:
        args += ["--extra-index-url", url]
    for directory in (*index.serve, *index.find_links):  # a served wheelhouse holds the same files
        args += ["--find-links", directory]
    if index.no_index:
        args.append("--no-index")
    args += get(installer).resolution_args()
    extra, notes = translate_pip_args(list(index.pip_args), only_binary=False)
    # a resolution has no files to check: hashes are the install's business (uv compile would ask for them)
    return args + [a for a in extra if a != "--require-hashes"], notes


def host_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The host's environment for uv: without uv's index settings (the cell's variant decides), with
    the host's CA bundle (ca_bundle) as SSL_CERT_FILE, which uv reads."""
    env = {k: v for k, v in environ.items() if k not in UV_INDEX_VARIABLES}
    cert = ca_bundle(environ)
    if cert:
        env["SSL_CERT_FILE"] = cert
    return env


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise HarnessError("uv is not installed in this environment",
                           hint="pip install uv (it is a dependency of the harness; nox installs it)") from exc
    return find_uv_bin()


# --- reading what uv printed -------------------------------------------------------------------------

UV_LINE = re.compile(r"^\s*(?:error|cause|hint):\s*(.+)$")
UNREACHABLE = re.compile(r"Request failed|Failed to fetch|error sending request|Connection refused|dns error|"
                         r"tcp connect error|certificate|timed out|operation timed out|Status code 5\d\d", re.I)
NO_WHEEL_YET_SOURCE = re.compile(r"has no usable wheels|building from source is disabled")
NO_DISTRIBUTION = re.compile(r"has no wheels with a matching|was not found in the package registry|"
                             r"not found in the provided package locations|"
                             r"there is no version of|has no usable wheels|requires Python|no versions of", re.I)
REQUIREMENT_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_uv(returncode: int, stdout: str, stderr: str, *, allows_source: bool) -> tuple[str, dict[str, str],
                                                                                        tuple[str, ...]]:
    """(outcome, versions, evidence) from what `uv pip compile` or `uv pip install` printed; the outcome
    is one of model.PLAN_OUTCOMES."""
    if returncode == 0:
        versions = {}
        for line in stdout.splitlines():
            m = REQUIREMENT_LINE.match(line.strip())
            if m:
                versions[canonicalize_name(m.group(1))] = m.group(2)
        return "installs", versions, ()
    said: dict[str, list[str]] = {"cause": [], "hint": [], "error": [], "": []}
    current = ""
    for line in stderr.splitlines():
        m = UV_LINE.match(line)
        if m:
            current = line.strip().split(":", 1)[0]
            said[current].append(" ".join(m.group(1).split()))
        elif line.strip() and current in ("cause", "hint") and said[current]:
            said[current][-1] += " " + " ".join(line.split())  # uv wraps a cause over several lines
        elif line.strip():
            said[""].append(" ".join(line.split()))
    # uv's causes say why; its "No solution found" headline says nothing a cause does not
    evidence = tuple(dict.fromkeys(said["cause"] + said["hint"] + said["error"] + said[""]))[:6]
    text = stderr
    if UNREACHABLE.search(text):
        return "index-unreachable", {}, evidence
    if allows_source and NO_WHEEL_YET_SOURCE.search(text):
        return "source-build", {}, evidence
    if NO_DISTRIBUTION.search(text):
        return "no-distribution", {}, evidence
    if "unsatisfiable" in text or "conflict" in text.lower():
        return "conflict", {}, evidence
    return "unknown", {}, evidence
