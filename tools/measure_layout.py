"""The architecture review's measurements, rerun on the code as it is (python tools/measure_layout.py).

Prints the modules' and functions' sizes, the longest functions, and every module-level name that more
than one module defines (a constant or a function written twice is one idea in two places, unless the
name is a protocol every module of a kind has: `main`, `judge`, ...). Reads the code; imports nothing.
"""

from __future__ import annotations

import ast
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Names several modules define on purpose: entry points and the seams' protocols.
PROTOCOL = {"main", "judge", "run", "render", "parse", "load", "write", "read", "describe", "notes", "HERE",
            "parser", "cmd", "to_json", "from_json", "name_of", "add", "build", "names", "prepare"}


def measure(package: Path) -> str:
    modules = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    functions: list[tuple[int, str]] = []
    defined: dict[str, list[str]] = defaultdict(list)
    sizes = []
    for path in modules:
        text = path.read_text()
        sizes.append(len(text.splitlines()))
        tree = ast.parse(text)
        where = path.relative_to(package.parent).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{where}:{node.lineno} {node.name}"))
        for node in tree.body:  # module level only
            names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                     [t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                      if isinstance(t, ast.Name)] if isinstance(node, (ast.Assign, ast.AnnAssign)) else [])
            for name in names:
                if not name.startswith("_") and name not in PROTOCOL and not name.startswith("__"):
                    defined[name].append(where)
    lengths = sorted(n for n, _ in functions)
    lines = [f"modules {len(modules)}, lines {sum(sizes)}, median module {statistics.median(sizes):g}, "
             f"largest {max(sizes)}",
             f"functions {len(lengths)}, median {statistics.median(lengths):g}, "
             f"p90 {lengths[int(len(lengths) * 0.9)]}, over 50 lines: {sum(n > 50 for n in lengths)}, "
             f"over 80: {sum(n > 80 for n in lengths)}", "", "the 15 longest functions:"]
    lines += [f"  {n:4d} {name}" for n, name in sorted(functions, reverse=True)[:15]]
    twice = {name: where for name, where in sorted(defined.items()) if len(set(where)) > 1}
    lines += ["", f"public names defined in more than one module: {len(twice)}"]
    lines += [f"  {name}: {', '.join(sorted(set(where)))}" for name, where in twice.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(measure(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "harness"))
