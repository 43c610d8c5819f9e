"""What an index variant offers for a target (harness.plan.releases): real index pages (recorded), the
harness's own served index and folders, and an index that fails once or never answers."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import http.server
import threading
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from tlsindex import TlsIndex
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


class Answers:
    """A `fetch` for ask_index: each call takes the next answer (a page, or an exception to raise) and
    keeps the request it was given."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list = []

    def __call__(self, request, timeout):
        assert timeout == releases.TIMEOUT
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def http_error(code: int, reason: str):
    from urllib.error import HTTPError

    return HTTPError("http://127.0.0.1:8080/simple/requests/", code, reason, None, None)


def test_an_index_page_is_asked_with_the_credentials_as_a_header_and_its_links_made_absolute():
    page = (DATA / "requests.simple.html").read_text()
    fetch = Answers((200, "text/html", page))
    listed = releases.ask_index("http://me:s3cret%40tok@127.0.0.1:8080/simple/", "Requests", fetch=fetch,
                                sleep=pytest.fail)
    [request] = fetch.requests
    assert request.full_url == "http://127.0.0.1:8080/simple/requests/"  # the project's normalised page
    assert request.get_header("Authorization") == "Basic " + base64.b64encode(b"me:s3cret@tok").decode()
    assert request.get_header("Accept") == releases.ACCEPT
    assert request.get_header("User-agent") == releases.USER_AGENT  # not urllib's own
    wheel = next(item for item in listed if item.name == "requests-2.32.2-py3-none-any.whl")
    assert wheel == releases.Listed(
        name="requests-2.32.2-py3-none-any.whl", requires_python=">=3.8",
        sha256="fc06670dd0ed212426dfeb94fc1b983d917c4f9847c863f313c9dfaaffb7c23c",
        url="http://***@127.0.0.1:8080/packages/requests-2.32.2-py3-none-any.whl")  # the page's link, no secret
    assert all(item.url and "s3cret" not in item.url for item in listed)
    # a raw "@" in the password: the host is what follows the last one
    fetch = Answers((200, JSON, (DATA / "torchao.simple.json").read_text()))
    listed = releases.ask_index("http://me:s3cret@tok@127.0.0.1:8080/INDEX", "torchao", fetch=fetch,
                                sleep=pytest.fail)
    assert fetch.requests[0].full_url == "http://127.0.0.1:8080/INDEX/torchao/"
    assert fetch.requests[0].get_header("Authorization") == "Basic " + base64.b64encode(b"me:s3cret@tok").decode()
    assert listed and all(item.url is None for item in listed)  # the recorded JSON page gives no links


def test_an_index_without_the_project_lists_nothing_and_is_asked_once():
    fetch = Answers(http_error(404, "Not Found"))
    assert releases.ask_index("http://127.0.0.1:8080/simple", "requests", fetch=fetch, sleep=pytest.fail) == []
    assert len(fetch.requests) == 1


@pytest.mark.parametrize(("answer", "said"), [
    (http_error(401, "Unauthorized"), "HTTP 401 Unauthorized"),
    (http_error(403, "Forbidden"), "HTTP 403 Forbidden"),
    ((200, JSON, "<html>not JSON</html>"), "an unreadable page (Expecting value: line 1 column 1 (char 0))"),
])
def test_a_definite_refusal_is_not_asked_again(answer, said):
    fetch = Answers(answer)
    with pytest.raises(IndexUnreachable) as raised:
        releases.ask_index("http://127.0.0.1:8080/simple", "requests", fetch=fetch, sleep=pytest.fail)
    assert str(raised.value) == f"GET http://127.0.0.1:8080/simple/requests/ failed: {said}"
    assert len(fetch.requests) == 1
    assert raised.value.hint == ("the harness lists the releases an index offers before it searches: fix the "
                                 "network, proxy (HTTPS_PROXY, NO_PROXY) or CA bundle (SSL_CERT_FILE), or re-run "
                                 "when the index answers")


