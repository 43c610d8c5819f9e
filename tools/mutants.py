"""Mutation testing of the pure modules (`nox -s mutants`): mutmut over the modules `[tool.mutmut]` lists in
pyproject.toml, against the fast in-process tests it names; the score per module on stdout.

    python tools/mutants.py                    # run what is not yet known (incremental), print the scores
    python tools/mutants.py --only classify    # only the modules whose path contains `classify`
    python tools/mutants.py --write            # also rewrite tests/mutation-score.md (scores + survivors)
    python tools/mutants.py --report           # print (or --write) from the cache, running nothing

mutmut keeps every mutant's result in mutants/ (git-ignored) and tests again only the mutants of functions
that changed. It never re-tests a survivor on its own when tests are added; this tool does: when a test file
changed since the last run, the survivors (and mutants no test reached) of the chosen modules run again.
Survivors judged equivalent are listed with the reason in tests/mutation-equivalent.txt
(`mangled-name  reason`); they count as killed in the score, and the rest are listed as unexplained.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
SCORE = ROOT / "tests" / "mutation-score.md"
EQUIVALENT = ROOT / "tests" / "mutation-equivalent.txt"
STAMP = MUTANTS / "ewh-tests.json"  # the test files' digest at the last run, per module
KILLED = {1, 3, -24, 24, 36, 37, 152, 255}  # mutmut's exit codes for caught: a failed test, a timeout, a type check
SURVIVED, NO_TESTS = 0, 33
TARGET = 0.90


def config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def modules() -> list[str]:
    return list(config()["only_mutate"])


def tests_digest() -> str:
    h = hashlib.sha256()
    for path in sorted((ROOT / "tests").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def meta(module: str) -> dict[str, int | None]:
    path = MUTANTS / (module + ".meta")
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get("exit_code_by_key", {})


def equivalent() -> dict[str, str]:
    if not EQUIVALENT.is_file():
        return {}
    out = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(" ")
            out[name] = why.strip()
    return out


def mutmut(*args: str) -> int:
    exe = Path(sys.executable).with_name("mutmut")
    done = subprocess.run([str(exe), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    # mutmut draws a spinner: keep its last line and any line that says what went wrong
    lines = [line.split("\r")[-1] for line in done.stdout.splitlines()]
    for line in lines:
        if any(w in line for w in ("rror", "ailed", "Warning", "Stopping", "mutations/second")):
            print("  mutmut:", line.strip()[-300:])
    return done.returncode


def run(chosen: list[str], children: int, everything: bool) -> None:
    stamps = json.loads(STAMP.read_text()) if STAMP.is_file() else {}
    digest = tests_digest()
    # a module with no result yet is run in full below, against today's tests: its survivors need no second run
    fresh = {m for m in chosen if not any(code is not None for code in meta(m).values())}
    # 1. what mutmut does not know yet (new mutants, changed functions): all of them, or the chosen modules'
    if everything:
        mutmut("run", "--max-children", str(children))
    else:
        generate()
        for module in chosen:
            pending = [k for k, code in meta(module).items() if code is None]
            if pending:
                print(f"{module}: {len(pending)} mutant(s) not yet tested", flush=True)
                for i in range(0, len(pending), 2000):
                    mutmut("run", "--max-children", str(children), *pending[i:i + 2000])
    # 2. the survivors again when a test file changed since their module last ran (mutmut keeps their result)
    again = [k for m in chosen if m not in fresh and stamps.get(m) != digest
             for k, c in meta(m).items() if c in (SURVIVED, NO_TESTS)]
    if again:
        print(f"{len(again)} survivor(s) tested again: the tests changed since they survived", flush=True)
        for i in range(0, len(again), 2000):
            mutmut("run", "--max-children", str(children), *again[i:i + 2000])
    for module in chosen:
        stamps[module] = digest
    MUTANTS.mkdir(exist_ok=True)
    STAMP.write_text(json.dumps(stamps, indent=1))


def generate() -> None:
    """Let mutmut (re)make the mutants of every changed function, which it does only at the start of a run,
    resetting their results to "not yet run". It has no command that only generates: a filter that matches
    no mutant makes it generate, load its test stats, then stop on "nothing matches" (an error ignored here)."""
    exe = Path(sys.executable).with_name("mutmut")
    subprocess.run([str(exe), "run", "ewh.generate-only"], cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def mangled_prefix(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".") + "."


def scores(chosen: list[str]) -> tuple[list[tuple], list[tuple[str, str]]]:
    explained = equivalent()
    rows, unexplained = [], []
    for module in chosen:
        known = meta(module)
        total = len(known)
        killed = sum(1 for code in known.values() if code in KILLED)
        equiv = [k for k, code in known.items() if code in (SURVIVED, NO_TESTS) and k in explained]
        left = [k for k, code in known.items() if code in (SURVIVED, NO_TESTS) and k not in explained]
        pending = sum(1 for code in known.values() if code is None)
        score = (killed + len(equiv)) / total if total else 0.0
        rows.append((module, total, killed, len(equiv), len(left), pending, score))
        unexplained += [(module, k) for k in sorted(left)]
    return rows, unexplained


def table(rows: list[tuple]) -> str:
    out = ["| module | mutants | killed | equivalent | survived | not yet run | score |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for module, total, killed, equiv, left, pending, score in rows:
        mark = "" if score >= TARGET and not pending else " ✗"
        out.append(f"| `{module}` | {total} | {killed} | {equiv} | {left} | {pending} | {score:.1%}{mark} |")
    return "\n".join(out)


def write(rows: list[tuple], unexplained: list[tuple[str, str]]) -> None:
    head = (SCORE.read_text().split("<!-- scores -->")[0] if SCORE.is_file() else "# Mutation score\n\n")
    body = [head.rstrip("\n"), "", "<!-- scores -->", "", table(rows), "",
            f"## Survivors not yet killed nor explained ({len(unexplained)})", ""]
    body += [f"- `{k}`" for _, k in unexplained] or ["None."]
    SCORE.write_text("\n".join(body) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help="modules whose path contains this (repeatable)")
    ap.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    ap.add_argument("--report", action="store_true", help="run nothing: the scores from the cache")
    ap.add_argument("--write", action="store_true", help=f"rewrite {SCORE.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    chosen = [m for m in modules() if not args.only or any(o in m for o in args.only)]
    if not chosen:
        print(f"no module matches {args.only}; the modules: {', '.join(modules())}", file=sys.stderr)
        return 2
    if not args.report:
        run(chosen, args.max_children, everything=not args.only)
    rows, unexplained = scores(chosen)
    print(table(rows))
    if args.write:
        write(rows, unexplained)
    low = [r[0] for r in rows if r[6] < TARGET or r[5]]
    if low:
        print(f"\nbelow {TARGET:.0%} or not fully run: {', '.join(low)}", file=sys.stderr)
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
