"""`solve` without containers (harness.answers.solve): which releases it tries, what rules a set out before a
cell (plan, known facts), how a set is ranked against the best found, where the search stops, and the answer
a person reads: its lines, its JSON and the block for the matrix. The steps get recorded results
(tests/data/report/) through test_search's `Recorded` stepper."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from test_search import BROKEN, DEGRADED, PASSED, Recorded, recorded, recorded_as, write
from wheels import bisect_releases, solve_releases

from harness.answers import known, solve
from harness.errors import HarnessError
from harness.matrix import reader
from harness.matrix.reader import tomllib  # tomli on Python 3.10
from harness.model import CellResult
from harness.plan import releases
from harness.plan.target import Target

TARGET = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))
CHAIN = ("torch", "torchao", "torchtune")


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    """torch 2.12.0 and 2.13.0; torchao 0.15.0 to 0.19.0; torchtune 0.6.0, 0.6.1 and 0.7.0 (wheels.solve_releases);
    the matrix's chain cell, and what its index offers of each (frozen: the tests share them)."""
    tmp_path = tmp_path_factory.mktemp("solve")
    m = reader.load(write(tmp_path / "m.toml", solve_releases(tmp_path / "house"),
                          requirements='["torch", "torchao", "torchtune"]'))
    base = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    return m, base, {n: releases.offered(base.index, n, TARGET) for n in CHAIN}


class Budgeted(Recorded):
    """A stepper with a budget of cells, and cells for some pins that end with an outage after every retry."""

    def __init__(self, outcome, *, cells=None, refuse=lambda pins: False, outage=lambda pins: False):
        super().__init__(outcome, refuse)
        self.cells, self.outage = cells, outage

    def spent(self):
        return f"the budget of {self.cells} cell(s) is spent" if self.cells is not None and self.ran >= self.cells \
            else None

    def run(self, cells):
        out = []
        for cell in cells:
            if self.outage(self.pins(cell)):
                self.ran += 1
                out.append(solve.steps.Step(cell=cell, result=recorded_as("missing__lan__chain", cell), ran=1,
                                            unjudged=("image-unavailable", "image-unavailable")))
            else:
                out += super().run([cell])
        return out


def step_id(torch: str, torchao: str, torchtune: str, suffix: str = "") -> str:
    return f"bookworm-amd64__fixtures__torch-{torch}_torchao-{torchao}_torchtune-{torchtune}{suffix}"


def test_the_answer_names_the_set_why_each_newer_one_lost_and_a_block_the_matrix_reads_back(house, tmp_path):
    m, base, offers = house
    uv = dataclasses.replace(base, installer="uv")
    stepper = Recorded(lambda pins: DEGRADED, refuse=lambda pins: pins["torchtune"] == "0.7.0")
    got = solve.solve(uv, ["torch==2.13.0", "torchao<0.16", "torchtune"], offers, stepper, log=lambda _: None)
    why = "torchao 0.15.0 skipped its C++ extensions with torch 2.13.0"  # the finding of bookworm-amd64__skipping__ao
    best = step_id("2.13.0", "0.15.0", "0.6.1", "__uv")
    assert got.lines() == [
        f"Newest working set: torch 2.13.0, torchao 0.15.0, torchtune 0.6.1 — degraded with 1 loss(es): {why}",
        "  no set passes on this target: every set was decided",
        "Older sets tried while looking for a pass:",
        "  torch 2.13.0, torchao 0.15.0, torchtune 0.6.0: cannot beat torch 2.13.0, torchao 0.15.0, torchtune 0.6.1 "
        f"(degraded, 1 loss(es)): known: {why} (learned from {best})",
        "Skipped torchtune 0.7.0: plan: cannot install here with torch==2.13.0, torchao<0.16 (conflict)",
        "For the matrix:",
        *["  " + line if line else "" for line in got.block().splitlines()],
        "Cells: 1 cell(s) run",
    ]
    block = tomllib.loads(got.block())
    name = "torch-2.13.0_torchao-0.15.0_torchtune-0.6.1"
    assert block["packages"] == {name: {"requirements": ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"],
                                        "modules": list(base.packages.modules)}}
    assert block["matrix"]["include"] == [{"image": "bookworm-amd64", "index": "fixtures", "packages": name,
                                           "installer": "uv", "expect": "degraded", "why": why}]
    # pasted into the matrix, it declares the very cell solve ran, expecting its verdict: a run reuses its result
    pasted = tmp_path / "pasted.toml"
    pasted.write_text(Path(m.source).read_text() + "\n" + got.block() + "\n")
    [cell] = [c for c in reader.load(pasted).cells if c.id == best]
    assert (cell.expect, cell.expect_why, cell.packages.requirements) == ("degraded", why, got.best.pins)


