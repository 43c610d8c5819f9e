"""In-cell driver: make a venv, install the requirements, run the import probe.

    python3 cell.py SPEC.json

Standard library only, Python 3.8+. The children's output goes straight to this process's
stdout/stderr; between them the driver prints one line `@@harness {json}` per event.
Exit status: 0 when every phase succeeded (or was skipped), 1 otherwise.
"""

import json
import os
import platform
import signal
import subprocess
import sys
import time

MARKER = "@@harness "


def say(**event):
    sys.stdout.write(MARKER + json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def signal_name(returncode):
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "SIG%d" % -returncode


def run_phase(name, argv, env):
    """Run one child to completion; True when it exited 0. Never raises for a child's failure."""
    say(event="phase", phase=name, status="start", time=time.time(), argv=argv)
    sys.stderr.flush()
    began = time.perf_counter()
    end = {"event": "phase", "phase": name}
    try:
        returncode = subprocess.call(argv, env=env)
    except OSError as exc:  # the program could not be started at all
        returncode = None
        end["error"] = "%s: %s" % (type(exc).__name__, exc)
    end["status"] = "ok" if returncode == 0 else "failed"
    end["seconds"] = round(time.perf_counter() - began, 6)
    end["returncode"] = returncode
    if returncode is not None and returncode < 0:
        end["signal"] = signal_name(returncode)
    say(**end)
    return returncode == 0


def skip(name, reason):
    say(event="phase", phase=name, status="skipped", seconds=0.0, returncode=None, reason=reason)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: cell.py SPEC.json\n")
        return 2
    with open(argv[0]) as f:
        spec = json.load(f)

    workdir = os.path.abspath(spec.get("workdir", "/tmp/ewh-cell"))
    requirements = list(spec.get("requirements", []))
    probe = spec.get("probe") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")
    # Variables the image sets that would override the cell's index variant (e.g. build-time pip
    # mirrors baked into an image) are dropped: the spec names them, and its env comes on top.
    unset = set(spec.get("unset") or ())
    env = dict((k, v) for k, v in os.environ.items() if k not in unset)
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    venv = os.path.join(workdir, "venv")
    if os.name == "nt":
        venv_python = os.path.join(venv, "Scripts", "python.exe")
    else:
        venv_python = os.path.join(venv, "bin", "python")

    say(event="begin", python=platform.python_version(), executable=sys.executable,
        machine=platform.machine())
    os.makedirs(workdir, exist_ok=True)

    venv_argv = [sys.executable, "-m", "venv"]
    if spec.get("system_site_packages"):
        venv_argv.append("--system-site-packages")
    phases = [
        ("venv", venv_argv + [venv]),
        ("install", [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
         + list(spec.get("pip_args", [])) + requirements),
        ("probe", [venv_python, probe] + [a for m in spec.get("modules", []) for a in ("--module", m)]),
    ]
    failed_phase = None
    for name, child in phases:
        if failed_phase is not None:
            skip(name, "%s failed" % failed_phase)
        elif name == "install" and not requirements:
            skip(name, "no requirements")
        elif not run_phase(name, child, env):
            failed_phase = name

    say(event="end", ok=failed_phase is None, failed_phase=failed_phase)
    return 0 if failed_phase is None else 1


if __name__ == "__main__":
    sys.exit(main())
