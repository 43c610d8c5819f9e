"""`bisect` without containers (harness.answers.bisection): the search over the releases that install here,
the answer a person reads and its JSON, and the ways a search ends without an answer (a budget spent, a
step plan rules out, a step that cannot be judged, an end that decides nothing). The steps get recorded
results (tests/data/report/) through test_search's `Recorded` stepper."""

from __future__ import annotations

import dataclasses

import pytest
from packaging.version import Version
from test_search import BROKEN, PASSED, Recorded, recorded, recorded_as, write
from wheels import bisect_releases

from harness.answers import bisection, steps
from harness.errors import HarnessError
from harness.matrix import reader
from harness.model import CellResult, Verdict

V = Version
OUTAGE = "missing__lan__chain"  # a recorded image-unavailable: an infrastructure verdict


@pytest.fixture(scope="module")
def chain_and_offer(tmp_path_factory):
    """The chain cell (torch==2.13.0, torchao==0.15.0, torchtune==0.6.1) and what its index offers of torchao:
    0.15.0, 0.16.0, 0.17.0, 0.18.0, 0.19.0, and 0.16.1 with a wheel for Windows only (frozen: the tests share
    them)."""
    tmp_path = tmp_path_factory.mktemp("bisect")
    from harness.plan import releases
    from harness.plan.target import Target

    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    return chain, releases.offered(chain.index, "torchao", Target(python=(3, 11), machine="x86_64", glibc=(2, 36)))


def broken_from(first: str):
    return lambda pins: BROKEN if V(pins["torchao"]) >= V(first) else PASSED


def step_id(torchao: str) -> str:
    return f"bookworm-amd64__fixtures__torch-2.13.0_torchao-{torchao}_torchtune-0.6.1"


class Budgeted(Recorded):
    """A stepper whose budget of cells runs out, whose plan refuses some pins, and whose cells for some pins end
    with an outage after every retry."""

    def __init__(self, outcome, *, cells=None, refuse=(), outage=()):
        super().__init__(outcome)
        self.cells, self.refused, self.outage = cells, set(refuse), set(outage)

    def spent(self):
        return f"the budget of {self.cells} cell(s) is spent" if self.cells is not None and self.ran >= self.cells \
            else None

    def run(self, cells):
        out = []
        for cell in cells:
            at = self.pins(cell)["torchao"]
            if at in self.refused:
                out.append(steps.Step(cell=cell, pruned="plan: uv cannot install it here (conflict)"))
            elif at in self.outage:
                self.ran += 3
                out.append(steps.Step(cell=cell, result=recorded_as(OUTAGE, cell), ran=3,
                                      unjudged=("image-unavailable",) * 3))
            else:
                out += super().run([cell])
        return out


def ask(chain, good: str, bad: str, **kw) -> bisection.Question:
    return bisection.Question(base=chain, package="torchao", good=V(good), bad=V(bad), **kw)