def test_a_refused_tls_handshake_is_not_asked_again_but_a_refused_connection_is():
    import ssl
    from urllib.error import URLError

    fetch = Answers(URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")))
    with pytest.raises(IndexUnreachable, match="failed: SSLCertVerificationError: "):
        releases.ask_index("https://127.0.0.1:8443/simple", "requests", fetch=fetch, sleep=pytest.fail)
    assert len(fetch.requests) == 1
    waits: list[float] = []
    refused = URLError(ConnectionRefusedError(111, "Connection refused"))
    fetch = Answers(refused, http_error(429, "Too Many Requests"), (200, JSON, '{"files": []}'))
    assert releases.ask_index("http://127.0.0.1:8080/simple", "requests", fetch=fetch, sleep=waits.append) == []
    assert waits == [1.0, 2.0] and len(fetch.requests) == 3
    fetch = Answers(http_error(500, "Internal Server Error"), refused, refused)
    with pytest.raises(IndexUnreachable, match=r"failed: ConnectionRefusedError: \[Errno 111\] Connection refused$"):
        releases.ask_index("http://127.0.0.1:8080/simple", "requests", fetch=fetch, sleep=lambda s: None)
    timeout = TimeoutError("The read operation timed out")  # a read that stalls is not wrapped in URLError
    fetch = Answers(timeout, timeout, timeout)
    with pytest.raises(IndexUnreachable) as raised:
        releases.ask_index("http://127.0.0.1:8080/INDEX/", "requests", fetch=fetch, sleep=lambda s: None)
    assert str(raised.value) == ("GET http://127.0.0.1:8080/INDEX/requests/ failed: TimeoutError: The read "
                                 "operation timed out")
    assert len(fetch.requests) == 3


def test_a_pep691_file_gives_its_hash_upload_time_and_link():
    page = ('{"files": [{"filename": "a-1.0-py3-none-any.whl", "hashes": {"sha256": "ABC123"}, '
            '"upload-time": "2026-11-26T10:00:00.000000Z", "url": "../../files/a-1.0-py3-none-any.whl"}]}')
    assert releases.parse_page(page, JSON) == [releases.Listed(
        name="a-1.0-py3-none-any.whl", sha256="abc123", upload_time="2026-11-26T10:00:00.000000Z",
        url="../../files/a-1.0-py3-none-any.whl")]


def test_links_are_made_absolute_against_the_page_and_absolute_ones_kept_as_written():
    page = ('{"files": [{"filename": "a-1.0-py3-none-any.whl", "url": "../../files/a-1.0-py3-none-any.whl"}, '
            '{"filename": "a-1.1-py3-none-any.whl", "url": "https://files.example/p/a-1.1-py3-none-any.whl?x=1"}, '
            '{"filename": "a-1.2-py3-none-any.whl", "url": "a-1.2-py3-none-any.whl"}, '
            '{"filename": "a-1.3-py3-none-any.whl", "url": "//mirror.example/a-1.3-py3-none-any.whl"}, '
            '{"filename": "a-1.4-py3-none-any.whl"}]}')
    base = "http://127.0.0.1:8080/simple/a/"
    for content_type, body in ((JSON, page), ("text/html", "".join(
            f'<a href="{f.url}">{f.name}</a>' if f.url else "" for f in releases.parse_page(page, JSON)))):
        assert [item.url for item in releases.parse_page(body, content_type, base=base)][:4] == [
            "http://127.0.0.1:8080/files/a-1.0-py3-none-any.whl",
            "https://files.example/p/a-1.1-py3-none-any.whl?x=1",
            "http://127.0.0.1:8080/simple/a/a-1.2-py3-none-any.whl",
            "http://mirror.example/a-1.3-py3-none-any.whl"]
    assert releases.parse_page(page, JSON, base=base)[4].url is None
    assert releases.parse_page(page, JSON)[0].url == "../../files/a-1.0-py3-none-any.whl"  # no base: as written


def test_a_pre_release_is_skipped_unless_the_search_asks_for_them():
    page = releases.judge("requests", recorded("requests.simple.html"), X86_BOOKWORM, ["recorded"])
    dev = Version("2.34.0.dev1")  # a wheel that fits, on the recorded page
    assert page.get(dev).fitting == ("requests-2.34.0.dev1-py3-none-any.whl",)
    assert page.get(dev).why_not(X86_BOOKWORM) == "a pre-release"
    assert page.skipped(specifier=">=2.33") == [(dev, "a pre-release")]
    assert dev not in page.usable(specifier=">=2.33")
    assert dev in page.usable(specifier=">=2.33", prereleases=True)
    assert page.skipped(specifier=">=2.33", prereleases=True) == []


def test_the_sources_an_index_variant_consults_are_those_its_installer_does(tmp_path):
    from pip._internal.models.index import PyPI

    assert releases.sources(IndexVariant(name="default")) == ([PyPI.simple_url], [])  # pip's own default index
    mine = IndexVariant(name="mine", index_url="http://127.0.0.1:8080/simple",
                        extra_index_urls=("http://127.0.0.1:8081/extra",), serve=("house",), find_links=("links",))
    assert releases.sources(mine) == (["http://127.0.0.1:8080/simple", "http://127.0.0.1:8081/extra"],
                                      ["house", "links"])
    assert releases.sources(IndexVariant(name="offline", no_index=True, find_links=("links",))) == ([], ["links"])


def test_without_pip_beside_the_harness_its_default_index_cannot_be_named(monkeypatch):
    import sys

    from harness.errors import HarnessError

    monkeypatch.setitem(sys.modules, "pip._internal.models.index", None)  # import fails
    with pytest.raises(HarnessError) as raised:
        releases.default_index_url()
    assert str(raised.value) == ("cannot ask pip for its default index URL: pip is not installed beside the "
                                 "harness")
    assert raised.value.hint == "install pip in the harness's environment, or give the index variant an index_url"


def test_a_folder_lists_its_files_and_a_missing_folder_nothing(tmp_path):
    (tmp_path / "b-1.0-py3-none-any.whl").write_text("")
    (tmp_path / "a-1.0.tar.gz").write_text("")
    (tmp_path / "sub").mkdir()
    assert releases.list_folder(tmp_path) == [releases.Listed(name="a-1.0.tar.gz"),
                                              releases.Listed(name="b-1.0-py3-none-any.whl")]
    assert releases.list_folder(tmp_path / "missing") == []
    assert releases.list_folder(tmp_path / "a-1.0.tar.gz") == []  # a file is not a folder


def test_the_wheels_for_other_targets_are_named_nearest_first_and_the_rest_counted():
    jetpack4 = Target(python=(3, 11), machine="x86_64", glibc=(2, 27))  # Ubuntu 18.04's glibc: too old for 2.28
    release = releases.judge("torch", recorded("torch.simple.json.gz"), jetpack4, ["recorded"]).get("2.13.0")
    assert all(name.endswith(".whl") for name in release.files)  # one wheel per target, no sdist
    why = release.why_not(jetpack4)
    assert why.endswith(f", and {len(release.files) - releases.SHOWN} more)")
    named = why.split("(")[2].split(", and")[0].split(", ")
    assert len(named) == releases.SHOWN and named[0] == "cp311-cp311-manylinux_2_28_x86_64"  # this ABI and machine
    assert all("cp311" in tag or "x86_64" in tag for tag in named)  # near misses before far ones


def test_a_pep503_link_is_named_by_its_path_whatever_its_query_and_fragment():
    """Links as indexes write them: bare names beside the page, a download query, an md5 fragment
    (older pages), no fragment at all; an anchor without href is no file."""
    page = ('<a name="top"></a>'
            '<a href="a-1.0-py3-none-any.whl">a-1.0-py3-none-any.whl</a>'
            '<a href="../files/a-1.1.tar.gz?download=1#sha256=ABCD">a-1.1.tar.gz</a>'
            '<a href="https://127.0.0.1:8443/files/a-0.9.tar.gz#md5=0123">a-0.9.tar.gz</a>'
            '<a href="../wheels/">wheels</a>')  # a folder's link: named after the folder
    assert releases.parse_page(page, "text/html") == [
        releases.Listed(name="a-1.0-py3-none-any.whl", url="a-1.0-py3-none-any.whl"),
        releases.Listed(name="a-1.1.tar.gz", sha256="abcd", url="../files/a-1.1.tar.gz?download=1"),
        releases.Listed(name="a-0.9.tar.gz", url="https://127.0.0.1:8443/files/a-0.9.tar.gz"),
        releases.Listed(name="wheels", url="../wheels/")]


def test_every_reason_a_release_cannot_install_is_named_and_an_unreadable_requires_python_is_ignored():
    python38 = Target(python=(3, 8), machine="aarch64", glibc=(2, 31))  # JetPack 5
    listed = [releases.Listed(name="edgeops-2.0-py3-none-any.whl", requires_python=">=3.9"),
              releases.Listed(name="edgeops-2.0-cp38-cp38-manylinux_2_17_aarch64.whl", requires_python=">=3.9"),
              releases.Listed(name="edgeops-2.0.tar.gz", requires_python=">=3.9"),
              # PyPI still serves specifiers packaging no longer reads; pip ignores them, so does the search
              releases.Listed(name="edgeops-1.0-py3-none-any.whl", requires_python=">=3.6.*")]
    offer = releases.judge("edgeops", listed, python38, ["recorded"])
    assert offer.get("2.0").why_not(python38) == (
        "no wheel for this target (cp38, manylinux_2_31_aarch64): wheels whose Requires-Python excludes Python 3.8 "
        "(edgeops-2.0-py3-none-any.whl, edgeops-2.0-cp38-cp38-manylinux_2_17_aarch64.whl) and an sdist "
        "(edgeops-2.0.tar.gz)")
    assert offer.get("1.0").fitting == ("edgeops-1.0-py3-none-any.whl",)
    assert [str(v) for v in offer.usable()] == ["1.0"]
    assert releases.judge("EdgeOps", listed, python38, []).project == "edgeops"  # the normalised name


def test_a_release_candidate_is_a_pre_release_too():
    rc = releases.Release(version=Version("2.13.0rc1"), files=("torch-2.13.0rc1-py3-none-any.whl",),
                          fitting=("torch-2.13.0rc1-py3-none-any.whl",))
    assert rc.why_not(X86_BOOKWORM) == "a pre-release" and rc.why_not(X86_BOOKWORM, prereleases=True) is None


def test_an_index_variant_offers_what_all_its_indexes_and_folders_list(tmp_path):
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "torchao-0.99.0-py3-none-any.whl").write_text("")  # a wheel only the folder has
    both = IndexVariant(name="both", index_url="http://127.0.0.1:8080/simple",
                        extra_index_urls=("http://127.0.0.1:8081/extra",), find_links=(str(tmp_path / "links"),))
    fetch = Answers((200, JSON, (DATA / "torchao.simple.json").read_text()), http_error(404, "Not Found"))
    offer = releases.offered(both, "torchao", X86_BOOKWORM, fetch=fetch, sleep=pytest.fail)
    assert {"0.18.0", "0.99.0"} <= {str(v) for v in offer.usable()}  # the first index's and the folder's
    assert offer.sources == ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8081/extra", "links/ (folder)")


