"""`init` and `schema`: a matrix of your own, and the JSON Schema editors check it with."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from harness import resources
from harness.backends import hostfacts
from harness.errors import HarnessError, MatrixError
from harness.files import write_text_atomic
from harness.matrix import reader, schema, starter
from harness.model import NAME_RE, NAME_RULE

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REQUIREMENTS = Path("requirements.txt")


def cmd_schema(args: argparse.Namespace) -> int:
    text = schema.text()
    if args.output:
        write_text_atomic(args.output, text)
        print(f"Wrote {args.output}")
    else:
        print(text, end="")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    interactive = not args.no_input and sys.stdin.isatty() and sys.stdout.isatty()
    ask = _asker(interactive)
    facts = hostfacts.detect()
    base_name = f"{args.base}.toml" if args.base else hostfacts.default_matrix(facts)[0]
    base = tomllib.loads((resources.MATRICES / base_name).read_text(encoding="utf-8"))
    name = args.name or ask("Name of the matrix (matrices/NAME.toml)", starter.set_name(Path.cwd().name))
    if not NAME_RE.match(name):
        raise HarnessError(f"init {name!r}: a matrix's name must be {NAME_RULE}",
                           hint=f"e.g. wheel-harness init {starter.set_name(name)}")
    target = resources.LOCAL / f"{name}.toml"
    if target.exists():
        raise HarnessError(f"{target} exists: init never overwrites a matrix",
                           hint=f"choose another name (wheel-harness init OTHER), or remove {target} first")
    requirements = _requirements(args, ask)
    solved = _solved(args.solve)
    images = _images(args, base, facts, ask)
    start = starter.Start(name=name, base_name=base_name, base=base, images=images, host=_host_line(facts),
                          requirements=requirements, solved=solved,
                          solved_source=str(args.solve) if args.solve else None)
    text = starter.render(start)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as fh:  # never overwrite, even a file made a moment ago
        fh.write(text)
    write_text_atomic(resources.LOCAL / resources.SCHEMA.name, schema.text())
    for line in _copy_recipes(base, images):
        print(line)
    try:
        m = reader.load(target)
    except MatrixError as exc:
        raise HarnessError(f"{target} was written but does not validate: " + "; ".join(map(str, exc.problems)),
                           hint="edit it by hand, or report this: init should write a valid matrix") from None
    print(f"Wrote {target}: {len(m.cells)} cell(s) from the shipped matrix {base_name} ({start.host})")
    print(f"Next: wheel-harness plan {target}   (predicts each install, seconds)")
    print(f"      wheel-harness run {target}    (runs the cells; results/{m.name}/)")
    return 0


def _asker(interactive: bool) -> Callable[[str, str], str]:
    def ask(question: str, default: str) -> str:
        if not interactive:
            return default
        answer = input(f"{question} [{default}]: ").strip()
        return answer or default

    return ask


def _requirements(args: argparse.Namespace, ask) -> starter.Requirements | None:
    path = args.requirements
    if path is None:
        default = str(REQUIREMENTS) if REQUIREMENTS.is_file() else ""
        path = Path(answer) if (answer := ask("Requirements file (empty: none)", default)) else None
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"--requirements {path}: {exc.strerror}", hint="name a requirements file") from None
    found = starter.read_requirements(text, str(path))
    if not found.requirements:
        raise HarnessError(f"{path}: no PEP 508 requirement in it",
                           hint="a requirements file lists one requirement a line, like torchao>=0.15")
    return found


def _solved(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"--solve {path}: not solve's JSON answer ({exc})",
                           hint="write one with: wheel-harness solve MATRIX … --json FILE") from None
    if not isinstance(answer, dict) or not answer.get("best"):
        raise HarnessError(f"--solve {path}: the answer holds no pins that work (\"best\" is empty)",
                           hint="solve found nothing in its range or budget; widen it, or leave --solve out")
    return answer


def _images(args: argparse.Namespace, base: dict, facts, ask) -> tuple[str, ...]:
    """The images of the base matrix to keep: those named, else those of this host's architecture. The
    validation plan's build-strategy recipes (their own `build_folders` or `source_file`) bake the
    harness's example chain into an image: no start for another stack, so never offered."""
    declared = {n: b for n, b in (base.get("images") or {}).items()
                if not (b.get("build_folders") or b.get("source_file"))}
    native = [n for n, b in declared.items() if facts.arch and b.get("platform") == facts.arch.platform]
    chosen = args.image or ask("Images (comma-separated)", ",".join(native or declared)).split(",")
    chosen = [c.strip() for c in chosen if c.strip()]
    unknown = [c for c in chosen if c not in declared]
    if unknown or not chosen:
        raise HarnessError(f"--image {', '.join(unknown) or '(none)'}: not an image of the shipped matrix",
                           hint="one of " + ", ".join(declared))
    return tuple(chosen)


def _copy_recipes(base: dict, images: tuple[str, ...]) -> list[str]:
    """Put the Dockerfiles the chosen images name beside the new matrix (./dockerfiles), as the shipped
    matrices have them; a file that is there already is left as it is."""
    said = []
    for name in images:
        relative = (base["images"][name] or {}).get("dockerfile")
        if not relative:
            continue
        for source in (resources.MATRICES / relative, resources.DOCKERFILES / ".dockerignore"):
            target = Path(os.path.normpath(resources.LOCAL / os.path.relpath(source, resources.MATRICES)))
            if target.exists():
                if target.read_bytes() != source.read_bytes() and source.suffix == ".Dockerfile":
                    said.append(f"note: {target} differs from the shipped recipe; it is left as it is")
                continue
            write_text_atomic(target, source.read_text(encoding="utf-8"))
            said.append(f"Wrote {target} (the recipe images.{name} names; yours to change)")
    return said


def _host_line(facts) -> str:
    """What doctor says of the host in a line: kind, JetPack, CUDA (why its matrix fits)."""
    line = hostfacts.default_matrix(facts)[1]
    gpu = facts.kind != "plain" and facts.cuda and f"CUDA {facts.cuda}" not in line
    return line + (f", CUDA {facts.cuda}" if gpu else "")
