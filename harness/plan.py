"""Predict each cell's install without a container or the target machine: `uv pip compile` for the
cell's platform, Python and index variant, in seconds.

pip's `--dry-run --platform` is not used: it evaluates environment markers against the host, so
torch resolved "for aarch64" on an x86 host demands x86-only dependencies. uv evaluates markers for
the target, and its failures explain themselves; they are quoted as the prediction's evidence.

The target: the image's Python (`python_version`, else its local recipe's, else the Python its
JetPack pairs with) and its glibc, which sets the manylinux level (`glibc`, else the recipe's, else
JetPack 5 → 2.31, JetPack 6 → 2.35). Where neither is known the plan says what it assumed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from . import redact
from .errors import HarnessError
from .hostfacts import python_for_jetpack
from .images import LOCAL_RECIPES
from .model import Cell

GLIBC_FOR_JETPACK = {"4": "2.27", "5": "2.31", "6": "2.35", "7": "2.39"}  # the Ubuntu each JetPack ships
ASSUMED_GLIBC = "2.28"
ASSUMED_PYTHON = "3.10"
UV_TIMEOUT = 300.0
# uv's settings from the environment that would replace the cell's index variant.
UV_INDEX_VARIABLES = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS",
                      "UV_NO_INDEX", "UV_INDEX_STRATEGY", "UV_CONSTRAINT", "UV_OVERRIDE", "UV_CONFIG_FILE")


@dataclass(frozen=True, kw_only=True)
class Target:
    python: str
    platform: str  # uv's --python-platform, e.g. aarch64-manylinux_2_35
    assumed: tuple[str, ...] = ()  # what was not known and so assumed


@dataclass(frozen=True, kw_only=True)
class Prediction:
    cell_id: str
    target: Target
    outcome: str  # "installs", "source-build", "no-distribution", "conflict", "index-unreachable", "unknown"
    versions: dict[str, str] = field(default_factory=dict)  # every distribution the resolution picked
    evidence: tuple[str, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, "python": self.target.python, "platform": self.target.platform,
                "assumed": list(self.target.assumed), "outcome": self.outcome, "versions": self.versions,
                "evidence": list(self.evidence), "seconds": round(self.seconds, 3), "notes": list(self.notes)}


def target(cell: Cell) -> Target:
    image = cell.image
    recipe = LOCAL_RECIPES.get(image.local_build) if image.local_build else None
    assumed = []
    python = image.python_version or (recipe.python_version if recipe else None) or python_for_jetpack(image.jetpack)
    if not python:
        python = ASSUMED_PYTHON
        assumed.append(f"Python {python} (set python_version on [images.{image.name}])")
    glibc = image.glibc or (recipe.glibc if recipe else None)
    if not glibc and image.jetpack:
        glibc = GLIBC_FOR_JETPACK.get(image.jetpack.split(".")[0])
    if not glibc:
        glibc = ASSUMED_GLIBC
        assumed.append(f"glibc {glibc} (set glibc on [images.{image.name}])")
    level = "_".join(glibc.split(".")[:2])
    return Target(python=python, platform=f"{image.arch.machine}-manylinux_{level}", assumed=tuple(assumed))


# pip options that have a uv equivalent; options uv lacks are left out and named in the notes.
_WITH_VALUE = {"--index-url": "--index-url", "--extra-index-url": "--extra-index-url", "--find-links": "--find-links",
               "-f": "--find-links", "-i": "--index-url", "--only-binary": None, "--no-binary": "--no-binary"}
_DROPPED_WITH_VALUE = ("--retries", "--timeout", "--trusted-host", "--cert", "--proxy", "--report")
_FLAGS = {"--no-index": "--no-index", "--pre": "--prerelease=allow"}
_HARMLESS = ("--no-build-isolation", "--prefer-binary", "--no-cache-dir", "--disable-pip-version-check", "--no-input")


def uv_options(cell: Cell, installer: str = "pip") -> tuple[list[str], list[str]]:
    """uv pip compile options for the cell's index variant, and notes on what could not be mapped."""
    idx = cell.index
    args: list[str] = []
    if idx.index_url:
        args += ["--index-url", idx.index_url]
    for url in idx.extra_index_urls:
        args += ["--extra-index-url", url]
    for directory in (*idx.serve, *idx.find_links):  # a served wheelhouse holds the same files
        args += ["--find-links", directory]
    if idx.no_index:
        args.append("--no-index")
    if installer == "pip":  # pip picks the best version across indexes; uv's default takes the first index
        args += ["--index-strategy", "unsafe-best-match"]
    extra, notes = translate_pip_args(list(idx.pip_args), only_binary=False)
    return args + extra, notes


def translate_pip_args(pip_args: list[str], *, only_binary: bool = True) -> tuple[list[str], list[str]]:
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


UV_LINE = re.compile(r"^\s*(?:error|cause|hint):\s*(.+)$")
UNREACHABLE = re.compile(r"Request failed|Failed to fetch|error sending request|Connection refused|dns error|"
                         r"tcp connect error|certificate|timed out|operation timed out|Status code 5\d\d", re.I)
