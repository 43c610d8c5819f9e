"""The classifier: what a cell's backend saw and its log said → one verdict, its evidence, a hint.

Pure functions over parsed events (events.CellEvents) and the cell's declaration; no I/O. Evidence
is quoted from the log (pip's lines, the probe's messages, the driver's index checks), never made
up: where the log does not show a cause, the hint says to read the log instead of guessing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness import redact
from harness.backends.base import Execution
from harness.incell.driver import DRIVER_FAILED, NUMPY_ABI, close_names, missing_projects, numpy_abi_lines
from harness.installers import read_uv
from harness.matrix import templates
from harness.model import Cell, GpuMode, Verdict
from harness.plan import offers
from harness.plan.target import Target
from harness.units import format_memory
from harness.verdicts import buildcause, syslibs
from harness.verdicts import checks as checked
from harness.verdicts.events import HARNESS, PROBE, CellEvents
from harness.verdicts.evidence import clip as _clip


@dataclass(frozen=True, kw_only=True)
class Cause:
    """What a hint rests on, as data a program can read (`diff`, `solve`, the report): its kind and
    the facts the hint names. Kinds: "missing-library", "numpy-abi", "transitive", "no-such-project"."""

    kind: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.facts}


@dataclass(frozen=True, kw_only=True)
class Judgement:
    verdict: Verdict
    evidence: tuple[str, ...] = ()  # lines quoted from the log that prove the verdict
    notes: tuple[str, ...] = ()  # what else is worth knowing (source builds, retries, the driver's notes)
    hint: str | None = None  # one line: what to do
    cause: Cause | None = None  # the cause the hint names, where the classifier recognised one



# --- pip's output ----------------------------------------------------------------------------------

WRONG_PYTHON = re.compile(r"Package '([^']+)' requires a different Python: (\S+) not in '([^']+)'")
NOT_SUPPORTED_WHEEL = re.compile(r"ERROR: (\S+\.whl) is not a supported wheel on this platform")
CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies|The conflict is caused by:")
BUILD_FAILED = re.compile(r"Failed building wheel for|Could not build wheels for|metadata-generation-failed|"
                          r"Getting requirements to build wheel did not run successfully|legacy-install-failure|"
                          r"subprocess-exited-with-error")
BUILD_PACKAGE = (re.compile(r"Failed building wheel for (\S+)"),
                 re.compile(r"Building wheel for (\S+) \(.*\)(?: \.\.\.)? error"),
                 re.compile(r"Running setup\.py install for (\S+)(?: \.\.\.)? error"),
                 re.compile(r"Could not build wheels for (\S+?),"))
COLLECTING = re.compile(r"^\s*(?:Collecting|Processing) (\S+)")
UNREACHABLE = re.compile(r"Failed to establish a new connection|Name or service not known|Temporary failure in name "
                         r"resolution|Connection refused|CERTIFICATE_VERIFY_FAILED|ProxyError|Read timed out|"
                         r"ConnectTimeoutError|too many \d{3} error responses|Could not fetch URL|"
                         r"Failed to fetch: |dns error|tcp connect error|invalid peer certificate")
TLS_TROUBLE = re.compile(r"SSL|CERTIFICATE|peer certificate")  # pip's and the driver's SSLError; uv (rustls)
UNTRUSTED = re.compile(r"The repository located at (\S+) is not a trusted or secure host and is being ignored")


LOOKING_IN = re.compile(r"^Looking in indexes: (\S+?),?$", re.M)


def _index_named(output: str) -> str | None:
    """The first index pip said it looks in (credentials are already masked by pip)."""
    m = LOOKING_IN.search(output)
    return m.group(1) if m else None


def _pip_lines(output: str, pattern: re.Pattern[str], limit: int = 3) -> list[str]:
    return [_clip(line) for line in output.splitlines() if pattern.search(line)][:limit]


def _error_lines(output: str, limit: int = 2) -> list[str]:
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    return [_clip(line) for line in lines[-limit:]]


def _build_package(output: str) -> str | None:
    for pattern in BUILD_PACKAGE:
        m = pattern.search(output)
        if m:
            return m.group(1)
    lines = output.splitlines()
    first_error = next((i for i, line in enumerate(lines) if BUILD_FAILED.search(line)), len(lines))
    for line in reversed(lines[:first_error]):
        m = COLLECTING.match(line)
        if m:
            name = m.group(1).rsplit("/", 1)[-1]
            return re.split(r"-\d", name, maxsplit=1)[0] if "/" in m.group(1) or name.endswith(".tar.gz") else name
    return None


def _build_failure(output: str, installer: str, package: str | None, evidence: Sequence[str]) -> Judgement:
    """A failed source build: the lines where the build states its cause come first, and the hint names
    what the image lacks, or the prebuilt distribution the project itself names."""
    found = buildcause.cause(output)
    said = [_clip(f"the build said: {line}") for line in found.lines]
    what = package or "a package"
    if found.lacks:
        hint = (f"{installer} had to compile {what} from source and the build needs {found.lacks}, which the "
                f"image lacks: {found.remedy}, or ")
    elif found.stated:
        hint = f"{installer} had to compile {what} from source and the build failed (the evidence quotes why): "
        hint += "give the image what it needs, or "
    else:
        hint = (f"{installer} had to compile {what} from source and the build failed without stating a cause the "
                "harness recognises (its last error line is quoted; the log has its whole output): ")
    if found.prebuilt:
        hint += f"install {found.prebuilt} instead (the project's own message names it)"
    else:
        hint += "find a prebuilt wheel for this platform and Python (another index variant)"
        hint += "" if found.stated else ", or give the image what the build needs"
    return Judgement(verdict=Verdict.SOURCE_BUILD_FAILED, evidence=tuple(dict.fromkeys([*said, *evidence])),
                     hint=_clip(hint, 400))


def _judge_offer(check: Mapping[str, Any], output: str, cell: Cell | None, target: Target) -> offers.Offer:
    """One answer with files, judged for the target and for what the cell asked of the project."""
    wanted = offers.requested(str(check.get("project")), output, cell.packages.requirements if cell else ())
    return offers.judge(check, target, wanted, allows_source=not (cell and cell.index.refuses_source))


def _judged(checks: Sequence[Mapping[str, Any]], output: str, cell: Cell | None,
            target: Target) -> list[offers.Offer]:
    return [_judge_offer(c, output, cell, target) for c in checks if not c.get("error") and c.get("files")]


def _offers(checks: Sequence[Mapping[str, Any]], output: str = "", cell: Cell | None = None,
            target: Target | None = None) -> list[str]:
    """What each index that answered offers for the projects pip missed: for the cell's target where
    the driver said what that is (a log from an older driver lists the files as the index gave them)."""
    out = []
    for c in checks:
        if c.get("error"):
            continue
        files = list(c.get("files") or [])
        where = c.get("index")
        if c.get("status") == 404 or (c.get("status") == "folder" and not files):
            out.append(f"{where} has no {c.get('project')}")
        elif files and target:
            out += _judge_offer(c, output, cell, target).lines(target)
        elif files:
            shown = ", ".join(files[-4:])
            out.append(f"{where} offers {c.get('project')}: {shown}"
                       + (f" (and {len(files) - 4} more)" if len(files) > 4 else ""))
    return [_clip(line) for line in out]


def _not_an_index(root: Mapping[str, Any]) -> str | None:
    """How an index's root shows it is not an index (the status, or a page listing nothing); None when
    it answered as one, or did not answer at all (an outage is judged elsewhere)."""
    status = root.get("status")
    if not isinstance(status, int):
        return None
    if status >= 400:
        return f"HTTP {status}"
    if status == 200 and not root.get("links"):
        answer = root.get("answer")
        return "HTTP 200 with a page that lists no projects" + (f": {answer}" if answer else "")
    return None


def _wrong_index(roots: Sequence[Mapping[str, Any]], output: str, checks: Sequence[Mapping[str, Any]],
                 cell: Cell | None) -> Judgement | None:
    """Every project "not found" because the index URL itself is wrong: its root does not answer as a
    PEP 503/691 index (a moved JetPack or CUDA path, a typo). The evidence says so, with the status."""
    wrong = [(r, why) for r in roots for why in [_not_an_index(r)] if why]
    if not wrong:
        return None
    evidence = [_clip(f"{r['index']} does not answer as a package index: GET {r.get('url')} → {why}")
                for r, why in wrong]
    evidence += _error_lines(output, 1) + _offers(checks)
    root, why = wrong[0]
    label = str(root["index"])
    hint = f"the index URL {label} is wrong or not an index (its root answers {why}): check the URL"
    url = next((u for u in (cell.index.urls if cell else ()) if redact.url(u) == label), None)
    template = cell.index.template_of(url) if cell and url else None
    if cell and template:
        used = templates.filled_with(template, cell.image)
        image = cell.image
        declared = [f'{name} = "{value}"' for name, value in (("jetpack", image.jetpack), ("cuda", image.cuda))
                    if value and any(field.startswith(name) for field in used)]
        hint += (f"; it was filled from the template {redact.url(template)} ("
                 + ", ".join(f"{{{k}}} = {v}" for k, v in used.items()) + ")"
                 + (f" with image {cell.image.name}'s {' and '.join(declared)}: check that the index has a path "
                    "for that JetPack/CUDA release, or correct the image's declaration" if declared else ""))
    return Judgement(verdict=Verdict.NO_DISTRIBUTION, evidence=tuple(dict.fromkeys(evidence)), hint=_clip(hint, 500))


UV_BUILD_FAILED = re.compile(r"Failed to build `?([A-Za-z0-9][A-Za-z0-9._-]*)|Build backend failed", re.I)
UV_OUTCOMES = {"no-distribution": Verdict.NO_DISTRIBUTION, "conflict": Verdict.CONFLICT}


def uv_failure(output: str, checks: Sequence[Mapping[str, Any]], cell: Cell | None = None,
               target: Target | None = None) -> Judgement | None:
    """Why `uv pip install` failed, in uv's own words (read as `plan` reads them), or None to read it as
    pip's (an unreachable index is judged the same way for both)."""
    if "cause:" not in output and "error:" not in output:
        return None
    build = UV_BUILD_FAILED.search(output)
    outcome, _, evidence = read_uv(1, "", output, allows_source=False)
    if build:
        return _build_failure(output, "uv", build.group(1), evidence)
    verdict = UV_OUTCOMES.get(outcome)
    if verdict is None:
        return None
    evidence = evidence + tuple(_offers(checks, output, cell, target))
    hint = {Verdict.NO_DISTRIBUTION: "uv found no distribution that fits this platform and the image's Python on "
                                     "this index variant: choose a version it offers for this target, another "
                                     "index variant, or another image",
            Verdict.CONFLICT: "uv says the pins cannot all hold (the evidence quotes why): loosen one of them"}[verdict]
    return Judgement(verdict=verdict, evidence=evidence, hint=hint)


