"""Read `matrices/*.toml` into a Matrix, collecting every problem with its file and key.

The reader never raises anything but MatrixError for a bad file: syntax errors, wrong types,
misspelt keys ("did you mean …?"), dangling references and invalid PEP 508 requirements all become
one Problem each, so `wheel-harness validate` can print them all at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import itertools
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from harness import checks as checks_mod
from harness import pylock, resources
from harness.errors import MatrixError, Problem
from harness.matrix import requirements as requirements_file
from harness.matrix import templates
from harness.model import (
    CELL_ID_MAX,
    DEFAULT_CHECK_TIMEOUT,
    INSTALLERS,
    LOCAL_RECIPES,
    NAME_RE,
    NAME_RULE,
    TABLE_COLUMNS,
    Arch,
    Cell,
    CudaExpectation,
    Image,
    IndexVariant,
    LockRef,
    Matrix,
    PackageSet,
    Retry,
    TableColumn,
    TableSpec,
    Verdict,
    cell_id,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_TIMEOUT = 1800.0
DEFAULT_ATTEMPTS = 3  # install attempts while an index does not answer
DEFAULT_BACKOFF = 10.0  # seconds before the first retry, doubled for each one after

TOP_KEYS = ("matrix", "images", "indexes", "packages", "tables")
MATRIX_KEYS = ("name", "description", "timeout", "memory", "processes", "build_jobs", "install_attempts",
               "retry_backoff", "images", "indexes", "packages",
               "installers", "exclude", "include")
IMAGE_KEYS = ("ref", "dockerfile", "local_build", "platform", "ships_torch", "python", "build_args", "jetpack",
              "cuda", "python_version", "glibc", "build_folders", "source_file")
INDEX_KEYS = ("index_url", "extra_index_urls", "find_links", "serve", "no_index", "prefetch", "pip_args",
              "only_binary")
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PACKAGE_KEYS = ("requirements", "modules", "requirements_file", "lock", "wheelhouse", "checks", "check_requires",
                "check_timeout")
MAX_BUILD_JOBS = 256
SELECT_KEYS = ("image", "index", "packages")
OPTIONAL_SELECT_KEYS = ("installer",)  # an include without it means pip
EXPECT_KEYS = ("expect", "why", "torch_build", "cuda", "capability", "memory", "processes", "build_jobs",
               "approach")
TABLE_KEYS = ("title", "cells", "columns", "elsewhere")
COLUMN_KEYS = ("value", "header")
CAPABILITY_RE = re.compile(r"^[0-9]+\.[0-9]+$")
VERDICTS = tuple(o.value for o in Verdict)
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


MIN_MEMORY = 128 << 20
MAX_MEMORY = 1 << 50  # 1 PiB: more than any machine has, and far inside the engine's 64-bit limit
MIN_PROCESSES = 32  # the driver, pip, a build backend and the probe, with room for their threads
MAX_PROCESSES = 4194304  # the kernel's own ceiling (PID_MAX_LIMIT)
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")


def parse_size(value: Any) -> int | None:
    """8G, "512M", "1.5GiB" or a plain number of bytes → bytes (k/M/G/T are powers of 1024); None if not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    m = _SIZE_RE.match(value)
    if not m:
        return None
    power = " KMGT".index(m.group(2).upper() or " ")
    number = float(m.group(1)) * 1024**power
    return int(number) if math.isfinite(number) else None  # 400 digits are not a size


def load(path: str | Path) -> Matrix:
    """Read and check one matrix file; raise MatrixError listing every problem."""
    return _Reader(Path(path)).read()


def validate(path: str | Path) -> list[Problem]:
    try:
        load(path)
    except MatrixError as exc:
        return list(exc.problems)
    return []


