"""The driver's own index checks after a failed install (harness/incell/driver.py check_index), for real: against
indexes served on loopback, through a recording proxy, and through a whole cell on the host backend."""

from __future__ import annotations

import base64
import http.server
import threading
import urllib.error
import urllib.request

import pytest
from proxy import RecordingProxy
from tlsindex import TlsIndex
from wheels import make_wheel

from harness.backends.host import HostBackend
from harness.incell import driver
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Retry, Verdict
from harness.run import runner
from harness.run.options import RunOptions
from harness.run.serve import WheelhouseServer

PROXY_VARIABLES = [v for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
                   for v in (name, name.upper())]
DRIVER = "edge-wheel-harness-cell"  # the User-Agent of the driver's own checks
ARM_WHEEL = "edgeops-1.0-py3-none-manylinux2014_aarch64.whl"


@pytest.fixture
def no_host_proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def arm_only(tmp_path, no_host_proxy):
    """An index offering edgeops for aarch64 only, and a proxy in front of it: (index, proxy)."""
    make_wheel(tmp_path / "arm", "edgeops", "1.0", {"edgeops/__init__.py": ""}, tag="py3-none-manylinux2014_aarch64")
    with WheelhouseServer(tmp_path / "arm") as index, RecordingProxy(index.url.rsplit("/simple", 1)[0]) as proxy:
        yield index, proxy


def test_the_check_goes_through_the_proxy_the_cell_was_given(arm_only):
    index, proxy = arm_only
    # wheels.invalid resolves nowhere: only the proxy can answer for it
    got = driver.check_index("lan", "http://wheels.invalid/simple", "edgeops", {"HTTP_PROXY": proxy.url})
    assert (got["status"], got["error"], got["files"]) == (200, None, [ARM_WHEEL])
    assert proxy.targets(DRIVER) == ["http://wheels.invalid/simple/edgeops/"]


def test_lower_case_and_https_proxies_are_used_too(arm_only):
    _, proxy = arm_only
    got = driver.check_index("lan", "https://wheels.invalid/simple", "edgeops", {"https_proxy": proxy.url})
    assert [(method, target) for method, target, _ in proxy.seen] == [("CONNECT", "wheels.invalid:443")]
    assert got["status"] is None and "403" in got["error"]  # and this proxy refuses to tunnel


