"""Index URLs filled from the cell's target: `https://host/jp{jetpack_major}/cu{cuda_nodot}`.

One index variant then serves several JetPack releases: each cell's image says which JetPack and
CUDA it targets (`jetpack = "6.2"`, `cuda = "12.6"` in its `[images.X]` table) and the URL is
filled per cell. Pure functions; the matrix reader reports unknown or unfillable placeholders.
"""

from __future__ import annotations

import dataclasses
import string

from harness.model import Image, IndexVariant

FIELDS = {
    "jetpack": "the image's JetPack release, e.g. 6.2",
    "jetpack_major": "its major number: 6",
    "cuda": "the image's CUDA version, e.g. 12.6",
    "cuda_major": "its major number: 12",
    "cuda_nodot": "without the dot: 126",
    "arch": "amd64 or arm64",
    "machine": "x86_64 or aarch64",
}


def placeholders(text: str) -> list[str]:
    """The `{name}` fields in `text` (a `{{` is a literal brace); ValueError for a malformed template."""
    return [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]


def values(image: Image) -> dict[str, str]:
    """What this image's cells fill in; fields the image does not declare are absent."""
    out = {"arch": image.arch.value, "machine": image.arch.machine}
    if image.jetpack:
        out.update(jetpack=image.jetpack, jetpack_major=image.jetpack.split(".")[0])
    if image.cuda:
        major, _, minor = image.cuda.partition(".")
        out.update(cuda=image.cuda, cuda_major=major, cuda_nodot=major + minor.split(".")[0])
    return out


def _used(index: IndexVariant) -> list[str]:
    used = []
    for url in index.urls:
        try:
            used += placeholders(url)
        except ValueError:  # malformed: the matrix reader reports it
            continue
    return list(dict.fromkeys(used))


def missing(index: IndexVariant, image: Image) -> list[str]:
    """Known fields the index's URLs use that this image does not give."""
    have = values(image)
    return [name for name in _used(index) if name in FIELDS and name not in have]


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{%s}" % key  # left as written: the matrix reader has reported it


def fill(index: IndexVariant, image: Image) -> IndexVariant:
    """The index variant as this image's cells use it (unchanged when it has no template)."""
    if not _used(index):
        return index
    have = _Keep(values(image))

    def filled(url: str) -> str:
        try:
            return url.format_map(have)
        except ValueError:
            return url

    return dataclasses.replace(
        index,
        index_url=filled(index.index_url) if index.index_url else None,
        extra_index_urls=tuple(filled(u) for u in index.extra_index_urls),
        filled_from=tuple((filled(u), u) for u in index.urls if filled(u) != u),
    )


def filled_with(template: str, image: Image) -> dict[str, str]:
    """The fields a template uses and the values this image gave them: {"jetpack_major": "6", …}."""
    have = values(image)
    try:
        used = placeholders(template)
    except ValueError:
        return {}
    return {name: have[name] for name in dict.fromkeys(used) if name in have}
