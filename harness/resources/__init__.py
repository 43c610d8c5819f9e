"""What the package ships besides code: the matrices and the Dockerfile recipes they name, found from
any folder.

In the repository the files live at its top (matrices/, dockerfiles/), where people read and edit them;
`resources/matrices` and `resources/dockerfiles` are symbolic links to those folders, so a wheel carries
the files themselves and no file lives in two places.

A shipped matrix reads as if it were `./matrices/NAME.toml` of the folder it runs in: its wheelhouses
(find_links, serve) land beside the user's results, never inside the installed package; its Dockerfiles
come from the package.

Rule: a leaf; imports nothing from the package.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent
MATRICES = HERE / "matrices"
DOCKERFILES = HERE / "dockerfiles"
SCHEMA = MATRICES / "matrix.schema.json"  # the JSON Schema of the matrix format (`wheel-harness schema`)
LOCAL = Path("matrices")  # a user's own matrices, in the folder the command runs in


def shipped_matrices() -> list[Path]:
    return sorted(MATRICES.glob("*.toml"))


def is_shipped(path: Path) -> bool:
    """Whether `path` names a matrix of the installed package (as written: a copy in ./matrices is the user's)."""
    return Path(os.path.abspath(path)).parent == Path(os.path.abspath(MATRICES))


def folders_base(path: Path) -> Path:
    """Where a matrix's relative wheelhouse folders resolve: beside the matrix file, or for a shipped
    matrix, ./matrices of the folder the command runs in."""
    return LOCAL if is_shipped(path) else path.parent


def matrix_for(name: str) -> tuple[Path, str]:
    """The file of the matrix `name` (e.g. "smoke.toml") and where it comes from: ./matrices/NAME when
    this folder has it, else the one the package ships."""
    local = LOCAL / name
    if local.is_file():
        return local, "this folder's"
    return MATRICES / name, "shipped with the harness"
