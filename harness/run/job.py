"""A cell → the Job its backend runs: the in-cell files and spec, the index options, what is lent to it
(find-links folders, the host's CA bundle), its environment (proxies), network, limits and caches."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness import checks, incell, installers, redact
from harness.backends.base import LABEL_CELL, LABEL_RUN, Backend, Job, Mount
from harness.errors import HarnessError
from harness.incell.driver import requirement_names
from harness.model import Arch, Cell
from harness.plan.target import Target
from harness.run.options import RunOptions, effective

CELL_WORKDIR = "ewh-work"


def cache_name(cell: Cell, namespace: str = "") -> str:
    """The shared download cache of the cell's platform and Python: `linux-amd64-py3.11`."""
    return f"{namespace}{cell.image.arch.platform.replace('/', '-')}-py{Target.of(cell).python_version}"


def forwarded_environment(environ: Mapping[str, str], backend: Backend) -> tuple[list[Mount], dict[str, str]]:
    """The host's CA bundle (mounted read-only) and proxy settings, as the cell must see them.

    Behind a corporate proxy pip inside a cell needs the same CA bundle and proxy variables as the
    host. The bundle is the one installers.ca_bundle chooses, lent once; every CA variable in the cell
    names it, so pip, uv, the driver's checks and OpenSSL in the cell all trust the same certificates
    as `plan` and a search do on the host.
    """
    mounts: list[Mount] = []
    env: dict[str, str] = {}
    bundle = installers.ca_bundle(environ)
    if bundle:
        mounts.append(Mount(host=bundle, cell=backend.cell_path(bundle, "ca-0.pem")))
        env.update({var: mounts[0].cell for var in installers.CA_VARIABLES})
    for var in installers.PROXY_VARIABLES:
        for name in (var, var.lower()):
            if environ.get(name):
                env[name] = environ[name]
    return mounts, env


def served_urls(cell: Cell, served: Mapping[str, str]) -> list[str]:
    """The URLs of the wheelhouses this cell's index variant has the harness serve."""
    missing = [d for d in cell.index.serve if d not in served]
    if missing:
        raise HarnessError(f"wheelhouse {missing[0]} of index variant {cell.index.name!r} is not being served",
                           hint="run cells through run_cells(), which serves them for the run")
    return [served[d] for d in cell.index.serve]


def pip_options(cell: Cell, backend: Backend, served: Mapping[str, str] | None = None) -> tuple[list[str], list[Mount]]:
    """The cell's pip options, and the read-only mounts its find-links folders need. A backend whose
    cells cannot reach this machine's loopback (a remote engine) gets served wheelhouses copied in as
    find-links folders instead of their URLs."""
    index = cell.index
    if index.serve and not backend.reaches_host_loopback:
        index = dataclasses.replace(index, find_links=(*index.serve, *index.find_links), serve=())
    mounts = [Mount(host=d, cell=backend.cell_path(d, f"links-{i}")) for i, d in enumerate(index.find_links)]
    urls = served_urls(cell, served or {}) if index.serve else []
    return installers.pip_install_args(index, served=urls, links=[m.cell for m in mounts]), mounts

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def on_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def job_uses_host_network(cell: Cell, backend: Backend) -> bool:
    """Only where an index on this machine's loopback must be reached: a served wheelhouse (when the
    engine can reach it) or an index URL on 127.0.0.1/localhost."""
    return (bool(cell.index.serve) and backend.reaches_host_loopback) or any(on_loopback(u) for u in cell.index.urls)


def sources(cell: Cell, pip_args: list[str]) -> dict[str, Any]:
    """The indexes and find-links folders the cell's pip consults, as the driver checks them."""
    urls = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a in ("--index-url", "--extra-index-url")]
    links = [pip_args[i + 1] for i, a in enumerate(pip_args[:-1]) if a == "--find-links"]
    return {"default": "--no-index" not in pip_args and "--index-url" not in pip_args,
            "indexes": [{"label": redact.url(u), "url": u} for u in urls],
            "find_links": links}


def requirement_files(cell: Cell) -> tuple[list[str] | None, list[str]]:
    """(requirement lines for a file, or None when the requirements go on the command line; constraint
    lines): a set with hashes is installed from a file (pip takes --hash only there), each line
    with the hashes its name must match."""
    packages = cell.packages

    def line(text: str) -> str:
        try:
            name = Requirement(text.split(";")[0]).name
        except InvalidRequirement:
            return text
        return " ".join([text, *(f"--hash={h}" for h in packages.hashes_of(name))])

    names = {canonicalize_name(n) for n in requirement_names(packages.requirements)}
    constraints = [c if canonicalize_name(requirement_names([c])[0]) in names else line(c)
                   for c in packages.constraints]
    return ([line(r) for r in packages.requirements] if packages.hashes else None), constraints


USER_CHECKS = "user-checks"  # where the user's check files land in the cell, one folder each


