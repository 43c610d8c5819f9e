"""Check the harness's import graph: no cycle, and the folders' rules hold.

    python tools/import_graph.py [PACKAGE_DIR]      (default: harness/)

Every import counts, at module level or inside a function (a lazy import that hides a cycle is still
one). A module is named by its dotted path inside the package (`run.runner`, `model`); a folder by its
name (`run`). The rules, each one a folder's `__init__` states:

- no cycle among the modules, and none among the folders (a folder counts as one room);
- `incell/` imports the standard library only: it runs inside cells, on Python 3.8 (the built-in checks,
  `incell/checks.py`, also import the packages they exercise, which the cell installed, when they run);
- only `backends/docker.py` imports the docker SDK, and only `backends/choose.py` imports it;
- `reports/` and `results/` never import `run/` or `backends/`: they read the store;
- `verdicts/` never imports `run/` or `reports/`;
- `plan/prediction.py` is imported only by `cli/` and `run/`;
- nothing imports `cli/` (but the package's `__main__`);
- `resources/` (the files the package ships) is a leaf: it imports nothing of the package.

Exit status 1 with one line per violation, 0 when the graph is clean.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

THIRD_PARTY_OWNERS = {"docker": {"backends.docker"}}  # a third-party package → the only modules that may import it
ONLY_IMPORTED_BY = {  # a module → the modules or folders that alone may import it
    "backends.docker": {"backends.choose"},
    "plan.prediction": {"cli", "run"},
    "cli": {"__main__"},
}
NEVER = {  # a folder → folders it must never import
    "reports": {"run", "backends", "cli"},
    "results": {"run", "backends", "cli", "reports"},
    "verdicts": {"run", "reports", "cli"},
}
STDLIB_ONLY = ("incell",)  # folders (or modules) whose code runs inside cells
LEAVES = ("resources",)  # folders that import nothing of the package
CELL_PACKAGES = {"incell.checks": {"torch", "torchao", "torchtune"}}  # what a cell installed, which its checks exercise


def module_name(path: Path, directory: Path) -> str:
    parts = list(path.relative_to(directory).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "__init__"


def folder_of(name: str) -> str:
    """The folder a module lives in (its first part), or the module itself at the top."""
    return name.split(".")[0]


def resolve(parts: list[str], modules: set[str]) -> str | None:
    """The longest prefix of `parts` that is a module of the package."""
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def imports(path: Path, directory: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(modules of the package that `path` imports, other top-level names it imports)."""
    package = directory.name
    me = module_name(path, directory)
    here = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside: set[str] = set()
    outside: set[str] = set()

    def add(parts: list[str], names: list[str]) -> None:
        for name in names or [""]:
            found = resolve(parts + ([name] if name else []), modules)
            if found is None and parts:
                found = resolve(parts, modules)
            if found is not None:
                inside.add(found)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    add(parts[1:], [])
                else:
                    outside.add(parts[0])
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 0:
                if parts[0] != package:
                    outside.add(parts[0])
                    continue
                parts = parts[1:]
            else:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else list(here)
                parts = base + parts
            add(parts, [a.name for a in node.names])
    inside.discard(me)
    return inside, outside


def graph(directory: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    paths = {module_name(p, directory): p for p in sorted(directory.rglob("*.py"))}
    paths.pop("__init__", None)
    names = set(paths)
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in paths.items():
        inside, outside = imports(path, directory, names)
        edges[name] = {m for m in inside if m != "__init__"}
        external[name] = outside
    return edges, external


def folder_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with each folder drawn as one room (a folder's own `__init__` belongs to it)."""
    rooms: dict[str, set[str]] = {}
    for source, targets in edges.items():
        rooms.setdefault(folder_of(source), set()).update(
            folder_of(t) for t in targets if folder_of(t) != folder_of(source))
    return rooms


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one node (Tarjan), as a sorted list."""
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


def _allowed(importer: str, allowed: set[str]) -> bool:
    return importer in allowed or folder_of(importer) in allowed


def problems(directory: Path) -> list[str]:
    edges, external = graph(directory)
    out = [f"import cycle: {' -> '.join(c)} -> {c[0]}" for c in cycles(edges)]
    out += [f"import cycle between folders: {' -> '.join(c)} -> {c[0]}" for c in cycles(folder_edges(edges))]
    for module, allowed in ONLY_IMPORTED_BY.items():
        for importer in sorted(m for m, targets in edges.items()
                               if any(t == module or t.startswith(module + ".") for t in targets)
                               and folder_of(m) != module and not _allowed(m, allowed)):
            out.append(f"{importer} imports {module}: only {', '.join(sorted(allowed))} may")
    for folder, banned in NEVER.items():
        for importer, targets in sorted(edges.items()):
            if folder_of(importer) != folder:
                continue
            for target in sorted(t for t in targets if folder_of(t) in banned):
                out.append(f"{importer} imports {target}: {folder}/ never imports {folder_of(target)}/")
    for package, allowed in THIRD_PARTY_OWNERS.items():
        for importer in sorted(m for m, names in external.items() if package in names and m not in allowed):
            out.append(f"{importer} imports {package}: only {', '.join(sorted(allowed))} may")
    for module in sorted(m for m in edges if folder_of(m) in LEAVES):
        inside = sorted(t for t in edges[module] if folder_of(t) != folder_of(module))
        if inside:
            out.append(f"{module} imports {', '.join(inside)}: {folder_of(module)}/ is a leaf, it imports nothing "
                       "of the package")
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for module in sorted(m for m in edges if folder_of(m) in STDLIB_ONLY):
        extra = sorted({t for t in edges[module] if folder_of(t) not in STDLIB_ONLY}
                       | {n for n in external[module] if n not in stdlib | CELL_PACKAGES.get(module, set())})
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
        rooms = folder_edges(edges)
        print(f"{directory.name}: {len(edges)} modules in {len(rooms)} rooms, {sum(map(len, edges.values()))} "
              f"imports ({sum(map(len, rooms.values()))} between rooms), no cycle, seams hold")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
