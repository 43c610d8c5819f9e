"""In-cell driver: make a venv, install the requirements, run the import probe (with the built-in checks),
then the user's own checks (their dependencies installed first).

    python3 cell.py SPEC.json

Standard library only, Python 3.8+. The children's output goes straight to this process's
stdout/stderr; between them the driver prints one line `@@harness {json}` per event.
Exit status: 0 when every phase succeeded (or was skipped), 1 otherwise.
"""

import base64
import json
import os
import platform
import re
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener, proxy_bypass_environment

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


def timed_phase(name, body, argv=None):
    """Say when phase `name` starts and ends, with its time; `body()` returns (returncode, error)."""
    say(event="phase", phase=name, status="start", time=time.time(), argv=argv)
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
        })
    return items


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
    proxies = _proxies(env)
    if proxy_bypass_environment(urlsplit(url).hostname or "", proxies):
        proxies = {}
    proxies = dict((k, v) for k, v in proxies.items() if k not in ("no", "all"))
    return build_opener(ProxyHandler(proxies), HTTPSHandler(context=_ssl_context(env)))


def _reason(exc):
    reason = getattr(exc, "reason", exc)
    return "%s: %s" % (type(reason).__name__, reason)


def check_index(label, url, project, env):
    """GET the index's page for `project` (through the cell's proxy, with its CA bundle): its status
    or the error, and the files it lists.

    `transient` marks what a retry may cure (refused, DNS, timeouts, 5xx, 429); a TLS failure or a
    4xx is an answer, not an outage.
    """
    parts = urlsplit(url)
    headers = {"Accept": "text/html", "User-Agent": "edge-wheel-harness-cell"}
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        headers["Authorization"] = "Basic " + base64.b64encode(unquote(userinfo).encode()).decode()
        parts = parts._replace(netloc=host)
    page = urlunsplit(parts).rstrip("/") + "/" + project + "/"
    out = {"index": label, "project": project, "url": without_credentials(page), "status": None,
           "error": None, "transient": False, "files": []}
    try:
        with _opener(page, env).open(Request(page, headers=headers), timeout=CHECK_TIMEOUT) as resp:
            out["status"] = resp.status
            raw = resp.read(4 << 20)
            body = raw.decode("utf-8", "replace")
        names = [unquote(h.split("#")[0].split("?")[0].rsplit("/", 1)[-1])
                 for h in re.findall(r'href="([^"]+)"', body)]
        out["files"] = [n for n in names if n]
        out["links"] = count_links(body, len(names))
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
        tls = isinstance(getattr(exc, "reason", exc), ssl.SSLError)
        out["transient"] = not tls
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


def check_root(label, url, env):
    """GET the index URL itself (asked as check_index asks a project page). A PEP 503/691 index lists
    its projects there; a wrong URL (a JetPack or CUDA path that moved, say) answers 404, or a page
    that lists nothing. None for a URL with no path to ask."""
    parts = urlsplit(url)
    parent, _, last = parts.path.rstrip("/").rpartition("/")
    if not last:
        return None
    got = check_index(label, urlunsplit(parts._replace(path=parent, query="", fragment="")), last, env)
    return {"index": label, "url": got["url"], "status": got["status"], "error": got["error"],
            "links": got.get("links", 0), "answer": got.get("answer"), "garbage": got.get("garbage", False)}


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
            root = check_root(label, index["url"], env)
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


def uv_tool(venv_python, pip_args, env, spec):
    """The uv binary: from the shared cache when a cell of this platform already put it there, else
    installed with the venv's pip from the cell's index variant (into the shared cache, when there is
    one, so the next cell skips this). Timed as its own phase; None when uv could not be had."""
    cache = (spec.get("cache") or {}).get("dir")
    if not cache:
        ok = run_phase("uv-bootstrap", [venv_python, "-m", "pip", "install", "--disable-pip-version-check",
                                        "--no-input", "uv"] + pip_args, env)
        return os.path.join(os.path.dirname(venv_python), "uv") if ok else None
    tools = os.path.join(cache, "tools", "uv")
    uv = os.path.join(tools, "bin", "uv")
    if os.path.exists(uv):
        say(event="note", text="uv from the shared cache")
        return uv if run_phase("uv-bootstrap", [uv, "--version"], env) else None
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


# --- the shared download cache ---------------------------------------------------------------------

STALE_VENV_SECONDS = 24 * 3600  # venvs a killed cell left on the shared cache are removed after this


def _has_entries(path):
    try:
        return bool(os.listdir(path))
    except OSError:
        return False


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
    argv = [venv_python, probe] + [a for m in spec.get("modules", []) for a in ("--module", m)]
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
        machine=platform.machine(), **interpreter())
    os.makedirs(workdir, exist_ok=True)
    cache = shared_cache(spec, env)
    if cache and spec.get("installer") == "uv":
        # uv hardlinks from its cache into a venv on the same filesystem instead of copying every file
        venv = os.path.join(cache, "venvs", spec.get("venv_name") or "cell-%d" % os.getpid())
        env["UV_LINK_MODE"] = "hardlink"
    venv_python = os.path.join(venv, "bin", "python")  # cells run on Linux only

    venv_argv = [sys.executable, "-m", "venv"]
    if spec.get("system_site_packages"):
        venv_argv.append("--system-site-packages")
    if cache and spec.get("installer") == "uv" and os.path.exists(os.path.join(cache, "tools", "uv", "bin", "uv")):
        venv_argv.append("--without-pip")  # uv comes from the shared cache: nothing needs pip in this venv
    phases = [
        ("venv", lambda: run_phase("venv", venv_argv + [venv], env)
                 and (not spec.get("inherit_environment") or inherit_environment(venv_python, env))),
        ("install", lambda: guarded_install(spec, venv_python, requirements, workdir, env)),
        ("probe", lambda: run_phase("probe", probe_argv(spec, venv_python, probe), env)),
        ("check-install", lambda: check_install(spec, venv_python, workdir, env)),
        ("checks", lambda: user_checks(spec, venv_python, workdir, env)),
    ]
    user = (spec.get("checks") or {}).get("user")
    failed_phase = None
    try:
        for name, run in phases:
            if name in ("check-install", "checks") and not user:
                continue  # no user checks: nothing to say
            elif failed_phase is not None:
                skip(name, "%s failed" % failed_phase)
            elif name == "install" and not requirements:
                skip(name, "no requirements")
            elif name == "check-install" and not spec["checks"].get("requires"):
                skip(name, "the checks need nothing installed")
            elif not run():
                failed_phase = name
    finally:
        if cache and not spec.get("keep") and os.path.dirname(os.path.dirname(venv)) == cache:
            shutil.rmtree(venv, ignore_errors=True)  # the venv lived on the shared cache: leave only the cache

    say(event="end", ok=failed_phase is None, failed_phase=failed_phase)
    return 0 if failed_phase is None else 1


if __name__ == "__main__":
    sys.exit(main())
