"""The matrix format as a JSON Schema (draft 7, what taplo and Even Better TOML read), made from the
model and from the keys the reader accepts, so editors complete keys and flag mistakes.

Each key the reader accepts has one entry here: its JSON type and one sentence saying what it does. A
key the reader learns without an entry here is an error when the schema is made (`nox -s docs` and the
tests make it), so the schema and the reference page built from it cannot fall behind the reader.
What a schema cannot say (a file that must exist, a PEP 508 requirement, a name another table must
declare, a template field an image must give, a matrix that expands to no cell) stays the reader's:
`wheel-harness validate` checks everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.matrix import reader, templates
from harness.model import INSTALLERS, LOCAL_RECIPES, NAME_RE, NAME_RULE, TABLE_COLUMNS, Arch, Verdict

DIALECT = "http://json-schema.org/draft-07/schema#"

NAME = {"type": "string", "pattern": NAME_RE.pattern.replace(r"\A", "^").replace(r"\Z", "$"),
        "description": f"a name: {NAME_RULE} (it becomes part of file names)"}
TEXT = {"type": "string", "pattern": r"\S"}  # a non-empty string
VERSION = {"type": "string", "pattern": reader.VERSION_RE.pattern}
# a URL whose braces are the placeholders, or {{ and }} for a literal brace
URL = {"type": "string", "pattern": r"^(https?://(?=[^/\s])|file:)(\{\{|\}\}|[^{}]|\{(%s)\})*$"
                                    % "|".join(templates.FIELDS),
       "description": "an http(s):// or file:// URL; may hold the placeholders "
                      + ", ".join("{%s}" % f for f in templates.FIELDS) + ", filled from the cell's image"}
SIZE = {"anyOf": [{"type": "integer", "minimum": reader.MIN_MEMORY, "maximum": reader.MAX_MEMORY},
                  {"type": "string", "pattern": reader._SIZE_RE.pattern}]}


def strings(item: Mapping[str, Any] = TEXT, **more: Any) -> dict[str, Any]:
    return {"type": "array", "items": dict(item), **more}


# section → key → (schema, what the key does). The reader's key lists decide which keys exist.
IMAGE = {
    "ref": (TEXT, "an image reference the engine has or can pull, e.g. nvcr.io/nvidia/pytorch:25.06-py3-igpu"),
    "dockerfile": (TEXT, "a Dockerfile (relative to the matrix file) the harness builds with BuildKit on first "
                         "use; its folder is the build context"),
    "local_build": ({"enum": list(LOCAL_RECIPES)}, "an image the harness makes itself from a distribution's "
                                                   "packages (mmdebstrap): " + ", ".join(LOCAL_RECIPES)),
    "platform": ({"enum": [a.platform for a in Arch]}, "the image's platform; a foreign one runs under QEMU "
                                                       "emulation where the host has it, and is skipped elsewhere"),
    "ships_torch": ({"type": "boolean"}, "true when the image comes with torch: cells' venvs see it (system "
                                         "site packages) and a replaced torch is the verdict torch-replaced"),
    "python": (TEXT, "the interpreter in the image (default python3)"),
    "build_args": ({"type": "object", "additionalProperties": {"type": "string"}},
                   "build arguments for the Dockerfile, e.g. { BASE = \"…\" }"),
    "jetpack": (VERSION, "the JetPack release the image targets (6.2), for index URL templates"),
    "cuda": (VERSION, "the CUDA version the image targets (12.6), for index URL templates"),
    "python_version": (VERSION, "the image's Python (3.10), for `plan`"),
    "glibc": (VERSION, "the image's glibc (2.35), for `plan`'s manylinux level"),
    "build_folders": ({"type": "object", "additionalProperties": {"type": "string"}},
                      "with dockerfile: folders (relative to the matrix) put into the recipe's build context under "
                      "these names, e.g. { wheelhouse = \"../.wheelhouse/smoke\" }"),
    "source_file": (TEXT, "with dockerfile: the application file (relative to the recipe's folder) changed once "
                          "to measure the cached build after a source change"),
}
INDEX = {
    "index_url": (URL, "pip's --index-url (none: pip's default index)"),
    "extra_index_urls": (strings(URL), "pip's --extra-index-url, each"),
    "find_links": (strings(), "host folders of wheels, mounted read-only into cells (relative to the matrix file)"),
    "serve": (strings(), "host folders the harness serves as a PEP 503 index on the loopback during the run"),
    "no_index": ({"type": "boolean"}, "true: only the wheelhouse (find_links or serve), no index at all"),
    "prefetch": (strings(), "requirements the host downloads (pip download --no-deps) into the first wheelhouse "
                            "before the run"),
    "pip_args": (strings(), "anything else for pip install"),
    "only_binary": ({"type": "boolean"}, "true: refuse source builds; the result names what would be compiled"),
}
JOBS = {"type": "integer", "minimum": 1, "maximum": reader.MAX_BUILD_JOBS}
PROCESSES = {"type": "integer", "minimum": reader.MIN_PROCESSES, "maximum": reader.MAX_PROCESSES}
PACKAGES = {
    "requirements": (strings(), "PEP 508 requirements, installed in one go"),
    "requirements_file": (TEXT, "a requirements file in pip's own syntax (relative to the matrix file): its "
                                "requirements, constraints (-c), hashes and index options (which become the "
                                "set's own index variant); instead of requirements"),
    "lock": (TEXT, "a lock (pylock.*.toml, from `wheel-harness lock`) to replay: exactly its files, "
                   "hash-checked, from a wheelhouse, with no network; instead of requirements"),
    "wheelhouse": (TEXT, "with lock: the folder holding the lock's files (default: the lock's own folder)"),
    "checks": (strings(), "what runs after the imports: built-in checks by name (torch, torch.compile, torchao, "
                          "torchtune) and your own files (a script, or a pytest file or node id), relative to the "
                          "matrix file; [] for imports only (default: the built-ins of the packages installed)"),
    "check_requires": (strings(), "PEP 508 requirements your checks need beside their PEP 723 metadata, installed "
                                  "into the cell's venv after the imports"),
    "check_timeout": ({"type": "number", "exclusiveMinimum": 0},
                      "seconds each check may take, within what is left of the cell's timeout (default 300)"),
    "modules": (strings({"type": "string", "pattern": reader.MODULE_RE.pattern}, minItems=1),
                "the modules the probe imports, in order (submodules people use catch more breakage)"),
}
SELECT = {
    "image": (TEXT, "an image name (a shell pattern in exclude)"),
    "index": (TEXT, "an index variant name (a shell pattern in exclude)"),
    "packages": (TEXT, "a package set name (a shell pattern in exclude)"),
    "installer": ({"type": "string"}, "pip or uv (a shell pattern in exclude; an include without it means pip)"),
}
EXPECT = {
    "expect": ({"enum": [v.value for v in Verdict]}, "the verdict this cell is known to have: a documented "
                                                     "known-bad combination; the run fails if it does anything else"),
    "why": ({"type": "string"}, "why the cell has that verdict (shown in tables and reports)"),
    "torch_build": ({"enum": ["cuda", "cpu"]}, "the torch build the cell must get"),
    "cuda": ({"type": "string"}, "the CUDA version torch.version.cuda must start with"),
    "capability": ({"type": "string", "pattern": reader.CAPABILITY_RE.pattern},
                   "the GPU's compute capability, e.g. 8.7"),
    "memory": (SIZE, "the memory this cell may use, e.g. \"8G\" (no swap)"),
    "processes": (PROCESSES, "the processes (threads count too) this cell may run at once"),
    "build_jobs": (JOBS, "a source build's parallel jobs in this cell (default: from its memory limit)"),
    "approach": (TEXT, "a human name for the cell, unique in the matrix (tables, reports)"),
}
MATRIX = {
    "name": (NAME, "the matrix's name (default: the file's name); results go to results/<name>/"),
    "description": ({"type": "string"}, "what the matrix is for"),
    "timeout": ({"type": "number", "exclusiveMinimum": 0}, f"seconds per cell (default {reader.DEFAULT_TIMEOUT:g})"),
    "memory": (SIZE, "the memory a cell may use, e.g. \"6G\" (default: the machine's memory divided by --jobs)"),
    "processes": (PROCESSES, "the processes (threads count too) a cell may run at once; a cell that hits it "
                             "is stopped there (default 4096, or --processes)"),
    "build_jobs": (JOBS, "a source build's parallel jobs (MAX_JOBS, CMAKE_BUILD_PARALLEL_LEVEL, MAKEFLAGS; "
                         "default: from the cell's memory limit, 2 GiB a job after 1 GiB)"),
    "install_attempts": ({"type": "integer", "minimum": 1, "maximum": 10},
                         f"tries while an index does not answer (default {reader.DEFAULT_ATTEMPTS})"),
    "retry_backoff": ({"type": "number", "minimum": 0, "maximum": 600},
                      "seconds before the first retry, doubled for each one after "
                      f"(default {reader.DEFAULT_BACKOFF:g})"),
    "images": (strings(uniqueItems=True), "the images axis (default: every image declared; [] for only the includes)"),
    "indexes": (strings(uniqueItems=True), "the index variants axis (default: every one declared)"),
    "packages": (strings(uniqueItems=True), "the package sets axis (default: every one declared)"),
    "installers": (strings({"enum": list(INSTALLERS)}), "pip, uv or both: each cell once per installer "
                                                       "(default [\"pip\"]; uv cells' ids end in __uv)"),
    "exclude": (None, "combinations left out of the product: shell patterns over any of image, index, packages, "
                      "installer"),
    "include": (None, "cells outside the product, or expectations for cells in it: image, index and packages, "
                      "with what the cell is expected to do"),
}
TABLE = {
    "title": ({"type": "string"}, "the heading when the table is added to a document that lacks its markers"),
    "cells": (strings(), "the rows, in order: approach names or cell-id patterns (default: every cell)"),
    "columns": (None, "the columns: a value's name, or { value = …, header = … }"),
    "elsewhere": ({"type": "object", "additionalProperties": TEXT},
                  "rows for approaches no cell of this matrix runs: approach name → why not here"),
}
COLUMN = {
    "value": ({"enum": list(TABLE_COLUMNS)}, "what the column shows"),
    "header": ({"type": "string", "pattern": r"^[^|]*\S[^|]*$"}, "its header (no '|')"),
}
TOP = {
    "matrix": (None, "the axes and what every cell shares"),
    "images": (None, "the base images, by name"),
    "indexes": (None, "the index variants (where pip looks), by name; an empty table is pip's default index"),
    "packages": (None, "the package sets (what is installed, what the probe imports), by name"),
    "tables": (None, "tables of your own, by name: which cells, which columns, which headers"),
}

# Which of the reader's key lists (read when the schema is made) each section above must match, key for key.
SECTIONS = {
    "": (TOP, ("TOP_KEYS",)),
    "matrix": (MATRIX, ("MATRIX_KEYS",)),
    "images.NAME": (IMAGE, ("IMAGE_KEYS",)),
    "indexes.NAME": (INDEX, ("INDEX_KEYS",)),
    "packages.NAME": (PACKAGES, ("PACKAGE_KEYS",)),
    "matrix.include[]": ({**SELECT, **EXPECT}, ("SELECT_KEYS", "OPTIONAL_SELECT_KEYS", "EXPECT_KEYS")),
    "matrix.exclude[]": (SELECT, ("SELECT_KEYS", "OPTIONAL_SELECT_KEYS")),
    "tables.NAME": (TABLE, ("TABLE_KEYS",)),
    "tables.NAME.columns[]": (COLUMN, ("COLUMN_KEYS",)),
}


class SchemaDrift(AssertionError):
    """The reader accepts a key this module does not describe (or the other way round)."""


def check_sections() -> None:
    for where, (described, lists) in SECTIONS.items():
        accepted = [key for name in lists for key in getattr(reader, name)]
        if set(described) != set(accepted):
            missing, extra = sorted(set(accepted) - set(described)), sorted(set(described) - set(accepted))
            raise SchemaDrift(f"harness/matrix/schema.py, section {where or 'top'}: the reader accepts "
                              f"{missing or 'nothing more'}, described without being accepted: {extra or 'none'}; "
                              "describe each key the reader accepts")


def _object(keys: Mapping[str, tuple[Any, str]], given: Mapping[str, Any] | None = None, **more: Any) -> dict:
    props = {}
    for key, (schema, text) in keys.items():
        body = dict((given or {}).get(key) or schema or {})
        body["description"] = text
        props[key] = body
    return {"type": "object", "properties": props, "additionalProperties": False, **more}


def _named(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "propertyNames": {"pattern": NAME["pattern"]},
            "additionalProperties": item}


def build() -> dict[str, Any]:
    """The schema, made afresh from the model and the reader."""
    check_sections()
    image = _object(IMAGE, required=["platform"],
                    oneOf=[{"required": ["ref"]}, {"required": ["dockerfile"]}, {"required": ["local_build"]}])
    wheelhouse = {"anyOf": [{"required": ["find_links"]}, {"required": ["serve"]}]}
    index = _object(INDEX, allOf=[
        {"if": {"required": ["no_index"], "properties": {"no_index": {"const": True}}},
         "then": {**wheelhouse, "not": {"anyOf": [{"required": ["index_url"]}, {"required": ["extra_index_urls"]}]}}},
        {"if": {"required": ["prefetch"]}, "then": wheelhouse},
    ])
    include = _object({**SELECT, **EXPECT}, given={"installer": {"enum": list(INSTALLERS)}},
                      required=["image", "index", "packages"])
    exclude = _object(SELECT, minProperties=1)
    column = {"anyOf": [COLUMN["value"][0], _object(COLUMN, required=["value"])]}
    table = _object(TABLE, given={"columns": {"type": "array", "minItems": 1, "items": column}}, required=["columns"])
    matrix = _object(MATRIX, given={"exclude": {"type": "array", "items": exclude},
                                    "include": {"type": "array", "items": include}})
    top = _object(TOP, given={"matrix": matrix, "images": _named(image), "indexes": _named(index),
                              "packages": _named(_object(
                                  PACKAGES, anyOf=[{"required": ["modules"]}, {"required": ["lock"]}],
                                  dependencies={"wheelhouse": ["lock"]},
                                  **{"not": {"anyOf": [{"required": list(pair)} for pair in (
                                      ("requirements", "requirements_file"), ("requirements", "lock"),
                                      ("requirements_file", "lock"))]}})),
                              "tables": _named(table)},
                  required=["images", "indexes", "packages"])
    return {"$schema": DIALECT, "title": "edge-wheel-harness matrix",
            "description": "A matrix file of wheel-harness: images x index variants x package sets (x installers). "
                           "`wheel-harness validate FILE` checks what a schema cannot.", **top}


def text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(build(), indent=2) + "\n"
