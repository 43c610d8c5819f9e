"""Answers built from cells: steps, `bisect` (which release broke it) and `solve` (what to pin), and
what stored results already show (known).
"""
