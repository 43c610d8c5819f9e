"""Replant the 24 bugs of the test audit (reviews/tests-2026-12-06.md, M01–M24), one at a time, in a scratch
copy of the checkout, and run the fast tests that should catch each: every row must say "caught".

    python tools/replant_audit.py            # all 24; a Markdown table on stdout, exit 1 if one survives
    python tools/replant_audit.py M05 M10    # only these

Each mutation is the audit's edit, mapped to where the code lives now. The tests run are fast ones only
(not docker, not slow, not network), with -x: the first red test is named in the table. The checkout is
never touched: the copy is made with `git ls-files` (tracked and untracked, not ignored) in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = "not docker and not slow and not network"


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str
    old: str
    new: str
    what: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("M01", "harness/verdicts/classify.py", 'lost = degradations(probe.get("imports") or (), probe)',
             'lost = degradations(probe.get("imports") or ())',
             "a CUDA-only function missing on a CPU torch counts as degraded", ("tests/test_verdicts.py",)),
    Mutation("M02", "harness/verdicts/classify.py", "evidence=tuple(dict.fromkeys([*said, *evidence]))",
             "evidence=tuple(dict.fromkeys([*evidence, *said]))",
             "a failed build's stated cause no longer comes first", ("tests/test_verdicts.py",)),
    Mutation("M03", "harness/verdicts/classify.py",
             "if how is None or execution.oom_killed or execution.timed_out or parsed.end is not None:",
             "if how is None or execution.timed_out or parsed.end is not None:",
             "an OOM kill is taken for a stop from outside (engine-error)", ("tests/test_verdicts.py",)),
    Mutation("M04", "harness/verdicts/classify.py",
             'if before.get("version") != after.get("version") or lost_cuda or not after.get("present"):',
             'if before.get("version") != after.get("version") or not after.get("present"):',
             "a CPU build replacing the image's CUDA torch of the same version is not torch-replaced",
             ("tests/test_verdicts.py",)),
    Mutation("M05", "harness/run/cache.py", '"timeout": cell.timeout,\n', "\n",
             "the cache key ignores the timeout", ("tests/test_schedule.py",)),
    Mutation("M06", "harness/run/cache.py", '"identity": image_identity,\n', "\n",
             "the cache key ignores the engine's image id", ("tests/test_schedule.py",)),
    Mutation("M07", "harness/redact.py", "isinstance(value, (list, tuple))", "isinstance(value, list)",
             "secrets inside tuples (a result's phases) are not masked", ("tests/test_redact.py",)),
    Mutation("M08", "harness/matrix/reader.py",
             "return any(all(fnmatch.fnmatchcase(values[k], v) for k, v in ex.items()) for ex in excludes)",
             "return any(any(fnmatch.fnmatchcase(values[k], v) for k, v in ex.items()) for ex in excludes)",
             "an exclude entry matches on any one of its axes", ("tests/test_matrix.py",)),
    Mutation("M09", "harness/results/merge.py", "            if key in found:", "            if False:",
             "merge takes one machine's cell twice", ("tests/test_merge_records.py",)),
    Mutation("M10", "harness/reports/diff.py", "if met(a) and judged(a) and not met(b) and judged(b):",
             "if met(a) and judged(a) and not met(b):",
             "diff calls an outage a regression", ("tests/test_diff.py",)),
    Mutation("M11", "harness/run/schedule.py", "jobs = min(jobs, max(1, for_cells(memory) // CELL_MEMORY_FLOOR))",
             "pass",
             "--jobs auto ignores the memory", ("tests/test_schedule.py",)),
    Mutation("M12", "harness/plan/releases.py", "yanked=all(i.yanked for i, _ in by_version[version])",
             "yanked=any(i.yanked for i, _ in by_version[version])",
             "a release with one yanked file is skipped whole", ("tests/test_releases.py",)),
    Mutation("M13", "harness/plan/target.py", "for minor in range(self.glibc[1], oldest, -1):",
             "for minor in range(self.glibc[1] - 1, oldest, -1):",
             "the target's own manylinux level is not accepted", ("tests/test_offers.py",)),
    Mutation("M14", "harness/answers/bisection.py", "return not bad if self.fixing else bad", "return bad",
             "bisect the other way (first fixed) looks for the first bad", ("tests/test_search.py",)),
    Mutation("M15", "harness/answers/bisection.py", "return BETTER.index(verdict) > BETTER.index(good_end)",
             "return BETTER.index(verdict) != BETTER.index(good_end)",
             "a verdict better than the good end's counts as bad", ("tests/test_search.py",)),
    Mutation("M16", "harness/run/record.py", "expected = verdict.value == cell.expect or verdict is Verdict.SKIPPED",
             "expected = verdict.value == cell.expect",
             "a skipped cell counts as unexpected", ("tests/test_runner.py",)),
    Mutation("M17", "harness/run/options.py", "timeout=options.timeout or cell.timeout", "timeout=cell.timeout",
             "--timeout no longer overrides the matrix's deadline", ("tests/test_runner.py",)),
    Mutation("M18", "harness/incell/driver.py", "    proxies = _proxies(env)", "    proxies = _proxies(os.environ)",
             "the driver's index check ignores the cell's proxy", ("tests/test_index_checks.py",)),
    Mutation("M19", "harness/answers/solve.py", "if loses and max(f.losses for f in loses) >= self.best_rank[1]:",
             "if loses and max(f.losses for f in loses) > self.best_rank[1]:",
             "solve runs a known-degraded set that cannot beat the best found", ("tests/test_search.py",)),
    Mutation("M20", "harness/reports/console.py", "key=lambda r: r.verdict.is_infrastructure)",
             "key=lambda r: not r.verdict.is_infrastructure)",
             "infrastructure verdicts printed before findings", ("tests/test_runner.py",)),
    Mutation("M21", "harness/run/record.py", 'if verdict.value == cell.expect and cell.expect != "pass":',
             'if cell.expect != "pass":',
             "a known-bad note on a cell that did not get its expected verdict", ("tests/test_runner.py",)),
    Mutation("M22", "harness/run/runner.py", "raise CellInterrupted(finish(Verdict.INTERRUPTED)) from None",
             "raise KeyboardInterrupt",
             "Ctrl-C no longer records the running cell as interrupted", ("tests/test_runner.py",)),
    Mutation("M23", "harness/verdicts/classify.py",
             'running = next((p["phase"] for p in parsed.phases if p.get("status") == "incomplete"), None)\n'
             "        check = next((c for c in parsed.checks if c.get(\"outcome\") == \"unfinished\"), None)",
             "running = None\n"
             "        check = next((c for c in parsed.checks if c.get(\"outcome\") == \"unfinished\"), None)",
             "a timeout no longer names its phase", ("tests/test_verdicts.py",)),
    Mutation("M24", "harness/incell/driver.py",
             'headers["Authorization"] = "Basic " + base64.b64encode(unquote(userinfo).encode()).decode()',
             "pass", "the driver's index check drops the credentials", ("tests/test_index_checks.py",)),
)


def scratch_copy(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def apply(tree: Path, m: Mutation) -> str:
    path = tree / m.path
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise SystemExit(f"{m.id}: the code to mutate is in {m.path} {count} times, not once; update "
                         f"tools/replant_audit.py to where the code lives now")
    path.write_text(text.replace(m.old, m.new))
    return text


def run_tests(tree: Path, tests: tuple[str, ...], env: dict[str, str]) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", FAST, *tests]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in done.stdout.splitlines()
              if line.startswith("FAILED ")]
    return done.returncode, failed[0] if failed else done.stdout.strip().splitlines()[-1:][0] if done.stdout else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="mutation ids (default: all 24)")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.ids or m.id in args.ids]
    with tempfile.TemporaryDirectory(prefix="replant-") as tmp:
        tree = Path(tmp)
        scratch_copy(tree)
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        where = subprocess.run([sys.executable, "-c", "import harness; print(harness.__file__)"], cwd=tree, env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        if not where.startswith(str(tree)):
            raise SystemExit(f"the scratch copy's harness is not the one imported ({where}): cannot replant")
        clean, said = run_tests(tree, tuple(sorted({t for m in chosen for t in m.tests})), env)
        if clean != 0:
            raise SystemExit(f"the fast tests fail without any mutation: {said}")
        print("| # | mutation | tests run | result | first red test | s |")
        print("|---|---|---|---|---|---:|")
        survived = []
        for m in chosen:
            original = apply(tree, m)
            began = time.monotonic()
            try:
                code, said = run_tests(tree, m.tests, env)
            finally:
                (tree / m.path).write_text(original)
            caught = code == 1
            if not caught:
                survived.append(m.id)
            print(f"| {m.id} | {m.what} | {', '.join(m.tests)} | {'caught' if caught else f'SURVIVED (exit {code})'} "
                  f"| {said if caught else ''} | {time.monotonic() - began:.0f} |", flush=True)
    if survived:
        print(f"\nnot caught: {', '.join(survived)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
