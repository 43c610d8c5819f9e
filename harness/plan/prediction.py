"""Predict each cell's install without a container or the target machine: `uv pip compile` for the
cell's platform, Python and index variant, in seconds.

pip's `--dry-run --platform` is not used: it evaluates environment markers against the host, so
torch resolved "for aarch64" on an x86 host demands x86-only dependencies. uv evaluates markers for
the target, and its failures explain themselves; they are quoted as the prediction's evidence.

The target: the image's Python (`python_version`, else its local recipe's, else the Python its
JetPack pairs with) and its glibc, which sets the manylinux level (`glibc`, else the recipe's, else
JetPack 5 → 2.31, JetPack 6 → 2.35). Where neither is known the plan says what it assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import installers, redact
from harness.model import Cell
from harness.plan.target import Target

UV_TIMEOUT = 300.0


@dataclass(frozen=True, kw_only=True)
class Prediction:
    cell_id: str
    target: Target
    outcome: str  # one of model.PLAN_OUTCOMES
    versions: dict[str, str] = field(default_factory=dict)  # every distribution the resolution picked
    evidence: tuple[str, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, "python": self.target.python_version, "platform": self.target.uv_platform,
                "assumed": list(self.target.assumed), "outcome": self.outcome, "versions": self.versions,
                "evidence": list(self.evidence), "seconds": round(self.seconds, 3), "notes": list(self.notes)}


def predict(cell: Cell, *, installer: str | None = None, run: Callable[..., Any] = subprocess.run,
            environ: Mapping[str, str] | None = None, uv: str | None = None,
            snapshot: str | None = None) -> Prediction:
    """One cell's prediction. Never raises for a failed resolution: that is the prediction.

    `snapshot`: a uv cache folder the predictions of one run share. uv first resolves from it alone
    (`--offline`: what earlier predictions of the run asked the index is not asked again, which is
    nearly all of a prediction's CPU); where that does not resolve (a page not asked yet, or a real
    failure), it asks the index as without it, and the answer joins the snapshot. Without one, each
    prediction asks the index afresh into a cache of its own."""
    goal = Target.of(cell)
    options, notes = installers.resolution_args(cell.index, installer or cell.installer)
    if cell.image.ships_torch:
        notes.append("the image ships torch: the plan resolves as if the venv were empty")
    known = redact.secrets(cell.index)
    with tempfile.TemporaryDirectory(prefix="ewh-plan-") as tmp:
        requirements = Path(tmp) / "requirements.in"
        requirements.write_text("\n".join(cell.packages.requirements) + "\n", encoding="utf-8")
        argv = [uv or installers.uv_binary(), "pip", "compile", str(requirements), "--no-config",
                "--no-python-downloads", "--no-header", "--no-annotate", "--quiet",
                "--python", sys.executable,  # any interpreter will do: markers and tags are evaluated
                "--python-version", goal.python_version,  # for the target's version
                "--python-platform", goal.uv_platform, "--only-binary", ":all:",
                "--cache-dir", snapshot or str(Path(tmp) / "cache"), *options]
        if cell.packages.constraints:  # a requirements file's -c
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text("\n".join(cell.packages.constraints) + "\n", encoding="utf-8")
            argv += ["--constraint", str(constraints)]
        env = installers.host_environment(os.environ if environ is None else environ)
        began = time.monotonic()
        returncode, stdout, stderr = _uv(run, [*argv, "--offline"], env) if snapshot else (-1, "", "")
        if returncode != 0:
            returncode, stdout, stderr = _uv(run, argv, env)
        seconds = time.monotonic() - began
    outcome, versions, evidence = installers.read_uv(returncode, stdout, stderr,
                                                      allows_source=not cell.index.refuses_source)
    return Prediction(cell_id=cell.id, target=goal, outcome=outcome, versions=versions,
                      evidence=tuple(redact.text(e, known) for e in evidence), seconds=seconds, notes=tuple(notes))


def _uv(run: Callable[..., Any], argv: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    try:
        done = run(argv, capture_output=True, text=True, timeout=UV_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return -1, "", f"error: uv did not finish within {UV_TIMEOUT:g} s"
    return done.returncode, done.stdout, done.stderr
