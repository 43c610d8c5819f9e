"""Matrix files: TOML → frozen model (harness.model), with one located problem per mistake.

Rule: reads files and knows nothing of runs, engines or results.
"""
