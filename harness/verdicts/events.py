"""Read a cell's log back: the `@@harness` lines of the driver and the `@@probe` lines of the
probe (harness.incell).

Everything else in the log (pip's output, a library's noise on stderr) is left alone. A marker counts
only at the start of a line; a marker line whose JSON does not parse (a log cut off mid-line, say) is
counted in `garbage` and otherwise ignored.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from typing import Any

from harness.incell import checks as incell_checks
from harness.incell import driver, probe

HARNESS = driver.MARKER  # the markers are the in-cell code's own: defined there, once
PROBE = probe.MARKER


def _empty_probe() -> dict[str, Any]:
    return {
        "start": None,
        "imports": [],
        "distributions": {},
        "owners": {},
        "torch": None,
        "summary": None,
        "complete": False,
    }


@dataclass(frozen=True)
class CellEvents:
    begin: dict | None = None
    phases: tuple[dict, ...] = ()
    probe: dict = field(default_factory=_empty_probe)
    end: dict | None = None
    crash: dict | None = None
    garbage: int = 0
    install: dict | None = None  # pip's install report, summarised by the driver
    torch_states: dict = field(default_factory=dict)  # "before"/"after" the install, for images with torch
    notes: tuple[str, ...] = ()  # things the driver said along the way (e.g. "upgrading pip first")
    output: dict = field(default_factory=dict)  # phase name → what its children printed (markers removed)
    index_checks: tuple[dict, ...] = ()  # after a failed install: what each index said (last attempt)
    index_roots: tuple[dict, ...] = ()  # the root of each index that had none of them (last attempt)
    retries: tuple[dict, ...] = ()  # install attempts repeated because an index did not answer
    install_split: dict | None = None  # seconds resolving+downloading vs installing files (last attempt)
    cache: dict | None = None  # the download cache the cell had: {"shared": bool, "state": "warm" or "cold"}
    release_dates: dict | None = None  # after an import failed on NumPy's ABI: {"project", "checks"} (driver)
    build: dict | None = None  # the parallel jobs the driver gave source builds: {"jobs", "rule", "variables" …}
    limit: dict | None = None  # a limit the cell hit, as the driver saw it: {"limit", "max", "phase", "refused"}
    checks: tuple[dict, ...] = ()  # one record per check run (built-in: per device; pytest: per test), in order

    def phase(self, name: str) -> dict | None:
        return next((p for p in self.phases if p.get("phase") == name), None)

    @property
    def failed_imports(self) -> list[dict]:
        return [step for step in self.probe["imports"] if not step.get("ok")]


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"SIG{-returncode}"


def parse(text: str) -> CellEvents:
    begin = end = install = None
    torch_states: dict[str, dict] = {}
    notes: list[str] = []
    phases: dict[str, dict] = {}
    probe = _empty_probe()
    garbage = 0
    output: dict[str, list[str]] = {}
    current: str | None = None  # the phase whose output the plain lines belong to
    checks: tuple[dict, ...] = ()
    roots: tuple[dict, ...] = ()
    retries: list[dict] = []
    split: dict | None = None
    cache: dict | None = None
    dates: dict | None = None
    build: dict | None = None
    limit: dict | None = None
    ran: list[dict] = []  # the check records
    running: dict | None = None  # the check announced last, until its record comes
    for line in text.splitlines():
        if line.startswith(HARNESS):
            kind, payload = HARNESS, line[len(HARNESS) :]
        elif line.startswith(PROBE):
            kind, payload = PROBE, line[len(PROBE) :]
        else:
            if current is not None:
                output[current].append(line)
            continue
        try:
            obj = json.loads(payload)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            garbage += 1
            continue
        if obj.get("step") == "check-start" or obj.get("event") == "check-start":
            running = {"check": obj.get("check"), "kind": obj.get("kind") or "builtin", "device": obj.get("device"),
                       "phase": current, "from": len(output.get(current or "", []))}
        elif obj.get("step") == "check" or obj.get("event") == "check":
            ran.append({k: v for k, v in obj.items() if k not in ("step", "event")})
            running = None
        elif kind == PROBE:
            _probe_step(probe, obj)
        elif obj.get("event") == "begin":
            begin = obj
        elif obj.get("event") == "end":
            end = obj
        elif obj.get("event") == "install-report":
            install = {"installer": obj.get("installer") or "pip", "pip": obj.get("pip"),
                       "items": obj.get("items") or []}
            if obj.get("installer") == "uv":
                install["prepared"] = obj.get("prepared")  # what uv fetched or built (not from its cache)
        elif obj.get("event") == "build-jobs":
            build = {k: v for k, v in obj.items() if k != "event"}
        elif obj.get("event") == "cache":
            cache = {"shared": bool(obj.get("shared")), "state": obj.get("state")}
        elif obj.get("event") == "torch-state" and obj.get("when") in ("before", "after"):
            torch_states[obj["when"]] = {k: v for k, v in obj.items() if k not in ("event", "when")}
        elif obj.get("event") == "note" and obj.get("text"):
            notes.append(str(obj["text"]))
        elif obj.get("event") == "index-check":
            checks = tuple(c for c in obj.get("checks") or () if isinstance(c, dict))
            roots = ()  # an attempt's roots follow its checks
        elif obj.get("event") == "index-root":
            roots = tuple(r for r in obj.get("roots") or () if isinstance(r, dict))
        elif obj.get("event") == "install-split":
            split = {k: obj[k] for k in ("resolve_download", "install_files") if isinstance(obj.get(k), (int, float))}
        elif obj.get("event") == "release-dates":
            dates = {"project": obj.get("project"),
                     "checks": [c for c in obj.get("checks") or () if isinstance(c, dict)]}
        elif obj.get("event") == "limit" and limit is None:
            limit = {k: v for k, v in obj.items() if k != "event"}
        elif obj.get("event") == "retry":
            retries.append({k: v for k, v in obj.items() if k != "event"})
        elif obj.get("event") == "phase" and "phase" in obj:
            if obj.get("status") == "start":
                phases[obj["phase"]] = {**obj, "status": "incomplete"}
                current = str(obj["phase"])
                output[current] = []
            else:
                phases[obj["phase"]] = obj
                current = None
    return CellEvents(
        begin=begin,
        phases=tuple(phases.values()),
        probe=probe,
        end=end,
        crash=_crash(phases.get("probe"), probe),
        garbage=garbage,
        install=install,
        torch_states=torch_states,
        notes=tuple(notes),
        output={name: "\n".join(lines) for name, lines in output.items()},
        index_checks=checks,
        index_roots=roots,
        retries=tuple(retries),
        install_split=split,
        cache=cache,
        release_dates=dates,
        build=build,
        limit=limit,
        checks=tuple(ran) + ((_unfinished(running, phases, output),) if running else ()),
    )


SIZE = re.compile(r"^\s*(Downloading|Using cached) (\S+) \(([0-9.]+) (bytes|[kMG]B)\)")
UNITS = {"bytes": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def downloads(output: str) -> dict[str, dict]:
    """What pip fetched, by file name: size in bytes as pip printed it, and downloaded or cached."""
    found: dict[str, dict] = {}
    for line in output.splitlines():
        m = SIZE.match(line)
        if m:
            how, where, number, unit = m.groups()
            name = where.split("#")[0].rsplit("/", 1)[-1]
            found[name] = {"bytes": int(float(number) * UNITS[unit]), "how": "cached" if how == "Using cached"
                           else "downloaded"}
    return found


def _probe_step(probe: dict, step: dict) -> None:
    kind = step.get("step")
    if kind == "import":
        probe["imports"].append(step)
    elif kind == "distributions":
        probe["distributions"] = step.get("items") or {}
        probe["owners"] = step.get("owners") or {}
    elif kind == "loader":
        probe["loader"] = {f.get("file"): f.get("error") for f in step.get("files") or () if isinstance(f, dict)}
    elif kind in ("start", "torch", "summary"):
        probe[kind] = step
        probe["complete"] = probe["complete"] or kind == "summary"


def _unfinished(running: dict, phases: dict[str, dict], output: dict[str, list[str]]) -> dict:
    """The record of a check that never wrote its own: `crashed` when the process running it ended (the
    probe killed by a signal inside a built-in check), `unfinished` when the log stops (the cell was
    killed at its deadline). Its output is what was printed after it was announced; a crash's frames are
    those faulthandler printed."""
    phase = phases.get(str(running.get("phase"))) or {}
    lines = output.get(str(running.get("phase")), [])[int(running.get("from") or 0):]
    record = {"check": running.get("check"), "kind": running.get("kind"), "device": running.get("device"),
              "outcome": "unfinished", "seconds": None, "output": lines[-incell_checks.KEEP_LINES:]}
    if phase.get("status") not in (None, "incomplete"):
        returncode = phase.get("returncode")
        how = phase.get("signal") or (_signal_name(returncode) if isinstance(returncode, int) and returncode < 0
                                      else f"exit {returncode}")
        fatal = next((line for line in lines if line.startswith("Fatal Python error")), None)
        record.update(outcome="crashed", signal=phase.get("signal"), returncode=returncode, error={
            "type": how, "message": fatal or "", "frames": incell_checks.fault_frames(lines),
            "last_line": f"the {running.get('phase')} process died ({how})" + (f": {fatal}" if fatal else "")})
    return record


def _crash(phase: dict | None, probe: dict) -> dict | None:
    """The probe died: killed by a signal, or exited before writing its summary."""
    returncode = phase.get("returncode") if phase else None
    if returncode is None or (returncode >= 0 and probe["complete"]):
        return None
    signal_name = phase.get("signal") or (_signal_name(returncode) if returncode < 0 else None)
    return {"returncode": returncode, "signal": signal_name}
