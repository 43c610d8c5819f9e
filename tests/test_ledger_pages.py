"""The run's index ledger asks each page once: while a cell runs, its sources are asked for the projects
its requirements name, and asking after the cell reads those answers instead of asking again."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from urllib.error import HTTPError

import pytest

from harness.errors import IndexUnreachable
from harness.model import Arch, Cell, CellResult, Image, IndexVariant, PackageSet
from harness.pins import project_names
from harness.run import ledger as run_ledger

RECORD = Path(__file__).parent / "data" / "report" / "bookworm-amd64__lan__chain.json"  # a real run's record
INDEX = "https://index.example/simple"


def chain_cell() -> Cell:
    """The recorded cell: torch pinned, from the index every test here serves."""
    return Cell(image=Image(name="img", arch=Arch.native(), ref="img:1"),
                index=IndexVariant(name="lan", index_url=INDEX),
                packages=PackageSet(name="chain", requirements=("torch==2.13.0",), modules=("torch",)))


def page(project: str, versions: list[str]) -> str:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": [
        {"filename": f"{project}-{v}-py3-none-any.whl", "url": f"{project}-{v}-py3-none-any.whl",
         "hashes": {"sha256": "ab" * 32}} for v in versions]
        + [{"filename": "other-9.9-py3-none-any.whl", "url": "other-9.9-py3-none-any.whl"},  # not this project's
           {"filename": f"{project}-1.0.tar.bz2", "url": f"{project}-1.0.tar.bz2"}]})  # not a file pip reads


class Index:
    """A fetch that counts what it was asked, and can be slow or fail."""

    def __init__(self, delay: float = 0.0, fail: int = 0) -> None:
        self.asked: list[str] = []
        self.delay, self.fail = delay, fail
        self.lock = threading.Lock()
        self.busy = self.most = 0  # pages being answered now, and the most at once

    def __call__(self, request, timeout):
        with self.lock:
            self.asked.append(request.full_url)
            failing = self.fail > 0
            self.fail -= failing
            self.busy += 1
            self.most = max(self.most, self.busy)
        time.sleep(self.delay)
        with self.lock:
            self.busy -= 1
        if failing:  # an answer, not an outage: not retried
            raise HTTPError(request.full_url, 403, "Forbidden", {}, None)
        project = request.full_url.rstrip("/").rsplit("/", 1)[-1]
        return 200, "application/vnd.pypi.simple.v1+json", page(project, ["2.12.0", "2.13.0", "0.18.0", "0.6.1"])


def test_requirement_names_are_the_projects_the_lines_name():
    assert project_names(["Torch==2.13.0", "torch_ao>=0.1", "torch", "https://x/y.whl", "-e ."]) == [
        "torch", "torch-ao"]


def test_a_listing_is_asked_once_while_it_answers_and_again_after_a_failure():
    index = Index(fail=1)
    listings = run_ledger.Listings(index)
    with pytest.raises(IndexUnreachable, match="403"):
        listings.listing(INDEX, "torch")
    first = listings.listing(INDEX, "torch")  # the failure was not kept
    assert [f.name for f in first][:2] == ["torch-2.12.0-py3-none-any.whl", "torch-2.13.0-py3-none-any.whl"]
    assert listings.listing(INDEX, "Torch") == first
    assert index.asked == [f"{INDEX}/torch/"] * 2
    listings.listing("https://other.example/simple", "torch")  # another index is another answer
    assert len(index.asked) == 3


def test_a_listing_asked_while_its_first_ask_is_on_its_way_waits_for_that_answer():
    index = Index(delay=0.3)
    listings = run_ledger.Listings(index)
    got = []
    threads = [threading.Thread(target=lambda: got.append(listings.listing(INDEX, "torch"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and got[0] == got[1] == got[2] and index.asked == [f"{INDEX}/torch/"]


def test_the_pages_asked_while_the_cell_ran_are_not_asked_again_after_it(tmp_path, monkeypatch):
    index = Index(delay=0.05)
    monkeypatch.setattr(run_ledger.releases, "_fetch", lambda environ: index)
    cell = Cell(image=Image(name="img", arch=Arch.native(), ref="img:1"),
                index=IndexVariant(name="lan", index_url=INDEX),
                packages=PackageSet(name="chain", requirements=("torch==2.13.0", "torchao==0.18.0"),
                                    modules=("torch",)))
    result = CellResult.from_json(json.loads(RECORD.read_text()))  # installed torch, torchao and torchtune
    ledger = run_ledger.RunLedger(tmp_path, "20261206T000000Z-abcdef", environ={})
    ledger.prefetch(cell)
    deadline = time.monotonic() + 10
    while len(index.asked) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(index.asked) == [f"{INDEX}/torch/", f"{INDEX}/torchao/"]
    attached = ledger.attach(cell, result)
    # torchtune, installed but not named by a requirement, is the only page asked after the cell
    assert sorted(index.asked) == [f"{INDEX}/torch/", f"{INDEX}/torchao/", f"{INDEX}/torchtune/"]
    [ref] = attached.ledger["sources"]
    kept = json.loads((tmp_path / ref["file"]).read_text())
    assert kept["projects"]["torch"]["versions"] == ["0.6.1", "0.18.0", "2.12.0", "2.13.0"]
    assert [f["name"] for f in kept["projects"]["torch"]["files"]["2.13.0"]] == ["torch-2.13.0-py3-none-any.whl"]


def test_a_cell_run_before_has_every_page_it_installed_asked_while_it_runs(tmp_path, monkeypatch):
    index = Index(delay=0.05)
    monkeypatch.setattr(run_ledger.releases, "_fetch", lambda environ: index)
    cell = chain_cell()
    before = json.loads(RECORD.read_text())  # its last record: it installed torch, torchao and torchtune
    assert run_ledger.installed_before(before) == ["torch", "torchao", "torchtune"]
    assert run_ledger.installed_before(None) == run_ledger.installed_before({"install": None}) == []
    ledger = run_ledger.RunLedger(tmp_path, "20261206T000000Z-abcdef", environ={})
    ledger.prefetch(cell, before)
    deadline = time.monotonic() + 10
    while len(index.asked) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(index.asked) == [f"{INDEX}/torch/", f"{INDEX}/torchao/", f"{INDEX}/torchtune/"]
    assert index.most > 1  # asked side by side, not one after the other
    attached = ledger.attach(cell, CellResult.from_json(before))
    assert len(index.asked) == 3  # nothing left to ask after the cell
    assert attached.ledger["projects"] == ["torch", "torchao", "torchtune"]


def test_pages_asked_after_the_cell_go_side_by_side_and_make_the_entries_one_by_one_makes(tmp_path, monkeypatch):
    from harness.plan import ledger as ask

    side = Index(delay=0.05)
    monkeypatch.setattr(run_ledger.releases, "_fetch", lambda environ: side)
    cell = chain_cell()
    result = CellResult.from_json(json.loads(RECORD.read_text()))  # installed torch, torchao and torchtune
    ledger = run_ledger.RunLedger(tmp_path, "20261206T000000Z-abcdef", environ={})
    [ref] = ledger.attach(cell, result).ledger["sources"]  # no prefetch: every page is asked after the cell
    assert side.most > 1  # side by side, not one after the other
    kept = json.loads((tmp_path / ref["file"]).read_text())["projects"]
    one = Index(delay=0.05)
    alone = ask.ask(ask.Source(label="lan", kind="index", url=INDEX), run_ledger.installed(result)[0], fetch=one,
                    known=run_ledger.installed(result)[1])
    assert one.most == 1 and list(kept) == list(alone) == ["torch", "torchao", "torchtune"]
    assert {p: {k: v for k, v in e.items() if k != "asked_versions"} for p, e in kept.items()} == alone
    assert kept["torch"]["files"]["2.13.0"][0]["name"] == "torch-2.13.0-py3-none-any.whl"
