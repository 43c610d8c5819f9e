"""A user's requirements file as a package set (`requirements_file = "requirements.txt"`), read as pip
reads it.

Each requirement line is parsed by pip-api, the importable reading of pip's own requirement syntax
(names, extras, specifiers, URLs, `--hash`). pip-api skips the lines that choose indexes and files and
drops a line whose environment marker this machine does not meet; a cell is another machine, so the
file-level options are read here and markers are kept for the cell's pip to evaluate:

- `-r FILE` / `--requirement FILE`: read too (relative to the file naming it);
- `-c FILE` / `--constraint FILE`: its lines become the set's constraints;
- `-i` / `--index-url`, `--extra-index-url`, `-f` / `--find-links` (a folder, relative to the file, or
  a URL), `--no-index`: the set's index options, which become the cell's index variant;
- `--pre`, `--only-binary`, `--no-binary`, `--prefer-binary`, `--trusted-host`: passed to pip as they are.

Every problem is one (where, message) pair, where is `file:line`.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

COMMENT_RE = re.compile(r"(^|\s)+#.*$")  # pip's (and pip-api's) comment rule
PASSED_WITH_VALUE = ("--only-binary", "--no-binary", "--trusted-host")
PASSED_FLAGS = ("--pre", "--prefer-binary")
VALUE_OPTIONS = {"-r": "requirement", "--requirement": "requirement", "-c": "constraint", "--constraint": "constraint",
                 "-i": "index_url", "--index-url": "index_url", "--extra-index-url": "extra_index_url",
                 "-f": "find_links", "--find-links": "find_links", **{o: "pass" for o in PASSED_WITH_VALUE}}


@dataclass(kw_only=True)
class RequirementsFile:
    """What a requirements file (and the files it names) asks for."""

    requirements: list[str] = field(default_factory=list)  # PEP 508, markers kept
    constraints: list[str] = field(default_factory=list)
    hashes: dict[str, list[str]] = field(default_factory=dict)  # normalised name → ["sha256:…"]
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)  # folders, absolute
    no_index: bool = False
    pip_args: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def has_index_options(self) -> bool:
        return bool(self.index_url or self.extra_index_urls or self.find_links or self.no_index)


def logical_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each line that says something, as pip-api numbers them: continuation
    lines joined first, comments and blank lines dropped."""
    text = path.read_text(encoding="utf-8")
    out = []
    for number, line in enumerate(text.replace("\\\n", "").splitlines(), 1):
        line = COMMENT_RE.sub("", line).strip()
        if line:
            out.append((number, line))
    return out


def read(path: str | Path) -> RequirementsFile:
    """Read a requirements file and every file it names; problems are collected, never raised."""
    import pip_api  # imported here: it asks the installed pip its version when imported

    found = RequirementsFile()
    with tempfile.TemporaryDirectory(prefix="ewh-requirements-") as scratch:
        _Reader(found, pip_api, Path(scratch)).file(Path(path), constraint=False, seen=set())
    return found