def test_the_answer_names_the_first_bad_release_what_changed_and_every_step(chain_and_offer):
    chain, offer = chain_and_offer
    stepper = Recorded(broken_from("0.17.0"))
    said = []
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, stepper, log=said.append)
    # both ends, then the middle of 0.16.0, 0.17.0, 0.18.0 (0.16.1 has no wheel here), then 0.16.0
    assert [v for v, _ in got.tried] == [V("0.15.0"), V("0.19.0"), V("0.17.0"), V("0.16.0")]
    assert said == [
        f"Bisecting torchao between 0.15.0 and 0.19.0 on bookworm-amd64 / fixtures (pip): 3 release(s) in between "
        f"install on {offer.target}, 1 skipped",
        "  skipped torchao 0.16.1: no wheel for this target (cp311, manylinux_2_36_x86_64): wheels for other "
        "targets (py3-none-win_amd64)",
        "Measuring both ends: torchao 0.15.0 (good) and 0.19.0 (bad)",
        "  torchao 0.15.0: pass (ran 4.0 s)",
        "  torchao 0.19.0: import-failed (ran 4.0 s)",
        "Step: torchao 0.17.0 (3 release(s) left between 0.15.0 and 0.19.0)",
        "  torchao 0.17.0: import-failed (ran 4.0 s)",
        "Step: torchao 0.16.0 (1 release(s) left between 0.15.0 and 0.17.0)",
        "  torchao 0.16.0: pass (ran 4.0 s)",
    ]
    broken = recorded_as(BROKEN, chain)
    assert got.lines() == [
        "First bad release: torchao 0.17.0 (import-failed); last good: torchao 0.16.0 (pass)",
        f"  because: {bisection.finding(broken.hint)}",
        "  (bad: anything but pass; other pins as in chain: torch==2.13.0, torchtune==0.6.1)",
        "What changed from torchao 0.16.0 to 0.17.0:",
        *[f"  {line}" for line in got.changed],
        "Releases in the range not tried:",
        "  torchao 0.16.1: no wheel for this target (cp311, manylinux_2_36_x86_64): wheels for other targets "
        "(py3-none-win_amd64)",
        "Steps:",  # in version order, each with its outcome and its cell
        f"  torchao 0.15.0: pass (ran 4.0 s) — {step_id('0.15.0')}",
        f"  torchao 0.16.0: pass (ran 4.0 s) — {step_id('0.16.0')}",
        f"  torchao 0.17.0: import-failed (ran 4.0 s) — {step_id('0.17.0')}",
        f"  torchao 0.19.0: import-failed (ran 4.0 s) — {step_id('0.19.0')}",
        "Cells: 4 cell(s) run",
    ]
    # what changed: the recorded pass had torchao 0.18.0 installed and its check passed; the failure had 0.1.0
    # and ran no check
    assert got.changed[:3] == ("verdict: pass → import-failed", "installed: torchao 0.18.0 → 0.1.0",
                               "checks: chain_check.py passed → not run")
    assert got.changed[3:] == (*[f"now: {e}" for e in broken.evidence], f"hint: {broken.hint}")


def test_the_answer_as_json_says_the_same(chain_and_offer):
    chain, offer = chain_and_offer
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Recorded(broken_from("0.17.0")), log=lambda _: None)
    data = got.to_json()
    assert {k: data[k] for k in ("package", "good", "bad", "fixing", "first", "last", "none", "narrowed", "run_id")} \
        == {"package": "torchao", "good": "0.15.0", "bad": "0.19.0", "fixing": False, "first": "0.17.0",
            "last": "0.16.0", "none": None, "narrowed": [], "run_id": "r1"}
    assert data["because"] == got.because and data["changed"] == list(got.changed)
    assert list(data["skipped"]) == ["0.16.1"] and data["skipped"]["0.16.1"].startswith("no wheel for this target")
    assert data["counts"] == {"ran": 4, "reused": 0, "retried": 0, "pruned": 0}
    assert data["steps"] == {
        "0.15.0": {"cell_id": step_id("0.15.0"), "outcome": "pass (ran 4.0 s)", "verdict": "pass"},
        "0.19.0": {"cell_id": step_id("0.19.0"), "outcome": "import-failed (ran 4.0 s)", "verdict": "import-failed"},
        "0.17.0": {"cell_id": step_id("0.17.0"), "outcome": "import-failed (ran 4.0 s)", "verdict": "import-failed"},
        "0.16.0": {"cell_id": step_id("0.16.0"), "outcome": "pass (ran 4.0 s)", "verdict": "pass"},
    }


def test_a_spent_budget_says_which_releases_the_first_bad_one_is_among(chain_and_offer):
    chain, offer = chain_and_offer
    stepper = Budgeted(broken_from("0.17.0"), cells=3)
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, stepper, log=lambda _: None)
    # the ends and 0.17.0 (bad) ran; 0.16.0 is left between the last good and the first known bad
    assert (got.first, got.last, got.exit_code) == (None, V("0.15.0"), 1)
    assert got.none == "the budget of 3 cell(s) is spent with 1 release(s) left between torchao 0.15.0 and 0.17.0"
    assert got.narrowed == (V("0.16.0"), V("0.17.0"))
    assert got.lines()[:2] == [f"No answer: {got.none}",
                               "  the first bad release is one of: torchao 0.16.0, torchao 0.17.0"]
    assert got.to_json()["narrowed"] == ["0.16.0", "0.17.0"] and got.to_json()["first"] is None