def check_spec(cell: Cell) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """What the driver runs after the imports, and the user's check files the job carries (copied into
    the cell with its other files: no bind mount, so a remote engine runs them too). A pytest file
    brings the conftest.py beside it. A file that cannot be read is named, for the cell to record."""
    entries = cell.packages.checks
    if not entries:
        return None, {}
    files: dict[str, bytes] = {}
    user = []
    for i, check in enumerate(checks.user_checks(entries)):
        folder = f"{USER_CHECKS}/{i}"
        entry: dict[str, Any] = {"name": check.shown(), "kind": check.kind, "file": f"{folder}/{check.path.name}",
                                 "node": check.node}
        try:
            files[entry["file"]] = check.path.read_bytes()
            conftest = check.path.parent / "conftest.py"
            if check.kind == "pytest" and conftest.is_file():
                files[f"{folder}/conftest.py"] = conftest.read_bytes()
        except OSError as exc:
            entry["unreadable"] = f"{check.shown()} could not be read on the host: {exc.strerror or exc}"
        user.append(entry)
    spec = {"builtin": [c for c in entries if checks.is_builtin(c)], "user": user,
            "requires": checks.requirements_of(entries, cell.packages.check_requires),
            "timeout": cell.packages.check_timeout, "cell_timeout": cell.timeout}
    return spec, files


def lent_uv(cell: Cell, backend: Backend) -> list[Mount]:
    """The harness's own uv, bound read-only into a uv cell whose image is of this machine's architecture
    (a Linux binary of it runs there) on an engine of this machine, so the cell need not install uv from
    its index first. Nothing for an emulated image or a remote engine (it cannot bind this machine's
    files); the driver tries the binary and installs uv as before when it does not run (a musl image)."""
    if cell.installer != "uv" or platform.system() != "Linux" or not backend.reaches_host_loopback:
        return []
    try:
        if Arch.native() is not cell.image.arch:
            return []
        binary = installers.uv_binary()
    except (ValueError, HarnessError):
        return []
    return [Mount(host=binary, cell=backend.cell_path(binary, "uv"), engine_side=True)]


def make_job(cell: Cell, backend: Backend, options: RunOptions, served: Mapping[str, str] | None = None) -> Job:
    cell = effective(cell, options)
    # a replayed lock is installed from its wheelhouse alone: no shared cache, no network
    replay = cell.packages.lock is not None
    cache = cache_name(cell, options.cache_namespace) if options.shared_caches and not replay else None
    environ = os.environ if options.environ is None else options.environ
    pip_args, link_mounts = pip_options(cell, backend, served)
    ca_mounts, env = forwarded_environment(environ, backend)
    uv_mounts = lent_uv(cell, backend)
    # The cell's pip sees only the cell's index variant, not the host's pip configuration.
    env["PIP_CONFIG_FILE"] = os.devnull
    installer = installers.get(cell.installer)
    env = installer.environment(env)
    requirement_lines, constraint_lines = requirement_files(cell)
    spec = {
        "workdir": CELL_WORKDIR,
        # the host backend's "image" is the environment the person runs in: seen as an image's packages are
        "system_site_packages": cell.image.ships_torch or backend.inherits_environment,
        # an image whose python is a venv (a recipe's /opt/venv first on PATH): the cell's venv sees that venv's
        # packages too (a --system-site-packages venv made from a venv sees only the base interpreter's)
        "inherit_environment": backend.inherits_environment or cell.image.ships_torch,
        # an image that holds every requirement already (a recipe installed them): nothing is installed
        "skip_held": cell.image.ships_torch and not backend.inherits_environment,
        "requirements": list(cell.packages.requirements),
        "requirements_file": requirement_lines,
        "constraints": constraint_lines,
        "pip_args": pip_args,
        "modules": list(cell.packages.modules),
        "env": env,
        "unset": list(installers.INDEX_VARIABLES),
        "installer": cell.installer,
        "uv_args": installer.install_args(pip_args),
        "uv_binary": uv_mounts[0].cell if uv_mounts else None,
        # What the driver asks, after a failed install, to tell an outage from a missing wheel.
        "sources": sources(cell, pip_args),
        "retry": {"attempts": cell.retry.attempts, "backoff": cell.retry.backoff},
        "cache": {"dir": backend.cache_dir(cache)} if cache else None,
        "venv_name": re.sub(r"[^A-Za-z0-9._-]", "_", f"{options.run_id}-{cell.id}"),
        "keep": options.keep,
        # a source build's parallelism: the driver's rule from this limit, unless the matrix sets build_jobs
        "memory": cell.memory,
        "build_jobs": cell.build_jobs,
        # the driver watches the limit where the backend enforces it, and stops the cell when it is hit
        "processes": cell.processes if getattr(backend, "contains_cells", False) else None,
    }
    spec["checks"], check_files = check_spec(cell)
    files = {
        **{name: Path(path).read_bytes() for name, path in incell.FILES.items()},
        **check_files,
        "spec.json": json.dumps(spec, indent=2).encode(),
    }
    return Job(
        image=cell.image,
        files=files,
        mounts=tuple(link_mounts + ca_mounts + uv_mounts) + options.extra_mounts,
        # the driver through the boot (its code compiled once, kept in the shared cache: "" for none)
        argv=("boot.py", "cell.py", spec["cache"]["dir"] if spec["cache"] else "", "spec.json"),
        timeout=cell.timeout,
        labels={LABEL_RUN: options.run_id, LABEL_CELL: cell.id},
        keep=options.keep,
        gpu=options.gpu,
        host_network=job_uses_host_network(cell, backend),
        no_network=replay,
        memory=cell.memory,
        processes=cell.processes,
        cache=cache,
    )
