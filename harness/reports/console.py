"""What a run prints when it ends: the cells a person must read first (unexpected ones, findings before
infrastructure verdicts, each with its evidence and hint), the expected known-bad ones, where the plan
and the run differ, and the summary line."""

from __future__ import annotations

from collections.abc import Sequence

from harness.model import CellResult, Verdict
from harness.reports import table
from harness.verdicts.classify import disagreement


def findings(results: Sequence[CellResult], run_id: str | None = None) -> list[str]:
    """The lines, in the order a person should read them."""
    lines = []
    unexpected = [r for r in results if not r.expected]
    # Findings about the packages first; then cells this run could not judge (outages, limits).
    for r in sorted(unexpected, key=lambda r: r.verdict.is_infrastructure):
        wanted = r.cell["expect"]
        kind = "UNEXPECTED (infrastructure, not a finding)" if r.verdict.is_infrastructure else "UNEXPECTED"
        lines.append(f"{kind} {r.cell_id}: {r.verdict.value} (expected {wanted})"
                     + (f" — {r.evidence[0]}" if r.evidence else ""))
        if r.hint:
            lines.append(f"    hint: {r.hint}")
    for r in results:
        if r.expected and r.verdict is not Verdict.PASS and r.verdict is not Verdict.SKIPPED:
            lines.append(f"as expected {r.cell_id}: {r.verdict.value}"
                         + (f" — {r.cell['expect_why']}" if r.cell.get("expect_why") else ""))
    for r in results:
        differs = disagreement(r.prediction, r.to_json()) if r.prediction else None
        if differs:
            lines.append(f"plan differs {r.cell_id}: {differs}")
    lines.append(table.summary_line([r.to_json() for r in results], run_id=run_id))
    return lines