def test_looking_for_a_fix_a_spent_budget_names_the_releases_the_fix_is_among(chain_and_offer):
    chain, offer = chain_and_offer
    fixed_from = lambda pins: PASSED if V(pins["torchao"]) >= V("0.18.0") else BROKEN  # noqa: E731
    got = bisection.bisect(ask(chain, "0.19.0", "0.15.0"), offer, Budgeted(fixed_from, cells=3), log=lambda _: None)
    # 0.17.0 is still bad: the fix is 0.18.0 or 0.19.0
    assert got.none.startswith("the budget of 3 cell(s) is spent with 1 release(s) left between torchao 0.17.0 and "
                               "0.19.0")
    assert got.lines()[1] == "  the first fixed release is one of: torchao 0.18.0, torchao 0.19.0"
    assert got.lines()[2].startswith("  (bad: anything but pass; ")


def test_a_step_the_budget_stops_before_it_runs_ends_the_search_with_what_is_left(chain_and_offer):
    chain, offer = chain_and_offer

    class Stops(Recorded):
        def run(self, cells):
            if self.ran >= 2:  # the seconds ran out while the ends ran
                return [steps.Step(cell=c, unrun="the budget of 60 s is spent") for c in cells]
            return super().run(cells)

    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Stops(broken_from("0.17.0")), log=lambda _: None)
    assert got.none == "the budget of 60 s is spent with 3 release(s) left between torchao 0.15.0 and 0.19.0"
    assert got.narrowed == (V("0.16.0"), V("0.17.0"), V("0.18.0"), V("0.19.0")) and got.last == V("0.15.0")
    assert got.exit_code == 1


def test_a_release_plan_rules_out_is_skipped_and_said_and_the_search_goes_on(chain_and_offer):
    chain, offer = chain_and_offer
    stepper = Budgeted(broken_from("0.17.0"), refuse={"0.17.0"})
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, stepper, log=lambda _: None)
    # 0.17.0 cannot install here: among those that can, 0.18.0 is the first bad one
    assert (got.first, got.last, got.none) == (V("0.18.0"), V("0.16.0"), None)
    assert dict(got.skipped)[V("0.17.0")] == "plan: uv cannot install it here (conflict)"
    assert "  torchao 0.17.0: plan: uv cannot install it here (conflict)" in got.lines()
    assert f"  torchao 0.17.0: not run: plan: uv cannot install it here (conflict) — {step_id('0.17.0')}" \
        in got.lines()
    assert got.to_json()["steps"]["0.17.0"] == {"cell_id": step_id("0.17.0"), "verdict": None,
                                                "outcome": "not run: plan: uv cannot install it here (conflict)"}


def test_a_release_that_cannot_be_judged_where_the_answer_may_lie_narrows_the_answer(chain_and_offer):
    chain, offer = chain_and_offer
    stepper = Budgeted(broken_from("0.17.0"), outage={"0.17.0"})
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, stepper, log=lambda _: None)
    # 0.16.0 passes and 0.18.0 fails: the first bad is 0.17.0 or 0.18.0, and 0.17.0 could not be judged
    assert got.first is None and got.exit_code == 1
    assert got.none == "1 release(s) between torchao 0.16.0 and 0.18.0 could not be judged"
    assert (got.narrowed, got.last) == ((V("0.17.0"), V("0.18.0")), V("0.16.0"))
    assert dict(got.skipped)[V("0.17.0")] == "could not be judged (image-unavailable, image-unavailable, " \
                                             "image-unavailable)"


