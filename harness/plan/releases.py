"""The releases an index variant offers for a cell's target: every version of a project that its
indexes and wheelhouse folders list, and for each the wheels this target can install.

A search (`bisect`, `solve`) tries only versions that can install on the target, and says which it
skipped and why: no wheel for this target (only an sdist, wheels for other platforms or Pythons, a
Requires-Python the target's Python does not meet), yanked, or a pre-release. The files are read
with packaging and judged with the target's wheel tags (plan.target.Target, as pip derives them) — the
view `plan` has, which resolves with `--only-binary :all:`.

Indexes are asked for their PEP 691 JSON page, falling back to the PEP 503 HTML page; folders
(find-links, served wheelhouses) are listed directly. The host's CA bundle and proxies are used, as
`plan` uses them; credentials in index URLs never appear in messages. An index that does not answer is
asked again with backoff, then raises IndexUnreachable (an outage, not bad input).
"""

from __future__ import annotations

import base64
import dataclasses
import html.parser
import json
import os
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import HTTPSHandler, Request, build_opener

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness import installers, redact
from harness.errors import HarnessError, IndexUnreachable
from harness.model import IndexVariant
from harness.plan.offers import SHOWN, DistFile, project_of, read_file
from harness.plan.target import Target

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
USER_AGENT = "edge-wheel-harness-releases"
ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second attempt, doubled after
TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class Listed:
    """One file an index or folder lists for the project."""

    name: str
    yanked: bool = False
    requires_python: str | None = None
    sha256: str | None = None  # as the page gives it (a PEP 503 link's #sha256=, a PEP 691 file's hashes)
    upload_time: str | None = None  # PEP 691's upload-time, where the index gives it
    url: str | None = None  # the file's link as the page gives it (relative to the page, or absolute)


@dataclass(frozen=True, kw_only=True)
class Release:
    """One version of the project, with the wheels the target can install."""

    version: Version
    files: tuple[str, ...] = ()
    fitting: tuple[str, ...] = ()  # wheels whose tags and Requires-Python this target meets
    yanked: bool = False  # every file of it is yanked
    python_refused: tuple[str, ...] = ()  # wheels with fitting tags whose Requires-Python refuses the target

    def why_not(self, target: Target, *, prereleases: bool = False) -> str | None:
        """Why a search skips this release (None: it can install here)."""
        if (self.version.is_prerelease or self.version.is_devrelease) and not prereleases:
            return "a pre-release"
        if self.yanked:
            return "yanked"
        if self.fitting:
            return None
        parsed = [f for f in (read_file(n) for n in self.files) if f is not None]
        sdists = [f.name for f in parsed if not f.is_wheel]
        others = list(dict.fromkeys(f.tag_text for f in parsed if f.is_wheel and f.name not in self.python_refused))
        # the nearest misses first: this Python's ABI on this machine (a glibc too old), then either
        others.sort(key=lambda tag: (target.abi not in tag.split("-")[:2], target.machine not in tag))
        parts = []
        if self.python_refused:
            parts.append(f"wheels whose Requires-Python excludes Python {target.python[0]}.{target.python[1]} "
                         f"({', '.join(self.python_refused[:SHOWN])})")
        if others:
            more = f", and {len(others) - SHOWN} more" if len(others) > SHOWN else ""
            parts.append(f"wheels for other targets ({', '.join(others[:SHOWN])}{more})")
        if sdists:
            parts.append(f"an sdist ({sdists[-1]})")
        return f"no wheel for this target ({target}): " + (" and ".join(parts) if parts else "no files")


