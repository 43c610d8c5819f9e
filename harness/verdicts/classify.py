"""The classifier: what a cell's backend saw and its log said → one verdict, its evidence, a hint.

Pure functions over parsed events (events.CellEvents) and the cell's declaration; no I/O. Evidence
is quoted from the log (pip's lines, the probe's messages, the driver's index checks), never made
up: where the log does not show a cause, the hint says to read the log instead of guessing one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness import redact
from harness.backends.base import Execution
from harness.incell.driver import DRIVER_FAILED, missing_projects
from harness.installers import read_uv
from harness.matrix import templates
from harness.model import Cell, GpuMode, Verdict
from harness.plan import offers
from harness.plan.target import Target
from harness.units import format_memory
from harness.verdicts import buildcause
from harness.verdicts import checks as checked
from harness.verdicts.events import HARNESS, PROBE, CellEvents

EVIDENCE_MAX = 300  # characters per evidence line (the JSON keeps this many; the table shows less)


@dataclass(frozen=True, kw_only=True)
class Judgement:
    verdict: Verdict
    evidence: tuple[str, ...] = ()  # lines quoted from the log that prove the verdict
    notes: tuple[str, ...] = ()  # what else is worth knowing (source builds, retries, the driver's notes)
    hint: str | None = None  # one line: what to do


def _clip(text: str, limit: int = EVIDENCE_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
                         r"Failed to fetch: |dns error|tcp connect error")
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
                    target: Target | None = None) -> Judgement:
    """Why pip (or uv) failed: an index that did not answer, a wrong index URL, no distribution, a
    conflict, a failed build. `roots` are the driver's checks of index roots, `target` the cell's
    interpreter (Target.of_begin its `begin` event)."""
    attempts = len(retries) + 1
    only_binary = bool(cell and cell.index.refuses_source)
    garbled = _garbled(checks, roots, output)
    if garbled:
        return garbled
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
        elif "SSL" in said or "CERTIFICATE" in said:
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
NO_SHARED = re.compile(r"(\S+\.so[.0-9]*): cannot open shared object file")


NEEDS_VERSION = (
    re.compile(r"requires? (?P<pkg>[A-Za-z][\w.-]*) (?:version )?v?(?P<need>[0-9][\w.]*)\+? or (?:newer|later|higher|"
               r"above|greater)", re.I),
    re.compile(r"(?P<pkg>[A-Za-z][\w.-]*) ?>= ?(?P<need>[0-9][\w.]*) (?:is )?required", re.I),
    re.compile(r"requires? (?P<pkg>[A-Za-z][\w.-]*) ?>= ?(?P<need>[0-9][\w.]*)", re.I),
)


def _requirements(info: Mapping[str, Any]) -> list[Requirement]:
    out = []
    for text in info.get("requires") or ():
        try:
            out.append(Requirement(str(text)))
        except InvalidRequirement:
            continue
    return out


def transitive(dist: str | None, probe: Mapping[str, Any], message: str, requested: Sequence[str]) -> str | None:
    """For an import that failed inside a distribution no pin names: which one, who required it, and,
    where its message states a version it needs of another package, which installed distribution
    holds that package back. None when the distribution is one the cell asked for (or unknown)."""
    if not dist:
        return None
    name, _, version = dist.partition(" ")
    wanted = {canonicalize_name(r) for r in requested}
    if canonicalize_name(name) in wanted:
        return None
    dists = probe.get("distributions") or {}
    parents = sorted(f"{other} {info.get('version')}" for other, info in dists.items()
                     if any(canonicalize_name(r.name) == canonicalize_name(name) for r in _requirements(info)))
    said = f"{dist}, which no pin names" + (f" (required by {', '.join(parents)})" if parents else "")
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
            for req in _requirements(info):
                if canonicalize_name(req.name) == pkg and req.specifier and not req.specifier.contains(
                        need, prereleases=True):
                    holders.append(f"{other} {info.get('version')} ({req})")
        held = f", held back by {', '.join(holders)}" if holders else ""
        advice = (f"pin {pkg}>={need} and a release of {holders[0].split()[0]} that allows it" if holders
                  else f"pin {pkg}>={need}")
        return f"{said}: it needs {pkg} {need} or newer, but {pkg} {have} is installed{held}: {advice}"
    return f"{said}: pin {name} to a release that works here (or the version of what requires it)"


def import_failure(probe: Mapping[str, Any], requested: Sequence[str] = ()) -> tuple[list[str], str]:
    """Evidence and hint for the first failed import, from what the probe recorded; `requested` are
    the distributions the cell's requirements name (a failure in any other is a dependency's)."""
    failed = [s for s in probe.get("imports") or () if not s.get("ok")]
    step = failed[0]
    err = step.get("error") or {}
    module, message = step.get("module"), str(err.get("message") or "")
    evidence = [_clip(f"import {module}: {err.get('type')}: {message}")]
    if err.get("where"):
        evidence.append(_clip(err["where"]))
    evidence += [_clip(f"import {s.get('module')}: {(s.get('error') or {}).get('type')}: "
                       f"{(s.get('error') or {}).get('message')}") for s in failed[1:3]]
    importer = _dist_of(err.get("importer") or module, probe)
    by = f"{importer} " if importer else f"{module} "
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
    elif GLIBC.search(message):
        hint = (f"a binary needs glibc {GLIBC.search(message).group(1)}, newer than the image's: use a newer base "
                "image, or wheels built for this glibc (a lower manylinux level)")
    elif UNDEFINED.search(message):
        hint = (f"a compiled extension was built against another version of a library it links to (undefined "
                f"symbol {UNDEFINED.search(message).group(1)}): install builds made for this torch and CUDA")
    elif NO_SHARED.search(message):
        hint = (f"{NO_SHARED.search(message).group(1)} is not in the image: use an image that ships it (a CUDA "
                "runtime?) or install the package that provides it")
    else:  # no cause the message names: a dependency no pin names is worth naming, with what holds it back
        hint = (transitive(importer, probe, message, requested) if requested else None) or (
            f"{module} raised {err.get('type')} on import: the evidence shows where; the log has the traceback")
    return evidence, _clip(hint, 400)


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


def _ended(cell: Cell, execution: Execution, parsed: CellEvents) -> Judgement:
    """How the cell's run ended, before CUDA and the torch guard are considered."""
    if execution.timed_out:
        running = next((p["phase"] for p in parsed.phases if p.get("status") == "incomplete"), None)
        check = next((c for c in parsed.checks if c.get("outcome") == "unfinished"), None)
        running = f"{running} (check {checked.name_of(check)})" if running and check else running
        return Judgement(verdict=Verdict.TIMEOUT,
                         evidence=(f"killed at its deadline{f' during {running}' if running else ''}",),
                         hint=f"the cell ran past its {cell.timeout:g} s timeout"
                              + (f" during {running}" if running else "")
                              + ": raise [matrix] timeout, or find why it is slow (a source build?) in the log")
    limit = f" at its {format_memory(cell.memory)} limit" if cell.memory else ""
    oom = (f"the kernel killed the cell for memory (OOMKilled){limit}",) if execution.oom_killed else ()
    more_memory = (f"the cell ran out of memory{limit}: give it more (`memory` in the matrix or the include, "
                   "or --memory), or run fewer cells at once (--jobs)")
    stopped = stopped_from_outside(execution, parsed)
    if stopped:
        return Judgement(verdict=Verdict.ENGINE_ERROR, evidence=(stopped,), hint=STOPPED_HINT)
    if parsed.begin is None:
        return Judgement(verdict=Verdict.CRASHED, evidence=oom + (
            f"the cell driver never started (exit {execution.exit_code}): "
            f"{_clip(execution.error or _tail(execution.log, 2) or 'no output')}",),
            hint="the image could not run the driver: check that it has a Python 3.8+ at the configured path")
    for phase in parsed.phases:
        if phase.get("returncode") is None and str(phase.get("error", "")).startswith(DRIVER_FAILED):
            return Judgement(verdict=Verdict.CRASHED, evidence=(_clip(phase["error"]),),
                             hint="a bug in the harness's cell driver, not in the packages: report it with the log")
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
        return Judgement(verdict=Verdict.VENV_FAILED,
                         evidence=evidence or (f"python -m venv failed (exit {venv.get('returncode')})",),
                         hint="the image cannot make a venv: add python3-venv (Debian/Ubuntu) to the image")
    if install and install.get("status") not in ("ok", "skipped"):
        if install.get("status") == "incomplete" or install.get("signal"):
            return Judgement(verdict=Verdict.CRASHED, evidence=oom + (
                f"pip died ({install.get('signal') or 'no end recorded'})",),
                hint=more_memory if oom else "pip was killed: look for memory pressure (OOM) in the log, and give "
                                             "the cell more memory")
        found = install_failure(parsed.output.get("install", ""), parsed.index_checks, parsed.retries, cell,
                                roots=parsed.index_roots, target=Target.of_begin(parsed.begin))
        return Judgement(verdict=found.verdict, evidence=oom + found.evidence, hint=found.hint)
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
        evidence, hint = import_failure(probe, requested_names(cell))
        return Judgement(verdict=Verdict.IMPORT_FAILED, evidence=oom + tuple(evidence), hint=hint)
    if execution.oom_killed:
        return Judgement(verdict=Verdict.CRASHED, evidence=oom, hint=more_memory)
    lost = degradations(probe.get("imports") or (), probe)
    notes = tuple(platform_notes(probe.get("imports") or (), probe)) + tuple(checked.notes(parsed.checks))
    found = checked.judge(parsed.checks, lost, probe)
    if found:  # a check that broke outranks a loss; a passing one never clears it
        return Judgement(verdict=found.verdict, evidence=found.evidence, hint=found.hint, notes=notes)
    if lost:
        module, what, _ = lost[0]
        owner = _dist_of(module, probe) or module
        torch = _dist_of("torch", probe)
        hint = f"{owner} {what}" + (f" with {torch}" if torch and not owner.startswith("torch ") else "")
        absent = re.search(r"No module named '([^']+)'", lost[0][2])
        if absent:
            hint += f" because {absent.group(1)} is not installed: add it to the cell's requirements"
        elif "C++" in what:
            hint += f": install the {owner.split()[0]} release built for this torch, or the torch it was built for"
        else:
            hint += ": it imports but lacks function; the evidence names what is missing"
        evidence = tuple(dict.fromkeys(_clip(f"{m}: {t}") for m, _, t in lost)) + tuple(loader_evidence(lost, probe))
        return Judgement(verdict=Verdict.DEGRADED, evidence=evidence, hint=hint, notes=notes)
    return Judgement(verdict=Verdict.PASS, notes=notes)


