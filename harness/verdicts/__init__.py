"""What a cell's log means: its events parsed, and one verdict with evidence and a hint.

Rule: pure functions over what was recorded; never imports `run/` or `reports/`.
"""
