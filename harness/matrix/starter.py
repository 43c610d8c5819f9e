"""A starting matrix for someone's own stack (`wheel-harness init`): the text of matrices/NAME.toml.

The images and index variants come from the shipped matrix that fits the host (what `doctor` sees:
a JetPack 6 Jetson gets jetson-jp6's, an x86 machine with an NVIDIA GPU x86-cuda's, anything else the
smoke matrix's locally built Debian images); the package sets from a requirements file and/or from
`solve`'s answer. Pure: text in, text out; the command reads and writes the files.

A requirements file is read line by line (a small reader, not pip's): PEP 508 lines become the package
set, `--index-url` and `--extra-index-url` lines an index variant, and anything else (`-r`, `-e`, URLs,
hashes) is named in a comment as left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.model import NAME_RE
from harness.pins import exact_version

# Distributions whose module is not their name (the probe imports modules); the rest: name with _ for -.
MODULE_NAMES = {"pyyaml": "yaml", "pillow": "PIL", "scikit-learn": "sklearn", "opencv-python": "cv2",
                "opencv-python-headless": "cv2", "beautifulsoup4": "bs4", "protobuf": "google.protobuf",
                "python-dateutil": "dateutil", "pytorch-lightning": "pytorch_lightning"}
SCHEMA_LINE = "#:schema ./matrix.schema.json"


@dataclass(frozen=True, kw_only=True)
class Requirements:
    """What a requirements file asks for, as far as a matrix can say it."""

    source: str
    requirements: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()  # lines a package set cannot hold, as written


@dataclass(frozen=True, kw_only=True)
class Start:
    """Everything the written matrix says: its name, the shipped matrix it starts from (raw TOML), the
    images chosen from it, the host's line, and the package sets' sources."""

    name: str
    base_name: str
    base: Mapping[str, Any]
    images: tuple[str, ...]
    host: str
    requirements: Requirements | None = None
    solved: Mapping[str, Any] | None = None  # `solve --json`'s answer
    solved_source: str | None = None


def read_requirements(text: str, source: str) -> Requirements:
    reqs, extra, left, index = [], [], [], None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        option = re.match(r"^(--index-url|-i|--extra-index-url)[\s=]+(\S+)$", line)
        if option:
            if option.group(1) == "--extra-index-url":
                extra.append(option.group(2))
            else:
                index = option.group(2)
            continue
        try:
            Requirement(line)
        except InvalidRequirement:
            left.append(line)
            continue
        reqs.append(line)
    return Requirements(source=source, requirements=tuple(reqs), index_url=index, extra_index_urls=tuple(extra),
                        left_out=tuple(left))


def module_of(requirement: str) -> str:
    name = canonicalize_name(Requirement(requirement).name)
    return MODULE_NAMES.get(name, name.replace("-", "_"))


def unpinned(requirement: str) -> str:
    """The requirement without its version (the newest release the index offers), extras and marker kept."""
    req = Requirement(requirement)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}" + (f"; {req.marker}" if req.marker else "")


def set_name(text: str) -> str:
    """A package set's or matrix's name from a file name or a word: lower-case, NAME_RE's letters."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._") or "stack"
    return name[:60] if NAME_RE.match(name[:60]) else "stack"


def package_sets(start: Start) -> list[tuple[str, list[str], list[str]]]:
    """(name, comment lines, TOML lines) of each package set."""
    out = []
    reqs = start.requirements
    if reqs and reqs.requirements:
        base = set_name(reqs.source.rsplit("/", 1)[-1].removesuffix(".txt").removesuffix(".in"))
        modules = list(dict.fromkeys(module_of(r) for r in reqs.requirements))
        note = [f"From {reqs.source}, as written ({len(reqs.requirements)} requirement(s))."]
        if reqs.left_out:
            note.append("Left out (a package set holds PEP 508 requirements only): " + "; ".join(reqs.left_out))
        out.append((base, note, [f"requirements = {toml(list(reqs.requirements))}", f"modules = {toml(modules)}"]))
        if any(exact_version(Requirement(r)) or Requirement(r).specifier for r in reqs.requirements):
            newest = list(dict.fromkeys(unpinned(r) for r in reqs.requirements))
            out.append((f"{base}-newest", ["The same packages without their versions: whatever is newest today,",
                                           "so the table shows what an upgrade would do."],
                        [f"requirements = {toml(newest)}", f"modules = {toml(modules)}"]))
    if start.solved:
        pins = [str(p) for p in start.solved.get("best") or ()]
        if pins:
            modules = list(dict.fromkeys(module_of(r) for r in pins))
            why = f"{start.solved.get('verdict')} in {start.solved.get('cell_id')}"
            out.append(("solved", [f"The pins `solve` found best ({why}), from {start.solved_source}."],
                        [f"requirements = {toml(pins)}", f"modules = {toml(modules)}"]))
    return out