def test_an_end_that_cannot_be_judged_or_does_not_differ_leaves_nothing_to_bisect(chain_and_offer):
    chain, offer = chain_and_offer
    down = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Budgeted(broken_from("0.17.0"), outage={"0.15.0"}),
                            log=lambda _: None)
    assert down.none == ("torchao 0.15.0 could not be judged (image-unavailable, image-unavailable, "
                         "image-unavailable): its verdict decides what bad means")
    assert [v for v, _ in down.tried] == [V("0.15.0"), V("0.19.0")] and down.exit_code == 1
    assert (down.to_json()["first"], down.to_json()["last"]) == (None, None)
    ruled = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Budgeted(broken_from("0.17.0"), refuse={"0.19.0"}),
                             log=lambda _: None)
    assert ruled.none.startswith("torchao 0.19.0 could not be judged (plan: uv cannot install it here (conflict))")
    named = ask(chain, "0.15.0", "0.19.0", bad_verdicts=frozenset({Verdict.PASS}))
    upside_down = bisection.bisect(named, offer, Recorded(broken_from("0.17.0")), log=lambda _: None)
    assert upside_down.none == "the good end torchao 0.15.0 is pass, which counts as bad"
    assert upside_down.lines()[:2] == [f"No answer: {upside_down.none}",
                                       "  (bad: pass; other pins as in chain: torch==2.13.0, torchtune==0.6.1)"]


def test_the_bad_verdicts_named_are_what_bad_means():
    q = bisection.Question(base=None, package="torchao", good=V("0.15.0"), bad=V("0.18.0"),
                           bad_verdicts=frozenset({Verdict.IMPORT_FAILED, Verdict.CRASHED}))
    assert q.bad_text(Verdict.PASS) == "crashed or import-failed"
    plain = dataclasses.replace(q, bad_verdicts=frozenset())
    assert plain.bad_text(Verdict.PASS) == "anything but pass"
    assert plain.bad_text(Verdict.DEGRADED) == "anything but degraded (or better)"
    assert plain.bad_text(None) == "a verdict other than the good end's"


def test_a_step_pins_the_package_and_keeps_its_extras_and_marker(chain_and_offer):
    chain, _ = chain_and_offer
    packages = dataclasses.replace(chain.packages, requirements=(
        "torch==2.13.0", "TorchAO[dev,cpu]>=0.15; python_version >= '3.9'", "torchtune==0.6.1"))
    base = dataclasses.replace(chain, packages=packages)
    assert bisection.pinned(base, "torchao", V("0.17.0")) == (
        "torch==2.13.0", 'TorchAO[cpu,dev]==0.17.0; python_version >= "3.9"', "torchtune==0.6.1")
    assert bisection.pinned(chain, "torchao", V("0.17.0")) == ("torch==2.13.0", "torchao==0.17.0", "torchtune==0.6.1")
    with pytest.raises(HarnessError) as refused:
        bisection.pinned(base, "numpy", V("2.0"))
    assert str(refused.value) == "package set 'chain' does not require numpy"
    assert refused.value.hint == ("its requirements: torch==2.13.0, TorchAO[dev,cpu]>=0.15; python_version >= '3.9', "
                                  "torchtune==0.6.1; bisect one of them, or add it to the set")


def test_what_changed_when_the_install_failed_before_the_probe_comes_from_the_installer(chain_and_offer):
    chain, _ = chain_and_offer
    passed, broken = recorded_as(PASSED, chain), recorded_as(BROKEN, chain)
    no_probe = dataclasses.replace(broken, probe=None)  # the installer's items are all that says what was installed
    assert bisection.changes(passed, no_probe)[1] == "installed: torchao 0.18.0 → 0.1.0"
    assert bisection.changes(passed, broken)[1] == "installed: torchao 0.18.0 → 0.1.0"  # the probe says the same
    nothing = dataclasses.replace(broken, probe=None, install=None)
    assert bisection.changes(passed, nothing)[1] == ("installed: torch 2.13.0 → not installed, torchao 0.18.0 → not "
                                                     "installed, torchtune 0.6.1 → not installed")
    assert bisection.changes(nothing, passed)[1].startswith("installed: torch not installed → 2.13.0, ")


