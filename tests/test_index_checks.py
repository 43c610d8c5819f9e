"""The driver's own index checks after a failed install (harness/cell.py check_index), for real: against
indexes served on loopback, through a recording proxy, and through a whole cell on the host backend."""

from __future__ import annotations

import pytest
from proxy import RecordingProxy
from wheels import make_wheel

from harness import cell, runner
from harness.hostbackend import HostBackend
from harness.model import Arch, Cell, Image, IndexVariant, PackageSet, Retry, Verdict
from harness.serve import WheelhouseServer

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
    got = cell.check_index("lan", "http://wheels.invalid/simple", "edgeops", {"HTTP_PROXY": proxy.url})
    assert (got["status"], got["error"], got["files"]) == (200, None, [ARM_WHEEL])
    assert proxy.targets(DRIVER) == ["http://wheels.invalid/simple/edgeops/"]


def test_lower_case_and_https_proxies_are_used_too(arm_only):
    _, proxy = arm_only
    got = cell.check_index("lan", "https://wheels.invalid/simple", "edgeops", {"https_proxy": proxy.url})
    assert [(method, target) for method, target, _ in proxy.seen] == [("CONNECT", "wheels.invalid:443")]
    assert got["status"] is None and "403" in got["error"]  # and this proxy refuses to tunnel


def test_no_proxy_and_the_drivers_own_environment(arm_only, monkeypatch):
    index, proxy = arm_only
    got = cell.check_index("lan", index.url, "edgeops", {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
    assert (got["status"], got["files"]) == (200, [ARM_WHEEL]) and proxy.seen == []
    # Only the cell's environment counts: a proxy in the driver's own process environment does not.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    got = cell.check_index("lan", index.url, "edgeops", {})
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
    options = runner.RunOptions(run_id="t", environ={"HTTP_PROXY": proxy.url})
    result = runner.run_cell(the_cell, HostBackend(tmp=str(tmp_path)), options, matrix="m", host={})
    assert result.verdict is Verdict.NO_DISTRIBUTION, result.evidence
    assert f"http://wheels.invalid/simple offers edgeops: {ARM_WHEEL}" in result.evidence
    assert not any("retried" in n for n in result.notes)
    assert proxy.targets(DRIVER) == ["http://wheels.invalid/simple/edgeops/"]
    assert "http://wheels.invalid/simple/edgeops/" in proxy.targets("pip/")