def install_failure(output: str, checks: Sequence[Mapping[str, Any]], retries: Sequence[Mapping[str, Any]],
                    cell: Cell | None = None, *, roots: Sequence[Mapping[str, Any]] = (),
                    target: Target | None = None, names: Sequence[str] = ()) -> Judgement:
    """Why pip (or uv) failed: an index that did not answer, a wrong index URL, a name that is no
    project, no distribution, a conflict, a failed build. `roots` are the driver's checks of index
    roots, `target` the cell's interpreter (Target.of_begin its `begin` event), `names` the projects
    the matrix names (matrix_names), for close names to a misspelt one."""
    attempts = len(retries) + 1
    only_binary = bool(cell and cell.index.refuses_source)
    garbled = _garbled(checks, roots, output)
    if garbled:
        return garbled
    mismatch = hash_mismatch(output)
    if mismatch:
        return mismatch
    down = [c for c in checks if c.get("error")]
    untrusted = UNTRUSTED.search(output)
    pip_down = _pip_lines(output, UNREACHABLE, 2)
    if down or untrusted or pip_down:
        evidence = [_clip(f"{c['index']}: {c['error']} (GET {c.get('url')})"
                          + (f": it answered {c['answer']}" if c.get("answer") else "")) for c in down]
        evidence += pip_down + _pip_lines(output, UNTRUSTED, 1) + _error_lines(output, 1)
        said = " ".join([str(c.get("error")) for c in down] + pip_down)
        where = down[0]["index"] if down else _index_named(output) or "the index"
        if untrusted and not down:
            host = untrusted.group(1)
            hint = (f"pip ignores the plain-HTTP index on {host}: serve it over HTTPS, or add "
                    f'pip_args = ["--trusted-host", "{host}"] to the index variant')
        elif TLS_TROUBLE.search(said):
            hint = (f"pip does not trust the certificate of {where}: set PIP_CERT (or SSL_CERT_FILE) "
                    "on the host to your CA bundle; the harness mounts it into every cell")
        else:
            tries = f"after {attempts} attempts" if attempts > 1 else "on the only attempt"
            hint = (f"{where} did not answer {tries}: an outage or a network/proxy problem "
                    "(HTTPS_PROXY, NO_PROXY), not an incompatibility; re-run when it answers")
        return Judgement(verdict=Verdict.INDEX_UNREACHABLE, evidence=tuple(dict.fromkeys(evidence)), hint=hint)
    wrong = _wrong_index(roots, output, checks, cell)
    if wrong:
        return wrong
    unknown = _no_such_project(output, checks, roots, names)
    if unknown:
        return unknown
    found = uv_failure(output, checks, cell, target) if cell is not None and cell.installer == "uv" else None
    if found:
        return found
    if BUILD_FAILED.search(output):
        return _build_failure(output, "pip", _build_package(output), _pip_lines(output, BUILD_FAILED, 2))
    if CONFLICT.search(output):
        lines = output.splitlines()
        caused = []
        if "The conflict is caused by:" in output:
            start = next(i for i, line in enumerate(lines) if "The conflict is caused by:" in line) + 1
            for line in lines[start:]:
                if not line.strip():
                    break
                caused.append(line.strip())
        evidence = _pip_lines(output, re.compile(r"ERROR: Cannot install"), 1) + [_clip(c) for c in caused]
        hint = ("the pins cannot all hold" + (f" ({'; '.join(caused)})" if caused else "")
                + ": loosen one of them, or choose versions that agree")
        return Judgement(verdict=Verdict.CONFLICT, evidence=tuple(evidence or _error_lines(output)), hint=_clip(hint))
    wrong_python = WRONG_PYTHON.search(output)
    if wrong_python:
        name, have, wants = wrong_python.groups()
        return Judgement(verdict=Verdict.NO_DISTRIBUTION, evidence=(_clip(wrong_python.group(0)),),
                         hint=f"{name} requires Python {wants}, the image has {have}: use an image with a "
                              f"matching Python, or a release of {name} that supports {have}")
    unsupported = NOT_SUPPORTED_WHEEL.search(output)
    missing = missing_projects(output)  # the driver's reading: pip's and uv's wordings, one place
    if missing or unsupported:
        return _no_distribution(output, checks, cell, target, unsupported.group(1) if unsupported else None,
                                missing, only_binary)
    return Judgement(verdict=Verdict.INSTALL_FAILED, evidence=tuple(_error_lines(output, 3)),
                     hint="pip failed for a reason the harness does not recognise: read the cell's log")


# pip's words for a file whose hash is not the one required, then uv's
PIP_HASH = re.compile(r"^[ \t]+(\S+) from (\S+?)(?: \(from .*\))?:[ \t]*\n"
                      r"\s+Expected sha256 (\w+)[ \t]*\n\s+Got\s+(\w+)", re.M)
UV_HASH = re.compile(r"Hash mismatch for `([^`]+)`\s*\n\s*Expected:\s*\n\s*sha256:(\w+)\s*\n\s*Computed:\s*\n"
                     r"\s*sha256:(\w+)")
HASH_HINT = ("a file is not the one its hash names: someone or something replaced it (a tampered wheelhouse, an "
             "index that swapped an artifact). It was not installed, and nothing was installed instead: compare it "
             "with the file the lock was made from, restore that file (`wheel-harness lock CELL --wheelhouse DIR` "
             "fetches it checked), or lock again if the change is meant")


def hash_mismatch(output: str) -> Judgement | None:
    """A file that did not match the hash its requirement names (a lock, a requirements file with
    --hash): its own finding, with the file, the hash expected and the hash found."""
    found = [(m.group(1), unquote(m.group(2).rsplit("/", 1)[-1]), m.group(3), m.group(4))
             for m in PIP_HASH.finditer(output)]
    found += [(m.group(1), None, m.group(2), m.group(3)) for m in UV_HASH.finditer(output)]
    if not found and "DO NOT MATCH THE HASHES" not in output and "Hash mismatch for" not in output:
        return None
    evidence = [_clip(f"{what}" + (f" ({name})" if name else "") + f": expected sha256 {want}, the file has {got}")
                for what, name, want, got in found] or _error_lines(output, 2)
    return Judgement(verdict=Verdict.HASH_MISMATCH, evidence=tuple(evidence), hint=HASH_HINT)


# A compiler (or the build) killed for memory, in its own words: gcc's, and what a build's Python says.
BUILD_KILLED = re.compile(r"Killed signal terminated program \S+|virtual memory exhausted|"
                          r"cc1(?:plus)?: out of memory|died with <Signals\.SIGKILL: 9>|Killed\s*$", re.M)
BUILDING = re.compile(r"Building wheels? for|Running setup\.py|Preparing metadata|Building `?\S+`? @|"
                      r"Getting requirements to build")