def select(cells: tuple[Cell, ...] | list[Cell], patterns: list[str]) -> list[Cell]:
    """Cells whose id matches any of the shell-style patterns (all cells for no pattern)."""
    if not patterns:
        return list(cells)
    return [c for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent
        self.folders = resources.folders_base(path)  # where wheelhouses resolve (./matrices for a shipped one)
        self.problems: list[Problem] = []
        self.conflicts: set[tuple[str, str]] = set()  # (package set, index variant) pairs already reported

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), key, message))

    # -- generic checks ----------------------------------------------------------------------
    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problem(key, f"must be a table, not {type(data).__name__}")
            return {}
        return data

    def known_keys(self, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                self.problem(where, f"unknown key{_did_you_mean(name, allowed)}")

    def get(self, data: dict[str, Any], key: str, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if name not in data:
            return default
        value = data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problem(f"{key}.{name}", f"must be a {expected}, not {type(value).__name__} {value!r}")
            return default
        return value

    def strings(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        value = self.get(data, key, name, list, [])
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            self.problem(f"{key}.{name}", f"must be a list of non-empty strings, found {bad[0]!r}")
            return ()
        return tuple(value)

    def size(self, data: dict[str, Any], key: str, name: str = "memory") -> int | None:
        """A memory size: bytes as an integer, or a string like "8G", "512M" (powers of 1024, as Docker's)."""
        value = data.get(name)
        number = parse_size(value)
        if number is None:
            self.problem(key, f"{value!r} is not a size: write bytes, or a number with k, M or G, like \"8G\"")
        elif number < MIN_MEMORY:
            self.problem(key, f"{value!r} is below {MIN_MEMORY >> 20} MiB: pip and the probe need more")
            return None
        elif number > MAX_MEMORY:
            self.problem(key, f"{value!r} is more than {MAX_MEMORY >> 50} PiB, more memory than any machine has")
            return None
        return number

    def jobs(self, data: dict[str, Any], key: str) -> int | None:
        """`build_jobs`: a source build's parallel jobs, instead of the driver's rule from the memory limit."""
        if "build_jobs" not in data:
            return None
        value = data["build_jobs"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BUILD_JOBS:
            self.problem(key, f"{value!r} is not a number of parallel build jobs between 1 and {MAX_BUILD_JOBS}")
            return None
        return value

    def processes(self, data: dict[str, Any], key: str) -> int | None:
        """A process limit: a whole number of processes (threads count too), within reason."""
        value = data.get("processes")
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"{value!r} is not a number of processes: write a whole number, like 4096")
        elif not MIN_PROCESSES <= value <= MAX_PROCESSES:
            self.problem(key, f"{value} is not between {MIN_PROCESSES} (pip, a build and the probe need that many) "
                              f"and {MAX_PROCESSES} (the kernel's ceiling)")
        else:
            return value
        return None

    def named(self, data: Any, section: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, body in self.table(data, section).items():
            if not NAME_RE.match(name):
                self.problem(f"{section}.{name}", f"name must be {NAME_RULE}: it becomes part of file names")
                continue
            out[name] = self.table(body, f"{section}.{name}")
        if not out:
            self.problem(section, "declares nothing: add at least one entry")
        return out

    # -- sections ----------------------------------------------------------------------------
    def read(self) -> Matrix:
        try:
            raw = tomllib.loads(self.path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise MatrixError([Problem(str(self.path), "", "no such file")]) from None
        except (tomllib.TOMLDecodeError, RecursionError, UnicodeDecodeError) as exc:
            raise MatrixError([Problem(str(self.path), "", f"not valid TOML: {exc}")]) from None
        except OSError as exc:
            raise MatrixError([Problem(str(self.path), "", f"cannot read: {exc.strerror}")]) from None

        self.known_keys(raw, "", TOP_KEYS)
        for required in ("images", "indexes", "packages"):
            if required not in raw:
                self.problem(required, "missing table: a matrix declares images, indexes and packages")
        images = {n: self.image(n, b) for n, b in self.named(raw.get("images", {}), "images").items()}
        indexes = {n: self.index(n, b) for n, b in self.named(raw.get("indexes", {}), "indexes").items()}
        packages = {n: self.package_set(n, b) for n, b in self.named(raw.get("packages", {}), "packages").items()}
        self.unfilled_folders(images, indexes)
        spec = self.table(raw.get("matrix", {}), "matrix")
        self.known_keys(spec, "matrix", MATRIX_KEYS)
        name = self.get(spec, "matrix", "name", str, self.path.stem)
        if not NAME_RE.match(name):
            self.problem("matrix.name", f"{name!r} must be {NAME_RULE}: it names the results folder"
                         + ("" if "name" in spec else " (the file's name is the matrix's name: rename the file, "
                            "or set [matrix] name)"))
        timeout = self.get(spec, "matrix", "timeout", float, DEFAULT_TIMEOUT)
        if not math.isfinite(timeout) or timeout <= 0:
            self.problem("matrix.timeout", f"must be a positive number of seconds, not {timeout}")
        attempts = self.get(spec, "matrix", "install_attempts", int, DEFAULT_ATTEMPTS)
        if not 1 <= attempts <= 10:
            self.problem("matrix.install_attempts", f"must be between 1 and 10, not {attempts}")
        backoff = self.get(spec, "matrix", "retry_backoff", float, DEFAULT_BACKOFF)
        if not math.isfinite(backoff) or not 0 <= backoff <= 600:
            self.problem("matrix.retry_backoff", f"must be between 0 and 600 seconds, not {backoff}")
        self.retry = Retry(attempts=attempts, backoff=backoff)
        self.memory = self.size(spec, "matrix.memory") if "memory" in spec else None
        self.build_jobs = self.jobs(spec, "matrix.build_jobs")
        self.process_limit = self.processes(spec, "matrix.processes") if "processes" in spec else None
        cells = self.cells(spec, images, indexes, packages, timeout)
        tables = self.tables(raw.get("tables", {}), cells) if "tables" in raw else ()
        if self.problems:
            raise MatrixError(self.problems)
        return Matrix(
            name=name,
            source=str(self.path),
            images=tuple(v for v in images.values() if v),
            indexes=tuple(v for v in indexes.values() if v),
            package_sets=tuple(v for v in packages.values() if v),
            cells=tuple(cells),
            timeout=timeout,
            tables=tables,
        )

    def image(self, name: str, body: dict[str, Any]) -> Image | None:
        key = f"images.{name}"
        self.known_keys(body, key, IMAGE_KEYS)
        ref = self.get(body, key, "ref", str, None)
        dockerfile = self.get(body, key, "dockerfile", str, None)
        local = self.get(body, key, "local_build", str, None)
        given = [k for k, v in (("ref", ref), ("dockerfile", dockerfile), ("local_build", local)) if v]
        if len(given) != 1:
            self.problem(key, "needs exactly one of ref, dockerfile, local_build"
                         + (f" (found {', '.join(given)})" if given else ""))
        if dockerfile and not (self.base / dockerfile).is_file():
            self.problem(f"{key}.dockerfile", f"{dockerfile!r} not found (relative to {self.base})")
        if local and local not in LOCAL_RECIPES:
            self.problem(f"{key}.local_build", f"unknown recipe {local!r}{_did_you_mean(local, tuple(LOCAL_RECIPES))}; "
                         f"known: {', '.join(LOCAL_RECIPES)}")
        plat = self.get(body, key, "platform", str, None)
        arch = None
        if plat is None:
            self.problem(f"{key}.platform", "missing: say linux/amd64 or linux/arm64")
        else:
            try:
                arch = Arch.from_platform(plat)
            except ValueError:
                self.problem(f"{key}.platform", f"{plat!r} is not linux/amd64 or linux/arm64")
        build_args = self.get(body, key, "build_args", dict, {})
        bad = [k for k, v in build_args.items() if not isinstance(v, str)]
        if bad:
            self.problem(f"{key}.build_args.{bad[0]}", "build arguments must be strings")
        folders, source_file = self.build_inputs(body, key, dockerfile)
        ships_torch = self.get(body, key, "ships_torch", bool, False)
        python = self.get(body, key, "python", str, "python3")
        versions = {}
        for field in ("jetpack", "cuda", "python_version", "glibc"):
            versions[field] = self.get(body, key, field, str, None)
            if versions[field] is not None and not VERSION_RE.match(versions[field]):
                self.problem(f"{key}.{field}", f"{versions[field]!r} is not a version like 6.2 or 12.6")
        if arch is None or len(given) != 1:
            return None
        return Image(
            name=name, arch=arch, ref=ref,
            dockerfile=str((self.base / dockerfile).resolve()) if dockerfile else None,
            build_args=tuple(sorted(build_args.items())), ships_torch=ships_torch, python=python,
            local_build=local, build_folders=folders, source_file=source_file, **versions,
        )

    def unfilled_folders(self, images: dict[str, Image | None], indexes: dict[str, IndexVariant | None]) -> None:
        """A build folder must be there, unless it is the wheelhouse an index variant prefetches into (a run
        fills it before it builds images)."""
        filled = {i.wheelhouse for i in indexes.values() if i and i.prefetch}
        for image in filter(None, images.values()):
            for name, folder in image.build_folders:
                if folder not in filled and not Path(folder).is_dir():
                    self.problem(f"images.{image.name}.build_folders.{name}",
                                 f"{folder!r} is not a directory, and no index variant prefetches into it")

    def build_inputs(self, body: dict[str, Any], key: str, dockerfile: str | None
                     ) -> tuple[tuple[tuple[str, str], ...], str | None]:
        """A recipe's `build_folders` (name → host folder, relative to the matrix as its wheelhouses are: put
        into its build context under that name) and `source_file` (relative to the recipe's folder: changed
        for the cached build)."""
        folders = self.get(body, key, "build_folders", dict, {})
        source_file = self.get(body, key, "source_file", str, None)
        if (folders or source_file) and not dockerfile:
            self.problem(key, "build_folders and source_file belong to a dockerfile image")
            return (), None
        out = []
        for name, folder in folders.items():
            if not NAME_RE.match(name):
                self.problem(f"{key}.build_folders.{name}", f"name must be {NAME_RULE}: a folder of the build context")
            elif not isinstance(folder, str) or not folder.strip():
                self.problem(f"{key}.build_folders.{name}", "must be a folder, relative to the matrix")
            else:
                out.append((name, str((self.folders / folder).resolve())))  # as wheelhouses resolve
        if source_file is not None and dockerfile:
            where = (self.base / dockerfile).parent
            path = (where / source_file).resolve()
            if Path(source_file).is_absolute() or not path.is_relative_to(where.resolve()):
                self.problem(f"{key}.source_file", f"{source_file!r} must be a file inside the recipe's folder "
                                                   f"({where})")
            elif not path.is_file():
                self.problem(f"{key}.source_file", f"{source_file!r} not found (relative to the recipe's folder "
                                                   f"{where})")
        return tuple(out), source_file

    def url(self, key: str, value: str) -> None:
        try:
            fields = templates.placeholders(value)
        except ValueError as exc:
            self.problem(key, f"malformed template: {exc}; write a literal brace as {{{{ or }}}}")
            return
        for field in fields:
            if field not in templates.FIELDS:
                known = ", ".join("{%s}" % f for f in templates.FIELDS)
                self.problem(key, f"unknown placeholder {{{field}}}{_did_you_mean(field, list(templates.FIELDS))}; "
                             f"known: {known}")
        value = value.format(**{f: "0" for f in fields}) if fields else value  # check the rest as a URL
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.scheme == "file"):
            self.problem(key, "must be an http(s):// or file:// URL")

    def index(self, name: str, body: dict[str, Any]) -> IndexVariant | None:
        key = f"indexes.{name}"
        self.known_keys(body, key, INDEX_KEYS)
        index_url = self.get(body, key, "index_url", str, None)
        if index_url:
            self.url(f"{key}.index_url", index_url)
        extra = self.strings(body, key, "extra_index_urls")
        for i, u in enumerate(extra):
            self.url(f"{key}.extra_index_urls[{i}]", u)
        links = self.strings(body, key, "find_links")
        served = self.strings(body, key, "serve")
        prefetch = self.strings(body, key, "prefetch")
        no_index = self.get(body, key, "no_index", bool, False)
        pip_args = self.strings(body, key, "pip_args")
        only_binary = self.get(body, key, "only_binary", bool, False)
        if no_index and (index_url or extra):
            self.problem(f"{key}.no_index", "contradicts index_url/extra_index_urls: keep one")
        if no_index and not (links or served):
            self.problem(f"{key}.no_index", "with no index pip needs find_links or serve: name a wheelhouse directory")
        if index_url and served and no_index:
            self.problem(f"{key}.serve", "with no_index the served wheelhouse is the index: drop index_url")
        if prefetch and not (links or served):
            self.problem(f"{key}.prefetch", "needs serve or find_links: the first directory receives the downloads")
        # prefetch fills the first wheelhouse (served first, else find-links): it may not exist yet
        filled = (served or links)[0] if prefetch and (served or links) else None
        dirs = {}
        for field, given in (("serve", served), ("find_links", links)):
            dirs[field] = tuple(str((self.folders / d).resolve()) for d in given)
            for i, d in enumerate(dirs[field]):
                if given[i] != filled and not Path(d).is_dir():
                    self.problem(f"{key}.{field}[{i}]", f"{given[i]!r} is not a directory (relative to {self.folders})")
        for i, req in enumerate(prefetch):
            self.requirement(f"{key}.prefetch[{i}]", req)
        return IndexVariant(name=name, index_url=index_url, extra_index_urls=extra, find_links=dirs["find_links"],
                            serve=dirs["serve"], no_index=no_index, prefetch=prefetch, pip_args=pip_args,
                            only_binary=only_binary)

    def requirement(self, key: str, text: str) -> None:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            first = str(exc).splitlines()[0] if str(exc) else "unparseable"
            self.problem(key, f"{text!r} is not a PEP 508 requirement: {first}")
            return
        if any(not spec.version.strip() for spec in req.specifier):
            self.problem(key, f"{text!r} is not a PEP 508 requirement: a version operator without a version")

    def package_set(self, name: str, body: dict[str, Any]) -> PackageSet | None:
        key = f"packages.{name}"
        self.known_keys(body, key, PACKAGE_KEYS)
        given = [k for k in ("requirements", "requirements_file", "lock") if k in body]
        if len(given) > 1:
            self.problem(key, f"takes one of requirements, requirements_file, lock (found {', '.join(given)})")
        if "wheelhouse" in body and "lock" not in body:
            self.problem(f"{key}.wheelhouse", "names where a lock's files are: it goes with lock")
        reqs = self.strings(body, key, "requirements")
        for i, req in enumerate(reqs):
            self.requirement(f"{key}.requirements[{i}]", req)
        if "modules" not in body and "lock" not in body:
            self.problem(f"{key}.modules", "missing: list the modules the probe imports, e.g. [\"torch\"]")
        modules = self.strings(body, key, "modules")
        if "modules" in body and not modules and isinstance(body["modules"], list):
            self.problem(f"{key}.modules", "is empty: list at least one module for the probe to import")
        for i, mod in enumerate(modules):
            if not MODULE_RE.match(mod):
                self.problem(f"{key}.modules[{i}]", f"{mod!r} is not a dotted module name")
        checks = self.checks(key, self.strings(body, key, "checks")) if "checks" in body else ()
        check_requires = self.strings(body, key, "check_requires")
        for i, req in enumerate(check_requires):
            self.requirement(f"{key}.check_requires[{i}]", req)
        check_timeout = self.get(body, key, "check_timeout", float, DEFAULT_CHECK_TIMEOUT)
        if not math.isfinite(check_timeout) or check_timeout <= 0:
            self.problem(f"{key}.check_timeout", f"must be a positive number of seconds, not {check_timeout}")
        packages: PackageSet | None = PackageSet(name=name, requirements=reqs, modules=modules, checks=checks,
                                                 check_requires=check_requires, check_timeout=check_timeout)
        if "requirements_file" in body:
            packages = self.from_requirements_file(packages, body, key)
        elif "lock" in body:
            packages = self.from_lock(packages, body, key)
        if packages is not None and "checks" not in body:  # the default: the built-ins of what the set installs
            packages = dataclasses.replace(packages, checks=checks_mod.default_checks(packages.requirements,
                                                                                      packages.modules))
        return packages

    def from_requirements_file(self, packages: PackageSet, body: dict[str, Any], key: str) -> PackageSet | None:
        """A set read from the user's requirements file (pip's syntax, read with pip-api); its index
        options become the set's own index variant."""
        written = self.get(body, key, "requirements_file", str, None)
        if not written:
            return None
        found = requirements_file.read(self.base / written)
        for where, message in found.problems:
            self.problem(f"{key}.requirements_file", f"{where}: {message}")
        for i, url in enumerate([*([found.index_url] if found.index_url else []), *found.extra_index_urls]):
            self.url(f"{key}.requirements_file (index URL {i + 1})", url)
        if not found.requirements and not found.problems:
            self.problem(f"{key}.requirements_file", f"{written!r} requires nothing: name at least one requirement")
        own = None
        if found.has_index_options or found.pip_args:
            own = IndexVariant(name=f"{packages.name}-file", index_url=found.index_url,
                               extra_index_urls=tuple(found.extra_index_urls), find_links=tuple(found.find_links),
                               no_index=found.no_index, pip_args=tuple(found.pip_args))
        return dataclasses.replace(
            packages, requirements=tuple(found.requirements), constraints=tuple(found.constraints),
            hashes=tuple((n, tuple(h)) for n, h in found.hashes.items()), index=own, source=written)

    def from_lock(self, packages: PackageSet, body: dict[str, Any], key: str) -> PackageSet | None:
        """A set that replays a lock: exactly its files, hash-checked, from a wheelhouse, with no network."""
        written = self.get(body, key, "lock", str, None)
        if not written:
            return None
        path = self.base / written
        try:
            lock = pylock.read(path)
        except pylock.LockError as exc:
            self.problem(f"{key}.lock", str(exc))
            return None
        wheelhouse = self.get(body, key, "wheelhouse", str, None)
        if wheelhouse:
            folder = (self.base / wheelhouse).resolve()
        else:
            folders = {(path.parent / p.file.path).resolve().parent for p in lock.packages if p.file.path}
            if len(folders) != 1 or any(not p.file.path for p in lock.packages):
                self.problem(f"{key}.wheelhouse", f"missing: {written!r} does not place all its files in one folder; "
                             "name the folder holding them (`wheel-harness lock --wheelhouse DIR` fills one)")
                return None
            folder = folders.pop()
        if not folder.is_dir():
            self.problem(f"{key}.wheelhouse", f"{str(folder)!r} is not a directory: fill it with "
                                              "`wheel-harness lock CELL --wheelhouse DIR`")
            return None
        verdict = str(lock.tool.get("verdict") or "pass")
        if verdict not in VERDICTS:
            self.problem(f"{key}.lock", f"{written!r} says the locked cell's verdict was {verdict!r}, no verdict")
            return None
        modules = packages.modules or tuple(str(m) for m in lock.tool.get("modules") or ())
        if not modules:
            self.problem(f"{key}.modules", f"missing, and {written!r} names none: list the modules the probe imports")
        own = IndexVariant(name="lock", find_links=(str(folder),), no_index=True,
                           pip_args=("--require-hashes", "--no-deps"))
        return dataclasses.replace(
            packages, requirements=tuple(lock.requirement_lines()), modules=modules,
            hashes=tuple((p.key, (f"sha256:{p.file.sha256}",)) for p in lock.packages), index=own, source=written,
            lock=LockRef(path=written, wheelhouse=str(folder), verdict=verdict,
                         cell=str(lock.tool["cell"]) if lock.tool.get("cell") else None))

    def cell_index(self, variant: IndexVariant, packages: PackageSet, where: str) -> IndexVariant | None:
        """The cell's index variant: the matrix's, with the options the package set brings. A lock's
        wheelhouse replaces it; a requirements file's indexes fill a variant that names none, and one
        that names others is a conflict (a cell has one index variant)."""
        own = packages.index
        if own is None:
            return variant
        if packages.lock is not None:
            return dataclasses.replace(own, name=variant.name)

        def chosen(v: IndexVariant) -> tuple[Any, ...]:
            return (v.index_url, v.extra_index_urls, v.find_links, v.no_index)

        names_indexes = any(chosen(own))
        if names_indexes and (any(chosen(variant)) or variant.serve) and chosen(own) != chosen(variant):
            if (packages.name, variant.name) in self.conflicts:
                return None
            self.conflicts.add((packages.name, variant.name))
            self.problem(where, f"{packages.source!r} chooses indexes ({_indexes_said(own)}), and index variant "
                                f"{variant.name!r} chooses others ({_indexes_said(variant)}): a cell has one index "
                                "variant. Drop the index options from the file, or pair the set with an index "
                                "variant that names no index (an empty [indexes.NAME] table)")
            return None
        if not names_indexes:
            return dataclasses.replace(variant, pip_args=variant.pip_args + own.pip_args)
        return dataclasses.replace(variant, index_url=own.index_url, extra_index_urls=own.extra_index_urls,
                                   find_links=own.find_links, no_index=own.no_index,
                                   pip_args=variant.pip_args + own.pip_args)

    def checks(self, key: str, entries: tuple[str, ...]) -> tuple[str, ...]:
        """`checks = [...]`: built-in checks by name, and the user's files (relative to the matrix file), a
        script or a pytest file or node id (file.py::test), each a file that exists, with a readable
        PEP 723 block where it has one. Files become absolute paths."""
        out = []
        for i, entry in enumerate(entries):
            where = f"{key}.checks[{i}]"
            if checks_mod.is_builtin(entry):
                if entry in out:
                    self.problem(where, f"{entry!r} is listed twice")
                    continue
                out.append(entry)
                continue
            path, _, node = entry.partition("::")
            if not path.endswith(".py"):
                self.problem(where, f"{entry!r} is neither a built-in check ({', '.join(checks_mod.BUILTIN)}) nor a "
                             "Python file (a script, or a pytest file or node id like tests/test_model.py::test_x)"
                             + _did_you_mean(entry, checks_mod.BUILTIN))
                continue
            full = (self.base / path).resolve()
            if not full.is_file():
                self.problem(where, f"{path!r} is not a file (relative to {self.base})")
                continue
            if checks_mod.UserCheck.of(entry).kind == "script":
                try:
                    checks_mod.script_dependencies(full.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError) as exc:
                    self.problem(where, f"{path!r}: {exc}")
                    continue
            resolved = str(full) + (f"::{node}" if node else "")
            if resolved in out:
                self.problem(where, f"{entry!r} is listed twice")
                continue
            out.append(resolved)
        return tuple(out)

    # -- expansion ---------------------------------------------------------------------------
    def axis(self, spec: dict[str, Any], axis: str, declared: dict[str, Any]) -> list[str]:
        names = self.strings(spec, "matrix", axis) if axis in spec else tuple(declared)
        for n in {n for n in names if names.count(n) > 1}:
            self.problem(f"matrix.{axis}", f"{n!r} is listed twice")
        names = tuple(dict.fromkeys(names))
        for i, n in enumerate(names):
            if n not in declared:
                self.problem(f"matrix.{axis}[{i}]", f"{n!r} is not declared{_did_you_mean(n, tuple(declared))}")
        return [n for n in names if n in declared]

    def selectors(self, spec: dict[str, Any], which: str, declared: dict[str, dict[str, Any]],
                  complete: bool) -> list[dict[str, str]]:
        out = []
        for i, entry in enumerate(self.get(spec, "matrix", which, list, [])):
            key = f"matrix.{which}[{i}]"
            if not isinstance(entry, dict):
                self.problem(key, f"must be a table like {{ image = \"…\" }}, not {type(entry).__name__}")
                continue
            allowed = SELECT_KEYS + OPTIONAL_SELECT_KEYS + (EXPECT_KEYS if complete else ())
            self.known_keys(entry, key, allowed)
            good = True
            if complete and "expect" in entry and entry["expect"] not in VERDICTS:
                self.problem(f"{key}.expect", f"{entry['expect']!r} is not a verdict"
                             f"{_did_you_mean(str(entry['expect']), VERDICTS)}; known: {', '.join(VERDICTS)}")
                good = False
            for name in ("why", "cuda", "capability", "approach"):
                if complete and not isinstance(entry.get(name, ""), str):
                    self.problem(f"{key}.{name}", "must be a string")
                    good = False
            if complete and entry.get("torch_build", "cuda") not in ("cuda", "cpu"):
                self.problem(f"{key}.torch_build", f"{entry['torch_build']!r} must be \"cuda\" or \"cpu\"")
                good = False
            if complete and isinstance(entry.get("approach"), str) and not entry["approach"].strip():
                self.problem(f"{key}.approach", "is empty: name the approach, e.g. \"Jetson wheels\"")
                good = False
            if complete and isinstance(entry.get("capability"), str) and not CAPABILITY_RE.match(entry["capability"]):
                self.problem(f"{key}.capability", f"{entry['capability']!r} is not a compute capability like \"8.7\"")
                good = False
            installer = entry.get("installer")
            if installer is not None and (not isinstance(installer, str) or not fnmatch.filter(INSTALLERS, installer)
                                          or (complete and installer not in INSTALLERS)):
                self.problem(f"{key}.installer", f"{installer!r} is not an installer"
                             f"{_did_you_mean(str(installer), INSTALLERS)}; known: {', '.join(INSTALLERS)}")
                good = False
            for axis in SELECT_KEYS:
                value = entry.get(axis)
                if value is None:
                    if complete:
                        self.problem(f"{key}.{axis}", "missing: an included cell names image, index and packages")
                        good = False
                    continue
                if not isinstance(value, str):
                    self.problem(f"{key}.{axis}", "must be a string")
                    good = False
                elif complete and value not in declared[axis]:
                    self.problem(f"{key}.{axis}",
                                 f"{value!r} is not declared{_did_you_mean(value, tuple(declared[axis]))}")
                    good = False
                elif not complete and not fnmatch.filter(declared[axis], value):
                    self.problem(f"{key}.{axis}", f"{value!r} matches no declared name"
                                 f"{_did_you_mean(value, tuple(declared[axis]))}")
            if complete and "build_jobs" in entry:
                good = self.jobs(entry, f"{key}.build_jobs") is not None and good
            if complete and "memory" in entry:
                entry = {**entry, "memory_bytes": self.size(entry, f"{key}.memory", name="memory")}
                good = good and entry["memory_bytes"] is not None
            if complete and "processes" in entry:
                good = self.processes(entry, f"{key}.processes") is not None and good
            if good and entry:
                out.append({k: v for k, v in entry.items() if k in allowed or k == "memory_bytes"})
            elif not entry:
                self.problem(key, "empty: name at least one of image, index, packages")
        return out

    def cells(self, spec: dict[str, Any], images: dict[str, Image | None], indexes: dict[str, IndexVariant | None],
              packages: dict[str, PackageSet | None], timeout: float) -> list[Cell]:
        declared = {"image": images, "index": indexes, "packages": packages}
        installers = self.strings(spec, "matrix", "installers") if "installers" in spec else ("pip",)
        for i, name in enumerate(installers):
            if name not in INSTALLERS:
                self.problem(f"matrix.installers[{i}]", f"{name!r} is not an installer"
                             f"{_did_you_mean(name, INSTALLERS)}; known: {', '.join(INSTALLERS)}")
        axes = [self.axis(spec, "images", images), self.axis(spec, "indexes", indexes),
                self.axis(spec, "packages", packages), [i for i in dict.fromkeys(installers) if i in INSTALLERS]]
        excludes = self.selectors(spec, "exclude", declared, complete=False)
        includes = self.selectors(spec, "include", declared, complete=True)

        def excluded(combo: tuple[str, str, str, str]) -> bool:
            values = dict(zip(SELECT_KEYS + OPTIONAL_SELECT_KEYS, combo))
            return any(all(fnmatch.fnmatchcase(values[k], v) for k, v in ex.items()) for ex in excludes)

        combos: list[tuple[str, str, str, str]] = [c for c in itertools.product(*axes) if not excluded(c)]
        expectations: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        approaches: dict[str, str] = {}  # approach name → the cell id that carries it
        for i, inc in enumerate(includes):
            combo = (inc["image"], inc["index"], inc["packages"], inc.get("installer", "pip"))
            if combo not in combos:
                combos.append(combo)
            expectations[combo] = inc
            name, cid = inc.get("approach"), cell_id(*combo)
            if name and approaches.get(name, cid) != cid:
                self.problem(f"matrix.include[{i}].approach", f"{name!r} already names cell {approaches[name]}: "
                             "give each approach its own name")
            elif name:
                approaches[name] = cid
        if not combos and not self.problems:
            self.problem("matrix", "expands to no cells: check images/indexes/packages and exclude")
        def make(c: tuple[str, str, str, str]) -> Cell | None:
            if not (images[c[0]] and indexes[c[1]] and packages[c[2]]):
                return None
            cid = cell_id(*c)
            if len(cid) > CELL_ID_MAX:
                longest = max(zip(("images", "indexes", "packages"), c[:3]), key=lambda kv: len(kv[1]))
                self.problem(f"{longest[0]}.{longest[1]}", f"makes the cell id {cid[:40]}… {len(cid)} characters "
                             f"long; a cell id names its result files, at most {CELL_ID_MAX}: shorten the names")
                return None
            gaps = templates.missing(indexes[c[1]], images[c[0]])
            if gaps:
                fields = ", ".join(f"{{{g}}}" for g in gaps)
                self.problem(f"indexes.{c[1]}", f"its URL uses {fields}, which image {c[0]!r} does not give: add "
                             + " and ".join(f'{g.split("_")[0]} = "…"' for g in dict.fromkeys(
                                 g.split("_")[0] for g in gaps))
                             + f" to [images.{c[0]}], or exclude the pair")
                return None
            inc = expectations.get(c, {})
            cuda = CudaExpectation(torch_build=inc.get("torch_build"), version=inc.get("cuda"),
                                   capability=inc.get("capability"))
            pkgs = packages[c[2]]
            index = self.cell_index(templates.fill(indexes[c[1]], images[c[0]]), pkgs, f"packages.{c[2]}")
            if index is None:
                return None
            lock = pkgs.lock
            return Cell(image=images[c[0]], index=index,
                        packages=pkgs, timeout=timeout, installer=c[3],
                        retry=self.retry,
                        memory=inc["memory_bytes"] if inc.get("memory_bytes") is not None else self.memory,
                        processes=inc.get("processes", self.process_limit),
                        build_jobs=inc["build_jobs"] if inc.get("build_jobs") is not None else self.build_jobs,
                        expect=inc.get("expect", lock.verdict if lock else "pass"),
                        expect_why=inc.get("why") or (f"the verdict of the locked cell {lock.cell or lock.path}"
                                                      if lock and lock.verdict != "pass" else None),
                        approach=inc.get("approach"),
                        cuda=cuda if cuda != CudaExpectation() else None)

        return [cell for cell in map(make, combos) if cell]

    # -- declared tables ---------------------------------------------------------------------
    def tables(self, data: Any, cells: list[Cell]) -> tuple[TableSpec, ...]:
        """`[tables.NAME]`: which cells (approach names or cell-id patterns), which columns, which headers."""
        out = []
        for name, body in self.named(data, "tables").items():
            key = f"tables.{name}"
            self.known_keys(body, key, TABLE_KEYS)
            title = self.get(body, key, "title", str, None)
            rows = self.strings(body, key, "cells")
            elsewhere = self.elsewhere(body, key, cells)
            names = [c.approach for c in cells if c.approach] + [c.id for c in cells] + [n for n, _ in elsewhere]
            for i, entry in enumerate(rows):
                if any(entry == n for n, _ in elsewhere):
                    continue
                if not any(entry == c.approach or fnmatch.fnmatchcase(c.id, entry) for c in cells):
                    self.problem(f"{key}.cells[{i}]", f"{entry!r} is no approach name and matches no cell id"
                                 f"{_did_you_mean(entry, names)}")
            columns = self.columns(body.get("columns"), f"{key}.columns")
            if columns:
                out.append(TableSpec(name=name, title=title, cells=rows, columns=columns, elsewhere=elsewhere))
        return tuple(out)

    def elsewhere(self, body: dict[str, Any], key: str, cells: list[Cell]) -> tuple[tuple[str, str], ...]:
        """`elsewhere`: approach name → why no cell of this matrix runs it (the row says so)."""
        out = []
        for name, why in self.get(body, key, "elsewhere", dict, {}).items():
            if not isinstance(why, str) or not why.strip():
                self.problem(f"{key}.elsewhere.{name}", "must say why the approach is not run here, as a string")
            elif any(c.approach == name for c in cells):
                self.problem(f"{key}.elsewhere.{name}", f"{name!r} names a cell of this matrix: drop one of the two")
            else:
                out.append((name, why.strip()))
        rows = body.get("cells")
        for name, _ in out:
            if isinstance(rows, list) and rows and name not in rows:
                self.problem(f"{key}.elsewhere.{name}", f"{name!r} is not in {key}.cells: name it there, where its "
                                                        "row belongs")
        return tuple(out)

    def columns(self, data: Any, key: str) -> tuple[TableColumn, ...]:
        if data is None:
            self.problem(key, "missing: list the columns, e.g. [\"approach\", { value = \"build\", "
                              "header = \"Build Time\" }]")
            return ()
        if not isinstance(data, list) or not data:
            self.problem(key, "must be a non-empty list of column names or { value = …, header = … } tables")
            return ()
        known = tuple(TABLE_COLUMNS)
        out = []
        for i, entry in enumerate(data):
            where = f"{key}[{i}]"
            if isinstance(entry, str):
                entry = {"value": entry}
            if not isinstance(entry, dict):
                self.problem(where, f"must be a column name or a table like {{ value = \"run\", header = \"Run "
                                    f"Time\" }}, not {type(entry).__name__}")
                continue
            self.known_keys(entry, where, COLUMN_KEYS)
            value = entry.get("value")
            if not isinstance(value, str):
                self.problem(f"{where}.value", "missing: name what the column shows, e.g. \"run\"")
                continue
            if value not in TABLE_COLUMNS:
                self.problem(f"{where}.value", f"unknown column {value!r}{_did_you_mean(value, known)}; known: "
                             f"{', '.join(known)}")
                continue
            header = entry.get("header", TABLE_COLUMNS[value][0])
            if not isinstance(header, str) or not header.strip() or "|" in header:
                self.problem(f"{where}.header", "must be a non-empty string without '|'")
                continue
            out.append(TableColumn(value=value, header=header))
        return tuple(out)


def _indexes_said(variant: IndexVariant) -> str:
    parts = [f"--index-url {variant.index_url}"] if variant.index_url else []
    parts += [f"--extra-index-url {u}" for u in variant.extra_index_urls]
    parts += [f"--find-links {Path(d).name}" for d in variant.find_links]
    parts += [f"serve {Path(d).name}" for d in variant.serve]
    parts += ["--no-index"] if variant.no_index else []
    return ", ".join(parts) or "pip's default index"