def test_what_changed_quotes_a_few_evidence_lines_each_way_and_counts_the_rest(chain_and_offer):
    chain, _ = chain_and_offer
    passed = recorded_as(PASSED, chain)
    other = CellResult.from_json(recorded("0.18.0"))
    # a failure with the evidence of two real failures: six lines
    worse = dataclasses.replace(recorded_as(BROKEN, chain), evidence=(*recorded_as(BROKEN, chain).evidence,
                                                                       *other.evidence))
    assert len(worse.evidence) == 6
    there = bisection.changes(passed, worse)
    assert [line for line in there if line.startswith("now: ")] == [
        *[f"now: {e}" for e in worse.evidence[:4]], "now: … and 2 more line(s)"]
    back = bisection.changes(worse, passed)
    assert [line for line in back if line.startswith("no longer: ")] == [
        *[f"no longer: {e}" for e in worse.evidence[:4]], "no longer: … and 2 more line(s)"]
    assert not any(line.startswith("hint:") for line in back)  # the pass has no hint to quote
    four = dataclasses.replace(worse, evidence=worse.evidence[:4])  # as many as are quoted: nothing more to count
    assert [line for line in bisection.changes(passed, four) if line.startswith("now: ")] == [
        f"now: {e}" for e in four.evidence]
    assert [line for line in bisection.changes(four, passed) if line.startswith("no longer: ")] == [
        f"no longer: {e}" for e in four.evidence]
    same_hint = bisection.changes(recorded_as(BROKEN, chain), worse)
    assert [line for line in same_hint if line.startswith("hint:")] == []  # the hint did not change
    assert [line for line in same_hint if line.startswith("now: ")] == [f"now: {e}" for e in other.evidence]


def test_what_changed_names_only_the_checks_that_turned(chain_and_offer):
    chain, _ = chain_and_offer
    passed = recorded_as(PASSED, chain)
    [check] = passed.checks  # chain_check.py passed
    cpu = {"check": "torch", "device": "cpu", "kind": "builtin", "outcome": "passed"}
    both = dataclasses.replace(passed, checks=(check, cpu))
    failed = dataclasses.replace(passed, verdict=Verdict.CHECK_FAILED, checks=({**check, "outcome": "failed"}, cpu))
    assert [line for line in bisection.changes(both, failed) if line.startswith("checks:")] == [
        "checks: chain_check.py passed → failed"]  # torch [cpu] passed on both sides: not a change
    broken = recorded_as(BROKEN, chain)  # it ran no check
    assert [line for line in bisection.changes(broken, both) if line.startswith("checks:")] == [
        "checks: chain_check.py not run → passed, torch [cpu] not run → passed"]


def offer_with(tmp_path, *versions: str):
    """The chain cell and its torchao offer, with more torchao releases in the index."""
    from wheels import fake_torchao, make_wheel

    from harness.plan import releases
    from harness.plan.target import Target

    house = bisect_releases(tmp_path / "house")
    for version in versions:
        make_wheel(house, "torchao", version, fake_torchao(version), requires=("torch",))
    m = reader.load(write(tmp_path / "m.toml", house))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    return chain, releases.offered(chain.index, "torchao", Target(python=(3, 11), machine="x86_64", glibc=(2, 36)))


def test_a_post_release_of_the_good_end_is_in_the_range_and_a_pre_release_of_the_bad_end_is_said(tmp_path):
    """`>0.15.0,<0.19.0` as a PEP 440 specifier admits neither 0.15.0.post1 nor 0.19.0rc1, yet both lie between the
    two ends: the first may be the release that broke it, the second is skipped as a pre-release and said."""
    chain, offer = offer_with(tmp_path, "0.15.0.post1", "0.19.0rc1")
    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Recorded(broken_from("0.15.0.post1")),
                           log=lambda _: None)
    assert (got.first, got.last) == (V("0.15.0.post1"), V("0.15.0"))
    assert dict(got.skipped) == {V("0.16.1"): dict(got.skipped)[V("0.16.1")], V("0.19.0rc1"): "a pre-release"}