@dataclass(frozen=True, kw_only=True)
class Offered:
    """What an index variant offers of one project for one target, oldest release first."""

    project: str
    target: Target
    releases: tuple[Release, ...]
    sources: tuple[str, ...]  # the indexes and folders asked (credentials masked)

    def get(self, version: Version | str) -> Release | None:
        wanted = Version(str(version))
        return next((r for r in self.releases if r.version == wanted), None)

    def usable(self, *, specifier: SpecifierSet | str = "", prereleases: bool = False) -> list[Version]:
        """The versions the target can install that the specifier admits, oldest first."""
        spec = SpecifierSet(str(specifier))
        return [r.version for r in self.releases
                if r.why_not(self.target, prereleases=prereleases) is None
                and spec.contains(r.version, prereleases=True)]

    def skipped(self, *, specifier: SpecifierSet | str = "", prereleases: bool = False) -> list[tuple[Version, str]]:
        """The versions the specifier admits that a search skips, with why, oldest first."""
        spec = SpecifierSet(str(specifier))
        out = []
        for r in self.releases:
            why = r.why_not(self.target, prereleases=prereleases)
            if why and spec.contains(r.version, prereleases=True):
                out.append((r.version, why))
        return out


def judge(project: str, listed: Sequence[Listed], target: Target, sources: Sequence[str]) -> Offered:
    """The files listed for a project, grouped by version and judged for the target."""
    tags = target.tags()
    python = f"{target.python[0]}.{target.python[1]}"
    by_version: dict[Version, list[tuple[Listed, DistFile]]] = {}
    for item in listed:
        parsed = read_file(item.name)
        if parsed is not None and project_of(item.name) == canonicalize_name(project):
            by_version.setdefault(parsed.version, []).append((item, parsed))
    releases = []
    for version in sorted(by_version):
        files = list(dict.fromkeys(i.name for i, _ in by_version[version]))
        fitting, refused = [], []
        for item, parsed in by_version[version]:
            if item.yanked or not parsed.is_wheel or not (parsed.tags & tags):
                continue
            if _python_ok(item.requires_python, python):
                fitting.append(item.name)
            else:
                refused.append(item.name)
        releases.append(Release(version=version, files=tuple(files), fitting=tuple(dict.fromkeys(fitting)),
                                python_refused=tuple(dict.fromkeys(refused)),
                                yanked=all(i.yanked for i, _ in by_version[version])))
    return Offered(project=canonicalize_name(project), target=target, releases=tuple(releases),
                   sources=tuple(sources))


def _python_ok(requires_python: str | None, python: str) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores a Requires-Python it cannot read


# --- asking the indexes ------------------------------------------------------------------------------


def default_index_url() -> str:
    """pip's own default index, which cells use (their pip sees no configuration): asked of pip, as the
    cell driver asks it — the harness writes no index URL of its own."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError:
        raise HarnessError("cannot ask pip for its default index URL: pip is not installed beside the harness",
                           hint="install pip in the harness's environment, or give the index variant an "
                                "index_url") from None
    return str(PyPI.simple_url)


def sources(index: IndexVariant) -> tuple[list[str], list[str]]:
    """(index URLs, folders) the cell's installer consults for this index variant, as runner and
    installers build its options: served and find-links folders, the index URL (pip's default index
    unless the variant has its own or none), and the extra index URLs."""
    folders = [*index.serve, *index.find_links]
    urls = []
    if index.index_url:
        urls.append(index.index_url)
    elif not index.no_index:
        urls.append(default_index_url())
    urls += list(index.extra_index_urls)
    return urls, folders


def list_folder(directory: str | Path) -> list[Listed]:
    path = Path(directory)
    if not path.is_dir():
        return []
    return [Listed(name=p.name) for p in sorted(path.iterdir()) if p.is_file()]


class _Anchors(html.parser.HTMLParser):
    """The links of a PEP 503 page: file name, data-yanked, data-requires-python."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[Listed] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        href = values.get("href") or ""
        name = unquote(href.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        fragment = href.partition("#")[2]
        sha256 = fragment[len("sha256="):].lower() if fragment.startswith("sha256=") else None
        if name:
            self.found.append(Listed(name=name, yanked="data-yanked" in values,
                                     requires_python=values.get("data-requires-python"), sha256=sha256,
                                     url=href.split("#")[0]))


def parse_page(body: str, content_type: str, base: str | None = None) -> list[Listed]:
    """The files a project page lists: PEP 691 JSON or PEP 503 HTML; each link made absolute against
    `base` (the page's URL) where one is given."""
    if "json" in content_type:
        data = json.loads(body)
        return [Listed(name=str(f.get("filename")), yanked=bool(f.get("yanked")),
                       requires_python=f.get("requires-python") or None,
                       sha256=str((f.get("hashes") or {}).get("sha256") or "").lower() or None,
                       upload_time=f.get("upload-time") or None, url=absolute(base, f.get("url") or None))
                for f in data.get("files") or () if f.get("filename")]
    parser = _Anchors()
    parser.feed(body)
    if base is None:
        return parser.found
    return [dataclasses.replace(item, url=absolute(base, item.url)) if item.url else item for item in parser.found]


def absolute(base: str | None, link: str | None) -> str | None:
    """`link` made absolute against `base`. An http(s) link with a host is absolute already and is
    kept as the page wrote it: urljoin would only take it apart and put it back (a project such as
    torch lists thousands of files, and a run asks for dozens of projects)."""
    if not link or base is None:
        return link
    if link.startswith(("https://", "http://")):
        return link
    return urljoin(base, link)


def _ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=installers.ca_bundle(environ))


