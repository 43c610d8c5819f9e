"""What a cell's checks say (harness.incell.checks ran them): the first that crashed, timed out or failed,
as evidence and a hint; the ones that could not apply, as notes.

A failed check outranks a loss the imports showed (`degraded`): the loss stays in the evidence. A
passing check never clears such a loss. Pure functions over the check records (events.CellEvents.checks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.model import Verdict
from harness.verdicts.evidence import clip as _clip

SHOWN_FAILURES = 3  # checks quoted in the evidence; the record keeps every one
BROKEN = ("failed", "crashed", "timeout", "unfinished")

# A failure that needs torchao's compiled operators: their namespace, or the extension file itself.
TORCHAO_OPS = re.compile(r"torchao::|torch\.ops\.torchao|torchao\._C\b|torchao/_C[\w.]*\.so|_OpNamespace 'torchao'")
INT4_KERNEL = re.compile(r"_weight_int4pack_mm|_convert_weight_to_int4pack|tinygemm|int4pack", re.I)
INT4_MIN = (8, 0)


@dataclass(frozen=True, kw_only=True)
class Found:
    verdict: Verdict
    evidence: tuple[str, ...]
    hint: str
    notes: tuple[str, ...] = ()



def name_of(record: Mapping[str, Any]) -> str:
    """`torchao [cpu]` for a built-in check on a device; a user's check by its path (and test)."""
    name = str(record.get("check") or "?")
    return f"{name} [{record['device']}]" if record.get("device") else name


