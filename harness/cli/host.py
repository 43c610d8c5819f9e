"""`images`, `doctor` and `clean`: the machine's side — base images, what this host is, leftovers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import resources
from harness.backends import dockerfile, hostfacts, images
from harness.backends.choose import choose_backend
from harness.cli.args import chosen_backend, default_matrix, load_all
from harness.errors import HarnessError
from harness.model import local_image_ref
from harness.run.prefetch import prefetch


def cmd_images(args: argparse.Namespace) -> int:
    matrices = load_all(args.matrices or [default_matrix()])
    wanted = images.needed_local_images([img for m in matrices for img in m.images])
    recipes = list(dict.fromkeys(img for m in matrices for img in m.images if img.dockerfile))
    if args.action == "list":
        for recipe, arch in wanted:
            print(local_image_ref(recipe, arch))
        for img in recipes:
            print(img.tag)
        return 0
    engine = choose_backend("docker")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for recipe, arch in wanted:
        ref = local_image_ref(recipe, arch)
        if not engine.can_run(arch):
            print(f"SKIPPED {ref}: this host cannot run {arch.platform} (no QEMU binfmt emulation registered)")
            continue
        try:
            done = images.build_local(recipe, arch, engine, workdir=workdir, force=args.force)
        except images.ImageBuildError as exc:
            print(f"ERROR {ref}: {exc}", file=sys.stderr)
            failures += 1
            continue
        print(f"{done.ref}: {f'built in {done.seconds:.1f} s' if done.built else done.reason}")
    if any(img.build_folders for img in recipes):  # a wheelhouse a recipe builds from, filled as a run fills it
        prefetch([c for m in matrices for c in m.cells])
    for img in recipes:
        if engine.has_image(img.tag) and not args.force:
            print(f"{img.tag}: exists")
            continue
        try:
            builds = dockerfile.make(img, fresh=True)
            print(f"{img.tag}: built " + ", ".join(f"{b.how} in {b.seconds:.1f} s" for b in builds))
        except dockerfile.BuildError as exc:
            print(f"ERROR {img.tag}: {exc}\n  hint: {exc.hint}", file=sys.stderr)
            failures += 1
    return images.ImageBuildError.exit_code if failures else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    backend = chosen_backend(args, log=lambda _: None)  # the backend a run with the same flags would use
    facts = backend.host_facts()
    access = backend.gpu_access(facts)
    if args.json:
        name, why = hostfacts.default_matrix(facts)
        print(json.dumps({**facts.to_json(), "backend": backend.name, "gpu_access": access.to_json(),
                          "default_matrix": {"file": str(resources.matrix_for(name)[0]), "why": why},
                          "problems": hostfacts.problems(facts)}, indent=2, sort_keys=True))
    else:
        print(hostfacts.render(facts, access))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Leftover containers, shared caches and unused images: by hand, or on a long-lived CI runner."""
    backend = choose_backend(args.backend)
    removed = backend.clean(args.run_id, older_than=args.older_than)
    for line in removed:
        print(f"removed {line}")
    age = f" older than {args.older_than:g} s" if args.older_than is not None else ""
    print(f"{len(removed)} leftover container(s){age} removed")
    if args.caches:
        cleared = backend.clear_caches()
        for line in cleared:
            print(f"removed cache {line}")
        print(f"{len(cleared)} shared download cache(s) emptied ({backend.name} backend)")
    elif args.caches_over is not None:
        if backend.name != "docker":
            raise HarnessError("--caches-over trims the engine's cache volumes",
                               hint="use --caches on the host backend")
        for line in backend.trim_caches(args.caches_over):
            print(line)
    if args.images:
        if backend.name != "docker":
            raise HarnessError("--images removes images from a container engine", hint="use --backend docker")
        keep = {img.tag for m in load_all(images_matrices(args.matrices)) for img in m.images}
        gone = backend.remove_images(keep)
        for tag in gone:
            print(f"removed image {tag}" if not tag.startswith("kept ") else tag)
        print(f"{sum(1 for t in gone if not t.startswith('kept '))} image(s) no matrix names removed")
    return 0


def images_matrices(named: list[Path]) -> list[Path]:
    """The matrices whose images `clean --images` keeps: those named, else every file in ./matrices and every
    shipped one."""
    return list(named) or sorted(resources.LOCAL.glob("*.toml")) + resources.shipped_matrices()
