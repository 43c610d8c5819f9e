"""JUnit XML from stored result records (harness.results.store), for CI systems that read test reports.

One `<testsuite>` per matrix, one `<testcase>` per cell: named by cell id, classname the matrix, time
the cell's total. A verdict the cell does not expect is a `<failure>` (an infrastructure verdict: an
`<error>`, since the run could not judge the combination) whose message is the verdict and the first
line of evidence and whose text is every evidence line and the hint; `skipped` is `<skipped>`.

After a cell's testcase, one per check it ran (`<cell-id> :: torchao [cpu]`, a user's script, each test
of a pytest file), with the check's own time: a check that failed is a `<failure>` (one that crashed or
timed out, an `<error>`), one that could not apply `<skipped>`; in a cell whose verdict is the one it
expects, a broken check is `<skipped>` as known-bad, so the checks agree with the cell's testcase. The
schema CI tools validate against (Jenkins' junit-10.xsd) allows properties on suites only, so each
cell's versions and timings are suite properties named `<cell-id>.version.<dist>` and
`<cell-id>.time.<phase>`, and the same facts are the testcase's `<system-out>`. A renderer: written
with junitparser, no I/O but the file it is asked to write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite
from packaging.utils import canonicalize_name

from harness.model import INFRASTRUCTURE_VALUES, Verdict
from harness.reports import table

PHASES = ("image", "container_start", "venv", "uv-bootstrap", "pip-upgrade", "install", "probe", "check-install",
          "checks", "total")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _name(value: Any) -> str:
    """An axis of the cell as recorded: `{"name": …}`, or the name itself in older records."""
    return str(_mapping(value).get("name", "")) if isinstance(value, Mapping) else str(value or "")


def _seconds(value: Any) -> float | None:
    return round(float(value), 3) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def versions(record: Mapping[str, Any]) -> dict[str, str]:
    """Every distribution the probe saw, name → version."""
    dists = _mapping(record.get("probe")).get("distributions")
    out = {}
    for name, info in (dists.items() if isinstance(dists, Mapping) else ()):
        version = info.get("version") if isinstance(info, Mapping) else info
        if version:
            out[canonicalize_name(str(name))] = str(version)
    return dict(sorted(out.items()))


def timings(record: Mapping[str, Any]) -> dict[str, float]:
    """Seconds per phase, the install's split and each import included."""
    given = _mapping(record.get("timings"))
    out = {p: s for p in PHASES if (s := _seconds(given.get(p))) is not None}
    for part, value in _mapping(given.get("install_split")).items():
        if (s := _seconds(value)) is not None:
            out[f"install.{part}"] = s
    for module, value in _mapping(given.get("imports")).items():
        if (s := _seconds(value)) is not None:
            out[f"import.{module}"] = s
    return out


