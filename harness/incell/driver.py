"""In-cell driver: make a venv, install the requirements, run the import probe (with the built-in checks),
then the user's own checks (their dependencies installed first).

    python3 cell.py SPEC.json

(the harness runs it through boot.py, which keeps its compiled code: `python3 boot.py cell.py CACHE SPEC.json`).

Standard library only, Python 3.8+. The children's output goes straight to this process's
stdout/stderr; between them the driver prints one line `@@harness {json}` per event.
Exit status: 0 when every phase succeeded (or was skipped), 1 otherwise.
"""

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from urllib.parse import unquote, urlsplit, urlunsplit

# ssl and urllib.request (with http.client and email) are imported where an index is asked, after a failed
# install: a cell that passes never needs them, and under emulation they cost a tenth of a second to import.

MARKER = "@@harness "
DRIVER_FAILED = "the cell driver failed"  # how a phase's error begins when this driver itself raised


def say(**event):
    sys.stdout.write(MARKER + json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def signal_name(returncode):
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "SIG%d" % -returncode


def call(argv, env, keep=False, marks=None, seen=None):
    """Run one child to completion: (returncode or None, error, output if `keep`). Never raises.

    With `keep` the child's stdout and stderr are merged, passed through line by line, and kept so
    the driver can read what pip said; otherwise they go straight to this process's streams.
    `seen` is filled with the seconds from the start to the first line starting with each of `marks`
    ({name: line prefix}), and to the end ("end").
    """
    sys.stdout.flush()
    sys.stderr.flush()
    began = time.perf_counter()
    try:
        if not keep:
            return subprocess.call(argv, env=env), None, ""
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        kept = []
        wanted = dict(marks or {})
        for raw in iter(child.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            sys.stdout.write(line)
            kept.append(line)
            for name, prefix in list(wanted.items()):
                if line.startswith(prefix):
                    seen[name] = round(time.perf_counter() - began, 6)
                    del wanted[name]
        sys.stdout.flush()
        returncode = child.wait()
        if seen is not None:
            seen["end"] = round(time.perf_counter() - began, 6)
        return returncode, None, "".join(kept)
    except OSError as exc:  # the program could not be started at all
        return None, "%s: %s" % (type(exc).__name__, exc), ""


RUNNING = {"phase": None}  # the phase running now (the process-limit watch names it)


def timed_phase(name, body, argv=None):
    """Say when phase `name` starts and ends, with its time; `body()` returns (returncode, error)."""
    say(event="phase", phase=name, status="start", time=time.time(), argv=argv)
    RUNNING["phase"] = name
    began = time.perf_counter()
    try:
        returncode, error = body()
    except Exception as exc:  # a bug in this driver: the phase fails, saying so, instead of vanishing
        import traceback
        traceback.print_exc()
        returncode, error = None, "%s: %s: %s" % (DRIVER_FAILED, type(exc).__name__, exc)
    end = {"event": "phase", "phase": name, "status": "ok" if returncode == 0 else "failed",
           "seconds": round(time.perf_counter() - began, 6), "returncode": returncode}
    if error:
        end["error"] = error
    if returncode is not None and returncode < 0:
        end["signal"] = signal_name(returncode)
    RUNNING["phase"] = None
    say(**end)
    return returncode == 0


def run_phase(name, argv, env):
    """Run one child as phase `name`; True when it exited 0. Never raises for a child's failure."""
    return timed_phase(name, lambda: call(argv, env)[:2], argv)


def skip(name, reason):
    say(event="phase", phase=name, status="skipped", seconds=0.0, returncode=None, reason=reason)


REPORT_PIP = (22, 2)  # the first pip with `install --report`


def pip_version(venv_python, env):
    """The venv's pip as (major, minor), or None when it cannot say."""
    try:
        out = subprocess.check_output([venv_python, "-m", "pip", "--version"], env=env, stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.match(r"pip (\d+)\.(\d+)", out.decode("utf-8", "replace"))
    return (int(match.group(1)), int(match.group(2))) if match else None


def without_credentials(url):
    """A URL with any user:token@ part replaced, so no secret reaches a log or a result."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def summarize_report(report):
    """Per installed distribution: version, wheel or source build, the wheel's tags, where it came from."""
    items = []
    for item in report.get("install", []):
        meta = item.get("metadata") or {}
        info = item.get("download_info") or {}
        url = info.get("url") or ""
        filename = url.split("#")[0].split("?")[0].rsplit("/", 1)[-1]
        if "dir_info" in info:
            source = "directory"
        elif "vcs_info" in info:
            source = "vcs"
        elif filename.endswith(".whl"):
            source = "wheel"
        else:
            source = "source"  # an sdist: pip built it here
        items.append({
            "name": meta.get("name"),
            "version": meta.get("version"),
            "requested": bool(item.get("requested")),
            "direct": bool(item.get("is_direct")),
            "source": source,
            "file": filename,
            "tags": "-".join(filename[:-4].split("-")[-3:]) if source == "wheel" else None,
            "url": without_credentials(url),
            "sha256": archive_sha256(info),
        })
    return items


def archive_sha256(info):
    """The sha256 of the file pip installed, as its report gives it (from the index's page, or what pip
    computed from the file); None for a directory or VCS install."""
    archive = info.get("archive_info") or {}
    found = (archive.get("hashes") or {}).get("sha256")
    if not found and str(archive.get("hash") or "").startswith("sha256="):
        found = archive["hash"][len("sha256="):]
    return found or None


# --- after a failed install: did the indexes answer, and what do they offer? --------------------------

NOT_FOUND = re.compile(r"(?:No matching distribution found for|Could not find a version that satisfies the "
                       r"requirement|Because) ([A-Za-z0-9][A-Za-z0-9._-]*)(?:(?:==|>=|<=|<|>)\S*)?"
                       r"(?:$| \(| was not found| has no)", re.M)  # pip's words, then uv's
UV_FETCH = re.compile(r"Failed to fetch: \S+/([A-Za-z0-9][A-Za-z0-9._-]*)/?$", re.M)
CHECK_TIMEOUT = 10.0


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_projects(output):
    """The projects pip said it found no distribution for, in order."""
    found = [m.group(1) for m in NOT_FOUND.finditer(output)] + [m.group(1) for m in UV_FETCH.finditer(output)]
    return list(dict.fromkeys(normalise(name) for name in found))


def default_index(venv_python, env):
    """pip's own default index URL, asked of the venv's pip (the harness writes no URL of its own)."""
    code = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
    try:
        return subprocess.check_output([venv_python, "-c", code], env=env, stderr=subprocess.DEVNULL).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# The CA bundle's variables in the order the host's rule reads them (harness.installers.CA_VARIABLES).
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def _ssl_context(env):
    import ssl

    for var in CA_VARIABLES:
        if env.get(var) and os.path.isfile(env[var]):
            return ssl.create_default_context(cafile=env[var])
    return ssl.create_default_context()


def _proxies(env):
    """The proxies the cell was given, read from its own environment (not this process's), as pip
    reads them: `http_proxy` and the like, lower-case before upper-case, ALL_PROXY for any scheme."""
    found = {}
    for name in sorted(env, key=lambda n: n.islower()):  # upper-case first, so lower-case wins
        if name.lower().endswith("_proxy") and env[name]:
            found[name.lower()[: -len("_proxy")]] = env[name]
    for scheme in ("http", "https"):
        if "all" in found:
            found.setdefault(scheme, found["all"])
    return found


def _opener(url, env):
    """An opener that goes through the cell's proxy for `url` (unless NO_PROXY names its host),
    trusting the cell's CA bundle."""
    from urllib.request import HTTPSHandler, ProxyHandler, build_opener, proxy_bypass_environment

    proxies = _proxies(env)
    if proxy_bypass_environment(urlsplit(url).hostname or "", proxies):
        proxies = {}
    proxies = dict((k, v) for k, v in proxies.items() if k not in ("no", "all"))
    return build_opener(ProxyHandler(proxies), HTTPSHandler(context=_ssl_context(env)))


def _request(url, accept):
    """A GET of `url` whose user:token@ part, if any, is sent as Basic auth instead of in the URL."""
    import base64
    from urllib.request import Request

    parts = urlsplit(url)
    headers = {"Accept": accept, "User-Agent": "edge-wheel-harness-cell"}
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        headers["Authorization"] = "Basic " + base64.b64encode(unquote(userinfo).encode()).decode()
        parts = parts._replace(netloc=host)
    return Request(urlunsplit(parts), headers=headers)


def _cause(exc):
    """What went wrong under a failed request: the error urllib wrapped (URLError.reason), else the exception
    itself. Not any `.reason`: an ssl.SSLError raised unwrapped (a CA bundle that will not load) has a
    string there."""
    from urllib.error import URLError

    return exc.reason if isinstance(exc, URLError) and isinstance(exc.reason, BaseException) else exc


def _reason(exc):
    reason = _cause(exc)
    return "%s: %s" % (type(reason).__name__, reason)


def _tls(exc):
    """Whether a request failed in TLS: an answer a retry does not change, not an outage."""
    import ssl

    return isinstance(_cause(exc), ssl.SSLError)


PAGE_LIMIT = 4 << 20  # bytes of an index page read; a root listing more projects is not searched for names
CLOSE = 0.75  # how alike two project names must be (difflib's ratio) to suggest one for the other


def close_names(name, names):
    """The names in `names` most like `name` (a misspelt project): up to three, the closest first."""
    import difflib

    wanted = normalise(name)
    others = list(dict.fromkeys(n for n in (normalise(n) for n in names) if n and n != wanted))
    return difflib.get_close_matches(wanted, others, n=3, cutoff=CLOSE)


def project_names(body):
    """The projects an index's root lists: PEP 691 JSON, or the links of a PEP 503 page."""
    if body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            return []
        return [str(p.get("name")) for p in data.get("projects") or () if isinstance(p, dict) and p.get("name")]
    hrefs = re.findall(r'href="([^"]+)"', body)
    return [n for n in (unquote(h.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]) for h in hrefs) if n]


def check_index(label, url, project, env, projects=False):
    """GET the index's page for `project` (through the cell's proxy, with its CA bundle): its status
    or the error, and the files it lists (with `projects`, for a root: the projects it lists, and
    whether the whole page was read).

    `transient` marks what a retry may cure (refused, DNS, timeouts, 5xx, 429); a TLS failure or a
    4xx is an answer, not an outage.
    """
    from urllib.error import HTTPError, URLError

    request = _request(url.rstrip("/") + "/" + project + "/", "text/html")
    page = request.full_url
    out = {"index": label, "project": project, "url": without_credentials(page), "status": None,
           "error": None, "transient": False, "files": []}
    try:
        with _opener(page, env).open(request, timeout=CHECK_TIMEOUT) as resp:
            out["status"] = resp.status
            raw = resp.read(PAGE_LIMIT + 1)
            complete, raw = len(raw) <= PAGE_LIMIT, raw[:PAGE_LIMIT]
            body = raw.decode("utf-8", "replace")
        names = [unquote(h.split("#")[0].split("?")[0].rsplit("/", 1)[-1])
                 for h in re.findall(r'href="([^"]+)"', body)]
        out["files"] = [n for n in names if n]
        out["links"] = count_links(body, len(names))
        if projects:
            out["projects"], out["complete"] = project_names(body) if complete else [], complete
        if not out["links"]:  # an empty page, another site's page, or garbage: say what it was
            out["answer"], out["garbage"] = answer_of(raw, resp.headers.get("Content-Type"))
    except HTTPError as exc:
        out["status"] = exc.code
        out["transient"] = exc.code >= 500 or exc.code == 429
        if exc.code != 404:
            out["error"] = "HTTP %d %s" % (exc.code, exc.reason)
            try:
                out["answer"] = answer_of(exc.read(64 << 10), exc.headers.get("Content-Type"))[0]
            except (OSError, ValueError, AttributeError):
                pass
    except (URLError, OSError, ValueError) as exc:
        out["error"] = _reason(exc)
        out["transient"] = not _tls(exc)
    return out


TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def answer_of(raw, content_type):
    """What a page that lists nothing was, in a few words, and whether it was garbage (not text at
    all): "an HTML page titled '503 Service Unavailable'", "3000 bytes that are not text"."""
    kind = " (Content-Type: %s)" % content_type.split(";")[0].strip() if content_type else ""
    text = raw.decode("utf-8", "replace")
    if not raw:
        return "an empty page" + kind, False
    if "\x00" in text or text.count("\ufffd") > max(2, len(text) // 20):
        return "%d bytes that are not text%s" % (len(raw), kind), True
    title = TITLE.search(text)
    if title and title.group(1).strip():
        said = " ".join(title.group(1).split())[:100]
        return "an HTML page titled %r%s" % (said, kind), False
    said = " ".join(re.sub(r"<[^>]*>", " ", text).split())[:100]
    return "a page that reads %r%s" % (said, kind), False


def check_links(directory, project):
    """What a find-links folder offers for `project`."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return {"index": directory, "project": project, "status": None, "error": _reason(exc),
                "transient": False, "files": []}
    mine = [n for n in names if normalise(re.split(r"-\d", n, maxsplit=1)[0]) == project]
    return {"index": directory, "project": project, "status": "folder", "error": None, "transient": False,
            "files": mine}


KEEP_FILES = 100  # per index and project: the last files its page lists, besides those of a pinned version


def file_version(name):
    """The version in a wheel's or an sdist's file name ("2.5.0" in torch-2.5.0-cp310-…whl), or None."""
    if name.endswith(".whl"):
        parts = name.split("-")
        return parts[1].lower() if len(parts) >= 5 else None
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"):
        if name.endswith(ext) and "-" in name:
            return name[: -len(ext)].rsplit("-", 1)[1].lower()
    return None


PIP_CRASHED = re.compile(r"^ERROR: Exception:$", re.M)  # pip's words for an error of its own (a traceback follows)


def requirement_names(requirements):
    """The distribution names the requirements name, in order."""
    names = [re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r) for r in requirements]
    return [m.group(1) for m in names if m]


def pinned_versions(requirements, project):
    """The versions the cell's requirements pin `project` to with == or === (a trailing .* dropped)."""
    pins = []
    for requirement in requirements:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if name and normalise(name.group(1)) == project:
            found = re.findall(r"(?<![<>!~=])===?\s*([^\s,;]+)", requirement.split(";")[0])
            pins += [v[:-2].lower() if v.endswith(".*") else v.lower() for v in found]
    return pins


def kept_files(check, pins):
    """A check cut to what the classifier reads: every file of a pinned version (a superset: 2.5 keeps
    2.5.1 and 2.5+cu126 too), and the last KEEP_FILES files (indexes list the oldest first);
    `listed` says how many the index listed."""
    files = check.get("files") or []

    def pinned(name):
        version = file_version(name)
        return version is not None and any(version == p or version.startswith((p + ".", p + "+")) for p in pins)

    keep = set(files[-KEEP_FILES:]) | set(n for n in files if pinned(n))
    check["files"] = [n for n in files if n in keep]
    check["listed"] = len(files)
    return check


def count_links(body, hrefs):
    """How many entries an index page lists: its links, or the projects/files of a PEP 691 JSON page."""
    if hrefs or not body.lstrip().startswith("{"):
        return hrefs
    try:
        data = json.loads(body)
    except ValueError:  # cut off at the size read: a JSON index page says its api-version first
        return 1 if '"api-version"' in body[:4096] else 0
    return len(data.get("projects") or data.get("files") or []) if isinstance(data, dict) else 0


def check_root(label, url, env, missing=()):
    """GET the index URL itself (asked as check_index asks a project page). A PEP 503/691 index lists
    its projects there; a wrong URL (a JetPack or CUDA path that moved, say) answers 404, or a page
    that lists nothing. Where the whole list could be read, `close` has the projects it lists whose
    names are like each of `missing` (a misspelt requirement). None for a URL with no path to ask."""
    parts = urlsplit(url)
    parent, _, last = parts.path.rstrip("/").rpartition("/")
    if not last:
        return None
    got = check_index(label, urlunsplit(parts._replace(path=parent, query="", fragment="")), last, env,
                      projects=True)
    root = {"index": label, "url": got["url"], "status": got["status"], "error": got["error"],
            "links": got.get("links", 0), "answer": got.get("answer"), "garbage": got.get("garbage", False)}
    if got.get("complete") and got.get("projects"):
        root["close"] = dict((p, close_names(p, got["projects"])) for p in missing)
    return root


def check_roots(spec, checks, env):
    """The root of each index that answered 404, or a 200 page listing nothing, for every project pip
    missed: a wrong URL answers 404 (or another site's page) for everything, a right one lists its
    projects at its root."""
    roots = []
    for index in (spec.get("sources") or {}).get("indexes") or []:
        label = index.get("label") or without_credentials(index["url"])
        mine = [c for c in checks if c["index"] == label]
        if mine and all((c["status"] == 404 or (c["status"] == 200 and c.get("links") == 0)) and not c["error"]
                        for c in mine):
            missing = list(dict.fromkeys(c["project"] for c in mine if c.get("project")))
            root = check_root(label, index["url"], env, missing)
            if root:
                roots.append(root)
    return roots


def check_sources(spec, venv_python, output, env):
    """After a failed install: each index (and find-links folder) asked for each project pip missed."""
    projects = missing_projects(output)
    if not projects and PIP_CRASHED.search(output):  # pip died reading something: ask about every project
        projects = list(dict.fromkeys(normalise(n) for n in requirement_names(spec.get("requirements") or [])))
    if not projects:
        return []
    sources = spec.get("sources") or {}
    indexes = list(sources.get("indexes") or [])
    if sources.get("default"):
        url = default_index(venv_python, env)
        if url:
            indexes.insert(0, {"label": "pip's default index", "url": url})
    checks = []
    for project in projects[:5]:
        pins = pinned_versions(spec.get("requirements") or [], project)
        for index in indexes:
            checks.append(kept_files(check_index(index.get("label") or without_credentials(index["url"]),
                                                 index["url"], project, env), pins))
        for directory in sources.get("find_links") or []:
            checks.append(kept_files(check_links(directory, project), pins))
    return checks


def pip_install(venv_python, argv, env, retry):
    """pip (or uv) install, retried with backoff while an index does not answer; (returncode, error)."""
    attempts = max(1, int(retry.get("attempts", 1)))
    backoff = float(retry.get("backoff", 10.0))
    spec, requirements = retry["spec"], retry["requirements"]
    for attempt in range(1, attempts + 1):
        seen = {}
        returncode, error, output = call(argv + requirements, env, keep=True,
                                         marks={"install": retry.get("mark", "Installing collected packages:")},
                                         seen=seen)
        retry["output"] = output
        if "end" in seen:
            # pip resolves and downloads everything before it prints this line, then installs.
            split = seen.get("install", seen["end"])
            say(event="install-split", attempt=attempt, resolve_download=split,
                install_files=round(seen["end"] - split, 6))
        if returncode == 0 or returncode is None or returncode < 0:
            return returncode, error
        checks = check_sources(spec, venv_python, output, env)
        if checks:
            say(event="index-check", attempt=attempt, checks=checks)
            roots = check_roots(spec, checks, env)
            if roots:
                say(event="index-root", attempt=attempt, roots=roots)
        down = [c for c in checks if c["transient"]]
        if not down or attempt == attempts:
            return returncode, error
        wait = backoff * 2 ** (attempt - 1)
        first = down[0]
        say(event="retry", phase="install", attempt=attempt + 1, attempts=attempts, wait=wait,
            index=first["index"], reason=first["error"])
        sys.stdout.write("harness: index %s did not answer (%s); retrying the install in %g s (attempt %d of %d)\n"
                         % (first["index"], first["error"], wait, attempt + 1, attempts))
        sys.stdout.flush()
        time.sleep(wait)
    return returncode, error


UV_INSTALLED = re.compile(r"^ \+ ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


_LENT_RUNS = {}  # path → whether it ran: asked by the venv step and by the install, tried once


def lent_uv_runs(path, env):
    """Whether the uv the harness lent runs here (a binary of another C library or without its mode may not)."""
    if path not in _LENT_RUNS:
        try:
            _LENT_RUNS[path] = subprocess.call([path, "--version"], env=env, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL) == 0
        except OSError:
            _LENT_RUNS[path] = False
    return _LENT_RUNS[path]


def ready(path):
    """The uv-bootstrap phase of a uv that is already there: (0, None) when it is an executable file."""
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return 0, None
    return 1, "uv at %s is not an executable file" % path


def uv_tool(venv_python, pip_args, env, spec):
    """The uv binary: the one the harness lent when it runs here, else from the shared cache when a cell
    of this platform already put it there, else installed with the venv's pip from the cell's index
    variant (into the shared cache, when there is one, so the next cell skips this). Timed as its own
    phase; None when uv could not be had."""
    lent = spec.get("uv_binary")
    if lent and lent_uv_runs(lent, env):  # it ran once already (`uv --version`): not again
        say(event="note", text="uv lent by the harness")
        return lent if timed_phase("uv-bootstrap", lambda: ready(lent), [lent]) else None
    cache = (spec.get("cache") or {}).get("dir")
    # uv is the cell's tool, not one of its locked requirements: installed without their hash checks
    pip_args = [a for a in pip_args if a not in ("--require-hashes", "--no-deps")]
    if not cache:
        ok = run_phase("uv-bootstrap", [venv_python, "-m", "pip", "install", "--disable-pip-version-check",
                                        "--no-input", "uv"] + pip_args, env)
        return os.path.join(os.path.dirname(venv_python), "uv") if ok else None
    tools = os.path.join(cache, "tools", "uv")
    uv = os.path.join(tools, "bin", "uv")
    if os.path.exists(uv):  # a cell of this platform installed it (atomically): not run to see, as under
        say(event="note", text="uv from the shared cache")  # emulation each start of uv costs a quarter second
        return uv if timed_phase("uv-bootstrap", lambda: ready(uv), [uv]) else None
    staging = "%s.%d.%d" % (tools, os.getpid(), int(time.time() * 1000))
    ok = run_phase("uv-bootstrap", [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                                    "--target", staging, "uv"] + pip_args, env)
    if not ok:
        shutil.rmtree(staging, ignore_errors=True)
        return None
    try:
        os.rename(staging, tools)  # atomic: a cell that got there first keeps its copy
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return uv


def wheel_tags(venv_python, names, env):
    """Installed distribution → the wheel tags its WHEEL file names ({} when they cannot be read): read
    from the venv's own site-packages in this process (uv writes no report; with the index's files these
    name the file it installed). No interpreter is started for it, nor importlib.metadata imported (a
    tenth of a second under emulation): the dist-info folders are found by their names."""
    venv = os.path.dirname(os.path.dirname(venv_python))
    sites = [os.path.join(venv, "lib", name, "site-packages") for name in _listdir(os.path.join(venv, "lib"))]
    wanted = {normalise(n): n for n in names}
    out = {}
    for site in sites:
        for entry in sorted(_listdir(site)):
            # {name}-{version}.dist-info, the name's "-" written "_" (PEP 427)
            name = wanted.get(normalise(entry[:-len(".dist-info")].rsplit("-", 1)[0])) \
                if entry.endswith(".dist-info") else None
            if name is None or name in out:
                continue
            try:
                with open(os.path.join(site, entry, "WHEEL"), encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:  # a damaged distribution: the others stand
                continue
            out[name] = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    return out


UV_PREPARED = re.compile(r"^Prepared (\d+) packages? in", re.M)


def uv_install(venv_python, pip_args, requirements, workdir, env, spec):
    """The install phase with uv: uv itself comes first (uv_tool), timed apart, so the install phase
    times what uv does and nothing else."""
    uv = uv_tool(venv_python, pip_args, env, spec)
    if uv is None:
        skip("install", "uv could not be installed in the venv")
        return False
    env = dict(env)
    env.setdefault("UV_CACHE_DIR", os.path.join(workdir, "uv-cache"))
    argv = [uv, "pip", "install", "--no-config", "--python", venv_python] + list(spec.get("uv_args") or [])
    retry = dict(spec.get("retry") or {}, spec=spec, requirements=requirements, mark="Prepared ")
    ok = timed_phase("install", lambda: pip_install(venv_python, argv, env, retry), argv + requirements)
    # uv writes no install report: what it installed is in its own " + name==version" lines
    output = retry.get("output", "")
    items = [{"name": m.group(1), "version": m.group(2), "requested": None, "direct": None, "source": None,
              "file": None, "tags": None, "url": None} for m in UV_INSTALLED.finditer(output)]
    tags = wheel_tags(venv_python, [i["name"] for i in items], env) if items else {}
    for item in items:
        item["wheel_tags"] = tags.get(item["name"])
    prepared = UV_PREPARED.search(output)
    say(event="install-report", pip=None, installer="uv", items=items,
        prepared=int(prepared.group(1)) if prepared else (0 if items else None))
    return ok


def install(venv_python, pip_args, requirements, workdir, env, spec=None):
    """The install phase, with pip's own report of what it installed (upgrading an old pip first)."""
    spec = spec or {}
    if spec.get("installer") == "uv":
        return uv_install(venv_python, pip_args, requirements, workdir, env, spec)
    version = pip_version(venv_python, env)
    if version is not None and version < REPORT_PIP:
        say(event="note", text="pip %d.%d in the venv has no --report: upgrading it first" % version)
        run_phase("pip-upgrade", [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                                  "--upgrade", "pip>=22.2"] + pip_args, env)
        version = pip_version(venv_python, env)
    report = os.path.join(workdir, "install-report.json")
    argv = [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if version is not None and version >= REPORT_PIP:
        argv += ["--report", report]
    argv += pip_args
    retry = dict(spec.get("retry") or {}, spec=spec, requirements=requirements)
    ok = timed_phase("install", lambda: pip_install(venv_python, argv, env, retry), argv + requirements)
    if os.path.exists(report):
        try:
            with open(report) as f:
                data = json.load(f)
            say(event="install-report", pip=data.get("pip_version"), items=summarize_report(data))
        except (OSError, ValueError) as exc:
            say(event="note", text="pip's install report could not be read: %s" % exc)
    return ok


# --- after a failed import: an extension built for another NumPy, and when releases came out --------

# The words in which an extension built against one NumPy fails with another (the exception, or what
# NumPy printed while it was raised): NumPy 1.x builds under NumPy 2, NumPy 2 builds under NumPy 1.x.
NUMPY_ABI = re.compile(
    r"numpy\.(?:dtype|ndarray|ufunc) size changed, may indicate binary incompatibility"
    r"|_ARRAY_API not found"
    r"|compiled using NumPy \d+\.x cannot be run in"
    r"|requires NumPy [0-9][0-9.]* or newer, found [0-9]"
    r"|numpy\.(?:_?core\.)?(?:multiarray|_multiarray_umath|umath) failed to import"
    r"|module (?:was )?compiled against (?:NumPy C-API|ABI|API) version 0x[0-9a-fA-F]+", re.I)
JSON_PAGE = "application/vnd.pypi.simple.v1+json"
RELEASES_LIMIT = 64 << 20  # bytes of a project's JSON page (NumPy's lists thousands of files)


def numpy_abi_lines(step):
    """What a failed import step said (its exception, then what it printed) in NumPy ABI words."""
    error = step.get("error") or {}
    said = [str(error.get("message") or "")] + [str(m.get("text") or "") for m in step.get("messages") or ()]
    return [line.strip() for text in said for line in text.splitlines() if NUMPY_ABI.search(line)]


def numpy_mismatch(steps):
    """The distribution whose compiled code failed against the installed NumPy, from the probe's
    steps (its import errors, and the owners of the packages whose code failed), or None."""
    items, owners = {}, {}
    for step in steps:
        if step.get("step") == "distributions":
            items, owners = step.get("items") or {}, step.get("owners") or {}
    for step in steps:
        if step.get("step") != "import" or step.get("ok") or not numpy_abi_lines(step):
            continue
        error = step.get("error") or {}
        for top in (error.get("importer"), str(step.get("module") or "").split(".")[0]):
            named = [normalise(top)] if top and normalise(top) in items else []
            found = [n for n in (owners.get(top) or named) if n != "numpy"]
            if found:
                return found[0]
        return None
    return None


def release_dates(label, url, project, env, attempts=4, backoff=2.0):
    """When each release of `project` was first published on an index (its PEP 691 JSON page, with
    PEP 700's upload times): `dates` {version: time}; an index that answers HTML has no dates. What a
    retry may cure (DNS, refused, timeouts, 5xx) is asked again, `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        out = _release_dates(label, url, project, env)
        if not out["transient"] or attempt == attempts:
            return out
        time.sleep(backoff * 2 ** (attempt - 1))
    return out


def _release_dates(label, url, project, env):
    from urllib.error import HTTPError, URLError

    request = _request(url.rstrip("/") + "/" + project + "/", JSON_PAGE)
    out = {"index": label, "project": project, "url": without_credentials(request.full_url), "status": None,
           "error": None, "transient": False, "dates": {}}
    try:
        with _opener(request.full_url, env).open(request, timeout=CHECK_TIMEOUT) as resp:
            out["status"] = resp.status
            kind = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            raw = resp.read(RELEASES_LIMIT)
        if "json" not in kind:
            out["error"] = "it answered %s, not PEP 691 JSON, which says when releases were published" % (
                kind or "no Content-Type")
            return out
        for item in json.loads(raw.decode("utf-8", "replace")).get("files") or ():
            version = file_version(str(item.get("filename") or ""))
            when = item.get("upload-time")
            if version and isinstance(when, str) and not item.get("yanked"):
                out["dates"][version] = min(when, out["dates"].get(version, when))
        if not out["dates"]:
            out["error"] = "its JSON page gives no upload times (PEP 700)"
    except HTTPError as exc:
        out["status"], out["error"] = exc.code, "HTTP %d %s" % (exc.code, exc.reason)
        out["transient"] = exc.code >= 500 or exc.code == 429
    except (URLError, OSError) as exc:
        out["error"] = _reason(exc)
        out["transient"] = not _tls(exc)
    except (ValueError, AttributeError) as exc:  # a page that is not the JSON it said it was
        out["error"] = _reason(exc)
    return out


def read_steps(path):
    """The probe's steps as it recorded them (one JSON object a line); [] when there are none."""
    steps = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    steps.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return [s for s in steps if isinstance(s, dict)]


def after_failed_imports(spec, venv_python, record, env):
    """When an import failed on an extension built for another NumPy: ask each index when the failing
    distribution's releases and NumPy's were published (which releases can be built for which NumPy)."""
    project = numpy_mismatch(read_steps(record))
    if not project:
        return
    sources = spec.get("sources") or {}
    indexes = list(sources.get("indexes") or [])
    if sources.get("default"):
        url = default_index(venv_python, env)
        if url:
            indexes.insert(0, {"label": "pip's default index", "url": url})
    checks = [release_dates(index.get("label") or without_credentials(index["url"]), index["url"], name, env)
              for index in indexes for name in (project, "numpy")]
    say(event="release-dates", project=project, checks=checks)


def probe_phase(spec, venv_python, probe, workdir, env):
    """The probe phase; after a failed import, what the indexes say that the hint can use."""
    record = os.path.join(workdir, "probe-steps.jsonl")
    ok = run_phase("probe", probe_argv(spec, venv_python, probe) + ["--record", record], env)
    if not ok:
        try:
            after_failed_imports(spec, venv_python, record, env)
        except Exception as exc:  # a look further must never cost the cell its verdict
            say(event="note", text="the driver could not ask the indexes about the failed import: %s: %s"
                % (type(exc).__name__, exc))
    return ok


# --- source builds within the cell's memory ------------------------------------------------------------

# The rule (docs/explanation/cache.md, "Source builds within the cell's memory", says it for people): one
# compiler job of a large C++/CUDA extension (torch's, torchao's) takes up to BUILD_JOB_MEMORY; BUILD_RESERVE is kept
# for pip, the build's own Python and the linker. So jobs = (memory - reserve) // per job, at least 1
# and at most the CPUs this cell may use. An 8 GiB Jetson gets 3 (its default, one per core, is 8 or
# 12, and the kernel kills the build).
GIB = 1 << 30
BUILD_JOB_MEMORY = 2 * GIB
BUILD_RESERVE = 1 * GIB
BUILD_VARIABLES = ("MAX_JOBS", "CMAKE_BUILD_PARALLEL_LEVEL", "MAKEFLAGS")
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def cgroup_memory():
    """The memory limit of this process's cgroup in bytes, or None when there is none (or it cannot
    be read)."""
    for path in CGROUP_LIMITS:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < (1 << 60):  # v1 writes a huge number for "no limit"
            return int(text)
    return None


def machine_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def build_jobs(memory, cpus, fixed=None):
    """The parallel jobs a source build gets: `fixed` when the matrix sets it, else the rule above."""
    if fixed:
        return int(fixed)
    if not memory:
        return max(1, cpus)
    return max(1, min(cpus, (memory - BUILD_RESERVE) // BUILD_JOB_MEMORY))


def build_parallelism(spec, env):
    """Set the build's parallelism in `env` from the cell's memory limit (the spec's, else the
    container's cgroup, else the machine's memory), and say what was set and why."""
    cpus = usable_cpus()
    memory, source = spec.get("memory"), "the cell's limit"
    if not memory:
        memory, source = cgroup_memory(), "the container's memory limit"
    if not memory:
        memory, source = machine_memory(), "the machine's memory"
    fixed = spec.get("build_jobs")
    jobs = build_jobs(memory, cpus, fixed)
    if fixed:
        rule = "build_jobs = %d, as the matrix sets it" % jobs
    elif memory:
        rule = "%d GiB from %s, less %d GiB, at %d GiB per job, at most %d CPU(s)" % (
            memory // GIB, source, BUILD_RESERVE // GIB, BUILD_JOB_MEMORY // GIB, cpus)
    else:
        rule = "no memory limit known: one job per CPU (%d)" % cpus
    variables = {"MAX_JOBS": str(jobs), "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs), "MAKEFLAGS": "-j%d" % jobs}
    env.update(variables)
    say(event="build-jobs", jobs=jobs, memory=memory, memory_from=source if memory else None, cpus=cpus,
        rule=rule, variables=variables)
    return jobs


# --- what the installer is given --------------------------------------------------------------------


def install_targets(spec, workdir):
    """What follows the installer's options: the requirements themselves, or `-r FILE` where they carry
    hashes (pip takes --hash only in a file), and `-c FILE` for constraints."""
    targets = list(spec.get("requirements") or [])
    lines = spec.get("requirements_file")
    if lines is not None:
        path = os.path.join(workdir, "requirements.txt")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        targets = ["-r", path]
    constraints = spec.get("constraints") or []
    if constraints:
        path = os.path.join(workdir, "constraints.txt")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in constraints))
        targets += ["-c", path]
    return targets


# --- the host backend: the environment the person means ------------------------------------------


def inherit_environment(venv_python, env):
    """Let the cell's venv see the environment this driver runs in (the host backend runs it with the
    interpreter the person means), as a torch-shipping image's venv sees the image's packages.

    A venv made with --system-site-packages from inside another venv sees the *base* interpreter's
    packages, not that venv's (nor a conda env's, when its python is a venv): a .pth file in the cell's
    venv adds this environment's site-packages after the cell's own, so pip counts what is installed
    there and installs only what is missing into the cell's venv (never uninstalling the person's).
    """
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
        return True  # not a venv: --system-site-packages already shows this interpreter's packages
    import site

    paths = [p for p in site.getsitepackages() if os.path.isdir(p)]
    try:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        target = subprocess.check_output([venv_python, "-c", code], env=env).decode().strip()
        with open(os.path.join(target, "_ewh_environment.pth"), "w") as fh:
            fh.write("".join(path + "\n" for path in paths))
    except (OSError, subprocess.CalledProcessError) as exc:
        say(event="note", text="the environment at %s could not be made visible to the cell: %s" % (sys.prefix, exc))
        return False
    say(event="note", text="the cell's venv sees the environment at %s" % sys.prefix)
    return True


# --- the cell's process limit ----------------------------------------------------------------------

LIMIT_WATCH = 0.5  # seconds between two looks at how many processes the kernel refused the cell


def pids_files(limit):
    """The pids.events file of this cell's own cgroup (cgroup v2, or v1's pids controller), known by its
    pids.max being the cell's limit; None where there is none to read."""
    folders = []
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    folders += ["/sys/fs/cgroup" + path, "/sys/fs/cgroup"]
                elif "pids" in controllers.split(","):
                    folders += ["/sys/fs/cgroup/pids" + path, "/sys/fs/cgroup/pids"]
    except (OSError, ValueError):
        return None
    for folder in folders:
        try:
            with open(os.path.join(folder, "pids.max")) as f:
                if f.read().strip() != str(limit):
                    continue
            events = os.path.join(folder, "pids.events")
            refused(events)
            return events
        except (OSError, ValueError):
            continue
    return None


def refused(events):
    """How often the kernel refused this cgroup a process or thread for its limit (pids.events' max)."""
    with open(events) as f:
        for line in f:
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
    return 0


def stop_the_rest():
    """Kill every process of the cell but this driver (and the container's init). Only inside the
    cell's own container, whose init is this driver's parent: there kill(-1) reaches nothing else."""
    if os.getppid() != 1:
        sys.stdout.flush()
        os._exit(3)  # not the init's child: ending the driver ends the container, and its processes
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)  # new processes cannot start while the kernel walks them
        except OSError:  # none left to signal
            return
        time.sleep(0.1)


def watch_processes(limit):
    """Watch the cell's process limit from a thread: when the kernel has refused the cell a process for
    it (a build that forks without end never stops by itself), say so and stop every process of the
    cell but this driver, so the running phase fails at once instead of at the deadline."""
    events = pids_files(limit)
    if events is None:
        say(event="note", text="the cell's limit of %d processes holds, but is not watched: its cgroup's "
                               "pids.events cannot be read here" % limit)
        return None
    before = refused(events)

    def watch():
        while True:
            time.sleep(LIMIT_WATCH)
            try:
                count = refused(events) - before
            except (OSError, ValueError):
                return
            if count > 0:
                break
        sys.stdout.write("\n")  # a child may have left half a line: the marker starts a line of its own
        say(event="limit", limit="processes", max=limit, phase=RUNNING["phase"], refused=count)
        stop_the_rest()

    thread = threading.Thread(target=watch, name="process-limit", daemon=True)
    thread.start()
    return thread


# --- the shared download cache ---------------------------------------------------------------------

STALE_VENV_SECONDS = 24 * 3600  # venvs a killed cell left on the shared cache are removed after this


def _has_entries(path):
    try:
        return bool(os.listdir(path))
    except OSError:
        return False


def share_bytecode(venv, cache):
    """Hardlink the bytecode Python wrote in the cell's venv into uv's cache, beside the source it
    compiled, so the next venv uv links from that cache entry gets it too and imports without compiling.

    uv links every file of a cache entry, __pycache__ included, and the venv's sources are hardlinks of
    the entry's (one inode): a .pyc whose source has the entry's inode belongs to that entry alone, and
    Python's check (the source's mtime and size) holds in every venv that links it. Bytecode already
    shared (more than one link) is left; so is any whose source is not the entry's. Returns how many
    files were linked; never fails the cell."""
    archive = os.path.join(cache, "uv", "archive-v0")
    roots = [os.path.join(venv, "lib", name, "site-packages") for name in _listdir(os.path.join(venv, "lib"))]
    entries = {}  # a top-level name → the cache entries holding it
    for entry in _listdir(archive):
        for name in _listdir(os.path.join(archive, entry)):
            entries.setdefault(name, []).append(os.path.join(archive, entry))
    linked = 0
    for site in roots:
        for folder, _dirs, files in os.walk(site):
            if os.path.basename(folder) != "__pycache__":
                continue
            rel = os.path.relpath(os.path.dirname(folder), site)
            top = rel.split(os.sep)[0] if rel != os.curdir else None
            for name in files:
                pyc = os.path.join(folder, name)
                try:
                    if not name.endswith(".pyc") or os.stat(pyc).st_nlink > 1:
                        continue
                    source = name.split(".", 1)[0] + ".py"
                    src = os.path.join(os.path.dirname(folder), source)
                    inode = os.stat(src).st_ino
                except OSError:
                    continue
                base = next((b for b in (os.path.join(entry, rel) if top else entry
                                         for entry in entries.get(top if top else source, ()))
                             if _inode(os.path.join(b, source)) == inode), None)
                if base is None:
                    continue  # not linked from uv's cache (pip installed it, or a build wrote it)
                try:
                    os.makedirs(os.path.join(base, "__pycache__"), exist_ok=True)
                    os.link(pyc, os.path.join(base, "__pycache__", name))
                    linked += 1
                except OSError:  # another cell linked it first, or the entry is not ours to write
                    pass
    return linked


def leave_cache(spec, cache, venv):
    """A venv that lived on the shared cache: its bytecode goes back into uv's cache (share_bytecode),
    then the venv goes (unless kept), leaving only the cache."""
    if not cache or os.path.dirname(os.path.dirname(venv)) != cache:
        return
    try:
        began = time.monotonic()
        linked = share_bytecode(venv, cache)
        say(event="bytecode", shared=linked, seconds=round(time.monotonic() - began, 3))
    except Exception as exc:  # a cache left as it was must never cost the cell its verdict
        say(event="bytecode", shared=0, error="%s: %s" % (type(exc).__name__, exc))
    if not spec.get("keep"):
        shutil.rmtree(venv, ignore_errors=True)


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def shared_cache(spec, env):
    """Point pip and uv at the download cache the harness lends this cell (shared by every cell of the
    platform), and say whether it is warm for this cell's installer; None when there is none (cold)."""
    cache = (spec.get("cache") or {}).get("dir")
    if not cache:
        say(event="cache", shared=False, state="cold")
        return None
    env["PIP_CACHE_DIR"] = os.path.join(cache, "pip")
    env["UV_CACHE_DIR"] = os.path.join(cache, "uv")
    mine = env["UV_CACHE_DIR"] if spec.get("installer") == "uv" else env["PIP_CACHE_DIR"]
    say(event="cache", shared=True, state="warm" if _has_entries(mine) else "cold")
    venvs = os.path.join(cache, "venvs")
    try:
        for name in os.listdir(venvs):
            path = os.path.join(venvs, name)
            if time.time() - os.path.getmtime(path) > STALE_VENV_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass
    return cache


def interpreter():
    """What decides which wheels this interpreter takes, beside its version and machine: the
    implementation, its ABI (SOABI) and the C library ("glibc 2.36"); the host reads them as pip does."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        libc = None
    if not libc:
        name, version = platform.libc_ver()
        libc = "%s %s" % (name, version) if name else None
    return {"implementation": sys.implementation.name, "soabi": sysconfig.get_config_var("SOABI"), "libc": libc}


OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")


def os_release(paths=OS_RELEASE):
    """The distribution the cell runs on, from its os-release file: `id` ("debian"), `version_id`
    ("12"), the families it is `like` (ID_LIKE: ["debian"] for Ubuntu), `codename` and `name`; None
    where there is no such file (the hints then name Debian/Ubuntu packages without a release)."""
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if sep and key.strip():
                fields[key.strip()] = value
        return {"id": fields.get("ID", "linux").lower(), "version_id": fields.get("VERSION_ID"),
                "like": fields.get("ID_LIKE", "").lower().split(), "codename": fields.get("VERSION_CODENAME"),
                "name": fields.get("PRETTY_NAME")}
    return None


# Run with the venv's python: where torch is and what it is, read from its files without importing it
# (an import can take seconds under emulation, or abort on a broken build).
TORCH_STATE = r"""
import importlib.util, json, os, re
out = {"present": False}
try:
    spec = importlib.util.find_spec("torch")
except (ImportError, ValueError):
    spec = None
if spec is not None and spec.origin:
    pkg = os.path.dirname(spec.origin)
    out.update(present=True, location=pkg, version=None, cuda=None)
    try:
        with open(os.path.join(pkg, "version.py")) as f:
            text = f.read()
        # \x27 and \x22 are the quote characters (this code is itself inside a string).
        m = re.search(r"^__version__\s*(?::[^=]*)?=\s*[\x27\x22]([^\x27\x22]+)", text, re.M)
        out["version"] = m.group(1) if m else None
        m = re.search(r"^cuda\s*(?::[^=]*)?=\s*[\x27\x22]([^\x27\x22]*)[\x27\x22]", text, re.M)
        out["cuda"] = m.group(1) if m else None
    except OSError as exc:
        out["error"] = str(exc)
    try:
        from importlib import metadata
        out["version"] = metadata.version("torch")
    except Exception:
        pass
print(json.dumps(out))
"""


def torch_state(venv_python, env, when):
    """Record the torch the venv sees (for images that ship one: did the install replace it?)."""
    try:
        out = subprocess.check_output([venv_python, "-c", TORCH_STATE], env=env)
        state = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.CalledProcessError) as exc:
        state = {"present": None, "error": str(exc)}
    say(event="torch-state", when=when, **state)


# Run with the venv's python: the versions of the distributions named on its command line that it sees
# (null for one it does not).
VERSIONS = r"""
import json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = metadata.version(name)
    except Exception:
        out[name] = None
print(json.dumps(out))
"""
PLAIN_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([A-Za-z0-9._+!-]+))?\s*$")


def held_by_image(venv_python, requirements, env):
    """What the image already holds of the requirements, as "name version" lines, when it holds every one
    as it stands: a bare name at any version, `name==version` at that version (a local label such as
    +cpu aside, as pip compares). None when one is missing or another kind of requirement: pip decides."""
    wanted = [PLAIN_REQUIREMENT.match(r) for r in requirements]
    if not all(wanted):
        return None
    try:
        out = subprocess.check_output([venv_python, "-c", VERSIONS] + [m.group(1) for m in wanted], env=env)
        seen = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.CalledProcessError):
        return None
    held = []
    for m in wanted:
        version, pin = seen.get(m.group(1)), m.group(2)
        if not version or (pin and pin != version and ("+" in pin or version.split("+")[0] != pin)):
            return None
        held.append("%s %s" % (m.group(1), version))
    return held


def guarded_install(spec, venv_python, requirements, workdir, env):
    """Install; around it, when the image's own packages are visible, record torch before and after."""
    guard = bool(spec.get("system_site_packages"))
    if guard:
        torch_state(venv_python, env, "before")
    ok = install(venv_python, list(spec.get("pip_args", [])), requirements, workdir, env, spec)
    if guard:
        torch_state(venv_python, env, "after")
    return ok


# --- the checks: the built-in ones run inside the probe, the user's own after it -----------------------

CHECK_MARGIN = 15.0  # seconds of the cell's timeout kept for the driver to end and say so
STARTED = time.monotonic()


def checks_module():
    """checks.py beside this file, loaded by path (the driver runs from the cell's root, and in tests as
    part of the harness package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_ewh_checks", os.path.join(os.path.dirname(os.path.abspath(__file__)), "checks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seconds_left(spec):
    """What is left of the cell's timeout for checks, or None when the spec sets none."""
    total = (spec.get("checks") or {}).get("cell_timeout")
    return None if not total else total - (time.monotonic() - STARTED) - CHECK_MARGIN


def probe_argv(spec, venv_python, probe):
    """The probe's command line: through boot.py beside this file when it is there (the probe's code
    compiled once, kept in the shared cache), else the probe itself."""
    boot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boot.py")
    cache = (spec.get("cache") or {}).get("dir") or ""
    argv = [venv_python] + ([boot, probe, cache] if os.path.isfile(boot) else [probe])
    argv += [a for m in spec.get("modules", []) for a in ("--module", m)]
    checks = spec.get("checks") or {}
    if checks.get("builtin"):
        argv += [a for name in checks["builtin"] for a in ("--check", name)]
        argv += ["--check-timeout", str(checks.get("timeout") or 300.0)]
        left = seconds_left(spec)
        if left is not None:
            argv += ["--check-deadline", str(max(0.0, round(left, 3)))]
    return argv


INSTALLED = "from importlib import metadata\nfor d in metadata.distributions():\n    n = d.metadata['Name']\n    " \
            "print('%s==%s' % (n, d.version) if n else '')"


def check_install(spec, venv_python, workdir, env):
    """The user's checks' dependencies (check_requires, PEP 723 blocks, pytest) into the cell's venv,
    held to what is installed there (a constraints file), so they cannot change what the cell tests.
    When they cannot be installed, each user check is recorded failed with pip's words."""
    checks = spec.get("checks") or {}
    constraints = os.path.join(workdir, "check-constraints.txt")
    try:
        listed = subprocess.check_output([venv_python, "-c", INSTALLED], env=env).decode("utf-8", "replace")
    except (OSError, subprocess.CalledProcessError) as exc:
        listed = ""
        say(event="note", text="the venv's packages could not be listed for the checks' install: %s" % exc)
    with open(constraints, "w") as fh:
        fh.write("\n".join(sorted(set(line for line in listed.splitlines() if line.strip()))) + "\n")
    venv_bin = os.path.dirname(venv_python)
    uv = [p for p in (os.path.join((spec.get("cache") or {}).get("dir") or "", "tools", "uv", "bin", "uv"),
                      os.path.join(venv_bin, "uv")) if os.path.isabs(p) and os.path.exists(p)]
    if spec.get("installer") == "uv" and uv:
        argv = [uv[0], "pip", "install", "--no-config", "--python", venv_python, "-c", constraints]
        argv += list(spec.get("uv_args") or [])
        env = dict(env, UV_CACHE_DIR=env.get("UV_CACHE_DIR") or os.path.join(workdir, "uv-cache"))
    else:
        argv = [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-c", constraints]
        argv += list(spec.get("pip_args") or [])
    argv += list(checks.get("requires") or [])

    def body():
        returncode, error, output = call(argv, env, keep=True)
        if returncode != 0:
            said = [line.strip() for line in output.splitlines() if line.strip().startswith(("ERROR:", "error:"))]
            why = said[-1] if said else (error or "exit %s" % returncode)
            for entry in checks.get("user") or ():
                say(event="check", check=entry["name"], kind=entry["kind"], device=None, outcome="failed", seconds=0.0,
                    error={"type": "CheckInstall", "message": why, "frames": [],
                           "last_line": "its dependencies could not be installed beside the cell's packages: " + why})
        return returncode, error

    return timed_phase("check-install", body, argv)


def user_checks(spec, venv_python, workdir, env):
    """Each of the user's checks in its own process, with the cell's interpreter and environment (the
    venv first on PATH); one `check` event per script, or per test of a pytest file."""
    checks = spec.get("checks") or {}
    module = checks_module()
    root = os.path.dirname(os.path.abspath(__file__))
    venv = os.path.dirname(os.path.dirname(venv_python))
    env = dict(env, VIRTUAL_ENV=venv, PATH=os.path.join(venv, "bin") + os.pathsep + env.get("PATH", os.defpath))

    def body():
        for i, entry in enumerate(checks.get("user") or ()):
            say(event="check-start", check=entry["name"], kind=entry["kind"])
            left = seconds_left(spec)
            timeout = float(checks.get("timeout") or 300.0)
            timeout = timeout if left is None else min(timeout, left)
            path = os.path.join(root, entry["file"])
            if entry.get("unreadable"):
                records = [{"check": entry["name"], "kind": entry["kind"], "device": None, "outcome": "failed",
                            "seconds": 0.0, "error": {"type": "OSError", "message": entry["unreadable"], "frames": [],
                                                      "last_line": entry["unreadable"]}}]
            elif timeout <= 0:
                records = [{"check": entry["name"], "kind": entry["kind"], "device": None, "outcome": "timeout",
                            "seconds": 0.0, "error": {"type": "Timeout", "message": "", "frames": [],
                                                      "last_line": "the cell's timeout left it no time"}}]
            elif entry["kind"] == "pytest":
                records = module.run_pytest(venv_python, entry["name"], path, entry.get("node"), env, timeout,
                                            os.path.join(os.path.abspath(workdir), "junit-%d.xml" % i))
            else:
                records = module.run_script(venv_python, entry["name"], path, env, timeout)
            for record in records:
                say(event="check", **record)
        return 0, None

    return timed_phase("checks", body)


def venv_phase(venv, system_site_packages, without_pip, env):
    """The venv phase: `python -m venv`. Without pip it runs in this process (the same code, the venv
    module's builder as its command line sets it up) and saves an interpreter's start: half a second
    under emulation. With pip, ensurepip and the image's own messages about it need the real command."""
    argv = [sys.executable, "-m", "venv"] + ["--system-site-packages"] * system_site_packages
    argv += ["--without-pip"] * without_pip + [venv]
    if not without_pip:
        return run_phase("venv", argv, env)
    return timed_phase("venv", lambda: make_venv(venv, system_site_packages), argv)


def make_venv(path, system_site_packages):
    """`python -m venv --without-pip PATH` here: (0, None), or (1, None) having said why as its command
    line says it ("Error: ..." on stderr)."""
    import venv

    try:
        venv.EnvBuilder(system_site_packages=system_site_packages, symlinks=os.name != "nt",
                        with_pip=False).create(path)
    except Exception as exc:
        sys.stderr.write("Error: %s\n" % exc)
        sys.stderr.flush()
        return 1, None
    return 0, None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: cell.py SPEC.json\n")
        return 2
    with open(argv[0]) as f:
        spec = json.load(f)
    global STARTED
    STARTED = time.monotonic()  # the cell's timeout runs from about here

    workdir = os.path.abspath(spec.get("workdir", "/tmp/ewh-cell"))
    requirements = list(spec.get("requirements", []))
    probe = spec.get("probe") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")
    # Variables the image sets that would override the cell's index variant (e.g. build-time pip
    # mirrors baked into an image) are dropped: the spec names them, and its env comes on top.
    unset = set(spec.get("unset") or ())
    env = dict((k, v) for k, v in os.environ.items() if k not in unset)
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    venv = os.path.join(workdir, "venv")

    say(event="begin", python=platform.python_version(), executable=sys.executable,
        machine=platform.machine(), distribution=os_release(), **interpreter())
    os.makedirs(workdir, exist_ok=True)
    if spec.get("processes"):
        watch_processes(int(spec["processes"]))
    cache = shared_cache(spec, env)
    build_parallelism(spec, env)
    targets = install_targets(spec, workdir) if requirements else []
    if cache and spec.get("installer") == "uv":
        # uv hardlinks from its cache into a venv on the same filesystem instead of copying every file
        venv = os.path.join(cache, "venvs", spec.get("venv_name") or "cell-%d" % os.getpid())
        env["UV_LINK_MODE"] = "hardlink"
    venv_python = os.path.join(venv, "bin", "python")  # cells run on Linux only

    # uv is lent or in the shared cache: nothing needs pip in this venv
    without_pip = spec.get("installer") == "uv" and bool(
        (spec.get("uv_binary") and lent_uv_runs(spec["uv_binary"], env))
        or (cache and os.path.exists(os.path.join(cache, "tools", "uv", "bin", "uv"))))
    phases = [
        ("venv", lambda: venv_phase(venv, bool(spec.get("system_site_packages")), without_pip, env)
                 and (not spec.get("inherit_environment") or inherit_environment(venv_python, env))),
        ("install", lambda: guarded_install(spec, venv_python, targets, workdir, env)),
        ("probe", lambda: probe_phase(spec, venv_python, probe, workdir, env)),
        ("check-install", lambda: check_install(spec, venv_python, workdir, env)),
        ("checks", lambda: user_checks(spec, venv_python, workdir, env)),
    ]
    user = (spec.get("checks") or {}).get("user")
    failed_phase = None
    try:
        for name, run in phases:
            # an image that holds every requirement (a recipe installed them) gets nothing installed
            held = (held_by_image(venv_python, requirements, env) if name == "install" and failed_phase is None
                    and requirements and spec.get("skip_held") else None)
            if name in ("check-install", "checks") and not user:
                continue  # no user checks: nothing to say
            elif failed_phase is not None:
                skip(name, "%s failed" % failed_phase)
            elif name == "install" and not requirements:
                skip(name, "no requirements")
            elif held:
                say(event="note", text="nothing to install: the image holds every requirement (%s)" % ", ".join(held))
                skip(name, "the image holds every requirement")
            elif name == "check-install" and not spec["checks"].get("requires"):
                skip(name, "the checks need nothing installed")
            elif not run():
                failed_phase = name
    finally:
        leave_cache(spec, cache, venv)

    say(event="end", ok=failed_phase is None, failed_phase=failed_phase)
    return 0 if failed_phase is None else 1


if __name__ == "__main__":
    sys.exit(main())
