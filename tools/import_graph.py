"""Check the harness's import graph: no cycle, and the seams hold.

    python tools/import_graph.py [PACKAGE_DIR]      (default: harness/)

Every import counts, at module level or inside a function (a lazy import that hides a cycle is still
one). The rules, each a seam the README's module list describes:

- no cycle among the package's modules;
- only the engine adapter (`engine`) imports the docker SDK, and only the backend choice (`backends`)
  imports the engine adapter;
- `plan` is imported only by the CLI (`__main__`) and the runner's prediction step (`runner`);
- the cell driver (`cell`) and the probe (`probe`) import the standard library only: they run inside
  images, on Python 3.8.

Exit status 1 with one line per violation, 0 when the graph is clean.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

RULES = {  # module → the only modules of the package allowed to import it
    "engine": {"backends"},
    "plan": {"__main__", "runner"},
}
THIRD_PARTY_OWNERS = {"docker": {"engine"}}  # a third-party package → the only modules that may import it
STDLIB_ONLY = ("cell", "probe")


def imports(path: Path, package: str) -> tuple[set[str], set[str]]:
    """(modules of `package` that `path` imports, other top-level names it imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1:
                    inside.add(parts[1])
                elif parts[0] != package:
                    outside.add(parts[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != package:
                    outside.add(parts[0])
                    continue
                parts = parts[1:]
            else:
                parts = (node.module or "").split(".") if node.module else []
            if parts and parts[0]:
                inside.add(parts[0])
            else:  # `from . import a, b`
                inside.update(alias.name for alias in node.names)
    return inside, outside


def graph(directory: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    package = directory.name
    modules = {p.stem: p for p in sorted(directory.glob("*.py"))}
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        inside, outside = imports(path, package)
        edges[name] = {m for m in inside if m in modules and m != name}
        external[name] = outside
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def problems(directory: Path) -> list[str]:
    edges, external = graph(directory)
    out = [f"import cycle: {' -> '.join(c)} -> {c[0]}" for c in cycles(edges)]
    for module, allowed in RULES.items():
        for importer in sorted(m for m, targets in edges.items() if module in targets and m not in allowed):
            out.append(f"{importer} imports {module}: only {', '.join(sorted(allowed))} may")
    for package, allowed in THIRD_PARTY_OWNERS.items():
        for importer in sorted(m for m, names in external.items() if package in names and m not in allowed):
            out.append(f"{importer} imports {package}: only {', '.join(sorted(allowed))} may")
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for module in STDLIB_ONLY:
        if module not in edges:
            continue
        extra = sorted(edges[module] | {n for n in external[module] if n not in stdlib})
        if extra:
            out.append(f"{module} runs inside cells and must import the standard library only, not {', '.join(extra)}")
    return out


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "harness")
    found = problems(directory)
    for line in found:
        print(f"{directory.name}: {line}")
    if not found:
        edges, _ = graph(directory)
        print(f"{directory.name}: {len(edges)} modules, {sum(map(len, edges.values()))} imports, no cycle, seams hold")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