def test_the_answer_as_json(house):
    _, base, offers = house
    stepper = Recorded(lambda pins: DEGRADED if pins["torch"] == "2.13.0" else PASSED)
    got = solve.solve(base, ["torch", "torchao<0.16", "torchtune==0.6.1"], offers, stepper, log=lambda _: None)
    newer, best = step_id("2.13.0", "0.15.0", "0.6.1"), step_id("2.12.0", "0.15.0", "0.6.1")
    assert got.base is base
    assert got.to_json() == {
        "names": ["torch", "torchao", "torchtune"], "best": ["torch==2.12.0", "torchao==0.15.0", "torchtune==0.6.1"],
        "verdict": "pass", "cell_id": best,
        "decided": [{"pins": ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"], "cell_id": newer,
                     "rejected": got.decided[0].rejected},
                    {"pins": ["torch==2.12.0", "torchao==0.15.0", "torchtune==0.6.1"], "cell_id": best,
                     "rejected": None}],
        "skipped": {}, "untried": 0, "stopped": None, "counts": {"ran": 2, "reused": 0, "retried": 0, "pruned": 0},
        "run_id": "r1", "block": got.block()}
    assert got.decided[0].rejected.endswith(f"; torch 2.12.0, torchao 0.15.0, torchtune 0.6.1 passes ({newer})")
    # a pass needs no include in the block
    assert got.block().splitlines() == [f'[packages."{best.split("__")[2]}"]',
                                        'requirements = ["torch==2.12.0", "torchao==0.15.0", "torchtune==0.6.1"]',
                                        f"modules = {list(base.packages.modules)}".replace("'", '"')]


def test_sets_are_tried_newest_first_the_last_package_counting_most(house):
    _, base, offers = house
    stepper = Recorded(lambda pins: BROKEN)
    got = solve.solve(base, ["torch", "torchao>=0.17,<0.19", "torchtune<0.7"], offers, stepper, log=lambda _: None)
    assert stepper.asked == [tuple(sorted((f"torch=={t}", f"torchao=={a}", f"torchtune=={n}")))
                             for n in ("0.6.1", "0.6.0") for a in ("0.18.0", "0.17.0") for t in ("2.13.0", "2.12.0")]
    assert got.best is None and got.exit_code == 1 and got.untried == 0
    assert got.lines()[0] == "No working set: no pin set passes or is degraded on this target"
    finding = "torchao 0.1.0 has no module torchao.quantization"  # bookworm-amd64__broken__chain's finding
    assert got.lines()[1:3] == ["Newer sets, and why each was rejected:",
                                f"  torch 2.13.0, torchao 0.18.0, torchtune 0.6.1: import-failed: {finding} "
                                f"({step_id('2.13.0', '0.18.0', '0.6.1')})"]
    assert "For the matrix:" not in got.lines() and got.block() == "" and got.to_json()["best"] is None


def test_the_search_stops_at_the_first_set_that_passes_and_counts_those_not_tried(house):
    _, base, offers = house
    stepper = Recorded(lambda pins: PASSED if pins["torchao"] == "0.16.0" else BROKEN)
    got = solve.solve(base, ["torch==2.13.0", "torchao", "torchtune==0.6.1"], offers, stepper, log=lambda _: None)
    # newest first: 0.19.0, 0.18.0, 0.17.0 fail, 0.16.0 passes; 0.15.0 is never tried
    assert [dict(Recorded.pins(c))["torchao"] for c in [d.step.cell for d in got.decided]] == \
        ["0.19.0", "0.18.0", "0.17.0", "0.16.0"]
    assert got.best.versions["torchao"] == "0.16.0" and got.untried == 1 and got.stopped is None


