"""Record what BuildKit prints for a measured build, for the tests of how the harness reads it.

    python tools/record_buildkit_output.py [OUT_DIR]      (default: tests/data/buildkit/; needs a Docker engine)

Measures tests/data/dockerfiles/source-change/ with `dockerfile.make`, as a run measures a missing recipe
that names a source file: cold (no layer cache), cached after a change to the source file, and as written
again, each from a copy of its folder with a wheelhouse folder in it, on the local Debian bookworm image
(built first when missing). Writes each build's plain progress output as BuildKit printed it (cold.txt,
cached.txt, unchanged.txt). Then the same recipe on a base no registry here serves
(edge-wheel-harness/not-pullable:never): what BuildKit prints when a base cannot be pulled
(unpullable.txt; IPv4 addresses, such as this machine's resolver, masked). tests/test_build.py reads them
and never writes them: review `git diff tests/data/buildkit/` before committing a refresh.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.backends import dockerfile, images  # noqa: E402
from harness.backends.choose import choose_backend  # noqa: E402
from harness.model import Arch, Image, local_image_ref  # noqa: E402

RECIPE = ROOT / "tests" / "data" / "dockerfiles" / "source-change" / "source-change.Dockerfile"


def main(out: Path) -> None:
    engine = choose_backend("docker")
    base = local_image_ref("debian-bookworm", Arch.AMD64)
    with tempfile.TemporaryDirectory(prefix="ewh-record-") as tmp:
        if not engine.has_image(base):
            images.build_local("debian-bookworm", Arch.AMD64, engine, workdir=Path(tmp) / "rootfs")
        house = Path(tmp) / "house"
        house.mkdir()
        (house / "example-1.0-py3-none-any.whl").write_bytes(b"not a real wheel: the recipe only lists it")
        image = Image(name="ewh-record-source-change", arch=Arch.AMD64, dockerfile=str(RECIPE),
                      build_args=(("BASE", base),), build_folders=(("wheelhouse", str(house)),),
                      source_file="app/main.py")
        outputs = []
        builds = []

        def run(cmd, **kw):  # the docker CLI as make() calls it, the output of each build that went through kept
            done = subprocess.run(cmd, **kw)
            if done.returncode == 0:  # not a client without BuildKit, passed over
                outputs.append((done.stdout or "") + (done.stderr or ""))
            return done

        try:
            builds = dockerfile.make(image, fresh=True, run=run, environ=os.environ)  # DOCKER_HOST names the engine
        finally:
            for ref in [image.tag, *(b.image_id for b in builds if b.image_id)]:
                if engine.has_image(ref):
                    engine.client.images.remove(ref, force=True)
        out.mkdir(parents=True, exist_ok=True)
        for build, output in zip(builds, outputs):
            (out / f"{build.how}.txt").write_text(output)
            print(f"wrote {out / f'{build.how}.txt'}")
        unpullable = Image(name="ewh-record-unpullable", arch=Arch.AMD64, dockerfile=str(RECIPE),
                           build_args=(("BASE", "edge-wheel-harness/not-pullable:never"),))
        try:
            dockerfile.build_dockerfile(unpullable, environ=os.environ)
        except dockerfile.BuildError as exc:
            said = str(exc).split("\n", 1)[1]  # BuildKit's last lines, as the error keeps them
            (out / "unpullable.txt").write_text(re.sub(r"\b\d{1,3}(\.\d{1,3}){3}\b", "192.0.2.1", said) + "\n")
            print(f"wrote {out / 'unpullable.txt'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "buildkit")
