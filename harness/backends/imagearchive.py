"""A root filesystem tarball wrapped as a one-layer `docker save` archive whose config names its
architecture, so the engine loads an arm64 rootfs as an arm64 image.

Docker 20.10's `import --platform` records the host's architecture, so an arm64 rootfs imported that
way becomes an "amd64" image that `--platform linux/arm64` will not find; loading this archive
instead gives the image the right architecture. Pure file work: the engine loads the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

from harness import files
from harness.model import IMAGE_PREFIX, Arch


def _parse_changes(changes: Iterable[str]) -> dict[str, object]:
    """The subset of Dockerfile instructions `IMAGE_CHANGES` uses (ENV, CMD, ENTRYPOINT, WORKDIR)."""
    config: dict[str, object] = {}
    env: list[str] = []
    for change in changes:
        keyword, _, value = change.strip().partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "ENV":
            name, sep, val = value.partition("=")
            if not sep:
                name, _, val = value.partition(" ")
            env = [e for e in env if not e.startswith(name + "=")] + [f"{name}={val.strip()}"]
        elif keyword in ("CMD", "ENTRYPOINT"):
            parsed = json.loads(value) if value.startswith("[") else ["/bin/sh", "-c", value]
            config["Cmd" if keyword == "CMD" else "Entrypoint"] = parsed
        elif keyword == "WORKDIR":
            config["WorkingDir"] = value
        else:
            raise ValueError(f"unsupported image change {change!r}")
    if env:
        config["Env"] = env
    return config


def write_image_archive(rootfs: Path, dest: Path, ref: str, *, arch: Arch, changes: Iterable[str]) -> Path:
    """Wrap a rootfs tarball as a one-layer `docker save` archive whose config names `arch`.

    For engines whose import ignores a platform (Docker 20.10's `import --platform` records the host's
    architecture, so an arm64 rootfs becomes an "amd64" image that `--platform linux/arm64` will not find):
    loading this archive instead gives the image the right architecture.
    """
    layer_id = files.file_sha256(rootfs)
    config = {
        "architecture": arch.value,
        "os": "linux",
        **({"variant": "v8"} if arch is Arch.ARM64 else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": _parse_changes(changes),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created_by": f"{IMAGE_PREFIX} mmdebstrap rootfs"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = f"{layer_id}/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()

    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(dest, "w") as tar:
        add_bytes(tar, config_name, config_bytes)
        tar.add(rootfs, arcname=layer_name, recursive=False)
        add_bytes(tar, "manifest.json", manifest)
    return dest