def counted(records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(passed, applied): the checks that passed, of those that could apply."""
    applied = [r for r in records if r.get("outcome") != "not-applicable"]
    return sum(1 for r in applied if r.get("outcome") == "passed"), len(applied)


def _text(record: Mapping[str, Any]) -> str:
    """Everything a record says of its failure, for matching known causes."""
    error = record.get("error") or {}
    parts = [str(error.get(k) or "") for k in ("message", "last_line")] + [str(e) for e in error.get("explained") or ()]
    parts += [str(line) for line in record.get("output") or ()]
    parts += [str(m.get("text") or "") for m in record.get("messages") or () if isinstance(m, Mapping)]
    return "\n".join(parts)


def failure_lines(record: Mapping[str, Any]) -> list[str]:
    """How a check failed, in a few lines: the exception's last line (with the part that failed), then
    its innermost frames."""
    error = record.get("error") or {}
    part = f": {error['part']}" if error.get("part") else ""
    how = {"crashed": "crashed", "timeout": "timed out", "unfinished": "never finished"}.get(
        str(record.get("outcome")), "failed")
    lines = [_clip(f"check {name_of(record)}{part} {how}: {error.get('last_line') or record.get('outcome')}")]
    lines += [_clip(e) for e in (error.get("explained") or ())[:2]]
    lines += [_clip(f"at {frame}") for frame in (error.get("frames") or ())[-2:]]
    return lines


def _capability(probe: Mapping[str, Any] | None) -> tuple[int, int] | None:
    torch = (probe or {}).get("torch") or {}
    for device in torch.get("devices") or ():
        text = str(device.get("capability") or "")
        if re.match(r"^\d+\.\d+$", text):
            major, minor = text.split(".")
            return int(major), int(minor)
    return None


def _known_cause(record: Mapping[str, Any], lost: Sequence[tuple[str, str, str]],
                 probe: Mapping[str, Any] | None) -> tuple[list[str], str | None]:
    """Evidence and a hint for a failure whose cause the harness knows; ([], None) otherwise."""
    text = _text(record)
    skipped = [t for module, what, t in lost if module.split(".")[0] == "torchao" and "C++" in what]
    if skipped and TORCHAO_OPS.search(text):
        return ([_clip(f"torchao skipped its C++ extensions at import, and the check needs them: {skipped[0]}")],
                "torchao's C++ extensions were skipped: install the torchao built for this torch (or the torch it "
                "was built for)")
    capability = _capability(probe)
    if INT4_KERNEL.search(text) and capability is not None and capability < INT4_MIN:
        return ([], f"int4 weight-only needs CUDA capability ≥ {INT4_MIN[0]}.{INT4_MIN[1]} (this GPU has "
                    f"{capability[0]}.{capability[1]}): use int8 weight-only here, or a newer GPU")
    return [], None


GENERIC = {
    "torch": "torch's {part} on {device} does not work (the evidence says how): use a torch built for this device, "
             "its CUDA version and its GPU",
    "torch.compile": "torch.compile does not work on {device} here (the evidence says how)",
    "torchao": "torchao's {part} does not work on {device} with this torch (the evidence says how): pin the torchao "
               "release made for this torch",
    "torchtune": "torchtune's tiny LoRA decoder fails on {device} ({part}; the evidence says how): pin a torchtune "
                 "release made for these torch and torchao versions",
}


def _hint(record: Mapping[str, Any]) -> str:
    error = record.get("error") or {}
    if error.get("hint"):
        return str(error["hint"])
    name = str(record.get("check"))
    if record.get("kind") == "builtin" and name in GENERIC:
        return GENERIC[name].format(part=error.get("part") or "check", device=record.get("device") or "the CPU")
    return (f"the check {name} fails with the cell's packages (the evidence quotes its error; the log has its whole "
            "output): they do not do what it expects here")


def notes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The checks, and the parts of checks, that could not apply here, with why."""
    out = []
    for record in records:
        if record.get("outcome") == "not-applicable":
            reason = record.get("reason") or "not applicable"
            out.append(_clip(f"check {name_of(record)} not applicable: {reason}"))
            continue
        for part in record.get("parts") or ():
            if part.get("outcome") == "not-applicable":
                out.append(_clip(f"check {name_of(record)}: {part.get('part')} not run: {part.get('reason')}"))
    return list(dict.fromkeys(out))


def judge(records: Sequence[Mapping[str, Any]], lost: Sequence[tuple[str, str, str]],
          probe: Mapping[str, Any] | None = None) -> Found | None:
    """The verdict the checks give a cell whose imports passed, or None when none broke: `crashed` for a
    check that killed its interpreter, `timeout` for one that ran past its time, else `check-failed`.
    `lost` are the imports' degradations (classify.degradations): kept in the evidence."""
    also = [_clip(f"also lost at import: {module}: {text}") for module, _, text in lost]
    crashed = [r for r in records if r.get("outcome") in ("crashed", "unfinished")]
    if crashed:
        record = crashed[0]
        return Found(verdict=Verdict.CRASHED, evidence=tuple(failure_lines(record) + also),
                     hint=f"the interpreter died running the check {name_of(record)}: usually a binary built for "
                          "another torch, CUDA or CPU; run the cell with --keep and run the check by hand")
    slow = [r for r in records if r.get("outcome") == "timeout"]
    if slow:
        record = slow[0]
        return Found(verdict=Verdict.TIMEOUT, evidence=tuple(failure_lines(record) + also),
                     hint=f"the check {name_of(record)} ran past its time: raise check_timeout in the package set "
                          "(or the cell's timeout), or find why it is slow (emulation? a hang?) in the log")
    failed = [r for r in records if r.get("outcome") == "failed"]
    if not failed:
        return None
    cause, hint = _known_cause(failed[0], lost, probe)
    first = failure_lines(failed[0])
    evidence = first[:1] + cause + first[1:]  # the known cause right after the failure it explains
    for record in failed[1:SHOWN_FAILURES]:
        evidence += failure_lines(record)
    if len(failed) > SHOWN_FAILURES:
        evidence.append(f"… and {len(failed) - SHOWN_FAILURES} more failed check(s) (see the record)")
    evidence += also
    return Found(verdict=Verdict.CHECK_FAILED, evidence=tuple(dict.fromkeys(evidence)),
                 hint=_clip(hint or _hint(failed[0]), 400))
