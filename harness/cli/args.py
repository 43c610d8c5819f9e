"""What several commands read from their arguments: the matrices (or this host's default), the
results folder, the backend, the run options, one cell of a matrix."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from harness import resources
from harness.backends import hostfacts
from harness.backends.choose import choose_backend
from harness.errors import HarnessError, MatrixError
from harness.matrix import reader
from harness.model import Matrix
from harness.run import options


def default_matrix(facts=None, log=print) -> Path:
    """The matrix for this host when none is named (this folder's matrices/NAME, else the shipped one):
    it says which, from where, and why."""
    name, why = hostfacts.default_matrix(facts or hostfacts.detect())
    path, where = resources.matrix_for(name)
    log(f"No matrix named: using {path} ({why}; {where}).")
    return path


def results_dir(args: argparse.Namespace, m: Matrix) -> Path:
    return Path(args.results) / m.name


def load_all(paths: list[Path]) -> list[Matrix]:
    """Every matrix named; the problems of all of them at once when any is wrong."""
    problems = []
    loaded = []
    for path in paths:
        try:
            loaded.append(reader.load(path))
        except MatrixError as exc:
            problems.extend(exc.problems)
    if problems:
        raise MatrixError(problems)
    return loaded


def chosen_backend(args: argparse.Namespace, log=print):
    """The backend `--backend` (and `--python`, which means the host backend) asks for."""
    python = getattr(args, "python", None)
    if python:
        if args.backend == "docker":
            raise HarnessError("--python names the interpreter whose environment host cells run over; it does not "
                               "apply to the docker backend", hint="drop --python, or use --backend host")
        found = shutil.which(python)
        if not found:
            raise HarnessError(f"--python {python}: no such interpreter",
                               hint="name a python executable, e.g. ~/venvs/torch/bin/python")
        return choose_backend("host", log=log, python=found)
    return choose_backend(args.backend, log=log)


def run_options(args: argparse.Namespace, backend, facts, **kw) -> options.RunOptions:
    """The options of a run (or of a search's steps) from --jobs, --timeout, --memory and --processes."""
    return options.for_host(backend, facts, jobs=args.jobs, timeout=args.timeout, memory=args.memory,
                            processes=args.processes, **kw)


def the_cell(m: Matrix, pattern: str):
    """The one cell of `m` whose id matches `pattern`."""
    found = reader.select(m.cells, [pattern])
    if len(found) != 1:
        shown = ", ".join(c.id for c in (found or m.cells)[:8])
        raise HarnessError(f"{m.source}: {len(found)} cells match {pattern!r}",
                           hint=f"name exactly one: {shown}" + (" …" if len(found or m.cells) > 8 else ""))
    return found[0]