def out_of_memory_build(output: str, oom_killed: bool, build: Mapping[str, Any] | None,
                        limit: str) -> Judgement | None:
    """A source build the kernel killed for memory: at how many parallel jobs, and what to lower; None
    when the output shows no build dying for memory."""
    killed = BUILD_KILLED.search(output)
    if not (killed or (oom_killed and BUILDING.search(output))):
        return None
    jobs = (build or {}).get("jobs")
    said = f"{jobs} parallel job{'s' if jobs != 1 else ''}" if jobs else "the build's default parallelism"
    rule = f" ({build['rule']})" if build and build.get("rule") else ""
    evidence = [f"the source build ran out of memory{limit} at {said}{rule}"]
    evidence += [_clip(f"the build said: {killed.group(0).strip()}")] if killed else []
    if jobs and jobs > 1:
        hint = (f"ran out of memory at {said}: lower build_jobs (e.g. build_jobs = {max(1, jobs // 2)} in [matrix] "
                "or the cell's include), or give the cell more memory (`memory`)")
    else:
        hint = (f"ran out of memory at {said}: one job is the least, so give the cell more memory (`memory` in the "
                "matrix or the include, or --memory), or find a prebuilt wheel for this target")
    return Judgement(verdict=Verdict.SOURCE_BUILD_FAILED, evidence=tuple(_clip(e) for e in evidence), hint=hint)


PIP_EXCEPTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception)): .*$", re.M)


def _garbled(checks: Sequence[Mapping[str, Any]], roots: Sequence[Mapping[str, Any]],
             output: str) -> Judgement | None:
    """An index that answered with bytes that are not text (a broken mirror, a proxy or cache serving
    corrupt data): the index's fault, so an infrastructure verdict, with what it answered and what pip
    made of it (often a crash of its own: "ERROR: Exception:", then a UnicodeDecodeError)."""
    bad = [c for c in [*checks, *roots] if c.get("garbage")]
    if not bad:
        return None
    evidence = [_clip(f"{c['index']} answered GET {c.get('url')} with HTTP {c.get('status')} and {c.get('answer')}: "
                      "not a package index page") for c in bad]
    evidence += _error_lines(output, 1) + [_clip(m.group(0)) for m in PIP_EXCEPTION.finditer(output)][-1:]
    where = bad[0]["index"]
    hint = (f"{where} answered with garbage, not a package index (a broken mirror, or a proxy or cache serving "
            "corrupt data): the index's fault, not an incompatibility; check what the URL serves (curl it) and "
            "re-run when it answers as an index")
    return Judgement(verdict=Verdict.INDEX_UNREACHABLE, evidence=tuple(dict.fromkeys(evidence)), hint=hint)


def _not_there(check: Mapping[str, Any]) -> bool:
    """An index that answered that it has no such project (404), or a folder with no file of it."""
    if check.get("error"):
        return False
    return check.get("status") == 404 or (check.get("status") == "folder" and not check.get("files"))


def _no_such_project(output: str, checks: Sequence[Mapping[str, Any]], roots: Sequence[Mapping[str, Any]],
                     names: Sequence[str]) -> Judgement | None:
    """A requirement naming no project on any index the cell asked (a misspelt name): every index
    answered 404 for its page (a folder has no file of it). Close names come from the matrix and from
    the lists of the indexes whose root the driver could read whole."""
    for project in missing_projects(output):
        mine = [c for c in checks if c.get("project") == project]
        if not mine or not all(_not_there(c) for c in mine):
            continue
        listed = [name for r in roots for name in (r.get("close") or {}).get(project) or ()]
        matrix = close_names(project, names)
        close = list(dict.fromkeys(listed + matrix))
        where = list(dict.fromkeys(str(c.get("index")) for c in mine))
        evidence = _error_lines(output) + _offers(mine)
        searched = [r["index"] for r in roots if (r.get("close") or {}).get(project) is not None]
        hint = f"{project} is not a project on {' or '.join(where)} (" + (
            "its page answers 404" if any(c.get("status") == 404 for c in mine) else "no file of it there") + ")"
        if close:
            said = [f"{n} ({'on the index' if n in listed else 'in the matrix'})" for n in close]
            hint += f": a misspelt name? Close names: {', '.join(said)}; correct the requirement"
        else:
            looked = (["in the matrix"] if names else []) + (["on the index"] if searched else [])
            hint += ": check the name's spelling" + (f" (nothing like it {' or '.join(looked)})" if looked else "")
        cause = Cause(kind="no-such-project", facts={"project": project, "indexes": where, "close": close})
        return Judgement(verdict=Verdict.NO_DISTRIBUTION, evidence=tuple(dict.fromkeys(evidence)),
                         hint=_clip(hint, 400), cause=cause)
    return None


def matrix_names(package_sets: Iterable[Any]) -> list[str]:
    """The projects the matrix's package sets name (model.PackageSet), for close names to a misspelt one."""
    names = []
    for packages in package_sets:
        for text in packages.requirements:
            try:
                names.append(canonicalize_name(Requirement(text).name))
            except InvalidRequirement:
                continue
    return list(dict.fromkeys(names))


def _no_distribution(output: str, checks: Sequence[Mapping[str, Any]], cell: Cell | None,
                     target: Target | None, unsupported: str | None, missing: Sequence[str],
                     only_binary: bool) -> Judgement:
    """No distribution fits: what each index offers for this target, what exists of the version asked
    for, and (under only_binary) the sdist a build would compile."""
    shown = _offers(checks, output, cell, target)
    evidence = _error_lines(output) + shown
    what = unsupported or missing[0]
    platform = f"{cell.image.arch.platform}" if cell else "this platform"
    if target:
        judged = _judged(checks, output, cell, target)
        would = [o for o in judged if o.sdist and not o.wanted_fits]
        built = [f"would be built from source: {o.project} ({o.sdist})" for o in would]
        fitting = any(o.fitting for o in judged)
    else:  # a log from an older driver: the files as the index listed them
        would = [c for c in checks if any(f.endswith((".tar.gz", ".zip")) for f in c.get("files") or ())]
        built = [f"would be built from source: {c['project']} "
                 f"({[f for f in c['files'] if f.endswith(('.tar.gz', '.zip'))][-1]})" for c in would]
        fitting = False
    if only_binary and would:
        evidence += built
        named = would[0].wanted if target else what
        hint = (f"{named} comes only as source here and only_binary refuses to compile it: find a wheel (another "
                "index variant" + (", or a version the evidence lists for this target" if fitting else "")
                + "), or allow the source build")
    elif unsupported:
        hint = f"{what} is not built for {platform} and this Python: use the wheel made for this target"
    else:
        hint = (f"no distribution of {what} fits {platform} and the image's Python"
                + (f" ({target})" if target else "") + " on this index variant"
                + (" (the evidence lists what it has)" if shown else "")
                + ": choose a version it offers for this target, another index variant, or another image")
    return Judgement(verdict=Verdict.NO_DISTRIBUTION, evidence=tuple(dict.fromkeys(evidence)), hint=hint)


# --- the probe's imports ---------------------------------------------------------------------------

DEGRADED = (
    (re.compile(r"Skipping import of cpp extensions", re.I), "skipped its C++ extensions"),
    (re.compile(r"\b(?:failed|unable|could not|cannot|couldn't) (?:to )?(?:load|initiali[sz]e|import|find)\b", re.I),
     "failed to load part of itself"),
    (re.compile(r"undefined symbol|cannot open shared object file|GLIBC_[0-9.]+' not found"),
     "a compiled library did not load"),
    (re.compile(r"triton\b.{0,60}\b(?:not (?:found|installed|available)|missing|unavailable)|"
                r"No module named '?triton|\bno triton\b|without triton", re.I), "runs without triton"),
)
IGNORED_WARNINGS = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")


TRITON = DEGRADED[3][0]
# The libraries of CUDA itself, and torch's own CUDA parts: a CPU build of torch has none of them.
CUDA_LIBRARY = re.compile(r"\blib(?:cuda|cudart|cublas(?:Lt)?|cudnn\w*|cufft|curand|cusparse(?:Lt)?|cusolver|nccl|"
                          r"nvrtc|nvJitLink|nvToolsExt|cupti|c10_cuda|torch_cuda\w*)\.so[\w.]*")
SO_PATH = re.compile(r"(/[^\s:'\"]+\.so(?:\.[0-9]+)*)")


def _cpu_build(probe: Mapping[str, Any] | None) -> bool:
    """torch imported and is a CPU build (torch.version.cuda is None)."""
    torch = (probe or {}).get("torch")
    return isinstance(torch, Mapping) and bool(torch.get("version")) and not torch.get("cuda_version")


def never_had(text: str, probe: Mapping[str, Any] | None) -> str | None:
    """Why a message describes function this platform never had (so it lost nothing), or None.

    On a CPU build of torch: triton (GPU kernels), and a compiled part whose loader error (the probe
    loads the file itself) names a CUDA library. A version mismatch that skips extensions, an undefined
    symbol, a missing library that is not CUDA's: those are losses on CPU and CUDA builds alike.
    """
    if not _cpu_build(probe):
        return None
    if TRITON.search(text):
        return "runs without triton, whose kernels are for GPUs: a CPU build of torch never had them"
    loader = (probe or {}).get("loader") or {}
    for path in SO_PATH.findall(text):
        cuda = CUDA_LIBRARY.search(str(loader.get(path) or ""))
        if cuda:
            return (f"{path.rsplit('/', 1)[-1]} did not load: the loader says it needs {cuda.group(0)}, a CUDA "
                    "library a CPU build of torch never has")
    return None