def test_a_spent_budget_stops_the_search_and_says_how_many_sets_may_still_pass(house):
    _, base, offers = house
    stepper = Budgeted(lambda pins: DEGRADED, cells=1)
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.16", "torchtune==0.6.1"], offers, stepper,
                      log=lambda _: None)
    assert got.stopped == "the budget of 1 cell(s) is spent" and got.untried == 3 and got.exit_code == 0
    assert got.lines()[:2] == [
        "Newest working set: torch 2.13.0, torchao 0.19.0, torchtune 0.6.1 — degraded with 1 loss(es): torchao "
        "0.15.0 skipped its C++ extensions with torch 2.13.0",
        "  no set passes among those decided (the budget of 1 cell(s) is spent; 3 set(s) not tried, one of them may "
        "pass)"]
    nothing = solve.solve(base, ["torch==2.13.0", "torchao>=0.16", "torchtune==0.6.1"], offers,
                          Budgeted(lambda pins: BROKEN, cells=1), log=lambda _: None)
    assert nothing.lines()[0] == "No working set: the budget of 1 cell(s) is spent" and nothing.exit_code == 1
    assert nothing.untried == 3


def test_a_step_stopped_by_the_budget_before_it_runs_leaves_it_untried(house):
    _, base, offers = house

    class Stops(Recorded):
        def run(self, cells):
            if self.ran:
                return [solve.steps.Step(cell=c, unrun="the budget of 60 s is spent") for c in cells]
            return super().run(cells)

    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.16", "torchtune==0.6.1"], offers, Stops(lambda p: BROKEN),
                      log=lambda _: None)
    assert (got.stopped, got.untried, len(got.decided)) == ("the budget of 60 s is spent", 3, 1)


def test_a_set_that_cannot_be_judged_is_rejected_and_the_search_goes_on(house):
    _, base, offers = house
    stepper = Budgeted(lambda pins: PASSED, outage=lambda pins: pins["torchao"] == "0.19.0")
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.18", "torchtune==0.6.1"], offers, stepper,
                      log=lambda _: None)
    assert got.decided[0].rejected == "could not be judged (image-unavailable, image-unavailable)"
    assert got.best.versions["torchao"] == "0.18.0"


def test_plan_rules_out_releases_before_any_cell_and_a_package_left_with_none_stops_the_search(house):
    _, base, offers = house
    # plan is asked about each release with the other requirements as given (torchtune unpinned: "")
    stepper = Recorded(lambda pins: PASSED, refuse=lambda pins: pins["torchtune"] in ("0.7.0", "0.6.0"))
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.18", "torchtune"], offers, stepper, log=lambda _: None)
    assert got.candidates == {"torch": ("2.13.0",), "torchao": ("0.19.0", "0.18.0"), "torchtune": ("0.6.1",)}
    assert [v for v, _ in got.skipped["torchtune"]] == ["0.7.0", "0.6.0"] and stepper.pruned == 2
    none = Recorded(lambda pins: PASSED, refuse=lambda pins: pins["torchtune"] != "")  # no torchtune release
    stuck = solve.solve(base, ["torch==2.13.0", "torchao>=0.18", "torchtune"], offers, none, log=lambda _: None)
    assert stuck.stopped == "no release of torchtune can install here with the others" and stuck.decided == ()
    assert stuck.lines()[0] == "No working set: no release of torchtune can install here with the others"
    assert none.asked == []  # no cell ran
    assert stuck.candidates["torchtune"] == () and len(stuck.skipped["torchtune"]) == 3
    assert stuck.base is base and stuck.lines()[-1] == "Cells: 0 cell(s) run"
    data = stuck.to_json()
    assert (data["names"], data["counts"], data["run_id"], data["best"]) == (
        ["torch", "torchao", "torchtune"], {"ran": 0, "reused": 0, "retried": 0, "pruned": 3}, "r1", None)


def test_a_known_failing_pair_rules_a_set_out_without_a_cell(house):
    _, base, offers = house
    facts = known.from_record(recorded("0.16.0"))  # torchtune 0.6.1 with torchao 0.16.0: import-failed
    stepper = Recorded(lambda pins: PASSED)
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.15,<0.17", "torchtune==0.6.1"], offers, stepper,
                      known=facts, log=lambda _: None)
    assert stepper.asked == [("torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1")]
    assert got.decided[0].step is None and got.decided[0].rejected == f"known: {facts[0].text()}"