def test_four_wheels_for_other_targets_are_all_named_with_none_left_to_count():
    python38 = Target(python=(3, 8), machine="aarch64", glibc=(2, 31))
    listed = [releases.Listed(name=f"edgeops-1.0-{tag}.whl") for tag in (
        "cp38-cp38-win_amd64", "cp38-cp38-macosx_11_0_arm64", "cp39-cp39-manylinux_2_17_x86_64",
        "cp38-cp38-musllinux_1_1_aarch64")]
    why = releases.judge("edgeops", listed, python38, []).get("1.0").why_not(python38)
    # nearest first: this ABI on this machine, then this ABI elsewhere, then another Python
    assert why.split("other targets (")[1] == ("cp38-cp38-musllinux_1_1_aarch64, cp38-cp38-win_amd64, "
                                               "cp38-cp38-macosx_11_0_arm64, cp39-cp39-manylinux_2_17_x86_64)")


class Pages(http.server.BaseHTTPRequestHandler):
    """An index whose project pages answer as some indexes do: PEP 691 JSON (its content type), or a
    PEP 503 page with no Content-Type at all and a byte that is not UTF-8 in a link's text."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/json/"):
            body, kind = (DATA / "torchao.simple.json").read_bytes(), JSON
        else:
            body, kind = b'<a href="torchao-0.99.0-py3-none-any.whl">torchao \xff</a>', None
        self.send_response(200)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_json_page_is_read_by_its_content_type_and_a_page_without_one_as_html():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        as_json = releases.offered(IndexVariant(name="j", index_url=f"{base}/json"), "torchao", X86_BOOKWORM)
        bare = releases.offered(IndexVariant(name="b", index_url=f"{base}/bare"), "torchao", X86_BOOKWORM)
    finally:
        server.shutdown()
        server.server_close()
    assert Version("0.18.0") in as_json.usable()
    assert bare.usable() == [Version("0.99.0")]  # the byte that is not UTF-8 is replaced, not fatal


# --- mutation survivors: rr ---

PROXY_VARIABLES = [v for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") for v in (name, name.upper())]


class TlsWheelhouse(TlsIndex):
    """The harness's PEP 503 index over a folder, served over HTTPS by a TlsIndex; it keeps each request's
    path and headers."""

    def __init__(self, directory: Path, tmp_path: Path) -> None:
        from harness.run import serve

        seen = self.seen = []

        class Handler(serve._Handler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append((self.path, dict(self.headers)))
                return super().do_GET()

        Handler.directory = directory
        super().__init__(tmp_path, Handler)


def test_an_https_index_signed_by_a_private_ca_is_trusted_through_the_bundle_the_environment_names(
        tmp_path, monkeypatch):
    """A search reads an HTTPS index whose certificate a private CA signed (a company mirror) when the
    environment it is given names that CA's bundle (PIP_CERT, which pip trusts too); without it, the index
    is refused on its certificate, said so, and not asked again."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    house = bisect_releases(tmp_path / "house")
    index = TlsWheelhouse(house, tmp_path)
    with index as url:
        offer = releases.offered(IndexVariant(name="mirror", index_url=url), "torchao", X86_BOOKWORM,
                                 environ={"PIP_CERT": str(index.bundle)}, sleep=pytest.fail)
        asked = list(index.seen)
        with pytest.raises(IndexUnreachable) as refused:
            releases.offered(IndexVariant(name="mirror", index_url=url), "torchao", X86_BOOKWORM, environ={},
                             sleep=pytest.fail)
    assert [str(v) for v in offer.usable()] == ["0.15.0", "0.16.0", "0.17.0", "0.18.0", "0.19.0"]
    [(path, headers)] = asked  # the project's page, once, asking for PEP 691 JSON first
    assert path == "/simple/torchao/"
    assert headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")
    assert "CERTIFICATE_VERIFY_FAILED" in "\n".join(refused.value.lines())
    assert len(index.seen) == 1  # the refused handshake reached no page


