"""How an evidence line is written: one line, at most EVIDENCE_MAX characters (what the JSON record keeps;
the table and the findings show less, each with its own width)."""

from __future__ import annotations

EVIDENCE_MAX = 300  # characters per evidence line in a record


def clip(text: object, limit: int = EVIDENCE_MAX) -> str:
    """The text on one line (runs of white space become one space), cut to `limit` with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