def test_a_degraded_set_that_loses_less_replaces_the_best_and_one_that_loses_as_much_does_not(house):
    _, base, offers = house
    twice = CellResult.from_json(recorded("0.15.0"))
    probe = dict(twice.probe)
    lost = next(i for i in probe["imports"] if i["messages"])
    probe["imports"] = [*probe["imports"], {**lost, "module": "torchao.quantization"}]  # the loss said twice
    twice = dataclasses.replace(twice, probe=probe)
    assert solve.losses(twice) == 2 and solve.rank(twice) == (1, 2)
    assert solve.losses(dataclasses.replace(twice, probe=None)) == 1  # degraded loses at least one thing

    class Losses(Recorded):
        def run(self, cells):
            [step] = super().run(cells)
            if self.pins(cells[0])["torchao"] == "0.18.0":
                step = dataclasses.replace(step, result=dataclasses.replace(twice, cell_id=cells[0].id))
            return [step]

    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.16,<0.19", "torchtune==0.6.1"], offers,
                      Losses(lambda pins: DEGRADED), log=lambda _: None)
    first, second, third = got.decided
    assert got.best is second and second.versions["torchao"] == "0.17.0"
    assert first.rejected.startswith("degraded with 2 loss(es): torchao 0.15.0 skipped its C++ extensions with torch "
                                     "2.13.0+cpu; torch 2.13.0, torchao 0.17.0, torchtune 0.6.1 loses less (1) (")
    assert third.pins == ("torch==2.13.0", "torchao==0.16.0", "torchtune==0.6.1")
    assert third.step.cell.id == step_id("2.13.0", "0.16.0", "0.6.1")
    assert third.rejected == ("degraded with 1 loss(es), no fewer than torch 2.13.0, torchao 0.17.0, torchtune "
                              "0.6.1: torchao 0.15.0 skipped its C++ extensions with torch 2.13.0 "
                              f"({step_id('2.13.0', '0.16.0', '0.6.1')})")
    assert got.lines()[1:3] == ["  no set passes on this target: every set was decided",
                                "Newer sets, and why each was rejected:"]


def test_the_releases_tried_are_those_that_install_here_and_an_exact_pin_as_written(tmp_path):
    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    offers = {n: releases.offered(chain.index, n, TARGET) for n in CHAIN}
    found = solve.candidates(chain, ["torch==2.13.0", "torchao>=0.16", "torchtune"], offers)
    assert found.kept == {"torch": ["2.13.0"], "torchao": ["0.19.0", "0.18.0", "0.17.0", "0.16.0"],
                          "torchtune": ["0.6.1"]}
    assert [v for v, _ in found.skipped["torchao"]] == ["0.16.1"]
    assert found.skipped["torchao"][0][1].startswith("no wheel for this target")
    assert found.pins({"torch": "2.13.0", "torchao": "0.17.0", "torchtune": "0.6.1"}) == (
        "torch==2.13.0", "torchao==0.17.0", "torchtune==0.6.1")
    strict = solve.candidates(chain, ["torch===2.13.0", "torchao==0.17.0"], offers)  # exact pins, as written
    assert strict.kept == {"torch": ["2.13.0"], "torchao": ["0.17.0"]}
    assert strict.pins({"torch": "2.13.0", "torchao": "0.17.0"}) == ("torch===2.13.0", "torchao==0.17.0")
    with pytest.raises(HarnessError) as none:
        solve.candidates(chain, ["torch==2.13.0", "torchao>0.19"], offers)
    assert str(none.value) == ("no release of torchao matching >0.19 installs on bookworm-amd64 with index variant "
                               "fixtures (cp311, manylinux_2_36_x86_64)")
    assert none.value.hint.endswith("; loosen the requirement or choose another index variant or image")
    with pytest.raises(HarnessError, match="a package is named twice: torch, Torch==2.13.0") as twice:
        solve.candidates(chain, ["torch", "Torch==2.13.0"], offers)
    assert twice.value.hint == "name each package once"
    two_sources = ("house/ (folder)", "more/ (folder)")
    nothing = {**offers, "torchao": dataclasses.replace(offers["torchao"], sources=two_sources, releases=())}
    with pytest.raises(HarnessError) as unlisted:
        solve.candidates(chain, ["torchao"], nothing)
    assert str(unlisted.value).startswith("no release of torchao matching any version installs on bookworm-amd64 ")
    assert unlisted.value.hint.startswith("asked: house/ (folder), more/ (folder); ")


def test_a_pin_keeps_the_requirements_extras_and_marker():
    req = Requirement("TorchAO[dev,cpu]>=0.15; python_version >= '3.9'")
    assert solve.pin_text(req, "0.17.0") == 'TorchAO[cpu,dev]==0.17.0; python_version >= "3.9"'
    assert solve.pin_text(Requirement("torch"), "2.13.0") == "torch==2.13.0"


