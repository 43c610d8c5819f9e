"""Import probe, copied into a cell and run with the cell's own interpreter.

    python probe.py --module torch --module torchao ... [--check torch --check torchao ...]

After the imports (when every one succeeded) it runs the built-in checks named with --check
(checks.py beside it), in this interpreter: each on the CPU and on the first GPU torch sees.

Standard library only, Python 3.8+. Every step is written at once as one line
`@@probe {json}` on stdout, so a crash in a later import cannot lose earlier steps.
Exit status: 0 when every import succeeded, 1 otherwise.
"""

import argparse
import collections
import faulthandler
import importlib
import importlib.util
import json
import logging
import os
import platform
import re
import sys
import time
import traceback
import warnings

MARKER = "@@probe "
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)'(?: from '([^']+)')?")
_SITE_TOP = re.compile(r"[/\\](?:site|dist)-packages[/\\]([A-Za-z0-9_]+)")


KEEP_LINES = 200  # of an import's output, the first and the last this many lines are kept as messages
LINE_CHARS = 4000  # and each of them up to this many characters


class _Kept:
    """The first and the last KEEP_LINES things added, and how many were left out between them: an
    import that prints without end cannot take the probe's memory or its marker lines with it."""

    def __init__(self):
        self.head, self.tail, self.dropped = [], collections.deque(maxlen=KEEP_LINES), 0

    def add(self, item):
        if len(self.head) < KEEP_LINES:
            self.head.append(item)
            return
        if len(self.tail) == self.tail.maxlen:
            self.dropped += 1
        self.tail.append(item)

    def take(self, left_out):
        """Everything kept, with `left_out(count)` standing where items were dropped; then empty."""
        items = self.head + ([left_out(self.dropped)] if self.dropped else []) + list(self.tail)
        self.__init__()
        return items


def _cut(text):
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + " [... %d characters left out]" % (
        len(text) - LINE_CHARS)


class _Tee:
    """Stands in for sys.stdout/sys.stderr: forwards everything, and keeps the lines it saw (the
    first and last KEEP_LINES, each cut at LINE_CHARS)."""

    def __init__(self, stream):
        self._stream = stream
        self._partial = ""
        self.lines = _Kept()
        self.at_line_start = True

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        self._stream.write(text)
        if text:
            self.at_line_start = text.endswith("\n")
        parts = (self._partial + text).split("\n")
        self._partial = parts.pop()
        if len(self._partial) > LINE_CHARS:  # output without newlines: keep what a line may hold
            self._partial = _cut(self._partial)[:LINE_CHARS + 40]
        for part in parts:
            self.lines.add(_cut(part))
        return len(text)

    def flush(self):
        self._stream.flush()

    def take(self):
        """The lines seen since the last call, including an unfinished last one."""
        if self._partial:
            self.lines.add(_cut(self._partial))
            self._partial = ""
        return self.lines.take(lambda n: "[probe: %d lines of output left out here]" % n)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _Records(logging.Handler):
    def __init__(self, echo):
        logging.Handler.__init__(self, logging.WARNING)
        self.kept = _Kept()
        self.echo = echo and sys.__stderr__ is not None

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception as exc:  # a bad format string in somebody's log call
            text = "%r (unformattable: %s)" % (record.msg, exc)
        self.kept.add({"kind": "log", "logger": record.name, "level": record.levelname, "text": _cut(text)})
        if self.echo:  # keep it in the log, as logging's last-resort handler would have
            sys.__stderr__.write("%s:%s:%s\n" % (record.levelname, record.name, text))


class Probe:
    def __init__(self, out, record=None):
        self.out = _Tee(out)  # the real stdout, tracked so that markers always start a line
        self.record = record  # a file that gets each step too, one JSON object a line (for the driver)
        self.last_error = None
        self.last_step = None

    def emit(self, obj):
        text = json.dumps(obj, default=str)
        line = MARKER + text + "\n"
        if not self.out.at_line_start:
            line = "\n" + line
        self.out.write(line)
        self.out.take()
        self.out.flush()
        if self.record is not None:
            self.record.write(text + "\n")
            self.record.flush()

    def import_module(self, name):
        err = _Tee(sys.stderr)
        root = logging.getLogger()
        handler = _Records(echo=not root.handlers)
        old_level = root.level
        if root.level > logging.WARNING:
            root.setLevel(logging.WARNING)
        root.addHandler(handler)
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.out, err
        error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            began = time.perf_counter()
            try:
                importlib.import_module(name)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit from an import is a failure too
                error = describe(exc)
            seconds = time.perf_counter() - began
        sys.stdout, sys.stderr = old_out, old_err
        root.removeHandler(handler)
        root.setLevel(old_level)
        warned = _Kept()
        for w in caught:
            warned.add({"kind": "warning", "category": w.category.__name__, "text": _cut(str(w.message)),
                        "source": "%s:%s" % (w.filename, w.lineno)})
        messages = warned.take(lambda n: {"kind": "warning", "category": "probe",
                                          "text": "%d warnings left out here" % n, "source": ""})
        messages.extend(handler.kept.take(lambda n: {"kind": "log", "logger": "probe", "level": "WARNING",
                                                     "text": "%d log records left out here" % n}))
        messages.extend({"kind": "stderr", "text": line} for line in err.take())
        messages.extend({"kind": "stdout", "text": line} for line in self.out.take())
        step = {"step": "import", "module": name, "ok": error is None, "seconds": round(seconds, 6)}
        step.update(error=error, messages=messages)
        self.last_error = error
        self.last_step = step
        self.emit(step)
        return error is None


class _Captured:
    """What a piece of code printed, warned and logged while it ran (as an import's messages are kept)."""

    def __init__(self, probe):
        self.probe = probe

    def __enter__(self):
        self.err = _Tee(sys.stderr)
        root = logging.getLogger()
        self.handler = _Records(echo=not root.handlers)
        self.old_level = root.level
        if root.level > logging.WARNING:
            root.setLevel(logging.WARNING)
        root.addHandler(self.handler)
        self.old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.probe.out, self.err
        self.warnings = warnings.catch_warnings(record=True)
        self.caught = self.warnings.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.warnings.__exit__(*exc)
        sys.stdout, sys.stderr = self.old
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.old_level)
        return False

    def messages(self):
        warned = _Kept()
        for w in self.caught:
            warned.add({"kind": "warning", "category": w.category.__name__, "text": _cut(str(w.message)),
                        "source": "%s:%s" % (w.filename, w.lineno)})
        out = warned.take(lambda n: {"kind": "warning", "category": "probe", "text": "%d warnings left out here" % n,
                                     "source": ""})
        out.extend(self.handler.kept.take(lambda n: {"kind": "log", "logger": "probe", "level": "WARNING",
                                                     "text": "%d log records left out here" % n}))
        out.extend({"kind": "stderr", "text": line} for line in self.err.take())
        out.extend({"kind": "stdout", "text": line} for line in self.probe.out.take())
        return out


