"""Matrix files: TOML → frozen model (harness.model), with one located problem per mistake; the
format's JSON Schema (schema) and a starting matrix for someone's own stack (starter, for `init`).

Rule: reads files and knows nothing of runs, engines or results.
"""