def test_a_solves_set_has_the_checks_of_the_matrixs_set_of_the_same_packages_else_the_built_in_ones(house):
    m, _, _ = house
    chain = next(p for p in m.package_sets if p.name == "chain")
    declared = dataclasses.replace(chain, checks=("torch",), check_requires=("numpy",), check_timeout=60.0)
    mine = dataclasses.replace(m, package_sets=(declared, *[p for p in m.package_sets if p.name != "chain"]))
    made = solve.package_set(mine, ["TorchTune", "torch==2.13.0", "torchao"], ["torch"])  # names as pip reads them
    assert (made.name, made.requirements, made.modules) == ("solve", ("TorchTune", "torch==2.13.0", "torchao"),
                                                            ("torch",))
    assert (made.checks, made.check_requires, made.check_timeout) == (("torch",), ("numpy",), 60.0)
    alone = solve.package_set(mine, ["torch", "numpy"], ["torch", "numpy"])
    assert alone.checks == solve.default_checks(["torch", "numpy"], ["torch", "numpy"]) and alone.check_requires == ()
    assert (alone.name, alone.requirements, alone.modules) == ("solve", ("torch", "numpy"), ("torch", "numpy"))


def test_the_block_carries_checks_that_are_not_the_default(house):
    _, base, offers = house
    packages = dataclasses.replace(base.packages, checks=("torch", "torchao"), check_requires=("numpy", "pytest"),
                                   check_timeout=60.0)
    got = solve.solve(dataclasses.replace(base, packages=packages), ["torch==2.13.0", "torchao==0.16.0",
                                                                     "torchtune==0.6.1"],
                      offers, Recorded(lambda pins: PASSED), log=lambda _: None)
    block = tomllib.loads(got.block())
    [body] = block["packages"].values()
    assert (body["checks"], body["check_requires"], body["check_timeout"]) == (["torch", "torchao"],
                                                                               ["numpy", "pytest"], 60)
    assert "matrix" not in block


def test_a_pre_release_is_skipped_unless_the_requirement_names_one(tmp_path):
    from wheels import fake_torchao, make_wheel

    house = bisect_releases(tmp_path / "house")
    make_wheel(house, "torchao", "0.20.0rc1", fake_torchao("0.20.0rc1"), requires=("torch",))
    m = reader.load(write(tmp_path / "m.toml", house))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    offers = {n: releases.offered(chain.index, n, TARGET) for n in CHAIN}
    plain = solve.candidates(chain, ["torchao>=0.19"], offers)
    assert plain.kept["torchao"] == ["0.19.0"] and plain.skipped["torchao"] == (("0.20.0rc1", "a pre-release"),)
    asked = solve.candidates(chain, ["torchao>=0.20.0rc1"], offers)
    assert asked.kept["torchao"] == ["0.20.0rc1"] and asked.skipped["torchao"] == ()


def test_the_search_says_each_step_as_it_decides_it(house):
    _, base, offers = house

    class Said(Recorded):
        def predict(self, cell):
            if self.refuse(self.pins(cell)):
                return {"outcome": "conflict", "evidence": ["torchtune==0.7.0 depends on torchao>=0.19"]}
            return super().predict(cell)

    said = []
    stepper = Said(lambda pins: DEGRADED if pins["torchao"] == "0.15.0" else BROKEN,
                   refuse=lambda pins: pins["torchtune"] == "0.7.0")
    got = solve.solve(base, ["torch==2.13.0", "torchao<0.17", "torchtune>=0.6.1"], offers, stepper,
                      known=known.from_record(recorded("0.16.0")), log=said.append)
    refused = "plan: cannot install here with torch==2.13.0, torchao<0.17 (conflict): torchtune==0.7.0 depends on " \
              "torchao>=0.19"
    assert said == [
        "Solving torch==2.13.0, torchao<0.17, torchtune>=0.6.1 on bookworm-amd64 / fixtures (pip): torch: 1 "
        "release(s), torchao: 2 release(s), torchtune: 2 release(s)",
        "Asking plan about 4 release(s) before any cell runs …",  # torch is pinned: nothing to ask
        f"  ruled out torchtune 0.7.0: {refused}",
        "solve [1/2] torch 2.13.0, torchao 0.16.0, torchtune 0.6.1: ruled out, known: torchtune 0.6.1 imports "
        "int4_weight_only from torchao.quantization, which torchao 0.16.0 does not provide",
        "solve [2/2] torch 2.13.0, torchao 0.15.0, torchtune 0.6.1 …",
        "solve [2/2] torch 2.13.0, torchao 0.15.0, torchtune 0.6.1: degraded (ran 4.0 s)",
    ]
    assert got.to_json()["skipped"] == {"torchtune": {"0.7.0": refused}} and got.skipped == {
        "torchtune": (("0.7.0", refused),)}
    include = tomllib.loads(got.block())["matrix"]["include"][0]
    assert "installer" not in include and include["expect"] == "degraded"  # pip, the default, is not written