def run_check(probe, checks, name, device, seconds):
    """One built-in check on one device, announced first (a crash inside it then names it), its output
    kept as an import's is, stopped after `seconds`."""
    probe.emit({"step": "check-start", "check": name, "device": device})
    step = {"step": "check", "check": name, "kind": "builtin", "device": device}
    began = time.perf_counter()
    result, error = None, None
    if seconds is not None and seconds <= 0:
        step.update(outcome=checks.TIMEOUT, seconds=0.0, messages=[], error={
            "type": "Timeout", "message": "", "frames": [], "last_line": "the cell's timeout left it no time"})
        probe.emit(step)
        return step
    with _Captured(probe) as captured:
        try:
            with checks.alarm(seconds):
                result = checks.run_builtin(name, device)
        except checks.CheckTimeout:
            error = {"type": "Timeout", "message": "", "frames": [], "last_line": "ran past its %g s timeout" % seconds}
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # what escaped the check itself (an import inside it, a SystemExit)
            error = checks.error_of(exc)
    step["seconds"] = round(time.perf_counter() - began, 6)
    if result is not None:
        step.update(result)
    else:
        step.update(outcome=checks.TIMEOUT if error["type"] == "Timeout" else checks.FAILED, error=error)
    step["messages"] = captured.messages()
    probe.emit(step)
    return step


