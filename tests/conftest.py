from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    """Ctrl-C as a terminal delivers it. A test run started in the background by a shell without job
    control (`nohup nox -s tests &`, some CI launchers) inherits SIGINT *ignored*: Python then installs
    no KeyboardInterrupt handler, the harness processes the Ctrl-C tests start inherit the same, and
    those tests hang until their sleeping cells end. Python's own handler is put back; a process it
    starts then gets SIGINT at its default again, as exec does for a caught signal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


TRUTHY = ("true", "1", "yes", "on")  # how CI systems spell CI, in any case


def under_ci(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() in TRUTHY


def engine_or_fail():
    """The Docker backend, or a skip — but a FAILURE under CI (CI=true, 1, yes or on), where Docker
    tests must run."""
    from harness.backends.docker import DockerBackend
    from harness.errors import EngineUnavailable

    try:
        return DockerBackend()
    except EngineUnavailable as exc:
        if under_ci():
            pytest.fail(f"CI={os.environ['CI']} and no Docker engine answered: {exc}", pytrace=False)
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def docker_backend():
    return engine_or_fail()


@pytest.fixture(scope="session")
def bookworm(docker_backend, tmp_path_factory):
    """The local Debian bookworm amd64 image (built once from Debian's packages when missing)."""
    from harness.backends import images
    from harness.model import Arch, local_image_ref

    ref = local_image_ref("debian-bookworm", Arch.AMD64)
    if not docker_backend.has_image(ref):
        images.build_local("debian-bookworm", Arch.AMD64, docker_backend,
                           workdir=tmp_path_factory.mktemp("rootfs"))
    return ref


@pytest.fixture(scope="session")
def bullseye(docker_backend, tmp_path_factory):
    """The local Debian bullseye amd64 image: Python 3.9, the oldest a local image gives here (built once)."""
    from harness.backends import images
    from harness.model import Arch, local_image_ref

    ref = local_image_ref("debian-bullseye", Arch.AMD64)
    if not docker_backend.has_image(ref):
        images.build_local("debian-bullseye", Arch.AMD64, docker_backend,
                           workdir=tmp_path_factory.mktemp("rootfs"))
    return ref


@pytest.fixture(scope="session")
def uv_wheel(tmp_path_factory) -> Path:
    """uv's own wheel for this host (cells install uv from their index variant, as a user's would)."""
    import subprocess

    house = tmp_path_factory.mktemp("uv-wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
                           "--only-binary", ":all:", "--dest", str(house), "uv"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return next(house.glob("uv-*.whl"))


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # no name resolves: a page that needs the network shows it by not rendering
                  "--host-resolver-rules=MAP * ~NOTFOUND")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A function running Debian's headless Chromium with an empty profile: (args…) → CompletedProcess.
    A skip when Chromium is missing — but a FAILURE under CI (CI=true, 1, yes or on), where .ci/run installs it."""
    import shutil
    import subprocess

    binary = shutil.which("chromium")
    if binary is None:
        if under_ci():
            pytest.fail(f"CI={os.environ['CI']} and no `chromium` on PATH: .ci/run installs Debian's chromium "
                        "package", pytrace=False)
        pytest.skip("no chromium here (apt-get install chromium)")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        profile = tmp_path_factory.mktemp("chromium-profile")
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)

    def page():
        """A page driven over DevTools (tests/devtools.py): open(url), dom_when(condition), close()."""
        from devtools import Page

        return Page(binary, CHROMIUM_FLAGS, str(tmp_path_factory.mktemp("chromium-profile")))

    run.page = page
    return run


# -- the fault tally (tests/faults.py; `nox -s faults` prints it) ---------------------------------------

def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"fault", "bad_inputs"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.fault)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _harness_containers(request) -> set[str] | None:
    if "docker" not in request.keywords:
        return None
    from harness.backends.base import LABEL_RUN

    backend = request.getfixturevalue("docker_backend")
    return {c.id for c in backend.client.containers.list(all=True, filters={"label": LABEL_RUN}, ignore_removed=True)}


@pytest.fixture
def fault(request):
    """Record this test's fault in the tally: leaked containers are counted here, the test adds what
    it lost and the secrets it found; a failing test did not survive."""
    from faults import TALLY, Fault

    before = _harness_containers(request)
    record = Fault(name=request.node.name)
    TALLY.append(record)
    yield record
    after = _harness_containers(request)
    if before is not None and after is not None:
        record.leaked += len(after - before)
    call = getattr(request.node, "report_call", None)
    record.survived = bool(call and call.passed) and not (record.leaked or record.lost or record.secrets)


@pytest.fixture
def bad_inputs():
    from faults import BAD

    return BAD


def pytest_sessionfinish(session, exitstatus):
    """The tally fails the run: a leaked container, a lost result or a written secret is a failure even
    where the test that caused it passed (its own assertions did not look there)."""
    tally = sys.modules.get("faults")
    if tally is not None and tally.breaches() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    tally = sys.modules.get("faults")  # imported by the fixtures above, when a fault test ran
    lines = tally.summary() if tally is not None else []
    if lines:
        terminalreporter.section("faults")
        for line in lines:
            terminalreporter.write_line(line)
        for line in tally.breaches():
            terminalreporter.write_line(f"FAILED: {line}", red=True)
