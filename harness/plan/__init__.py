"""Before any cell runs: what an index offers for a target, and uv's prediction of each install.

Rule: asks indexes and uv, never a container; `prediction` is imported only by `cli/` and `run/`.
"""