def index_blocks(start: Start) -> list[tuple[str, dict[str, Any]]]:
    """The base matrix's index variants that need no wheelhouse of its own, and the requirements file's."""
    out = []
    for name, body in (start.base.get("indexes") or {}).items():
        if not any(k in body for k in ("find_links", "serve", "prefetch")):
            out.append((name, dict(body)))
    reqs = start.requirements
    if reqs and (reqs.index_url or reqs.extra_index_urls):
        body = {"index_url": reqs.index_url} if reqs.index_url else {}
        if reqs.extra_index_urls:
            body["extra_index_urls"] = list(reqs.extra_index_urls)
        out.append(("requirements-index", body))
    return out


def render(start: Start) -> str:
    """The matrix file: commented, so it says what each block does and how to run it."""
    path = f"matrices/{start.name}.toml"
    sets = package_sets(start)
    indexes = index_blocks(start)
    images = {n: b for n, b in (start.base.get("images") or {}).items() if n in start.images}
    cells = len(images) * len(indexes) * max(len(sets), 1)
    lines = [
        SCHEMA_LINE,
        f"# {start.name}: a starting matrix written by `wheel-harness init`, from the shipped matrix {start.base_name}",
        f"# (it fits this host: {start.host}).",
        "#",
        "# Each image x index variant x package set below is one cell: a fresh container where pip installs the",
        "# package set from the index variant into a venv, then a probe imports the modules and checks CUDA. A cell",
        "# ends with one verdict (pass, degraded, import-failed, no-cuda, conflict, ...) and its evidence.",
        f"# This file declares {len(images)} image(s) x {len(indexes)} index variant(s) x {len(sets)} package set(s) "
        f"= {cells} cell(s).",
        "#",
        "# Run it (from the folder that holds matrices/):",
        f"#   wheel-harness validate {path}      # check the file; nothing runs",
        f"#   wheel-harness plan {path}          # predict each cell's install with uv, in seconds",
        f"#   wheel-harness run {path}           # run the cells: results/{start.name}/ and its table",
        f"#   wheel-harness run {path} --only '*__{indexes[0][0] if indexes else 'default'}__*'   # some cells only",
        f"#   wheel-harness report {path}        # one HTML page: the grid, the times, the history",
        "# The line above names the JSON Schema beside this file: editors that read it (Even Better TOML, taplo)",
        "# complete the keys and flag mistakes. `wheel-harness schema` writes it afresh.",
        "",
        "[matrix]",
        f"name = {toml(start.name)}",
        f"timeout = {int(start.base.get('matrix', {}).get('timeout', 1800))}  # seconds per cell",
        "# Every declared image, index variant and package set is an axis; narrow one with a list, e.g.",
        f"# images = {toml(list(images)[:1])}",
        "# A combination known to fail can be documented, so the run expects it: a [[matrix.include]] block",
        "# naming its image, index and packages, with expect = \"import-failed\" (a verdict) and why = \"…\".",
        "",
        "# --- Images: where the cells run (from the shipped matrix; a Dockerfile image is built with BuildKit",
        "# on first use, its recipe copied into ../dockerfiles/ for you to change). -------------------------------",
    ]
    for name, body in images.items():
        lines += ["", f"[images.{name}]"] + [f"{k} = {toml(v)}" for k, v in body.items()]
    left = sorted(set(start.base.get("images") or {}) - set(images))
    if left:
        lines.append(f"# Left out (another architecture, or not asked for): {', '.join(left)}")
    lines += ["", "# --- Index variants: where pip looks. An empty table is pip's default index (no URL written). ----"]
    for name, body in indexes:
        lines += ["", f"[indexes.{name}]"] + [f"{k} = {toml(v)}" for k, v in body.items()]
    lines += ["", "# --- Package sets: what each cell installs (PEP 508) and the modules the probe imports, in order.",
              "# Check the module names: a distribution's module is not always its name. ------------------------"]
    for name, notes, body in sets:
        lines += ["", *(f"# {n}" for n in notes), f"[packages.{toml(name)}]", *body]
    if not sets:
        lines += ["", "# No requirements were given: list yours here (or `wheel-harness init --requirements FILE`).",
                  "[packages.example]", 'requirements = ["numpy"]', 'modules = ["numpy"]']
    return "\n".join(lines) + "\n"


def toml(value: Any) -> str:
    """A value as TOML writes it (strings as JSON writes them: TOML's basic strings read the same escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        keys = (k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in value)
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in zip(keys, value.values())) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")
