"""Running cells: one cell → one result, a matrix → results on disk (cache, schedule, progress).

Rule: talks to where cells run only through the backend seam (harness.backends.base).
"""