def load_checks():
    """The built-in checks (checks.py beside this file), loaded by path: a module named `checks` that
    the cell installed cannot take its place."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checks.py")
    spec = importlib.util.spec_from_file_location("_ewh_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_checks(probe, names, timeout, deadline):
    """Every check named, on every device; each within `timeout` and what is left until `deadline`
    (a time.perf_counter() value, or None). A crash prints where it happened (faulthandler)."""
    checks = load_checks()
    faulthandler.enable()
    try:
        for name in names:
            for device in checks.devices(sys.modules.get("torch")):
                left = None if deadline is None else deadline - time.perf_counter()
                seconds = timeout if left is None else min(timeout or left, left)
                run_check(probe, checks, name, device, seconds)
    finally:
        faulthandler.disable()


def describe(exc):
    """The JSON shape of an import error."""
    last_line = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    # The innermost frame outside the import machinery: where the failing import statement is.
    ours = (os.path.abspath(__file__), os.path.abspath(importlib.__file__))
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<frozen") and os.path.abspath(f.filename) not in ours
    ]
    where = None
    if frames:
        where = 'File "%s", line %s, in %s' % (frames[-1].filename, frames[-1].lineno, frames[-1].name)
    match = _CANNOT_IMPORT.search(str(exc)) if isinstance(exc, ImportError) else None
    library = _SO_IN_SITE.search(str(exc))
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "last_line": last_line[-1] if last_line else type(exc).__name__,
        "where": where,
        "importer": top_of(frames[-1].filename) if frames else None,  # the top-level package whose code failed
        "library_of": library.group(1) if library else None,  # the package of a shared object the error names
        "missing_module": getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None,
        "missing_name": match.group(1) if match else None,
        "from_module": match.group(2) if match else None,
    }


_SO_IN_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([A-Za-z0-9_]+)[/\\][^\s:'\"]*\.so\b")


def top_of(filename):
    """The top-level package a frame's code belongs to: from its site-packages path, or, for compiled
    code (a Cython frame names its source as built: "pandas/_libs/interval.pyx", "pyarrow/lib.pyx"),
    the importable package whose folder holds that path. None when neither says."""
    found = _SITE_TOP.search(filename)
    if found:
        return found.group(1)
    if not filename or filename.startswith("<") or os.path.isabs(filename):
        return None
    parts = [p for p in re.split(r"[/\\]", filename) if p and p != "."]
    for i in range(len(parts) - 1):  # "src/pkg/x.pyx": the first part that is an importable package
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", parts[i]):
            continue
        try:
            spec = importlib.util.find_spec(parts[i])  # a top-level name: found, not imported
        except (ImportError, ValueError):
            continue
        inner = parts[i + 1:-1]
        for where in (spec.submodule_search_locations or ()) if spec else ():
            if os.path.isdir(os.path.join(where, *inner)):
                return parts[i]
    return None


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(tops):
    """Every installed distribution (first on sys.path wins) and which ones provide each of `tops`:
    read straight from the dist-info folders where the layout is plain (`plain_site`), otherwise
    through importlib.metadata; both give the same answer wherever the first one answers at all."""
    try:
        found = plain_site(tops)
    except Exception:  # anything unexpected: the library, which knows every layout, answers instead
        found = None
    return found if found is not None else _metadata_distributions(tops)


def _metadata_distributions(tops):
    from importlib import metadata

    items = {}
    dists = []
    for dist in metadata.distributions():
        try:
            read = dist.metadata  # parsed once: dist.version and dist.requires would parse it again each
            name = read["Name"]
            if not name or canonical(name) in items:
                continue
            requires = read.get_all("Requires-Dist") or dist.requires  # the latter: an egg's requires.txt
            items[canonical(name)] = {"version": read["Version"], "location": str(dist.locate_file("")),
                                      "requires": [r for r in requires or () if not _for_extra(r)]}
            dists.append(dist)
        except Exception:  # a broken dist-info folder must not hide the others
            continue
    if hasattr(metadata, "packages_distributions"):
        provided = metadata.packages_distributions()
    else:
        provided = _packages_distributions(dists)
    owners = {}
    for top in tops:
        owners[top] = sorted(set(canonical(n) for n in provided.get(top, [])))
    return items, owners


def _for_extra(requirement):
    """Whether a Requires-Dist line applies only with an extra (`x; extra == "dev"`): not installed."""
    marker = requirement.partition(";")[2]
    return "extra" in marker


def _packages_distributions(dists):
    provided = {}
    for dist in dists:
        text = dist.read_text("top_level.txt")
        if text:
            tops = text.split()
        else:
            tops = set()
            for path in dist.files or ():
                first = path.parts[0] if len(path.parts) > 1 else path.name.split(".")[0]
                if first and not first.endswith((".dist-info", ".egg-info", ".data")) and first != "..":
                    tops.add(first)
        for top in tops:
            provided.setdefault(top, []).append(dist.metadata["Name"])
    return provided


# Reading the installed distributions without importlib.metadata. Importing it (email, zipfile, csv,
# pathlib, inspect...) costs 0.2 s a cell under arm64 emulation, and parsing every METADATA file whole
# through the email package more in a large venv. `plain_site` reads the same files itself and gives
# importlib.metadata's answer for the layout a venv made by pip or uv has; wherever that library could
# answer otherwise (or differs between Python versions) it returns None and the library is asked.
_FIELDS = ("name", "version", "requires-dist")
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:")  # the email parser's header line; any other ends them
_READ_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)  # read as "none"


def _read_text(folder, name):
    """A file of a dist-info folder as importlib.metadata reads it (UTF-8, universal newlines), or None
    where it reads none."""
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as stream:
            return stream.read()
    except _READ_ERRORS:
        return None


def _plain_headers(text):
    """Name, Version and Requires-Dist as the email parser (`compat32`, which importlib.metadata uses)
    reads them from a METADATA text; None where it might read them otherwise: a folded value of those
    (importlib.metadata re-indents it), a line the parser would take as the end of the headers without
    the blank line (a "From " line among them), a header without a name."""
    found = {}
    last = None
    for line in text.split("\n"):  # the file was read with universal newlines: no "\r" is left
        if not line:
            break  # the blank line (or the end): the body starts
        if line[0] in " \t":
            if last is None or last in _FIELDS:
                return None
            continue
        if not _HEADER_LINE.match(line) or line.startswith(":"):  # a "From " line does not match either
            return None
        name, _, value = line.partition(":")
        last = name.lower()
        if last in _FIELDS:
            found.setdefault(last, []).append(value.lstrip(" \t"))
    return found


def _module_name(filename, suffixes):
    """inspect.getmodulename, without importing inspect."""
    for suffix in suffixes:
        if filename.endswith(suffix):
            return filename[:-len(suffix)]
    return None


def _provides(record, tops, suffixes):
    """Which of `tops` a distribution without top_level.txt provides, from its RECORD, as
    packages_distributions infers it; None where its rules (3.11: only .py files; 3.12 on: every file
    whose name can be imported) would not all agree, or where a line is not a plain relative path."""
    import csv

    by_py, by_name, by_importable = set(), set(), set()
    for row in csv.reader(record.splitlines()):
        if not 1 <= len(row) <= 3:
            return None
        path = row[0]
        parts = path.split("/")
        if path.startswith("/") or "" in parts or "." in parts:
            return None  # pathlib would rewrite it (an empty path: importlib.metadata fails on it)
        last = parts[-1]
        dot = last.rfind(".")
        suffix = last[dot:] if 0 < dot < len(last) - 1 else ""
        if suffix == ".py":
            by_py.add(parts[0] if len(parts) > 1 else last[:dot])
        if len(parts) > 1:
            by_name.add(parts[0])
            by_importable.add(parts[0])
        else:
            module = _module_name(last, suffixes)
            by_name.add(module)
            by_importable.add(module or last)
    by_importable = set(n for n in by_importable if "." not in n)
    provided = set()
    for top in tops:
        answers = set(top in rule for rule in (by_py, by_name, by_importable))
        if len(answers) != 1:
            return None
        if True in answers:
            provided.add(top)
    return provided


def plain_site(tops):
    """`distributions(tops)` for a plain layout, or None. Plain: Python 3.11 or later (packages_distributions
    infers a distribution's packages from 3.11 on); no finder but the path finder that finds
    distributions; every sys.path entry an absolute folder as written (or missing), none an egg; in each,
    only dist-info folders, each name once, each with METADATA and, where it has no top_level.txt, RECORD."""
    if sys.version_info < (3, 11):
        return None
    from importlib.machinery import PathFinder, all_suffixes

    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None) is not None:
            return None
    folders = []
    for root in sys.path:
        if not os.path.isdir(root):
            if not root or os.path.exists(root):
                return None  # "" is the working folder; a file is a zip importlib.metadata reads
            continue
        if not os.path.isabs(root) or os.path.normpath(root) != root or root.lower().endswith(".egg"):
            return None
        names = set()
        for child in os.listdir(root):
            low = child.lower()
            if low.endswith(".egg-info"):
                return None
            if low.endswith(".dist-info"):
                name = re.sub(r"[-_.]+", "_", low.rpartition(".")[0].partition("-")[0])
                if name in names:
                    return None  # importlib.metadata groups a folder's same-named ones: its order, not ours
                names.add(name)
                folders.append((root, os.path.join(root, child)))
    suffixes = sorted(all_suffixes(), key=len, reverse=True)
    items = {}
    provided = dict((top, []) for top in tops)
    for root, folder in folders:
        text = _read_text(folder, "METADATA")
        headers = _plain_headers(text) if text else None
        if not headers or not headers.get("name") or not headers["name"][0] or not headers.get("version"):
            return None
        name = headers["name"][0]
        requires = headers.get("requires-dist")
        if not requires and _read_text(folder, "requires.txt") is not None:
            return None  # an egg's requires.txt, which importlib.metadata would read
        declared = (_read_text(folder, "top_level.txt") or "").split()
        if declared:
            tops_here = set(declared) & set(tops)
        else:
            record = _read_text(folder, "RECORD")
            tops_here = _provides(record, tops, suffixes) if record else None
            if tops_here is None:
                return None
        for top in tops_here:
            provided[top].append(name)
        if canonical(name) not in items:
            items[canonical(name)] = {"version": headers["version"][0], "location": root,
                                      "requires": [r for r in requires or () if not _for_extra(r)]}
    owners = dict((top, sorted(set(canonical(n) for n in names))) for top, names in provided.items())
    return items, owners


# A library that logs only "Failed to load X.so" (torchao does) hides why: the loader knows.
_FAILED_LOAD = re.compile(r"(?:fail|could not|cannot|unable)[^/]{0,40}(/[^\s:'\"]+\.so(?:\.[0-9]+)*)", re.I)
LOADER = """
import ctypes, importlib, json, sys
out = []
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)  # what the library itself had loaded first (torch's own libraries)
    except BaseException:
        pass
