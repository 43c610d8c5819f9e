"""Record what BuildKit prints for a measured build, for the tests of how the harness reads it.

    python tools/record_buildkit_output.py [OUT_DIR]      (default: tests/data/buildkit/; needs a Docker engine)

Builds tests/data/dockerfiles/source-change/ the way `dockerfile.make` measures a recipe with a source
file: cold (no layer cache) from a copy of its folder with the source file changed, then from the warm
cache as written, each with a wheelhouse folder put into the build context, on the local Debian bookworm
image (built first when missing). Writes each build's plain progress output as BuildKit printed it
(cold.txt, cached.txt). tests/test_build.py reads them and never writes them: review
`git diff tests/data/buildkit/` before committing a refresh.
"""

from __future__ import annotations

import os
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
        out.mkdir(parents=True, exist_ok=True)
        try:
            for name, changed, no_cache in (("cold", True, True), ("cached", False, False)):
                context = dockerfile.assemble_context(image, Path(tmp) / name, changed=changed)
                # the environment as it is: DOCKER_HOST names the engine (no CA bundle is needed here)
                _, output = dockerfile._build(image, clients=None, run=dockerfile.subprocess.run,
                                              environ=os.environ, log=print, context=context, no_cache=no_cache)
                (out / f"{name}.txt").write_text(output)
                print(f"wrote {out / f'{name}.txt'}")
        finally:
            if engine.has_image(image.tag):
                engine.client.images.remove(image.tag, force=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "buildkit")