class Mute(http.server.BaseHTTPRequestHandler):
    """An index that takes the request and says nothing until its server's `release` is set (at most 5 s),
    then hangs up without an answer."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.release.wait(5)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_an_index_that_takes_the_request_but_never_answers_is_given_up_on_after_the_timeout(monkeypatch):
    """A stalled index (it accepts the request and sends nothing) costs each attempt the harness's timeout,
    not forever: after its attempts it is an outage that says it timed out."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(releases, "TIMEOUT", 0.2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mute)
    server.daemon_threads = True
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    waits = []
    try:
        with pytest.raises(IndexUnreachable) as raised:
            releases.offered(IndexVariant(name="stalled", index_url=f"http://127.0.0.1:{server.server_address[1]}"
                                                                     "/simple"),
                             "torchao", X86_BOOKWORM, environ={}, sleep=waits.append)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    assert "timed out" in "\n".join(raised.value.lines())
    assert waits == [1.0, 2.0]  # every attempt was made, each ended by the timeout


class SpecifierSetBefore26(SpecifierSet):
    """SpecifierSet.contains as packaging before 26.0 decides it (pyproject allows packaging>=23): with
    prereleases=None a pre-release is outside a specifier that names none (26.0 lets it in)."""

    def contains(self, item, prereleases=None, installed=None):
        if prereleases is None:
            prereleases = self.prereleases
        if not prereleases and Version(str(item)).is_prerelease:
            return False
        return super().contains(item, prereleases=True, installed=installed)


def test_a_search_that_asks_for_pre_releases_gets_them_whatever_packaging_is_installed(monkeypatch):
    """usable() and skipped() decide pre-releases by the search's own `prereleases` alone: under packaging's
    rule before 26.0 too, a specifier that names no pre-release still admits one the search asks for."""
    assert not SpecifierSetBefore26(">=2.33").contains(Version("2.34.0.dev1"))  # the older rule, in force
    monkeypatch.setattr(releases, "SpecifierSet", SpecifierSetBefore26)
    page = releases.judge("requests", recorded("requests.simple.html"), X86_BOOKWORM, ["recorded"])
    dev = Version("2.34.0.dev1")  # a wheel that fits, on the recorded page
    assert dev in page.usable(specifier=">=2.33", prereleases=True)
    assert dev not in page.usable(specifier=">=2.33")
    assert page.skipped(specifier=">=2.33") == [(dev, "a pre-release")]