for path in json.loads(sys.argv[1]):
    try:
        ctypes.CDLL(path)
        out.append({"file": path, "error": None})
    except OSError as exc:
        out.append({"file": path, "error": str(exc)})
print(json.dumps(out))
"""


def unloadable(steps):
    """The shared libraries imports said they could not load, in order."""
    found = []
    for step in steps:
        for message in step.get("messages") or ():
            for path in _FAILED_LOAD.findall(str(message.get("text") or "")):
                if path not in found:
                    found.append(path)
    return found


def loader_step(paths, imported):
    """Load each file in a fresh interpreter, after `imported` (so torch's own libraries are there, as
    they were for the library), and keep the loader's own words. A file that aborts the loader cannot
    take the probe down with it."""
    import subprocess

    step = {"step": "loader", "files": []}
    try:
        done = subprocess.run([sys.executable, "-c", LOADER, json.dumps(paths)] + list(imported),
                              capture_output=True, timeout=300)
        step["files"] = json.loads(done.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except Exception as exc:  # a crash or a hang: say so, the classifier then knows nothing more
        step["error"] = "%s: %s" % (type(exc).__name__, exc)
    return step


def built_for(arch_list, capability):
    """Whether torch carries kernels for a device, from torch.cuda.get_arch_list().

    `exact`: sm_XY for this very capability is there. `compatible`: CUDA's rules allow running:
    a cubin for X.y runs on X.z with z >= y, and PTX (compute_XY) is JIT-compiled for newer devices.
    A wheel without this GPU's architecture (e.g. SBSA CUDA wheels without sm_87 on Orin) imports and
    reports CUDA available, then can fail at the first kernel: this is the flag. None when unknown.
    """
    if not arch_list or not capability:
        return None
    major, _, minor = capability.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    have = (int(major), int(minor))
    exact = compatible = False
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        digits = digits.rstrip("af")  # sm_90a / sm_100f: arch-specific variants
        if not digits.isdigit() or len(digits) < 2:
            continue
        built = (int(digits[:-1]), int(digits[-1]))
        if kind == "sm":
            exact = exact or built == have
            compatible = compatible or (built[0] == have[0] and built[1] <= have[1])
        elif kind == "compute":
            compatible = compatible or built <= have
    return {"exact": exact, "compatible": compatible}


def gpu_op(torch):
    """A tiny real operation on the GPU: allocate, multiply, synchronize; with its time."""
    began = time.perf_counter()
    a = torch.ones((256, 256), device="cuda")
    b = (a @ a).sum()
    torch.cuda.synchronize()
    value = float(b.item())
    return {"ok": value == 256.0 ** 3, "seconds": round(time.perf_counter() - began, 6), "value": value}


def torch_step(torch):
    step = {"step": "torch"}

    def guarded(key, fn, target=step):
        try:
            target[key] = fn()
        except Exception as exc:
            target[key] = None
            target.setdefault("errors", {})[key] = "%s: %s" % (type(exc).__name__, exc)

    guarded("version", lambda: str(torch.__version__))
    guarded("file", lambda: torch.__file__)
    guarded("cuda_version", lambda: torch.version.cuda)
    guarded("cuda_available", lambda: bool(torch.cuda.is_available()))
    guarded("device_count", lambda: int(torch.cuda.device_count()) if step["cuda_available"] else 0)
    devices = []
    for index in range(step["device_count"] or 0):
        device = {"index": index}
        # The lambdas are called at once, inside guarded(): the loop variable cannot go stale.
        guarded("name", lambda: torch.cuda.get_device_name(index), device)  # noqa: B023
        guarded("capability", lambda: "%d.%d" % tuple(torch.cuda.get_device_capability(index)), device)  # noqa: B023
        devices.append(device)
    step["devices"] = devices
    if devices:
        guarded("arch_list", lambda: list(torch.cuda.get_arch_list()))
        for device in devices:
            device["built_for"] = built_for(step.get("arch_list"), device.get("capability"))
        guarded("gpu_op", lambda: gpu_op(torch))
    if "errors" in step:
        step["error"] = "; ".join("%s: %s" % kv for kv in sorted(step["errors"].items()))
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", default=[], help="module to import (repeatable)")
    parser.add_argument("--record", help="also write each step to this file, one JSON object a line")
    parser.add_argument("--check", action="append", default=[], help="built-in check to run (repeatable)")
    parser.add_argument("--check-timeout", type=float, default=None, help="seconds each check may take")
    parser.add_argument("--check-deadline", type=float, default=None,
                        help="seconds from the probe's start after which no check may run")
    args = parser.parse_args(argv)
    modules = list(dict.fromkeys(args.module))

    # Running a file puts its folder first on sys.path; the cell's modules must not be shadowed by ours.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == here:
        del sys.path[0]

    began = time.perf_counter()
    record = None
    if args.record:
        try:
            record = open(args.record, "w")
        except OSError as exc:
            sys.stderr.write("probe: cannot write %s: %s\n" % (args.record, exc))
    probe = Probe(sys.stdout, record)
    probe.emit(
        {
            "step": "start",
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
            "machine": platform.machine(),
            "platform": platform.platform(),
            "time": time.time(),
        }
    )
    errors = []
    failed = []
    steps = []
    for module in modules:
        ok = probe.import_module(module)
        steps.append(probe.last_step)
        if not ok:
            failed.append(module)
            errors.append(probe.last_error or {})

    # Owners are looked up for the modules asked for and for those a failed import names: whose code
    # failed, and whose module or name was missing.
    named = [e.get(k) for e in errors for k in ("importer", "library_of", "missing_module", "from_module")]
    tops = list(dict.fromkeys(m.split(".")[0] for m in modules + [n for n in named if n]))
    try:
        items, owners = distributions(tops)
        probe.emit({"step": "distributions", "items": items, "owners": owners})
    except Exception as exc:
        probe.emit({"step": "distributions", "items": {}, "owners": {}, "error": repr(exc)})

    if "torch" in sys.modules and "torch" not in failed:
        try:
            step = torch_step(sys.modules["torch"])
        except Exception as exc:
            step = {"step": "torch", "error": repr(exc)}
        probe.emit(step)

    paths = unloadable(steps)
    if paths:
        # torch loads its own libraries (libc10, libtorch) for the extensions built against it
        probe.emit(loader_step(paths, ["torch"] if "torch" in sys.modules else []))

    if args.check and not failed:
        deadline = began + args.check_deadline if args.check_deadline is not None else None
        run_checks(probe, list(dict.fromkeys(args.check)), args.check_timeout, deadline)

    seconds = round(time.perf_counter() - began, 6)
    probe.emit({"step": "summary", "ok": not failed, "failed": failed, "seconds": seconds})
    if record is not None:
        record.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