def test_no_proxy_and_the_drivers_own_environment(arm_only, monkeypatch):
    index, proxy = arm_only
    got = driver.check_index("lan", index.url, "edgeops", {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
    assert (got["status"], got["files"]) == (200, [ARM_WHEEL]) and proxy.seen == []
    # Only the cell's environment counts: a proxy in the driver's own process environment does not.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    got = driver.check_index("lan", index.url, "edgeops", {})
    assert (got["status"], got["files"]) == (200, [ARM_WHEEL])


def test_behind_a_proxy_a_missing_wheel_is_no_distribution_not_an_outage(arm_only, tmp_path):
    """A whole cell (host backend) whose index is reachable only through the proxy the host names:
    pip and the driver's check both go through it, so the verdict is the index's real answer."""
    _, proxy = arm_only
    the_cell = Cell(image=Image(name="here", arch=Arch.native(), local_build="debian-bookworm"),
                    index=IndexVariant(name="proxied", index_url="http://wheels.invalid/simple",
                                       pip_args=("--trusted-host", "wheels.invalid")),
                    packages=PackageSet(name="p", requirements=("edgeops",), modules=("edgeops",)),
                    retry=Retry(attempts=2, backoff=0.1))
    options = RunOptions(run_id="t", environ={"HTTP_PROXY": proxy.url})
    result = runner.run_cell(the_cell, HostBackend(tmp=str(tmp_path)), options, matrix="m", host={})
    assert result.verdict is Verdict.NO_DISTRIBUTION, result.evidence
    # what the index offers, as the driver's check saw it through the proxy
    assert any(e.endswith("edgeops 1.0 exists only as wheels for other targets (py3-none-manylinux2014_aarch64)")
               for e in result.evidence), result.evidence
    assert not any("retried" in n for n in result.notes)
    assert proxy.targets(DRIVER)[0] == "http://wheels.invalid/simple/edgeops/"
    assert set(proxy.targets(DRIVER)) <= {"http://wheels.invalid/simple/edgeops/", "http://wheels.invalid/"}
    assert "http://wheels.invalid/simple/edgeops/" in proxy.targets("pip/")


class Answering:
    """An index on loopback that answers every request with one HTTP status; counts who asked."""

    def __init__(self, status: int) -> None:
        self.status, self.agents, self.paths = status, [], []

    def __enter__(self) -> Answering:
        import http.server
        import threading

        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                index.agents.append(self.headers.get("User-Agent", ""))
                index.paths.append((self.headers.get("User-Agent", ""), self.path))
                self.send_response(index.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("status", "transient", "error"), [
    (503, True, "HTTP 503 Service Unavailable"), (500, True, "HTTP 500 Internal Server Error"),
    (429, True, "HTTP 429 Too Many Requests"), (404, False, None), (401, False, "HTTP 401 Unauthorized"),
    (403, False, "HTTP 403 Forbidden"),
])
def test_which_answers_a_retry_may_cure(no_host_proxy, status, transient, error):
    with Answering(status) as index:
        got = driver.check_index("lan", index.url, "edgeops", {})
    assert (got["status"], got["transient"], got["error"]) == (status, transient, error)


def test_a_tls_failure_is_an_answer_not_an_outage_and_the_cells_ca_bundle_is_trusted(no_host_proxy, tmp_path):
    index = TlsIndex(tmp_path)
    with index as url:
        untrusted = driver.check_index("lan", url, "edgeops", {})
        trusted = {var: driver.check_index("lan", url, "edgeops", {var: str(index.bundle)})
                   for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    assert untrusted["transient"] is False and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"]
    for var, got in trusted.items():  # with the cell's bundle the index answers (it has no such page)
        assert (got["status"], got["error"], got["transient"]) == (404, None, False), var


@pytest.mark.parametrize("bundle_text", ["not a certificate\n",
                                         "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"])
def test_a_ca_bundle_that_will_not_load_is_a_tls_answer_named_as_such_not_an_outage(no_host_proxy, tmp_path,
                                                                                   bundle_text):
    """A CA bundle with no certificate in it, or a broken one: the check fails before any request, in TLS.
    The record names the SSL error (not its bare reason string) and no retry is made for it."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text(bundle_text)
    index = TlsIndex(tmp_path)
    with index as url:
        got = driver.check_index("lan", url, "edgeops", {"PIP_CERT": str(bundle)})
        dates = driver._release_dates("lan", url, "edgeops", {"PIP_CERT": str(bundle)})
    for out in (got, dates):
        assert out["error"].startswith("SSLError: "), out["error"]
        assert out["transient"] is False


def test_one_ca_bundle_everywhere_when_the_hosts_variables_disagree(no_host_proxy, tmp_path):
    """A host whose PIP_CERT and SSL_CERT_FILE name different bundles: the cell (pip, uv, the driver's
    checks), plan's uv and a search's releases all trust PIP_CERT's, the one pip itself trusts."""
    from test_runner import InCell

    from harness import installers
    from harness.plan import releases
    from harness.run.job import forwarded_environment

    index, other = TlsIndex(tmp_path), TlsIndex(tmp_path)
    environ = {"PIP_CERT": str(index.bundle), "SSL_CERT_FILE": str(other.bundle)}
    mounts, env = forwarded_environment(environ, InCell())
    assert [m.host for m in mounts] == [str(index.bundle)]
    assert {env[var] for var in installers.CA_VARIABLES} == {mounts[0].cell}
    assert installers.get("uv").environment(env)["SSL_CERT_FILE"] == mounts[0].cell
    assert installers.host_environment(environ)["SSL_CERT_FILE"] == str(index.bundle)
    assert driver.CA_VARIABLES == installers.CA_VARIABLES  # the driver reads the cell's env in the same order
    with index as url:
        checked = driver.check_index("lan", url, "edgeops", environ)
        fetch = releases._fetch(environ)  # a search asking the index for its releases
        try:
            fetch(urllib.request.Request(url + "/edgeops/"), 10)
        except urllib.error.HTTPError as exc:
            asked = exc.code
    assert (checked["status"], checked["error"]) == (404, None)
    assert asked == 404  # the index answered: its certificate was trusted


def install_against(url: str, attempts: int, backoff: float, capsys) -> tuple[int, object]:
    """The driver's install-and-retry loop with the real pip (a dry run on this host) against `url`."""
    import os
    import sys

    from harness.verdicts import events

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and not k.lower().endswith("_proxy")}
    env["PIP_CONFIG_FILE"] = os.devnull
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--disable-pip-version-check", "--no-input",
            "--no-cache-dir",
            "--retries", "0", "--index-url", url]
    spec = {"sources": {"default": False, "indexes": [{"label": url, "url": url}]}}
    retry = {"attempts": attempts, "backoff": backoff, "spec": spec, "requirements": ["edgeops"]}
    returncode, _ = driver.pip_install(sys.executable, argv, env, retry)
    return returncode, events.parse(capsys.readouterr().out)


@pytest.mark.parametrize(("status", "runs"), [(429, 4), (503, 4), (404, 1), (401, 1)])
def test_the_install_is_retried_with_doubling_backoff_only_for_what_a_retry_may_cure(no_host_proxy, capsys,
                                                                                     status, runs):
    with Answering(status) as index:
        returncode, parsed = install_against(index.url, 4, 0.1, capsys)
    assert returncode not in (0, None)
    assert sum("pip/" in agent for agent in index.agents) == runs  # pip itself ran that often
    # and the driver asked for the project's page after each (after a 404 it asks the index's root too)
    assert sum(DRIVER in agent and path == "/simple/edgeops/" for agent, path in index.paths) == runs
    expected = [(2, 4, 0.1), (3, 4, 0.2), (4, 4, 0.4)] if runs == 4 else []  # the wait doubles
    assert [(r["attempt"], r["attempts"], r["wait"]) for r in parsed.retries] == expected
    if runs == 4:
        assert parsed.retries[0]["reason"] == f"HTTP {status} {index_reason(status)}"


def index_reason(status: int) -> str:
    import http

    return http.HTTPStatus(status).phrase


class Guarded(http.server.BaseHTTPRequestHandler):
    """A PEP 503 page for edgeops that only the right Basic credentials may read (401 otherwise), as a
    private index answers: the credentials in the index URL must reach it as an Authorization header."""

    wanted = "Basic " + base64.b64encode(b"bot:t@ken").decode()

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != self.wanted:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="wheels"')
            self.end_headers()
            return
        body = f'<a href="/files/{ARM_WHEEL}">{ARM_WHEEL}</a>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def guarded(no_host_proxy):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Guarded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_check_and_the_release_listing_send_the_indexes_credentials(guarded):
    """An index that requires its credentials (every other test's index ignores them): the driver's check
    and a search's release listing send them, URL-decoded, and never show them."""
    got = driver.check_index("private", f"http://bot:t%40ken@{guarded}/simple", "edgeops", {})
    assert (got["status"], got["error"], got["files"]) == (200, None, [ARM_WHEEL])
    assert got["url"] == f"http://{guarded}/simple/edgeops/"  # the page, without its credentials
    refused = driver.check_index("private", f"http://bot:wrong@{guarded}/simple", "edgeops", {})
    assert refused["status"] == 401 and refused["transient"] is False  # an answer, not an outage
    from harness.plan import releases

    fetch = releases._fetch({})
    listed = releases.ask_index(f"http://bot:t%40ken@{guarded}/simple", "edgeops", fetch=fetch, sleep=lambda s: None)
    assert [item.name for item in listed] == [ARM_WHEEL]