def test_with_a_pre_release_at_either_end_the_pre_releases_between_are_tried(tmp_path):
    chain, offer = offer_with(tmp_path, "0.17.0rc1", "0.19.0rc1")
    for good, bad in (("0.15.0", "0.19.0rc1"), ("0.19.0rc1", "0.15.0")):
        q = ask(chain, good, bad)
        new_side = broken_from("0.17.0rc1") if not q.fixing else \
            (lambda pins: BROKEN if V(pins["torchao"]) < V("0.17.0rc1") else PASSED)
        got = bisection.bisect(q, offer, Recorded(new_side), log=lambda _: None)
        assert (got.first, got.last) == (V("0.17.0rc1"), V("0.16.0"))  # first bad, or first fixed
        assert V("0.17.0rc1") not in dict(got.skipped)
    plain = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Recorded(broken_from("0.17.0rc1")),
                             log=lambda _: None)
    assert plain.first == V("0.17.0") and dict(plain.skipped)[V("0.17.0rc1")] == "a pre-release"


def test_an_end_whose_cell_was_skipped_has_no_verdict_to_bisect_from(chain_and_offer):
    chain, offer = chain_and_offer

    class Skips(Recorded):
        def run(self, cells):
            return [dataclasses.replace(s, result=dataclasses.replace(s.result, verdict=Verdict.SKIPPED))
                    if self.pins(s.cell)["torchao"] == "0.15.0" else s for s in super().run(cells)]

    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Skips(broken_from("0.17.0")), log=lambda _: None)
    assert got.none == "torchao 0.15.0 could not be judged (no verdict): its verdict decides what bad means"


def test_bad_input_is_refused_with_what_would_do(tmp_path):
    chain, offer = offer_with(tmp_path, "0.17.0rc1", *[f"0.{i}.0" for i in range(20, 27)])
    check = bisection.check
    check(ask(chain, "0.15.0", "0.17.0rc1"), offer)  # a pre-release named as an end is a release like any other
    with pytest.raises(HarnessError) as windows:
        check(ask(chain, "0.15.0", "0.16.1"), offer)
    assert str(windows.value).startswith("torchao 0.16.1 cannot be bisected on bookworm-amd64 with index variant "
                                         "fixtures: no wheel for this target")
    # the twelve newest releases that install here, pre-releases among them, and where they were asked for
    assert windows.value.hint == ("releases of torchao that install on this target: 0.16.0, 0.17.0rc1, 0.17.0, "
                                  "0.18.0, 0.19.0, 0.20.0, 0.21.0, 0.22.0, 0.23.0, 0.24.0, 0.25.0, 0.26.0 "
                                  f"(asked: {', '.join(offer.sources)})")
    nothing = dataclasses.replace(offer, releases=tuple(r for r in offer.releases if str(r.version) == "0.16.1"),
                                  sources=("house/ (folder)", "more/ (folder)"))
    with pytest.raises(HarnessError) as none:
        check(ask(chain, "0.16.1", "0.15.0"), nothing)
    assert none.value.hint == ("releases of torchao that install on this target: none (asked: house/ (folder), "
                               "more/ (folder))")
    with pytest.raises(HarnessError) as same:
        check(ask(chain, "0.15.0", "0.15.0"), offer)
    assert (str(same.value), same.value.hint) == ("the good and the bad version are both 0.15.0",
                                                  "name two different releases")


def test_a_finding_is_the_hint_before_its_first_colon():
    assert bisection.finding("torchao 0.1.0 has no module torchao.quantization: use a torchao release that has it: "
                             "0.2.0 or later") == "torchao 0.1.0 has no module torchao.quantization"
    assert bisection.finding(None) is None and bisection.finding("") is None


