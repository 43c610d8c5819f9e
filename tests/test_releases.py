"""What an index variant offers for a target (harness.plan.releases): real index pages (recorded), the
harness's own served index and folders, and an index that fails once or never answers."""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import threading
from pathlib import Path

import pytest
from packaging.version import Version
from wheels import bisect_releases

from harness.errors import IndexUnreachable
from harness.model import IndexVariant
from harness.plan import releases
from harness.plan.target import Target
from harness.run.serve import WheelhouseServer

DATA = Path(__file__).parent / "data" / "index"
JSON = "application/vnd.pypi.simple.v1+json"
X86_BOOKWORM = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))  # as plan resolves the smoke image


def recorded(name: str) -> list[releases.Listed]:
    path = DATA / name
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return releases.parse_page(text, JSON if ".json" in name else "text/html")


def test_the_target_is_the_one_plan_resolves_for():
    assert str(X86_BOOKWORM) == "cp311, manylinux_2_36_x86_64"
    jetson = Target(python=(3, 10), machine="aarch64", glibc=(2, 35))
    assert (jetson.python, jetson.abi, jetson.machine, jetson.glibc) == ((3, 10), "cp310", "aarch64", (2, 35))


def test_a_real_pep691_page_is_judged_by_wheel_tags():
    torch = releases.judge("torch", recorded("torch.simple.json.gz"), X86_BOOKWORM, ["recorded"])
    assert torch.get("2.13.0").fitting == ("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl",)
    assert Version("2.13.0") in torch.usable() and Version("1.0.0") not in torch.usable()
    why = dict(torch.skipped())[Version("1.0.0")]
    assert why.startswith("no wheel for this target (cp311, manylinux_2_36_x86_64): wheels for other targets (")

    # JetPack 4's Ubuntu 18.04 has glibc 2.27: every torch 2.13.0 Linux wheel needs 2.28.
    old_glibc = releases.judge("torch", recorded("torch.simple.json.gz"),
                               Target(python=(3, 11), machine="x86_64", glibc=(2, 27)), ["recorded"])
    assert old_glibc.get("2.13.0").fitting == ()
    assert old_glibc.get("2.13.0").why_not(old_glibc.target).startswith(
        "no wheel for this target (cp311, manylinux_2_27_x86_64): wheels for other targets "
        "(cp311-cp311-manylinux_2_28_x86_64, cp311-cp311-macosx_14_0_arm64, ")


def test_a_release_is_yanked_only_when_every_file_of_it_is():
    """PyPI yanks file by file: requests 2.32.0 as recorded (every file yanked) is skipped; the same
    release with only its sdist yanked installs from its wheel, and a yanked wheel is not offered."""
    listed = recorded("requests.simple.html")
    whole = releases.judge("requests", listed, X86_BOOKWORM, ["recorded"])
    assert whole.get("2.32.0").yanked and Version("2.32.0") not in whole.usable()
    files = [item for item in listed if item.name.startswith("requests-2.32.0")]
    assert len(files) == 2 and all(item.yanked for item in files)
    wheel = next(item.name for item in files if item.name.endswith(".whl"))
    sdist_only = [dataclasses.replace(item, yanked=item.name != wheel) if item in files else item for item in listed]
    partly = releases.judge("requests", sdist_only, X86_BOOKWORM, ["recorded"])
    assert not partly.get("2.32.0").yanked and partly.get("2.32.0").fitting == (wheel,)
    assert Version("2.32.0") in partly.usable()
    wheel_only = [dataclasses.replace(item, yanked=item.name == wheel) if item in files else item for item in listed]
    yanked_wheel = releases.judge("requests", wheel_only, X86_BOOKWORM, ["recorded"]).get("2.32.0")
    assert not yanked_wheel.yanked and yanked_wheel.fitting == ()
    assert yanked_wheel.why_not(X86_BOOKWORM).startswith("no wheel for this target")


def test_a_pep691_page_says_which_files_are_yanked_and_what_python_they_require():
    page = ('{"files": [{"filename": "a-1.0-py3-none-any.whl", "yanked": "broken", "requires-python": ">=3.12"}, '
            '{"filename": "a-1.1-py3-none-any.whl", "yanked": false}, {"filename": ""}]}')
    assert releases.parse_page(page, JSON) == [
        releases.Listed(name="a-1.0-py3-none-any.whl", yanked=True, requires_python=">=3.12"),
        releases.Listed(name="a-1.1-py3-none-any.whl", yanked=False, requires_python=None)]