NO_WHEEL_YET_SOURCE = re.compile(r"has no usable wheels|building from source is disabled")
NO_DISTRIBUTION = re.compile(r"has no wheels with a matching|was not found in the package registry|"
                             r"there is no version of|has no usable wheels|requires Python|no versions of", re.I)
REQUIREMENT_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def judge_uv(returncode: int, stdout: str, stderr: str, *, allows_source: bool) -> tuple[str, dict[str, str],
                                                                                         tuple[str, ...]]:
    """(outcome, versions, evidence) from what `uv pip compile` printed."""
    if returncode == 0:
        versions = {}
        for line in stdout.splitlines():
            m = REQUIREMENT_LINE.match(line.strip())
            if m:
                versions[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
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


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise HarnessError("`plan` needs uv, which is not installed in this environment",
                           hint="pip install uv (it is a dependency of the harness; nox -s plan installs it)") from exc
    return find_uv_bin()


def uv_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The host's environment for uv: without uv's index settings (the cell's variant decides), with
    the host's CA bundle where pip's variable names it (uv reads SSL_CERT_FILE)."""
    env = {k: v for k, v in environ.items() if k not in UV_INDEX_VARIABLES}
    cert = environ.get("PIP_CERT") or environ.get("REQUESTS_CA_BUNDLE")
    if cert and "SSL_CERT_FILE" not in env and os.path.isfile(cert):
        env["SSL_CERT_FILE"] = cert
    return env


def predict(cell: Cell, *, installer: str | None = None, run: Callable[..., Any] = subprocess.run,
            environ: Mapping[str, str] | None = None, uv: str | None = None) -> Prediction:
    """One cell's prediction. Never raises for a failed resolution: that is the prediction."""
    goal = target(cell)
    options, notes = uv_options(cell, installer or cell.installer)
    if cell.image.ships_torch:
        notes.append("the image ships torch: the plan resolves as if the venv were empty")
    known = redact.secrets(cell.index)
    with tempfile.TemporaryDirectory(prefix="ewh-plan-") as tmp:
        requirements = Path(tmp) / "requirements.in"
        requirements.write_text("\n".join(cell.packages.requirements) + "\n", encoding="utf-8")
        argv = [uv or uv_binary(), "pip", "compile", str(requirements), "--no-config", "--no-python-downloads",
                "--no-header", "--no-annotate", "--quiet", "--python", sys.executable,  # any interpreter will do:
                "--python-version", goal.python,  # markers and tags are evaluated for the target's version
                "--python-platform", goal.platform, "--only-binary", ":all:", "--cache-dir", str(Path(tmp) / "cache"),
                *options]
        began = time.monotonic()
        try:
            done = run(argv, capture_output=True, text=True, timeout=UV_TIMEOUT,
                       env=uv_environment(os.environ if environ is None else environ))
            returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired:
            returncode, stdout, stderr = -1, "", f"error: uv did not finish within {UV_TIMEOUT:g} s"
        seconds = time.monotonic() - began
    allows_source = not (cell.index.only_binary or any(a.startswith("--only-binary") for a in cell.index.pip_args))
    outcome, versions, evidence = judge_uv(returncode, stdout, stderr, allows_source=allows_source)
    return Prediction(cell_id=cell.id, target=goal, outcome=outcome, versions=versions,
                      evidence=tuple(redact.text(e, known) for e in evidence), seconds=seconds, notes=tuple(notes))


# Which real verdicts a prediction agrees with (install-level: what the plan can know).
AGREES = {
    "installs": {"pass", "degraded", "no-cuda", "cuda-mismatch", "torch-replaced", "import-failed", "crashed"},
    "source-build": {"pass", "degraded", "source-build-failed", "import-failed", "crashed", "no-cuda"},
    "no-distribution": {"no-distribution"},
    "conflict": {"conflict"},
    "index-unreachable": {"index-unreachable"},
}
JUDGED = set().union(*AGREES.values()) | {"install-failed"}  # verdicts that say something about the install


def disagreement(prediction: Mapping[str, Any], result: Mapping[str, Any]) -> str | None:
    """Where the plan and the real run differ, in words; None when they agree or cannot be compared."""
    verdict = str(result.get("verdict"))
    outcome = prediction.get("outcome")
    if verdict not in JUDGED or outcome == "unknown":
        return None
    if verdict not in AGREES.get(outcome, set()):
        return f"plan predicted {outcome}, the run was {verdict}"
    items = (result.get("install") or {}).get("items") or []
    installed = {canonicalize_name(str(i.get("name", ""))): i.get("version") for i in items if isinstance(i, Mapping)}
    differ = [f"{name} {installed[name]} (plan: {version})"
              for name, version in (prediction.get("versions") or {}).items()
              if name in installed and installed[name] and installed[name] != version]
    return ("versions differ from the plan: " + ", ".join(differ)) if differ else None