def degradations(imports: Sequence[Mapping[str, Any]],
                 probe: Mapping[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(module, what was lost, the message) for every message of a successful import that says so;
    with the probe's record, messages about function the platform never had are left out (never_had)."""
    found = []
    for step in imports:
        if not step.get("ok"):
            continue
        for msg in step.get("messages") or ():
            if msg.get("category") in IGNORED_WARNINGS:
                continue
            text = str(msg.get("text") or "")
            for pattern, lost in DEGRADED:
                if pattern.search(text):
                    if never_had(text, probe) is None:
                        found.append((str(step.get("module")), lost, text))
                    break
    return found


def platform_notes(imports: Sequence[Mapping[str, Any]], probe: Mapping[str, Any]) -> list[str]:
    """Notes for the messages about function this platform never had: recorded, not counted as lost."""
    notes = []
    for step in imports:
        for msg in step.get("messages") or () if step.get("ok") else ():
            text = str(msg.get("text") or "")
            if any(p.search(text) for p, _ in DEGRADED):
                why = never_had(text, probe)
                if why:
                    notes.append(_clip(f"{step.get('module')}: {why} (not a loss on this platform)"))
    return list(dict.fromkeys(notes))


def loader_evidence(lost: Sequence[tuple[str, str, str]], probe: Mapping[str, Any]) -> list[str]:
    """What the loader said of each file a lost message names (the cause the library's message hides)."""
    loader = probe.get("loader") or {}
    out = []
    for _, _, text in lost:
        for path in SO_PATH.findall(text):
            if loader.get(path):
                out.append(_clip(f"loading {path.rsplit('/', 1)[-1]}: {loader[path]}"))
    return list(dict.fromkeys(out))


def _dist_of(top: str | None, probe: Mapping[str, Any]) -> str | None:
    """`torchao 0.17.0`: the installed distribution providing top-level module `top`, with its version."""
    if not top:
        return None
    top = top.split(".")[0]
    dists = probe.get("distributions") or {}
    named = canonicalize_name(top)
    owners = (probe.get("owners") or {}).get(top) or ([named] if named in dists else [])
    for name in owners:
        info = dists.get(name) or {}
        return f"{name} {info.get('version')}" if info.get("version") else name
    return None


GLIBC = re.compile(r"GLIBC_([0-9.]+)' not found")
UNDEFINED = re.compile(r"undefined symbol: (\S+)")
SYMBOL_IN_HINT = 160  # a mangled C++ symbol runs to hundreds of characters; the advice after it must stay
NO_SHARED = re.compile(r"(\S+\.so[.0-9]*): cannot open shared object file")


NEEDS_VERSION = (
    re.compile(r"requires? (?P<pkg>[A-Za-z][\w.-]*) (?:version )?v?(?P<need>[0-9][\w.]*)\+? or (?:newer|later|higher|"
               r"above|greater)", re.I),
    re.compile(r"(?P<pkg>[A-Za-z][\w.-]*) ?>= ?(?P<need>[0-9][\w.]*) (?:is )?required", re.I),
    re.compile(r"requires? (?P<pkg>[A-Za-z][\w.-]*) ?>= ?(?P<need>[0-9][\w.]*)", re.I),
)


# sys.implementation.name → platform.python_implementation(), as the cell's own pip reads the marker
PYTHON_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalVM"}


def _environment(probe: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The cell's interpreter as environment markers see it, from the probe's start (cells run Linux)."""
    start = (probe or {}).get("start") or {}
    version = re.match(r"(\d+)\.(\d+)", str(start.get("python") or ""))
    if not version:
        return None
    implementation = str(start.get("implementation") or "cpython")
    return {"python_version": f"{version.group(1)}.{version.group(2)}", "python_full_version": str(start["python"]),
            "platform_machine": str(start.get("machine") or ""), "sys_platform": "linux", "platform_system": "Linux",
            "os_name": "posix", "implementation_name": implementation,
            "platform_python_implementation": PYTHON_IMPLEMENTATIONS.get(implementation, implementation)}


def _requirements(info: Mapping[str, Any], probe: Mapping[str, Any] | None = None) -> list[Requirement]:
    """A distribution's requirements; with the probe's record, only those whose markers hold in the cell."""
    environment = _environment(probe)
    out = []
    for text in info.get("requires") or ():
        try:
            req = Requirement(str(text))
        except InvalidRequirement:
            continue
        if req.marker is not None and environment is not None:
            try:
                if not req.marker.evaluate({**environment, "extra": ""}):
                    continue
            except (UndefinedComparison, UndefinedEnvironmentName):  # what packaging cannot decide: kept
                pass
        out.append(req)
    return out


def _parents(name: str, probe: Mapping[str, Any]) -> list[str]:
    """The installed distributions that require `name`, with their versions."""
    dists = probe.get("distributions") or {}
    return sorted(f"{other} {info.get('version')}" for other, info in dists.items()
                  if any(canonicalize_name(r.name) == canonicalize_name(name) for r in _requirements(info, probe)))


def _unpinned(dist: str | None, probe: Mapping[str, Any], requested: Sequence[str]) -> str | None:
    """"pyarrow 26.0.1, which no pin names (required by db-dtypes 1.4.3)" for a distribution the cell's
    requirements do not name; None for one they name (or an unknown one)."""
    if not dist:
        return None
    name = dist.partition(" ")[0]
    if canonicalize_name(name) in {canonicalize_name(r) for r in requested}:
        return None
    parents = _parents(name, probe)
    return f"{dist}, which no pin names" + (f" (required by {', '.join(parents)})" if parents else "")


def transitive(dist: str | None, probe: Mapping[str, Any], message: str, requested: Sequence[str]) -> str | None:
    """For an import that failed inside a distribution no pin names: which one, who required it, and,
    where its message states a version it needs of another package, which installed distribution
    holds that package back. None when the distribution is one the cell asked for (or unknown)."""
    said = _unpinned(dist, probe, requested)
    if not said or not dist:
        return None
    name = dist.partition(" ")[0]
    dists = probe.get("distributions") or {}
    said += " fails on import"
    for pattern in NEEDS_VERSION:
        m = pattern.search(message)
        if not m:
            continue
        pkg, need = canonicalize_name(m.group("pkg")), m.group("need").rstrip(".")
        have = (dists.get(pkg) or {}).get("version")
        if not have:
            return f"{said}: it needs {pkg} {need} or newer, and no {pkg} is installed: add {pkg}>={need} to the pins"
        holders = []
        for other, info in sorted(dists.items()):
            for req in _requirements(info, probe):
                if canonicalize_name(req.name) == pkg and req.specifier and not req.specifier.contains(
                        need, prereleases=True):
                    holders.append(f"{other} {info.get('version')} ({req})")
        held = f", held back by {', '.join(holders)}" if holders else ""
        advice = (f"pin {pkg}>={need} and a release of {holders[0].split()[0]} that allows it" if holders
                  else f"pin {pkg}>={need}")
        return f"{said}: it needs {pkg} {need} or newer, but {pkg} {have} is installed{held}: {advice}"
    return f"{said}: pin {name} to a release that works here (or the version of what requires it)"


# --- an extension built for another NumPy -----------------------------------------------------------

NUMPY_COMPILED = re.compile(r"compiled using NumPy (\d+)\.x cannot be run in", re.I)
NUMPY_NEWER = re.compile(r"requires NumPy ([0-9]+(?:\.[0-9]+)*) or newer|compiled against NumPy C-API version "
                         r"0x[0-9a-fA-F]+ \(NumPy ([0-9]+(?:\.[0-9]+)*)\)", re.I)


def _version(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def _built_for(lines: Sequence[str], have: Version) -> SpecifierSet:
    """The NumPy an extension was built for, as the versions it runs with: what NumPy's words say
    ("compiled using NumPy 1.x": <2; "requires NumPy 2.0 or newer": >=2.0), else the major on the other
    side of the 1.x/2.x ABI break from the installed one."""
    for line in lines:
        m = NUMPY_COMPILED.search(line)
        if m:
            return SpecifierSet(f"<{int(m.group(1)) + 1}")
        m = NUMPY_NEWER.search(line)
        if m:
            return SpecifierSet(f">={m.group(1) or m.group(2)}")
    return SpecifierSet("<2") if have.major >= 2 else SpecifierSet(">=2")


def _admits_any(spec: SpecifierSet, wanted: SpecifierSet) -> bool:
    """Whether a requirement's specifier allows some NumPy the fix wants (checked on a grid of releases)."""
    grid = [f"{major}.{minor}" for major in range(1, 5) for minor in range(0, 40)]
    return any(spec.contains(v, prereleases=True) and wanted.contains(v, prereleases=True) for v in grid)


def _dates(found: Mapping[str, Any] | None, project: str) -> tuple[str | None, dict[str, str], dict[str, str], str]:
    """From the driver's release-dates event: (index, the project's {version: date}, NumPy's, why none)."""
    why = "the driver did not ask the index (a log from an older driver)"
    for check in (found or {}).get("checks") or ():
        if check.get("project") != project:
            continue
        numpy = next((c for c in found["checks"] if c.get("project") == "numpy" and c.get("index") == check["index"]
                      and c.get("dates")), None)
        if check.get("dates") and numpy:
            return str(check["index"]), dict(check["dates"]), dict(numpy["dates"]), ""
        why = f"{check['index']} did not say when releases came out: {check.get('error') or 'no dates'}"
    return None, {}, {}, why


def _release_for(project: str, version: Version | None, wants: SpecifierSet,
                 found: Mapping[str, Any] | None) -> tuple[str | None, str | None, str]:
    """A release of `project` for the installed NumPy, from when the index says its releases and
    NumPy's came out: (requirement, evidence line, why there is none). `wants` is the NumPy the failing
    release was built for: <2 (older than installed: the first release after NumPy 2.0.0 came out)
    or >=2.0 (newer: the last release before it came out)."""
    index, dates, numpy, why = _dates(found, project)
    if not index:
        return None, None, why
    clause = next(iter(wants))
    bound = Version(clause.version).release
    firsts = sorted((when, v) for v, when in numpy.items() if (_version(v) or Version("0")).release >= bound)
    if not firsts:
        return None, None, f"{index} lists no NumPy {clause.version} or newer"
    since, first = firsts[0]
    came = f"{index}: NumPy {first} came out on {since[:10]}"
    releases = sorted((v, when) for v, when in ((_version(v), w) for v, w in dates.items())
                      if v is not None and not v.is_prerelease)
    if clause.operator.startswith("<"):
        later = [(v, when) for v, when in releases if when > since and (version is None or v > version)]
        if not later:
            return None, _clip(f"{came}; no {project} release newer than {version} came out after it"), ""
        v, when = later[0]
        return f"{project}>={v}", _clip(f"{came}; the first {project} release after it is {v} ({when[:10]})"), ""
    earlier = [(v, when) for v, when in releases if when < since]
    if not earlier:
        return None, _clip(f"{came}; no {project} release came out before it"), ""
    v, when = earlier[-1]
    return f"{project}<={v}", _clip(f"{came}; the last {project} release before it is {v} ({when[:10]})"), ""


def _simplest(spec: SpecifierSet) -> SpecifierSet:
    """The same versions in fewer clauses: of several lower bounds only the highest, of upper bounds the
    lowest (the markers of one distribution's several requirement lines, joined, repeat them)."""
    lower = max((c for c in spec if c.operator == ">="), key=lambda c: Version(c.version), default=None)
    upper = min((c for c in spec if c.operator == "<"), key=lambda c: Version(c.version), default=None)
    rest = [str(c) for c in spec if c.operator not in (">=", "<")]
    return SpecifierSet(",".join([*rest, *(str(c) for c in (lower, upper) if c is not None)]))


def _numpy_words(wants: SpecifierSet) -> str:
    """"NumPy 1.x" for <2, "NumPy 2.0 or newer" for >=2.0."""
    clause = next(iter(wants))
    if clause.operator == "<" and re.fullmatch(r"\d+", clause.version):
        return f"NumPy {int(clause.version) - 1}.x"
    return f"NumPy {clause.version} or newer" if clause.operator == ">=" else f"NumPy {wants}"


def numpy_abi(step: Mapping[str, Any], probe: Mapping[str, Any], requested: Sequence[str], pins: Sequence[str],
              found: Mapping[str, Any] | None) -> Judgement | None:
    """An import that failed on an extension built for another NumPy (NumPy 1.x builds under NumPy 2,
    or the reverse), in any of NumPy's wordings: which distribution, the NumPy it was built for, the
    installed numpy and who required it, and the two fixes. None when it is not that."""
    lines = numpy_abi_lines(step)
    dists = probe.get("distributions") or {}
    have = _version((dists.get("numpy") or {}).get("version"))
    if not lines or have is None:
        return None
    err = step.get("error") or {}
    failing = next((d for d in (_dist_of(err.get("importer"), probe), _dist_of(step.get("module"), probe))
                    if d and not d.startswith("numpy ")), None)
    if not failing:
        return None
    name, _, version = failing.partition(" ")
    wants = _built_for(lines, have)
    asked: dict[str, tuple[str, SpecifierSet]] = {}  # distribution → (version, what it asks of numpy)
    for other, info in sorted(dists.items()):
        for r in _requirements(info, probe):
            if canonicalize_name(r.name) == "numpy":
                was = asked.get(other, (str(info.get("version")), SpecifierSet()))
                asked[other] = (was[0], was[1] & r.specifier)
    own = asked.pop(canonicalize_name(name), None)
    pinned = [p for p in pins if _requirement_name(p) == "numpy"]
    users = [f"{other} {v} (numpy{_simplest(spec)})" for other, (v, spec) in asked.items()]
    who = "; ".join(([f"the cell pins {', '.join(pinned)}"] if pinned else [])
                    + ([f"required by {', '.join(users)}"] if users else []))
    metadata = (f"{name} asks for numpy{_simplest(own[1])}" if own and str(own[1]) else
                f"{name} asks for numpy without a version" if own else f"{name}'s metadata names no numpy")
    holders = [f"{other} {v} (numpy{_simplest(spec)})" for other, (v, spec) in asked.items()
               if not _admits_any(spec, wants)]
    pin = f"numpy{wants}"
    first = (f"pin {pin}" + (f" in place of the cell's {', '.join(pinned)}" if pinned else "")
             + (f" (held back by {', '.join(holders)})" if holders else ""))
    release, line, why = _release_for(name, _version(version), wants, found)
    installed, edge = f"NumPy {have.major}.x", next(iter(wants)).version
    if release and release.startswith(f"{name}<="):
        second = (f"a release of {name} for {installed}: {release}, the last released before NumPy {edge} (a later "
                  "one may work too: `wheel-harness bisect` finds the newest that does)")
    elif release:
        second = (f"a release of {name} built for {installed}: {release}, the first released after NumPy {edge} "
                  "(`wheel-harness bisect` finds the oldest that works)")
    else:
        second = (f"a release of {name} built for {installed}"
                  + (f" (none on the index: {line.split('; ', 1)[-1]})" if line else f" ({why})" if why else ""))
    unpinned = _unpinned(failing, probe, requested)
    hint = (f"{unpinned + ',' if unpinned else failing} was built for {_numpy_words(wants)} and numpy {have} is "
            f"installed ({'; '.join(filter(None, [who, metadata]))}): {first}, or use {second}")
    evidence = [_clip(f"NumPy said: {text}") for text in lines if text not in str(err.get("message"))][:3]
    evidence += [line] if line else []
    facts = {"distribution": name, "version": version or None, "built_for": f"numpy{wants}", "numpy": str(have),
             "numpy_pins": pinned, "numpy_required_by": users, "asks": f"numpy{_simplest(own[1])}" if own else None,
             "required_by": _parents(name, probe) if unpinned else [],
             "fixes": [pin] + ([release] if release else [])}
    return Judgement(verdict=Verdict.IMPORT_FAILED, evidence=tuple(evidence), hint=_clip(hint, 600),
                     cause=Cause(kind="numpy-abi", facts=facts))


def _requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


# --- a shared library the image lacks ------------------------------------------------------------------


def library_hint(library: str, needer: str | None, distribution: Mapping[str, Any] | None) -> tuple[str, Cause]:
    """What to do about a shared library the image lacks, on the image's distribution: the package
    that provides it, the CUDA image that ships it, or how to find it; and the variant of the wheel
    that does without it, where one is known."""
    found = syslibs.provider(library, distribution)
    name = needer.split()[0] if needer else None
    other = syslibs.variant(name, library)
    release = syslibs.release_name(distribution)
    who = f"{needer} needs {library}" if needer else f"{library} is needed"
    if found.driver:
        hint = (f"{who}, the NVIDIA driver's library, which no image ships: the container runtime mounts it when "
                "the cell gets the GPU (`wheel-harness doctor` says whether cells get one)")
    elif found.cuda:
        hint = f"{who}, {found.cuda}, which the image lacks: use an image that ships it" + (
            f" (an NVIDIA CUDA {found.image} image, or on Jetson the JetPack image)" if found.image else "")
    elif found.package:
        on = f" on {release}" if release else " on Debian/Ubuntu"
        hint = (f"{who}" + (f" ({found.what})" if found.what else "") + f", which the image lacks: add the package "
                f"{found.package} to the image (`apt-get install`{on})")
    else:
        hint = (f"{who}" + (f" ({found.what})" if found.what else "") + ", which the image lacks: find the package "
                "that provides it" + (f" on {release}" if release else "") + f" with {found.find}, and add it to the "
                "image")
    if other:
        hint += f"; or install {other} instead of {name}, a build that does without it"
    facts = {"library": library, "needed_by": needer, "image_distribution": release, **found.to_json(),
             "variant": other}
    return hint, Cause(kind="missing-library", facts={k: v for k, v in facts.items() if v is not None})


# A file under a venv or an image's packages, as a frame names it: the folder before site-packages is the
# cell's venv (named by run and cell) or the image's, and says nothing the rest does not.
PACKAGES_DIR = re.compile(r'(?<=")[^"]*/((?:site|dist)-packages)/')


def stable_path(line: str) -> str:
    """A frame's file with its folder up to site-packages left out, so the same failure reads the same
    in every run (`File ".../site-packages/torchtune/modules/common_utils.py", line 19`)."""
    return PACKAGES_DIR.sub(r".../\1/", line)


def import_failure(probe: Mapping[str, Any], requested: Sequence[str] = (), *, pins: Sequence[str] = (),
                   distribution: Mapping[str, Any] | None = None,
                   release_dates: Mapping[str, Any] | None = None) -> Judgement:
    """Evidence, hint and cause for the first failed import, from what the probe recorded; `requested`
    are the distributions the cell's requirements name (a failure in any other is a dependency's),
    `pins` the requirements as written, `distribution` the image's (the driver's `begin` event), and
    `release_dates` what the driver asked the indexes after an import failed on NumPy's ABI."""
    failed = [s for s in probe.get("imports") or () if not s.get("ok")]
    step = failed[0]
    err = step.get("error") or {}
    module, message = step.get("module"), str(err.get("message") or "")
    evidence = [_clip(f"import {module}: {err.get('type')}: {message}")]
    if err.get("where"):
        evidence.append(_clip(stable_path(err["where"])))
    evidence += [_clip(f"import {s.get('module')}: {(s.get('error') or {}).get('type')}: "
                       f"{(s.get('error') or {}).get('message')}") for s in failed[1:3]]
    importer = _dist_of(err.get("importer") or module, probe)
    by = f"{importer} " if importer else f"{module} "
    cause = None
    numpy = None if err.get("missing_name") or err.get("missing_module") else numpy_abi(
        step, probe, requested, pins, release_dates)
    if err.get("missing_name") and err.get("from_module"):
        name, source = err["missing_name"], err["from_module"]
        owner = _dist_of(source, probe)
        if owner and importer and owner.split()[0] != importer.split()[0]:
            project = owner.split()[0]
            hint = (f"{importer} imports {name} from {source}, which {owner} does not provide: pin {project} "
                    f"to a release that has it, or use a {importer.split()[0]} release made for {owner}")
        else:
            hint = f"{by}imports {name} from {source}, which {owner or source} does not provide: align their versions"
    elif err.get("missing_module"):
        missing = str(err["missing_module"])
        owner = _dist_of(missing, probe)
        if owner and missing == module:  # the cell itself asked for a module its distribution lacks
            hint = (f"{owner} has no module {missing}: use a {owner.split()[0]} release that has it, or drop it "
                    "from the cell's modules")
        elif owner and "." in missing and (not importer or owner.split()[0] != importer.split()[0]):
            hint = (f"{by}needs module {missing}, which {owner} does not have: pin {owner.split()[0]} to a release "
                    f"that has it, or use a {by.split()[0]} release made for {owner}")
        elif owner:
            hint = f"{by}needs module {missing}, which {owner} does not have: read the evidence and align versions"
        else:
            hint = (f"{by}needs module {missing.split('.')[0]}, and no installed distribution provides it: add the "
                    "distribution that does to the cell's requirements")
    elif numpy and NUMPY_ABI.search(message):  # the exception itself says so
        return Judgement(verdict=numpy.verdict, evidence=tuple(dict.fromkeys(evidence + list(numpy.evidence))),
                         hint=numpy.hint, cause=numpy.cause)
    elif GLIBC.search(message):
        hint = (f"a binary needs glibc {GLIBC.search(message).group(1)}, newer than the image's: use a newer base "
                "image, or wheels built for this glibc (a lower manylinux level)")
    elif UNDEFINED.search(message):
        symbol = _clip(UNDEFINED.search(message).group(1), SYMBOL_IN_HINT)  # whole in the evidence
        hint = (f"a compiled extension was built against another version of a library it links to (undefined "
                f"symbol {symbol}): install builds made for this torch and CUDA")
    elif NO_SHARED.search(message):
        library = NO_SHARED.search(message).group(1).rsplit("/", 1)[-1]
        hint, cause = library_hint(library, _dist_of(err.get("library_of"), probe) or importer, distribution)
    elif numpy:  # only what NumPy printed while the import failed says so
        return Judgement(verdict=numpy.verdict, evidence=tuple(dict.fromkeys(evidence + list(numpy.evidence))),
                         hint=numpy.hint, cause=numpy.cause)
    else:  # no cause the message names: a dependency no pin names is worth naming, with what holds it back
        hint = (transitive(importer, probe, message, requested) if requested else None) or (
            f"{module} raised {err.get('type')} on import: the evidence shows where; the log has the traceback")
        if requested and importer and _unpinned(importer, probe, requested):
            name, _, version = importer.partition(" ")
            cause = Cause(kind="transitive", facts={"distribution": name, "version": version or None,
                                                    "required_by": _parents(name, probe)})
    return Judgement(verdict=Verdict.IMPORT_FAILED, evidence=tuple(evidence), hint=_clip(hint, 500), cause=cause)


def requested_names(cell: Cell) -> list[str]:
    """The distributions a cell's requirements name."""
    names = []
    for text in cell.packages.requirements:
        try:
            names.append(Requirement(text).name)
        except InvalidRequirement:
            continue
    return names


# --- CUDA and the torch guard ----------------------------------------------------------------------


def check_cuda(cell: Cell, torch: Mapping[str, Any] | None,
               gpu_mode: GpuMode) -> tuple[Verdict | None, list[str]]:
    """CUDA as the cell expects it, judged only where this host gives cells a GPU.

    With no GPU access (GpuMode.NONE) CUDA is not expected, so it cannot count against a cell.
    A device torch has no kernels for is flagged whatever the cell expected.
    """
    if not torch:
        return None, []
    exp = cell.cuda
    build = "cuda" if torch.get("cuda_version") else "cpu"
    devices = torch.get("devices") or []
    for dev in devices:
        fit = dev.get("built_for")
        if isinstance(fit, Mapping) and not fit.get("compatible"):
            return Verdict.CUDA_MISMATCH, [f"torch {torch.get('version')} has no kernels for {dev.get('name')} "
                                          f"(capability {dev.get('capability')}; built for "
                                          f"{', '.join(torch.get('arch_list') or []) or 'unknown'})"]
    if exp is None:
        return None, []
    if gpu_mode is GpuMode.NONE:
        return None, []
    if exp.torch_build and exp.torch_build != build:
        if exp.torch_build == "cuda":
            return Verdict.NO_CUDA, [f"torch {torch.get('version')} is a CPU build (torch.version.cuda is None) "
                                     "where a CUDA build was expected"]
        return Verdict.CUDA_MISMATCH, [f"torch is a CUDA {torch.get('cuda_version')} build where a CPU build "
                                       "was expected"]
    if exp.version and build == "cuda" and not str(torch.get("cuda_version")).startswith(exp.version):
        return Verdict.CUDA_MISMATCH, [f"torch is built for CUDA {torch.get('cuda_version')}, expected {exp.version}"]
    if (exp.torch_build == "cuda" or exp.version or exp.capability) and not torch.get("cuda_available"):
        return Verdict.NO_CUDA, [f"CUDA unavailable: torch.version.cuda={torch.get('cuda_version')!r}, "
                                 f"torch.cuda.is_available() is False"]
    if exp.capability and devices and devices[0].get("capability") != exp.capability:
        return Verdict.CUDA_MISMATCH, [f"GPU {devices[0].get('name')} has capability "
                                       f"{devices[0].get('capability')}, expected {exp.capability}"]
    op_error = (torch.get("errors") or {}).get("gpu_op")
    if devices and (op_error or not (torch.get("gpu_op") or {}).get("ok", True)):
        return Verdict.NO_CUDA, [f"a tiny GPU operation failed: {op_error or torch.get('gpu_op')}"]
    return None, []


def torch_replaced(states: Mapping[str, Any]) -> str | None:
    """Why the image's own torch is gone after the install (a different version or a CPU build), or None."""
    before, after = states.get("before") or {}, states.get("after") or {}
    if not before.get("present") or not after:
        return None

    def shown(state: Mapping[str, Any]) -> str:
        if not state.get("present"):
            return "no torch"
        build = f"CUDA {state['cuda']}" if state.get("cuda") else "CPU build"
        return f"torch {state.get('version')} ({build}) at {state.get('location')}"

    lost_cuda = bool(before.get("cuda")) and not after.get("cuda")
    if before.get("version") != after.get("version") or lost_cuda or not after.get("present"):
        return f"the install replaced the image's torch: {shown(before)} → {shown(after)}"
    return None


# --- everything together ---------------------------------------------------------------------------


def _tail(log: str, lines: int = 3) -> str:
    rows = [r.strip() for r in log.splitlines() if r.strip() and not r.startswith((HARNESS, PROBE))]
    return " / ".join(rows[-lines:])


# The cell driver itself ended by SIGTERM or SIGKILL (as the engine reports it, or the host backend):
# nothing in the cell does that to it, and the kernel's OOM killer is told apart by its flag.
KILLED_FROM_OUTSIDE = {143: "SIGTERM", 137: "SIGKILL", -15: "SIGTERM", -9: "SIGKILL"}
STOPPED_HINT = ("the cell was stopped from outside, not by its packages: run it again; if it repeats, find what "
                "stops containers here (the engine restarting, a service manager, `docker stop`, another "
                "runner's clean-up)")


def stopped_from_outside(execution: Execution, parsed: CellEvents) -> str | None:
    """Evidence that the cell was stopped from outside while it ran, or None."""
    how = KILLED_FROM_OUTSIDE.get(execution.exit_code)
    if how is None or execution.oom_killed or execution.timed_out or parsed.end is not None:
        return None
    running = next((p["phase"] for p in reversed(parsed.phases) if p.get("status") == "incomplete"), None)
    return (f"the cell was stopped from outside ({how}, exit {execution.exit_code})"
            + (f" while its {running} phase ran" if running else "") + ": the engine stopping, `docker stop` or "
            "`docker kill`, or the host")


PHASE_WORDS = {"venv": "the venv", "install": "the install", "uv-bootstrap": "uv's bootstrap",
               "pip-upgrade": "pip's upgrade", "probe": "the imports (probe)"}


def _phase_words(phase: object) -> str:
    return PHASE_WORDS.get(str(phase), f"the {phase} phase") if phase else "the cell"


def died_in(parsed: CellEvents) -> str | None:
    """The phase the cell was in when something killed it: the one still running, else the one that
    died of a signal, else the one that failed (a child of it was killed: pip survives its build's)."""
    for status in ("incomplete", "signal", "failed"):
        found = next((p["phase"] for p in parsed.phases
                      if (p.get("signal") if status == "signal" else p.get("status") == status)), None)
        if found:
            return found
    return None


def hit_limit(limit: dict) -> Judgement:
    """A cell the driver stopped at its process limit: `crashed` (its processes were killed, as the
    OOM killer's would be), saying which phase and the limit."""
    phase = _phase_words(limit.get("phase"))
    refused = limit.get("refused")
    return Judgement(verdict=Verdict.CRASHED, evidence=(
        f"{phase} hit the cell's limit of {limit.get('max')} processes"
        + (f" (the kernel refused {refused} more processes or threads)" if isinstance(refused, int) else "")
        + ": the cell was stopped there",),
        hint=f"something in {phase} starts processes or threads without end (a build that forks without end, or "
             "runs too many jobs at once): if it truly needs more, raise `processes` in the matrix or the "
             "include, or --processes; otherwise the package is broken or hostile")


@dataclass(frozen=True)
class _Memory:
    """What the cell's memory says: the cap in words, the kernel's OOM line (empty when it was not killed)
    and the hint for a cell that ran out."""
    limit: str
    oom: tuple[str, ...]
    more: str

    @classmethod
    def of(cls, cell: Cell, execution: Execution, parsed: CellEvents) -> _Memory:
        limit = f" at its {format_memory(cell.memory)} limit" if cell.memory else ""
        during = died_in(parsed)
        oom = (f"the kernel killed the cell for memory (OOMKilled){limit}"
               + (f" during {_phase_words(during)}" if during else ""),) if execution.oom_killed else ()
        return cls(limit, oom, f"the cell ran out of memory{limit}: give it more (`memory` in the matrix or the "
                               "include, or --memory), or run fewer cells at once (--jobs)")


def how_it_ended(cell: Cell, execution: Execution, parsed: CellEvents, names: Sequence[str] = ()) -> Judgement:
    """How the cell's run ended, before CUDA and the torch guard are considered: the first stage that
    finds the end (stopped early, set-up failed, the probe failed) decides; else what ran says."""
    memory = _Memory.of(cell, execution, parsed)
    return (stopped_early(cell, execution, parsed, memory)
            or set_up_failed(cell, execution, parsed, memory, names)
            or probe_failed(cell, execution, parsed, memory)
            or what_ran(parsed))


def stopped_early(cell: Cell, execution: Execution, parsed: CellEvents, memory: _Memory) -> Judgement | None:
    """A limit, the deadline, a stop from outside, or a driver that never started or failed itself."""
    if parsed.limit and parsed.limit.get("limit") == "processes":
        return hit_limit(parsed.limit)
    if execution.timed_out:
        running = next((p["phase"] for p in parsed.phases if p.get("status") == "incomplete"), None)
        check = next((c for c in parsed.checks if c.get("outcome") == "unfinished"), None)
        running = f"{running} (check {checked.name_of(check)})" if running and check else running
        return Judgement(verdict=Verdict.TIMEOUT,
                         evidence=(f"killed at its deadline{f' during {running}' if running else ''}",),
                         hint=f"the cell ran past its {cell.timeout:g} s timeout"
                              + (f" during {running}" if running else "")
                              + ": raise [matrix] timeout, or find why it is slow (a source build?) in the log")
    stopped = stopped_from_outside(execution, parsed)
    if stopped:
        return Judgement(verdict=Verdict.ENGINE_ERROR, evidence=(stopped,), hint=STOPPED_HINT)
    if parsed.begin is None:
        return Judgement(verdict=Verdict.CRASHED, evidence=memory.oom + (
            f"the cell driver never started (exit {execution.exit_code}): "
            f"{_clip(execution.error or _tail(execution.log, 2) or 'no output')}",),
            hint="the image could not run the driver: check that it has a Python 3.8+ at the configured path")
    for phase in parsed.phases:
        if phase.get("returncode") is None and str(phase.get("error", "")).startswith(DRIVER_FAILED):
            return Judgement(verdict=Verdict.CRASHED, evidence=(_clip(phase["error"]),),
                             hint="a bug in the harness's cell driver, not in the packages: report it with the log")
    return None


def set_up_failed(cell: Cell, execution: Execution, parsed: CellEvents, memory: _Memory,
                  names: Sequence[str]) -> Judgement | None:
    """uv's bootstrap, the venv or the install did not end well."""
    oom, more_memory = memory.oom, memory.more
    venv, install = parsed.phase("venv"), parsed.phase("install")
    boot = parsed.phase("uv-bootstrap")
    if boot and boot.get("status") != "ok":
        found = install_failure(parsed.output.get("uv-bootstrap", ""), (), (), None)
        return Judgement(verdict=found.verdict, evidence=found.evidence,
                         hint="uv itself could not be installed in the cell (" + (found.hint or "") + "): put the uv "
                              "wheel in the wheelhouse, or give the index variant pip's default index")
    if venv and venv.get("status") != "ok":
        said = [line.strip() for line in parsed.output.get("venv", "").splitlines() if line.strip()]
        evidence = tuple(dict.fromkeys(_clip(f"python -m venv failed: {line}") for line in said[:1] + said[-1:]))
        if oom:
            return Judgement(verdict=Verdict.CRASHED, evidence=oom + evidence, hint=more_memory)
        return Judgement(verdict=Verdict.VENV_FAILED,
                         evidence=evidence or (f"python -m venv failed (exit {venv.get('returncode')})",),
                         hint="the image cannot make a venv: add python3-venv (Debian/Ubuntu) to the image")
    if not install or install.get("status") in ("ok", "skipped"):
        return None
    starved = out_of_memory_build(parsed.output.get("install", ""), execution.oom_killed, parsed.build, memory.limit)
    if starved and (execution.oom_killed or install.get("status") != "incomplete"):
        return Judgement(verdict=starved.verdict, evidence=tuple(dict.fromkeys(starved.evidence + oom)),
                         hint=starved.hint)
    if install.get("status") == "incomplete" or install.get("signal"):
        return Judgement(verdict=Verdict.CRASHED, evidence=oom + (
            f"pip died ({install.get('signal') or 'no end recorded'})",),
            hint=more_memory if oom else "pip was killed: look for memory pressure (OOM) in the log, and give "
                                         "the cell more memory")
    found = install_failure(parsed.output.get("install", ""), parsed.index_checks, parsed.retries, cell,
                            roots=parsed.index_roots, target=Target.of_begin(parsed.begin), names=names)
    return Judgement(verdict=found.verdict, evidence=oom + found.evidence, hint=more_memory if oom else found.hint,
                     cause=found.cause)


def probe_failed(cell: Cell, execution: Execution, parsed: CellEvents, memory: _Memory) -> Judgement | None:
    """A check or the probe died, an import failed, or the kernel killed the cell after its imports."""
    oom, more_memory = memory.oom, memory.more
    probe = parsed.probe
    died = next((c for c in parsed.checks if c.get("outcome") in ("crashed", "unfinished")), None)
    if died is not None and not parsed.failed_imports:  # inside a check: it is named
        found = checked.judge([died], degradations(probe.get("imports") or (), probe), probe)
        return Judgement(verdict=Verdict.CRASHED, evidence=oom + found.evidence,
                         hint=more_memory if oom else found.hint)
    if parsed.crash or not probe.get("complete"):
        crash = parsed.crash or {}
        done = [s["module"] for s in probe.get("imports", [])]
        during = next((m for m in cell.packages.modules if m not in done), None)
        how = crash.get("signal") or f"exit code {crash.get('returncode', execution.exit_code)}"
        evidence = [f"the probe died ({how})" + (f" while importing {during}" if during else "")]
        evidence += [_tail(parsed.output.get("probe", ""), 2)] if parsed.output.get("probe", "").strip() else []
        return Judgement(verdict=Verdict.CRASHED, evidence=oom + tuple(_clip(e) for e in evidence),
                         hint=more_memory if oom else
                         f"the interpreter died{f' importing {during}' if during else ''}: usually a binary "
                         "built for another torch, CUDA or CPU; run with --keep and import it by hand")
    if parsed.failed_imports:
        found = import_failure(probe, requested_names(cell), pins=cell.packages.requirements,
                               distribution=(parsed.begin or {}).get("distribution"),
                               release_dates=parsed.release_dates)
        return Judgement(verdict=found.verdict, evidence=oom + found.evidence, hint=found.hint, cause=found.cause)
    if execution.oom_killed:
        return Judgement(verdict=Verdict.CRASHED, evidence=oom, hint=more_memory)
    return None


def what_ran(parsed: CellEvents) -> Judgement:
    """Everything ran: a check that broke, else a loss the imports showed (degraded), else pass."""
    probe = parsed.probe
    lost = degradations(probe.get("imports") or (), probe)
    notes = tuple(platform_notes(probe.get("imports") or (), probe)) + tuple(checked.notes(parsed.checks))
    found = checked.judge(parsed.checks, lost, probe)
    if found:  # a check that broke outranks a loss; a passing one never clears it
        return Judgement(verdict=found.verdict, evidence=found.evidence, hint=found.hint, notes=notes)
    if lost:
        hint, cause = degraded_hint(lost, probe, (parsed.begin or {}).get("distribution"))
        evidence = tuple(dict.fromkeys(_clip(f"{m}: {t}") for m, _, t in lost)) + tuple(loader_evidence(lost, probe))
        return Judgement(verdict=Verdict.DEGRADED, evidence=evidence, hint=_clip(hint, 500), notes=notes, cause=cause)
    return Judgement(verdict=Verdict.PASS, notes=notes)


def degraded_hint(lost: Sequence[tuple[str, str, str]], probe: Mapping[str, Any],
                  distribution: Any) -> tuple[str, Any]:
    """What to do about the first loss, and its structured cause when a system library is missing."""
    module, what, _ = lost[0]
    owner = _dist_of(module, probe) or module
    torch = _dist_of("torch", probe)
    hint = f"{owner} {what}" + (f" with {torch}" if torch and not owner.startswith("torch ") else "")
    absent = re.search(r"No module named '([^']+)'", lost[0][2])
    # the loss's words, then the loader's for each file, judged by that file: not what the platform never had
    said = [(lost[0][2], lost[0][2]), *((error, path) for path, error in (probe.get("loader") or {}).items())]
    library = next((m.group(1).rsplit("/", 1)[-1] for text, whose in said
                    for m in [NO_SHARED.search(str(text or ""))] if m and never_had(str(whose), probe) is None),
                   None)
    cause = None
    if absent:
        hint += f" because {absent.group(1)} is not installed: add it to the cell's requirements"
    elif library:
        said, cause = library_hint(library, owner, distribution)
        hint += ": " + said
    elif "C++" in what:
        hint += f": install the {owner.split()[0]} release built for this torch, or the torch it was built for"
    else:
        hint += ": it imports but lacks function; the evidence names what is missing"
    return hint, cause


CUDA_HINTS = {
    Verdict.NO_CUDA: "install a CUDA build of torch (the image's own, or the index made for this JetPack/CUDA) "
                     "and check the container runtime gives the GPU (`wheel-harness doctor`)",
    Verdict.CUDA_MISMATCH: "use a torch built for this CUDA version and this GPU's architecture",
}


def judge(cell: Cell, execution: Execution, parsed: CellEvents, gpu_mode: GpuMode, *,
          names: Sequence[str] = ()) -> Judgement:
    """The cell's verdict: how it ended, then CUDA as expected, then the torch guard; with notes.
    `names` are the projects the matrix names (matrix_names), for close names to a misspelt one."""
    gpu_mode = GpuMode(gpu_mode)
    found = how_it_ended(cell, execution, parsed, names)
    verdict, evidence, hint, cause = found.verdict, list(found.evidence), found.hint, found.cause
    notes = list(parsed.notes) + list(found.notes)
    if verdict in (Verdict.PASS, Verdict.DEGRADED, Verdict.CHECK_FAILED):
        cuda_verdict, cuda_evidence = check_cuda(cell, parsed.probe.get("torch"), gpu_mode)
        if cuda_verdict:
            notes += [f"also {verdict.value}: {e}" for e in evidence]
            verdict, evidence, hint, cause = cuda_verdict, cuda_evidence, CUDA_HINTS[cuda_verdict], None
        elif cell.cuda and gpu_mode is GpuMode.NONE:
            notes.append("CUDA not checked: this host gives cells no GPU")
    replaced = torch_replaced(parsed.torch_states)
    if replaced and verdict in (Verdict.PASS, Verdict.DEGRADED, Verdict.CHECK_FAILED, Verdict.IMPORT_FAILED,
                                Verdict.NO_CUDA, Verdict.CUDA_MISMATCH, Verdict.CRASHED):
        notes += [f"also {verdict.value}: {e}" for e in evidence]  # most likely a consequence
        before = (parsed.torch_states.get("before") or {}).get("version")
        verdict, evidence, cause = Verdict.TORCH_REPLACED, [replaced], None
        hint = (f"pip replaced the image's torch: pin torch=={before} in the cell's requirements (or a constraints "
                "file) so the install keeps it, or install the other packages with --no-deps")
    for retry in parsed.retries:
        notes.append(f"install retried (attempt {retry.get('attempt')} of {retry.get('attempts')}) after "
                     f"{retry.get('index')} did not answer: {retry.get('reason')}")
    built = [f"{i['name']} {i['version']}" for i in (parsed.install or {}).get("items", [])
             if i.get("source") == "source"]
    if built:
        notes.append(f"built from source: {', '.join(built)}")
    if (built or verdict is Verdict.SOURCE_BUILD_FAILED) and parsed.build and parsed.build.get("jobs"):
        jobs, rule = parsed.build["jobs"], parsed.build.get("rule")
        set_ = ", ".join(f"{k}={v}" for k, v in (parsed.build.get("variables") or {}).items())
        notes.append(f"source builds ran with {jobs} parallel job{'s' if jobs != 1 else ''} ({rule}): {set_}")
    return Judgement(verdict=verdict, evidence=tuple(evidence), notes=tuple(notes), hint=hint, cause=cause)


# Hints for verdicts reached without a log to read.
HINTS = {
    Verdict.ENGINE_ERROR: "the container engine failed, not the packages: see `wheel-harness doctor`, then re-run",
    Verdict.IMAGE_UNAVAILABLE: "the image could not be found or built: build it (`nox -s images`) or pull it first",
    Verdict.SKIPPED: "this host cannot run the cell's architecture: install qemu-user-static (binfmt), or run "
                     "the matrix on such a machine",
    Verdict.INTERRUPTED: "the run was interrupted: re-run the cell",
}


# --- the plan against the run ----------------------------------------------------------------------


def disagreement(prediction: Mapping[str, Any], result: Mapping[str, Any]) -> str | None:
    """Where `plan`'s prediction and a stored result differ, in words; None when they agree or cannot
    be compared (see Verdict.agrees_with)."""
    try:
        verdict = Verdict(str(result.get("verdict")))
    except ValueError:
        return None
    outcome = prediction.get("outcome")
    agrees = verdict.agrees_with(outcome)
    if agrees is None:
        return None
    if not agrees:
        return f"plan predicted {outcome}, the run was {verdict.value}"
    items = (result.get("install") or {}).get("items") or []
    installed = {canonicalize_name(str(i.get("name", ""))): i.get("version") for i in items if isinstance(i, Mapping)}
    differ = [f"{name} {installed[name]} (plan: {version})"
              for name, version in (prediction.get("versions") or {}).items()
              if name in installed and installed[name] and installed[name] != version]
    return ("versions differ from the plan: " + ", ".join(differ)) if differ else None


def compared_with_plan(result: Mapping[str, Any]) -> bool:
    """Whether a stored result can be held against its prediction at all."""
    prediction = result.get("prediction")
    try:
        verdict = Verdict(str(result.get("verdict")))
    except ValueError:
        return False
    return isinstance(prediction, Mapping) and verdict.agrees_with(prediction.get("outcome")) is not None