def test_an_answer_shows_twenty_sets_each_way_and_counts_the_rest(house):
    _, base, _ = house
    step = solve.steps.Step(cell=base, result=recorded_as(PASSED, base), ran=1)
    best = solve.Decision(pins=("torch==2.13.0",), versions={"torch": "2.13.0"}, step=step)

    def sets(n, why):
        return [solve.Decision(pins=(f"torch==1.{i}",), versions={"torch": f"1.{i}"}, rejected=why) for i in range(n)]

    answer = solve.Solution(names=("torch",), base=base, best=best,
                            decided=(*sets(22, "known: it fails"), best, *sets(21, None)))
    lines = answer.lines()
    newer = lines[lines.index("Newer sets, and why each was rejected:") + 1:]
    assert newer[:20] == [f"  torch 1.{i}: known: it fails" for i in range(20)] and newer[20] == "  … and 2 more"
    older = lines[lines.index("Older sets tried while looking for a pass:") + 1:]
    assert older[:20] == [f"  torch 1.{i}: —" for i in range(20)] and older[20] == "  … and 1 more"
    twenty = solve.Solution(names=("torch",), base=base, best=best,
                            decided=(*sets(20, "known: it fails"), best, *sets(20, None))).lines()
    assert not any(line.startswith("  … and") for line in twenty)  # all twenty shown, none left to count


def test_a_failed_set_without_a_hint_is_rejected_with_its_first_evidence_line(house):
    _, base, _ = house
    broken = recorded_as(BROKEN, base)
    state = solve.Search(known=[])
    step = solve.steps.Step(cell=base, result=dataclasses.replace(broken, hint=None), ran=1)
    state.judge(("torch==2.13.0",), {"torch": "2.13.0"}, step, "torch 2.13.0")
    assert state.decided[0].rejected == f"import-failed: {broken.evidence[0]} ({base.id})"
    assert state.best is None and state.best_rank is None


def test_a_set_is_the_matrixs_own_cell_when_it_declares_those_pins_else_a_cell_made_by_solve(tmp_path):
    extra = """
[packages.pinned]
requirements = ["torch==2.13.0", "torchao==0.16.0", "torchtune==0.6.1"]
modules = ["torch", "torchao", "torchao.quantization", "torchtune", "torchtune.training"]
"""
    m = reader.load(write(tmp_path / "m.toml", solve_releases(tmp_path / "house"),
                          requirements='["torch", "torchao", "torchtune"]', extra=extra))
    base = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    declared = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__pinned")
    offers = {n: releases.offered(base.index, n, TARGET) for n in CHAIN}
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.16,<0.18", "torchtune==0.6.1"], offers,
                      Recorded(lambda pins: BROKEN if pins["torchao"] == "0.17.0" else PASSED), matrix=m,
                      log=lambda _: None)
    newer, best = got.decided
    assert newer.step.cell.packages.made_by == "solve" and newer.step.cell.id == step_id("2.13.0", "0.17.0", "0.6.1")
    assert best.step.cell is declared  # the matrix declares these very pins and modules


def test_a_set_plan_refuses_when_its_cell_would_run_is_rejected_with_why_and_the_search_goes_on(house):
    _, base, offers = house

    class Refuses(Recorded):
        def run(self, cells):
            if self.pins(cells[0])["torchao"] == "0.18.0":
                return [solve.steps.Step(cell=cells[0], pruned="plan: uv cannot install it here (conflict)")]
            return super().run(cells)

    said = []
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.17,<0.19", "torchtune==0.6.1"], offers,
                      Refuses(lambda pins: PASSED), log=said.append)
    refused, best = got.decided
    assert (refused.pins, dict(refused.versions), refused.rejected) == (
        ("torch==2.13.0", "torchao==0.18.0", "torchtune==0.6.1"), {"torch": "2.13.0", "torchao": "0.18.0",
                                                                   "torchtune": "0.6.1"},
        "plan: uv cannot install it here (conflict)")
    assert refused.step.cell.id == step_id("2.13.0", "0.18.0", "0.6.1") and best.versions["torchao"] == "0.17.0"
    assert "solve [1/2] torch 2.13.0, torchao 0.18.0, torchtune 0.6.1: plan: uv cannot install it here (conflict)" \
        in said