def test_a_step_is_the_matrixs_own_cell_when_it_declares_those_pins_else_a_cell_made_by_bisect(tmp_path):
    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    from harness.plan import releases
    from harness.plan.target import Target

    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")  # torchao==0.15.0
    offer = releases.offered(chain.index, "torchao", Target(python=(3, 11), machine="x86_64", glibc=(2, 36)))
    said = []
    got = bisection.bisect(ask(chain, "0.17.0", "0.19.0"), offer, Recorded(broken_from("0.18.0")), matrix=m,
                           log=said.append)
    assert said[0] == (f"Bisecting torchao between 0.17.0 and 0.19.0 on bookworm-amd64 / fixtures (pip): 1 release(s) "
                       f"in between install on {offer.target}")  # nothing skipped: nothing said of it
    assert {str(v): s.cell.packages.made_by for v, s in got.tried} == {"0.17.0": "bisect", "0.19.0": "bisect",
                                                                        "0.18.0": "bisect"}
    back = bisection.bisect(ask(chain, "0.15.0", "0.17.0"), offer, Recorded(broken_from("0.17.0")), matrix=m,
                            log=lambda _: None)
    assert back.step_of(V("0.15.0")).cell is chain  # the matrix declares these very pins


def test_the_json_of_an_answer_without_one_has_no_first_nor_last_and_a_step_not_run_no_verdict(chain_and_offer):
    chain, offer = chain_and_offer
    down = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Budgeted(broken_from("0.17.0"), outage={"0.15.0"}),
                            log=lambda _: None).to_json()
    assert (down["first"], down["last"], down["none"] is not None) == (None, None, True)
    ruled = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, Budgeted(broken_from("0.17.0"), refuse={"0.17.0"}),
                             log=lambda _: None).to_json()
    assert ruled["steps"]["0.17.0"]["verdict"] is None and ruled["steps"]["0.18.0"]["verdict"] == "import-failed"


def test_a_step_stopped_after_the_range_narrowed_names_only_the_releases_still_open(chain_and_offer):
    chain, offer = chain_and_offer

    class StopsLater(Recorded):
        def run(self, cells):
            if self.ran >= 3:  # the ends and one step ran: 0.17.0 is bad
                return [steps.Step(cell=c, unrun="the budget of 60 s is spent") for c in cells]
            return super().run(cells)

    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, StopsLater(broken_from("0.17.0")),
                           log=lambda _: None)
    assert got.narrowed == (V("0.16.0"), V("0.17.0")) and got.last == V("0.15.0")
    assert got.none == "the budget of 60 s is spent with 1 release(s) left between torchao 0.15.0 and 0.17.0"


def test_a_fix_of_a_result_that_gave_no_hint_has_no_because(chain_and_offer):
    chain, offer = chain_and_offer

    class Unhinted(Recorded):
        def run(self, cells):
            return [dataclasses.replace(s, result=dataclasses.replace(s.result, hint=None)) for s in super().run(cells)]

    fixed_from = lambda pins: PASSED if V(pins["torchao"]) >= V("0.18.0") else BROKEN  # noqa: E731
    got = bisection.bisect(ask(chain, "0.19.0", "0.15.0"), offer, Unhinted(fixed_from), log=lambda _: None)
    assert (got.first, got.because) == (V("0.18.0"), None)


def test_a_step_stopped_after_a_good_step_leaves_that_step_out_of_what_is_open(chain_and_offer):
    chain, offer = chain_and_offer

    class StopsLater(Recorded):
        def run(self, cells):
            if self.ran >= 3:  # the ends and one step ran: 0.17.0 is good
                return [steps.Step(cell=c, unrun="the budget of 60 s is spent") for c in cells]
            return super().run(cells)

    got = bisection.bisect(ask(chain, "0.15.0", "0.19.0"), offer, StopsLater(broken_from("0.18.0")),
                           log=lambda _: None)
    assert (got.narrowed, got.last) == ((V("0.18.0"), V("0.19.0")), V("0.17.0"))