Fetch = Callable[[Request, float], tuple[int, str, str]]


def _fetch(environ: Mapping[str, str]) -> Fetch:
    opener = build_opener(HTTPSHandler(context=_ssl_context(environ)))  # proxies: from the environment

    def fetch(request: Request, timeout: float) -> tuple[int, str, str]:
        with opener.open(request, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8", "replace")

    return fetch


def ask_index(url: str, project: str, *, fetch: Fetch, sleep: Callable[[float], None] = time.sleep) -> list[Listed]:
    """The files an index lists for a project ([] when it has no such project); retried with backoff
    while it does not answer (refused, DNS, timeouts, 5xx, 429), then IndexUnreachable."""
    parts = urlsplit(url)
    headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        headers["Authorization"] = "Basic " + base64.b64encode(unquote(userinfo).encode()).decode()
        parts = parts._replace(netloc=host)
    page = urlunsplit(parts).rstrip("/") + "/" + canonicalize_name(project) + "/"
    shown = redact.url(url).rstrip("/") + "/" + canonicalize_name(project) + "/"
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            status, content_type, body = fetch(Request(page, headers=headers), TIMEOUT)
            # each link made absolute against the page as results may show it (no credentials)
            return parse_page(body, content_type, base=shown)
        except HTTPError as exc:
            if exc.code == 404:
                return []
            problem = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break
        except (URLError, OSError) as exc:
            problem = f"{type(getattr(exc, 'reason', exc)).__name__}: {getattr(exc, 'reason', exc)}"
            if isinstance(getattr(exc, "reason", exc), ssl.SSLError):
                break
        except ValueError as exc:  # a page that is not what it says it is
            problem = f"an unreadable page ({exc})"
            break
        if attempt < ATTEMPTS:
            sleep(BACKOFF * 2 ** (attempt - 1))
    raise IndexUnreachable(f"GET {shown} failed: {problem}",
                           hint="the harness lists the releases an index offers before it searches: fix the "
                                "network, proxy (HTTPS_PROXY, NO_PROXY) or CA bundle (SSL_CERT_FILE), or re-run "
                                "when the index answers")


def offered(index: IndexVariant, project: str, target: Target, *, environ: Mapping[str, str] | None = None,
            fetch: Fetch | None = None, sleep: Callable[[float], None] = time.sleep) -> Offered:
    """What the index variant offers of `project` for `target`: every index and folder it consults."""
    urls, folders = sources(index)
    fetch = fetch or _fetch(os.environ if environ is None else environ)
    listed: list[Listed] = []
    for url in urls:
        listed += ask_index(url, project, fetch=fetch, sleep=sleep)
    for folder in folders:
        listed += list_folder(folder)
    asked = [redact.url(u) for u in urls] + [Path(f).name + "/ (folder)" for f in folders]
    return judge(project, listed, target, asked)

