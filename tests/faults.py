"""The fault tally: tests that provoke a fault for real (an engine that stops, an image that vanishes,
a full disk, SIGTERM, two runs at once…) and tests that feed the harness hostile input record what
happened, and `nox -s faults` (pytest -m fault) prints the figures at the end:

    faults tried, survived; containers leaked, results lost, secrets written (each must be 0);
    bad inputs tried, rejected cleanly.

A fault test takes the `fault` fixture (conftest.py): containers of the harness that appear during the
test and outlive it count as leaked; the test itself says how many finished results it lost (`lost`)
and scans what the harness wrote for the secrets it planted (`secrets_in`). A test that fails did not
survive its fault.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

CANARY = "canary-7f3a91c2e5"  # a secret planted in index URLs and proxy settings; must never be written


@dataclasses.dataclass
class Fault:
    name: str
    survived: bool | None = None
    leaked: int = 0
    lost: int = 0
    secrets: int = 0

    def secrets_in(self, *roots: Path | str, secret: str = CANARY) -> int:
        """Count the files under `roots` (and strings given directly) that hold `secret`; adds to `secrets`."""
        found = 0
        for root in roots:
            if isinstance(root, str):
                found += secret in root
                continue
            paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            found += sum(secret.encode() in p.read_bytes() for p in paths)
        self.secrets += found
        return found

    def lost_of(self, before: dict[str, dict], results_dir: Path) -> int:
        """How many of the records in `before` (cell id → record, read before the fault) are no longer
        in `results_dir` exactly as they were, latest or moved to the history; adds to `lost`."""
        there = [*results_dir.glob("*.json"), *results_dir.glob("history/*/*.json")]
        kept = []
        for path in there:
            try:
                kept.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        missing = sum(1 for record in before.values() if record not in kept)
        self.lost += missing
        return missing


@dataclasses.dataclass
class BadInputs:
    tried: int = 0
    rejected: int = 0  # with the harness's own one-line error, nothing else

    def tried_one(self, rejected_cleanly: bool) -> bool:
        self.tried += 1
        self.rejected += bool(rejected_cleanly)
        return rejected_cleanly


TALLY: list[Fault] = []
BAD = BadInputs()


def records(results_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and "cell_id" in record:
            out[record["cell_id"]] = record
    return out


def breaches(tally: list[Fault] | None = None) -> list[str]:
    """What must be 0 and is not: each makes the run fail (conftest.pytest_sessionfinish)."""
    tally = TALLY if tally is None else tally
    return [f"{what}: {n} (must be 0)" for what, n in (
        ("containers leaked", sum(f.leaked for f in tally)), ("results lost", sum(f.lost for f in tally)),
        ("secrets written", sum(f.secrets for f in tally))) if n]


def summary() -> list[str]:
    if not TALLY and not BAD.tried:
        return []
    tried = len(TALLY)
    return [
        f"faults tried: {tried}",
        f"faults survived: {sum(1 for f in TALLY if f.survived)}"
        + "".join(f"\n  not survived: {f.name}" for f in TALLY if not f.survived),
        f"containers leaked: {sum(f.leaked for f in TALLY)} (must be 0)",
        f"results lost: {sum(f.lost for f in TALLY)} (must be 0)",
        f"secrets written: {sum(f.secrets for f in TALLY)} (must be 0)",
        f"bad inputs tried: {BAD.tried}, rejected cleanly: {BAD.rejected}",
    ]