class _Reader:
    def __init__(self, found: RequirementsFile, pip_api, scratch: Path) -> None:
        self.found, self.pip_api, self.scratch = found, pip_api, scratch

    def problem(self, where: str, message: str) -> None:
        self.found.problems.append((where, message))

    def file(self, path: Path, *, constraint: bool, seen: set[Path], named_at: str | None = None) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        try:
            lines = logical_lines(path)
        except FileNotFoundError:
            self.problem(named_at or str(path), f"{path}: no such file")
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(named_at or str(path), f"{path}: cannot read: {exc}")
            return
        for number, line in lines:
            where = f"{path}:{number}"
            if line.startswith("-") and not line.startswith(("--hash",)):
                self.option(line, where, path.parent, constraint, seen)
            else:
                self.requirement(line, where, constraint)

    def option(self, line: str, where: str, base: Path, constraint: bool, seen: set[Path]) -> None:
        name, _, value = line.partition("=") if line.startswith("--") and "=" in line.split()[0] else \
            (line.split()[0], "", " ".join(line.split()[1:]))
        if name.startswith("-") and not name.startswith("--") and len(name) > 2 and name[:2] in VALUE_OPTIONS:
            name, value = name[:2], name[2:] + value  # -rfile, -iURL
        value = value.strip()
        kind = VALUE_OPTIONS.get(name)
        if name in ("-e", "--editable"):
            self.problem(where, "an editable requirement (-e) cannot be installed in a cell: build a wheel and "
                                "put it in a find-links folder")
        elif name == "--no-index":
            self.found.no_index = True
        elif name in PASSED_FLAGS:
            self.found.pip_args.append(name)
        elif kind is None:
            self.problem(where, f"{name}: an option this harness does not pass to a cell (known: "
                                f"{', '.join(sorted(set(VALUE_OPTIONS) | {'--no-index', *PASSED_FLAGS}))})")
        elif not value:
            self.problem(where, f"{name} needs a value")
        elif kind in ("requirement", "constraint"):
            self.file(base / value, constraint=constraint or kind == "constraint", seen=seen, named_at=where)
        elif kind == "index_url":
            if self.found.index_url not in (None, value):
                self.problem(where, f"a second --index-url ({value}): pip uses one index URL; make the other an "
                                    "--extra-index-url")
            self.found.index_url = value
        elif kind == "extra_index_url":
            self.found.extra_index_urls.append(value)
        elif kind == "find_links":
            if re.match(r"\A[a-z][a-z0-9+.-]*://", value):
                self.found.pip_args += ["--find-links", value]
            elif not (base / value).is_dir():
                self.problem(where, f"--find-links {value}: no such folder (relative to {base})")
            else:
                self.found.find_links.append(str((base / value).resolve()))
        else:
            self.found.pip_args += [name, value]

    def requirement(self, line: str, where: str, constraint: bool) -> None:
        """One requirement line, parsed by pip-api with its marker set aside (the cell evaluates it)."""
        text, hashes = _split_options(line)
        text, marker = _split_marker(text)
        if marker is not None:
            try:
                Marker(marker)
            except InvalidMarker as exc:
                self.problem(where, f"invalid environment marker {marker!r}: {str(exc).splitlines()[0]}")
                return
        scratch = self.scratch / "line.txt"
        scratch.write_text(" ".join([text, *hashes]) + "\n", encoding="utf-8")
        try:
            parsed = self.pip_api.parse_requirements(scratch, include_invalid=True)
        except self.pip_api.exceptions.PipError as exc:
            self.problem(where, str(exc).splitlines()[0])
            return
        if not parsed:
            self.problem(where, f"{line!r} is no requirement pip would install")
            return
        [req] = parsed.values()
        if isinstance(req, self.pip_api.UnparsedRequirement):
            self.problem(where, f"{text!r} is not a requirement: {str(req.msg).splitlines()[0]}")
            return
        if req.url and req.url.startswith("file:"):
            self.problem(where, f"{text!r} is a file on this machine, which a cell cannot see: put it in a "
                                "folder and name the folder with --find-links")
            return
        written = str(req) + (f"; {marker}" if marker else "")
        (self.found.constraints if constraint else self.found.requirements).append(written)
        for kind, values in (req.hashes or {}).items():
            self.found.hashes.setdefault(canonicalize_name(req.name), []).extend(f"{kind}:{v}" for v in values)


def _split_options(line: str) -> tuple[str, list[str]]:
    """A requirement line → (the requirement, its --hash options)."""
    tokens = line.split()
    at = next((i for i, t in enumerate(tokens) if t.startswith("--")), len(tokens))
    options = tokens[at:]
    hashes = []
    i = 0
    while i < len(options):
        if options[i].startswith("--hash="):
            hashes.append(options[i])
        elif options[i] == "--hash" and i + 1 < len(options):
            hashes.append("--hash=" + options[i + 1])
            i += 1
        i += 1
    return " ".join(tokens[:at]), hashes


def _split_marker(text: str) -> tuple[str, str | None]:
    """`name; marker` → (name, marker); a URL requirement needs "; " (pip's own rule)."""
    separator = "; " if "://" in text else ";"
    if separator not in text:
        return text, None
    requirement, marker = text.split(separator, 1)
    return requirement.strip(), marker.strip() or None

