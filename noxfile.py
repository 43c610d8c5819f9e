"""Thin sessions that call the harness; the matrix lives in matrices/*.toml, not here."""

from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["matrix"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
TEST_DEPS = PYPROJECT["project"]["optional-dependencies"]["test"]
LINT_DEPS = PYPROJECT["project"]["optional-dependencies"]["lint"]
DOCS_DEPS = PYPROJECT["project"]["optional-dependencies"]["docs"]


@nox.session(reuse_venv=True)
def matrix(session: nox.Session) -> None:
    """Run the default matrix for this host (or the matrix files and flags after --)."""
    session.install("-e", ".")
    session.run("wheel-harness", "run", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def plan(session: nox.Session) -> None:
    """Predict every cell's install with uv, without containers (the matrix files after --)."""
    session.install("-e", ".")
    session.run("wheel-harness", "plan", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def images(session: nox.Session) -> None:
    """Build the local base images a matrix needs (default: the smoke matrix)."""
    session.install("-e", ".")
    session.run("wheel-harness", "images", "build", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def clean(session: nox.Session) -> None:
    """Remove leftovers of earlier runs (containers, caches, images); flags after -- (see `clean --help`)."""
    session.install("-e", ".")
    session.run("wheel-harness", "clean", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def tests(session: nox.Session) -> None:
    """The test suite, Docker integration tests included (they fail, not skip, under CI=true)."""
    session.install("-e", ".", *TEST_DEPS, *DOCS_DEPS)  # the docs' tests build the site
    session.run("pytest", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def faults(session: nox.Session) -> None:
    """Faults provoked for real and hostile input: prints faults tried/survived, containers leaked,
    results lost, secrets written (each must be 0) and bad inputs rejected (the tests marked `fault`)."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("pytest", "-m", "fault", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def mutants(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the pure modules against the fast tests: the score per module; only what
    changed is tested again (the cache is mutants/). `-- --write` updates tests/mutation-score.md."""
    session.install("-e", ".", *TEST_DEPS, *PYPROJECT["project"]["optional-dependencies"]["mutants"])
    session.run("python", "tools/mutants.py", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, Material theme) into .cache/site, with --strict: a broken link or
    a page outside the nav fails. Its Reference pages are made from the code (tools/docs_reference.py).
    `nox -s docs -- serve` previews it."""
    session.install("-e", ".", *DOCS_DEPS)
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # Material's banner about its successor, on every build
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def bench(session: nox.Session) -> None:
    """The benchmark: the harness against a naive loop on real cells; writes bench/RESULTS.md (~10 min)."""
    session.install("-e", ".")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff; the import graph (no cycle, and the seams docs/development.md's module list describes); the GitHub
    workflows and the action (action.yml) against GitHub's schemas (check-jsonschema) and a workflow
    linter (zizmor, offline)."""
    session.install(*LINT_DEPS)
    session.run("ruff", "check", "harness", "tests", "tools", "bench", "noxfile.py")
    session.run("python", "tools/import_graph.py", "harness")
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-actions", "action.yml")  # our action
    session.run("zizmor", "--offline", "--min-severity", "low", *workflows, "action.yml")