CUDA_HINTS = {
    Verdict.NO_CUDA: "install a CUDA build of torch (the image's own, or the index made for this JetPack/CUDA) "
                     "and check the container runtime gives the GPU (`wheel-harness doctor`)",
    Verdict.CUDA_MISMATCH: "use a torch built for this CUDA version and this GPU's architecture",
}


def judge(cell: Cell, execution: Execution, parsed: CellEvents, gpu_mode: GpuMode) -> Judgement:
    """The cell's verdict: how it ended, then CUDA as expected, then the torch guard; with notes."""
    gpu_mode = GpuMode(gpu_mode)
    found = _ended(cell, execution, parsed)
    verdict, evidence, hint = found.verdict, list(found.evidence), found.hint
    notes = list(parsed.notes) + list(found.notes)
    if verdict in (Verdict.PASS, Verdict.DEGRADED, Verdict.CHECK_FAILED):
        cuda_verdict, cuda_evidence = check_cuda(cell, parsed.probe.get("torch"), gpu_mode)
        if cuda_verdict:
            notes += [f"also {verdict.value}: {e}" for e in evidence]
            verdict, evidence, hint = cuda_verdict, cuda_evidence, CUDA_HINTS[cuda_verdict]
        elif cell.cuda and gpu_mode is GpuMode.NONE:
            notes.append("CUDA not checked: this host gives cells no GPU")
    replaced = torch_replaced(parsed.torch_states)
    if replaced and verdict in (Verdict.PASS, Verdict.DEGRADED, Verdict.CHECK_FAILED, Verdict.IMPORT_FAILED,
                                Verdict.NO_CUDA, Verdict.CUDA_MISMATCH, Verdict.CRASHED):
        notes += [f"also {verdict.value}: {e}" for e in evidence]  # most likely a consequence
        before = (parsed.torch_states.get("before") or {}).get("version")
        verdict, evidence = Verdict.TORCH_REPLACED, [replaced]
        hint = (f"pip replaced the image's torch: pin torch=={before} in the cell's requirements (or a constraints "
                "file) so the install keeps it, or install the other packages with --no-deps")
    for retry in parsed.retries:
        notes.append(f"install retried (attempt {retry.get('attempt')} of {retry.get('attempts')}) after "
                     f"{retry.get('index')} did not answer: {retry.get('reason')}")
    built = [f"{i['name']} {i['version']}" for i in (parsed.install or {}).get("items", [])
             if i.get("source") == "source"]
    if built:
        notes.append(f"built from source: {', '.join(built)}")
    return Judgement(verdict=verdict, evidence=tuple(evidence), notes=tuple(notes), hint=hint)


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