def properties(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The cell's facts as (name, value) pairs, each name after the cell id."""
    cell = _mapping(record.get("cell"))
    cid = str(record["cell_id"])
    facts: list[tuple[str, str]] = [("verdict", str(record.get("verdict"))),
                                    ("expect", str(cell.get("expect", "pass")))]
    if cell.get("approach"):
        facts.append(("approach", str(cell["approach"])))
    facts += [("image", _name(cell.get("image"))), ("platform", str(_mapping(cell.get("image")).get("platform", ""))),
              ("index", _name(cell.get("index"))), ("packages", _name(cell.get("packages"))),
              ("installer", str(cell.get("installer", "pip")))]
    facts += [(f"version.{name}", version) for name, version in versions(record).items()]
    facts += [(f"time.{phase}", f"{seconds:.3f}") for phase, seconds in timings(record).items()]
    downloaded = _mapping(record.get("install")).get("downloaded_bytes")
    if isinstance(downloaded, int):
        facts.append(("downloaded_bytes", str(downloaded)))
    return [(f"{cid}.{name}", value) for name, value in facts if value]


def _outcome(record: Mapping[str, Any]) -> Failure | Error | Skipped | None:
    verdict = str(record.get("verdict") or "unknown")
    evidence = [str(e) for e in record.get("evidence") or []]
    if verdict == Verdict.SKIPPED.value:
        return Skipped(evidence[0] if evidence else "skipped")
    expect = _mapping(record.get("cell")).get("expect", "pass")
    if record.get("expected", verdict == expect):  # older records say nothing: the declared expectation
        return None
    message = verdict + (f": {evidence[0]}" if evidence else "") + f" (expected {expect})"
    kind = Error if verdict in INFRASTRUCTURE_VALUES else Failure
    result = kind(message, type_=verdict)
    result.text = "\n".join([*evidence, *([f"hint: {record['hint']}"] if record.get("hint") else [])])
    return result


def testcase(record: Mapping[str, Any]) -> TestCase:
    case = TestCase(str(record["cell_id"]), classname=str(record.get("matrix") or ""),
                    time=_seconds(_mapping(record.get("timings")).get("total")) or 0.0)
    outcome = _outcome(record)
    if outcome is not None:
        case.result = [outcome]
    out = [f"verdict: {record.get('verdict')} (expected {_mapping(record.get('cell')).get('expect', 'pass')})",
           f"versions: {table.versions_text(record)}",
           *([f"checks: {table.checks_text(record)}"] if table.check_records(record) else []),
           "times: " + ", ".join(f"{p} {s:.1f} s" for p, s in timings(record).items() if "." not in p)]
    out += [f"note: {n}" for n in record.get("notes") or []]
    if record.get("log"):
        out.append(f"log: {record['log']}")
    case.system_out = "\n".join(out)
    return case


def check_testcase(record: Mapping[str, Any], check: Mapping[str, Any]) -> TestCase:
    """One check of a cell as a testcase (see the module's docstring)."""
    case = TestCase(f"{record['cell_id']} :: {table.check_name(check)}", classname=str(record.get("matrix") or ""),
                    time=_seconds(check.get("seconds")) or 0.0)
    outcome = str(check.get("outcome"))
    error = _mapping(check.get("error"))
    said = str(error.get("last_line") or outcome)
    if error.get("part"):
        said = f"{error['part']}: {said}"
    verdict = str(record.get("verdict"))
    expected = record.get("expected", True) and verdict != Verdict.PASS.value
    if outcome == "not-applicable":
        case.result = [Skipped(str(check.get("reason") or "not applicable here"))]
    elif outcome != "passed" and expected:
        case.result = [Skipped(f"{outcome}, as the cell expects ({verdict}): {said}")]
    elif outcome != "passed":
        kind = Failure if outcome == "failed" else Error
        result = kind(f"{outcome}: {said}", type_=outcome)
        result.text = "\n".join([*(error.get("explained") or ()), *(error.get("frames") or ())])
        case.result = [result]
    out = [f"{p.get('part')}: {p.get('outcome')}" + (f" ({p['reason']})" if p.get("reason") else "")
           for p in check.get("parts") or () if isinstance(p, Mapping)]
    out += [str(line) for line in check.get("output") or ()]
    if out:
        case.system_out = "\n".join(out)
    return case


def render(records: Sequence[Mapping[str, Any]]) -> JUnitXml:
    """One testsuite per matrix (in the order first seen), one testcase per record."""
    xml = JUnitXml("wheel-harness")
    suites: dict[str, TestSuite] = {}
    for record in records:
        matrix = str(record.get("matrix") or "")
        if matrix not in suites:
            suites[matrix] = TestSuite(matrix)
            run_ids = sorted({str(r.get("run_id")) for r in records if str(r.get("matrix") or "") == matrix})
            suites[matrix].add_property("run_id", ", ".join(run_ids))
        suite = suites[matrix]
        for name, value in properties(record):
            suite.add_property(name, value)
        suite.add_testcase(testcase(record))
        for check in table.check_records(record):
            suite.add_testcase(check_testcase(record, check))
    for suite in suites.values():
        suite.update_statistics()
        suite.time = round(suite.time, 3)
        xml.add_testsuite(suite)
    # Totals set one by one: junit-10.xsd has no `skipped` attribute on <testsuites>.
    xml.tests = sum(s.tests for s in suites.values())
    xml.failures = sum(s.failures for s in suites.values())
    xml.errors = sum(s.errors for s in suites.values())
    xml.time = round(sum(s.time for s in suites.values()), 3)
    return xml


def write(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """Write the JUnit XML for `records` to `path`, indented; atomically (a temp file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        render(records).write(tmp, pretty=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
