"""The store: results written and read back (migrated, checked), and merged from several machines.

Rule: never imports `run/` or `backends/`: results are data on disk.
"""
