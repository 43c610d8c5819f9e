"""edge-wheel-harness: which base image x architecture x wheel index x pins really works, measured."""

__version__ = "0.1.0"
