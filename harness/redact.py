"""Credentials never leave the cell: URLs lose their user:token@ part in everything the harness writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from harness.model import IndexVariant

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def url(value: str) -> str:
    """`https://user:token@host/simple` → `https://***@host/simple`."""
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rsplit('@', 1)[1]}"))


def secrets(index: IndexVariant) -> list[str]:
    """The tokens written in an index variant's URLs (raw and URL-decoded): the password, or the user
    part when it stands alone (`https://TOKEN@host`). Plain user names are masked only inside URLs."""
    found: list[str] = []
    for value in (index.index_url, *index.extra_index_urls):
        parts = urlsplit(value or "")
        token = parts.password or parts.username
        if token:
            found += [token, unquote(token)]
    return sorted(set(found), key=len, reverse=True)


def text(value: str, known: Iterable[str] = ()) -> str:
    """Mask the userinfo of every URL in free text, then any known secret standing alone."""
    value = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MASK}@", value)
    for secret in known:
        if len(secret) >= 3:
            value = value.replace(secret, MASK)
    return value


def data(value, known: Iterable[str] = ()):
    """`text` applied to every string inside nested dicts and lists (results, probe steps)."""
    if isinstance(value, str):
        return text(value, known)
    if isinstance(value, dict):
        return {k: data(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(data(v, known) for v in value)
    return value