def test_requires_python_refuses_a_wheel_whose_tags_fit():
    python38 = Target(python=(3, 8), machine="aarch64", glibc=(2, 31))  # JetPack 5
    tune = releases.judge("torchtune", recorded("torchtune.simple.json"), python38, ["recorded"])
    assert [str(v) for v in tune.usable()] == ["0.0.1", "0.1.0", "0.1.1", "0.2.0", "0.2.1"]
    assert tune.get("0.6.1").why_not(python38) == (
        "no wheel for this target (cp38, manylinux_2_31_aarch64): wheels whose Requires-Python excludes "
        "Python 3.8 (torchtune-0.6.1-py3-none-any.whl)")
    assert Version("0.6.1") in releases.judge("torchtune", recorded("torchtune.simple.json"), X86_BOOKWORM,
                                              ["recorded"]).usable()


def test_a_real_pep503_page_yanked_and_sdist_only_releases():
    page = releases.judge("requests", recorded("requests.simple.html"), X86_BOOKWORM, ["recorded"])
    assert page.get("2.32.0").yanked and page.get("2.32.1").yanked and not page.get("2.32.2").yanked
    assert dict(page.skipped())[Version("2.32.0")] == "yanked"
    assert Version("2.32.2") in page.usable()
    # requests 0.10.0 came as an sdist only: plan resolves with --only-binary, so a search skips it
    assert dict(page.skipped())[Version("0.10.0")] == ("no wheel for this target (cp311, manylinux_2_36_x86_64): "
                                                       "an sdist (requests-0.10.0.tar.gz)")


def test_the_harness_served_index_and_a_folder_offer_the_same(tmp_path):
    house = bisect_releases(tmp_path / "house")
    folder = releases.offered(IndexVariant(name="f", serve=(str(house),), no_index=True), "torchao", X86_BOOKWORM)
    with WheelhouseServer(house) as server:
        served = releases.offered(IndexVariant(name="i", index_url=server.url), "torchao", X86_BOOKWORM)
    for offer in (folder, served):
        assert [str(v) for v in offer.usable()] == ["0.15.0", "0.16.0", "0.17.0", "0.18.0", "0.19.0"]
        assert [(str(v), why) for v, why in offer.skipped()] == [
            ("0.16.1", "no wheel for this target (cp311, manylinux_2_36_x86_64): wheels for other targets "
                       "(py3-none-win_amd64)")]
    assert served.sources == (server.url,) and folder.sources == ("house/ (folder)",)
    assert [str(v) for v in folder.usable(specifier=">0.15.0,<0.18.0")] == ["0.16.0", "0.17.0"]


class Flaky:
    """A PEP 503 index over a folder whose project pages answer 503 to the first `failures` requests."""

    def __init__(self, directory: Path, failures: int) -> None:
        from harness.run import serve

        state = self.state = {"left": failures, "seen": 0}

        class Handler(serve._Handler):
            def do_GET(self) -> None:  # noqa: N802
                state["seen"] += 1
                if self.path.count("/") >= 3 and state["left"] > 0:
                    state["left"] -= 1
                    return self._send(503, b"down for a moment\n", "text/plain")
                return super().do_GET()

        Handler.directory = directory
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://user:s3cret-token@127.0.0.1:{self.server.server_address[1]}/simple"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_index_that_fails_once_is_asked_again(tmp_path):
    house = bisect_releases(tmp_path / "house")
    waits = []
    with Flaky(house, failures=1) as url:
        offer = releases.offered(IndexVariant(name="i", index_url=url), "torchao", X86_BOOKWORM, sleep=waits.append)
    assert Version("0.18.0") in offer.usable() and waits == [releases.BACKOFF]
    assert offer.sources == (url.replace("user:s3cret-token", "***"),)


def test_an_index_that_never_answers_is_an_outage_said_without_its_credentials(tmp_path):
    house = bisect_releases(tmp_path / "house")
    waits = []
    with Flaky(house, failures=100) as url, pytest.raises(IndexUnreachable) as raised:
        releases.offered(IndexVariant(name="i", index_url=url), "torchao", X86_BOOKWORM, sleep=waits.append)
    assert waits == [1.0, 2.0]  # three attempts, with backoff
    message = "\n".join(raised.value.lines())
    assert "HTTP 503" in message and "/simple/torchao/" in message
    assert "s3cret-token" not in message and "***@127.0.0.1" in message
    assert raised.value.exit_code == 3