def test_a_set_that_cannot_be_judged_keeps_its_step_and_a_skipped_one_says_no_verdict(house):
    _, base, offers = house
    stepper = Budgeted(lambda pins: PASSED, outage=lambda pins: pins["torchao"] == "0.19.0")
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.18", "torchtune==0.6.1"], offers, stepper,
                      log=lambda _: None)
    down = got.decided[0]
    assert down.pins == ("torch==2.13.0", "torchao==0.19.0", "torchtune==0.6.1")
    assert down.versions["torchao"] == "0.19.0"
    assert down.step.cell.id == step_id("2.13.0", "0.19.0", "0.6.1")

    class Skips(Recorded):
        def run(self, cells):
            return [dataclasses.replace(s, result=dataclasses.replace(s.result, verdict=solve.Verdict.SKIPPED))
                    for s in super().run(cells)]

    skipped = solve.solve(base, ["torch==2.13.0", "torchao==0.19.0", "torchtune==0.6.1"], offers,
                          Skips(lambda pins: PASSED), log=lambda _: None)
    assert skipped.decided[0].rejected == "could not be judged (no verdict)" and skipped.best is None


def test_known_facts_given_still_count_after_a_set_teaches_new_ones(house):
    _, base, offers = house
    facts = known.from_record(recorded("0.16.0"))  # torchtune 0.6.1 with torchao 0.16.0: import-failed
    stepper = Recorded(lambda pins: BROKEN)
    solve.solve(base, ["torch==2.13.0", "torchao>=0.16,<0.18", "torchtune==0.6.1"], offers, stepper, known=facts,
                log=lambda _: None)
    assert stepper.asked == [("torch==2.13.0", "torchao==0.17.0", "torchtune==0.6.1")]  # 0.16.0: known to fail


def test_a_set_holding_several_known_losses_is_measured_by_the_worst(house):
    _, base, offers = house
    twice = CellResult.from_json(recorded("0.15.0"))
    probe = dict(twice.probe)
    lost = next(i for i in probe["imports"] if i["messages"])
    probe["imports"] = [*probe["imports"], {**lost, "module": "torchao.quantization"}]  # the loss said twice
    one = known.from_record(recorded_as(DEGRADED, base).to_json())  # torch 2.13.0 + torchao 0.15.0: 1 loss
    two = known.from_record(dataclasses.replace(twice, probe=probe).to_json())  # torch 2.13.0+cpu + torchao 0.15.0: 2
    assert [f.losses for f in one + two] == [1, 2]
    got = solve.solve(base, ["torch==2.13.0", "torchao>=0.15,<0.17", "torchtune==0.6.1"], offers,
                      Recorded(lambda pins: DEGRADED), known=one + two, log=lambda _: None)
    best, ruled = got.decided
    assert ruled.versions["torchao"] == "0.15.0" and ruled.step is None
    assert ruled.rejected.endswith(f"known: {two[0].text()}")  # the larger loss is the one that decides
    state = solve.Search(known=[])
    step = solve.steps.Step(cell=base, result=dataclasses.replace(recorded_as(BROKEN, base), hint=None, evidence=()))
    state.judge(("torch==2.13.0",), {"torch": "2.13.0"}, step, "torch 2.13.0")
    assert state.decided[0].rejected == f"import-failed:  ({base.id})"  # nothing to quote


def test_a_passing_answer_names_its_set_and_verdict_alone(house):
    _, base, offers = house
    stepper = Recorded(lambda pins: DEGRADED if pins["torch"] == "2.13.0" else PASSED)
    got = solve.solve(base, ["torch", "torchao<0.16", "torchtune==0.6.1"], offers, stepper, log=lambda _: None)
    assert got.lines()[0] == "Newest working set: torch 2.12.0, torchao 0.15.0, torchtune 0.6.1 — pass"  # no losses
