"""The searches' pure parts and their bad input: step cells named after their pins, what counts as bad,
and the CLI refusing what cannot be searched (exit 2) before any cell runs."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from wheels import CHAIN_MODULES, bisect_releases, solve_releases

from harness.answers import bisection, steps
from harness.cli.main import main
from harness.matrix import reader
from harness.model import CellResult, Verdict
from harness.run import progress
from harness.run.options import RunOptions


def write(path: Path, house: Path, requirements: str = '["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1"]',
          extra: str = "") -> Path:
    path.write_text(f"""
[images.bookworm-amd64]
local_build = "debian-bookworm"
platform = "linux/amd64"
[images.bookworm-arm64]
local_build = "debian-bookworm"
platform = "linux/arm64"
[indexes.fixtures]
serve = ["{house}"]
no_index = true
[packages.chain]
requirements = {requirements}
modules = {CHAIN_MODULES}
[packages.other]
requirements = ["torch==2.13.0"]
modules = ["torch"]
{extra}
""")
    return path


def test_a_step_is_named_after_its_pins_in_one_order():
    assert steps.set_name(["torchtune==0.6.1", "torch==2.13.0", "torchao==0.16.0"]) == \
        "torch-2.13.0_torchao-0.16.0_torchtune-0.6.1"
    assert steps.ordered(["torchtune==0.6.1", "Torch==2.13.0"]) == ("Torch==2.13.0", "torchtune==0.6.1")
    assert steps.set_name(["torch==2.13.0+cpu", "numpy"]) == "numpy_torch-2.13.0-cpu"
    ranged = steps.set_name(["torch==2.13.0", "torchao>=0.15,<0.18"])
    assert ranged.startswith("torch-2.13.0_torchao-") and len(ranged.rsplit("-", 1)[1]) == 8  # a hash: not a pin
    assert ranged != steps.set_name(["torch==2.13.0", "torchao>=0.15,<0.19"])
    assert reader.NAME_RE.match(ranged) and reader.NAME_RE.match(steps.set_name(["torch==2.13.0+cpu"]))


def test_a_step_with_the_pins_of_a_declared_cell_is_that_cell(tmp_path):
    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    same = steps.step_cell(chain, ["torchtune==0.6.1", "torchao==0.15.0", "torch==2.13.0"], made_by="bisect", matrix=m)
    assert same is chain
    other = steps.step_cell(chain, ["torch==2.13.0", "torchao==0.16.0", "torchtune==0.6.1"], made_by="bisect", matrix=m)
    assert other.id == "bookworm-amd64__fixtures__torch-2.13.0_torchao-0.16.0_torchtune-0.6.1"
    assert other.packages.made_by == "bisect" and other.packages.modules == chain.packages.modules
    assert other.to_json()["packages"]["made_by"] == "bisect" and "made_by" not in chain.to_json()["packages"]
    uv = steps.step_cell(dataclasses.replace(chain, installer="uv"), chain.packages.requirements, made_by="bisect",
                         matrix=m)
    assert uv.id == "bookworm-amd64__fixtures__torch-2.13.0_torchao-0.15.0_torchtune-0.6.1__uv"


def test_what_counts_as_bad():
    base = None
    plain = bisection.Question(base=base, package="torchao", good=Version("0.15.0"), bad=Version("0.18.0"))
    assert plain.is_bad(Verdict.IMPORT_FAILED, Verdict.PASS)
    assert plain.is_bad(Verdict.DEGRADED, Verdict.PASS)
    assert not plain.is_bad(Verdict.PASS, Verdict.DEGRADED)  # better than the good end: good
    assert plain.is_bad(Verdict.CRASHED, Verdict.DEGRADED)
    named = dataclasses.replace(plain, bad_verdicts=frozenset({Verdict.IMPORT_FAILED}))
    assert named.is_bad(Verdict.IMPORT_FAILED, Verdict.DEGRADED) and not named.is_bad(Verdict.CRASHED, Verdict.PASS)
    assert not plain.fixing and dataclasses.replace(plain, good=Version("0.19.0")).fixing


def test_the_new_state_is_bad_when_looking_for_a_break_and_good_again_when_looking_for_a_fix():
    broke = bisection.Question(base=None, package="torchao", good=Version("0.15.0"), bad=Version("0.18.0"))
    fixed = dataclasses.replace(broke, good=Version("0.19.0"))  # GOOD newer than BAD: what fixed it
    failed, passed = Verdict.IMPORT_FAILED, Verdict.PASS
    assert broke.in_new_state(failed, passed) and not broke.in_new_state(passed, passed)
    assert fixed.in_new_state(passed, passed) and not fixed.in_new_state(failed, passed)


@pytest.mark.parametrize("args, said", [
    (["numpy", "1.0", "2.0"], "package set 'chain' does not require numpy"),
    (["torchao", "0.15.0", "0.15.0"], "the good and the bad version are both 0.15.0"),
    (["torchao", "0.14.0", "0.18.0"], "torchao 0.14.0 cannot be bisected on bookworm-amd64 with index variant "
                                      "fixtures: not a release it lists"),
    (["torchao", "0.15.0", "0.16.1"], "torchao 0.16.1 cannot be bisected on bookworm-amd64 with index variant "
                                      "fixtures: no wheel for this target (cp311, manylinux_2_36_x86_64)"),
    (["torchao", "zero", "0.18.0"], "good version 'zero' is not a version"),
])
def test_bisect_refuses_bad_input_before_any_cell(tmp_path, capsys, monkeypatch, args, said):
    from harness.cli import search

    monkeypatch.setattr(search, "choose_backend", lambda *a, **kw: pytest.fail("a backend was chosen for bad input"))
    m = write(tmp_path / "m.toml", bisect_releases(tmp_path / "house"))
    assert main(["bisect", str(m), "bookworm-amd64__fixtures__chain", *args, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert said in err, err
    if "cannot be bisected" in said:
        assert "hint: releases of torchao that install on this target: 0.15.0, 0.16.0, 0.17.0, 0.18.0, 0.19.0" in err
    assert not (tmp_path / "r").exists()  # no cell ran, nothing was stored


def test_bisect_names_one_cell(tmp_path, capsys):
    m = write(tmp_path / "m.toml", bisect_releases(tmp_path / "house"))
    assert main(["bisect", str(m), "bookworm-*", "torchao", "0.15.0", "0.18.0"]) == 2
    assert "4 cells match 'bookworm-*'" in capsys.readouterr().err


def test_solve_refuses_bad_input(tmp_path, capsys):
    m = write(tmp_path / "m.toml", bisect_releases(tmp_path / "house"))
    assert main(["solve", str(m)]) == 2
    assert "declares several: name one with --image" in capsys.readouterr().err
    assert main(["solve", str(m), "--image", "bookworm-amd64", "--index", "lan"]) == 2
    assert "no index variant 'lan'" in capsys.readouterr().err
    assert main(["solve", str(m), "--image", "bookworm-amd64", "torch", "torch==2.13.0"]) == 2
    assert "a package is named twice" in capsys.readouterr().err
    assert main(["solve", str(m), "--image", "bookworm-amd64", "torch==2.13.0", "torchao>0.19",
                 "--results", str(tmp_path / "r")]) == 2
    assert "no release of torchao matching >0.19 installs on bookworm-amd64" in capsys.readouterr().err


def test_solve_takes_its_modules_from_a_set_naming_the_same_packages(tmp_path):
    from harness.answers.solve import modules_for

    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    assert modules_for(m, ["torchtune", "torch", "torchao"]) == tuple(eval(CHAIN_MODULES))
    assert modules_for(m, ["torch", "typing-extensions"]) == ("torch", "typing_extensions")


RESULTS = Path(__file__).parent / "data" / "results"


def recorded(version: str) -> dict:
    import json

    return json.loads((RESULTS / f"smoke-uv.torchao-{version}.json").read_text())


def test_facts_are_read_from_real_results():
    from harness.answers import known

    [degraded] = known.from_record(recorded("0.15.0"))
    assert degraded.pins == (("torch", "2.13.0+cpu"), ("torchao", "0.15.0")) and degraded.verdict is Verdict.DEGRADED
    assert degraded.losses == 1 and degraded.why == "torchao 0.15.0 skipped its C++ extensions with torch 2.13.0+cpu"
    [name] = known.from_record(recorded("0.16.0"))
    assert name.pins == (("torchao", "0.16.0"), ("torchtune", "0.6.1")) and name.verdict is Verdict.IMPORT_FAILED
    assert name.why == ("torchtune 0.6.1 imports int4_weight_only from torchao.quantization, which torchao 0.16.0 "
                        "does not provide")
    [module] = known.from_record(recorded("0.18.0"))
    assert module.why == "torchtune 0.6.1 needs module torchao.dtypes.nf4tensor, which torchao 0.18.0 does not have"
    assert module.text().endswith("(learned from bookworm-amd64__wheelhouse__torch-2.13.0_torchao-0.18.0_"
                                  "torchtune-0.6.1__uv)")

    # A fact holds for a pin set that admits both of its versions (==2.13.0 admits 2.13.0+cpu, as pip does).
    assert degraded.holds_for({"torch": "2.13.0", "torchao": "0.15.0", "torchtune": "0.6.0"})
    assert not degraded.holds_for({"torch": "2.12.0", "torchao": "0.15.0"})
    assert not degraded.holds_for({"torchao": "0.15.0", "torchtune": "0.6.1"})  # torch not in the set
    assert name.holds_for({"torch": "2.12.0", "torchao": "0.16.0", "torchtune": "0.6.1"})
    assert not name.holds_for({"torchao": "0.16.0", "torchtune": "0.6.0"})

    # Only results of the same image and index variant teach anything.
    records = [recorded(v) for v in ("0.15.0", "0.16.0", "0.18.0")]
    assert len(known.learned(records, image="bookworm-amd64", index="wheelhouse")) == 3
    assert known.learned(records, image="bookworm-amd64", index="default") == []
    assert known.learned(records, image="bookworm-arm64", index="wheelhouse") == []


REPORTS = Path(__file__).parent / "data" / "report"


def test_a_distribution_lacking_its_own_module_is_no_pair_and_the_next_failure_still_teaches():
    """The recorded broken chain: torchao 0.1.0 has no torchao.quantization. Its own import of it (the
    probe's, no importer) says nothing about a pair; torchtune's two failed imports say one fact."""
    from harness.answers import known

    record = json.loads((REPORTS / "bookworm-amd64__broken__chain.json").read_text())
    assert [step["error"]["importer"] for step in record["probe"]["imports"] if step["error"]] == [
        None, "torchtune", "torchtune"]
    fact = known.Fact(pins=(("torchao", "0.1.0"), ("torchtune", "0.6.1")), verdict=Verdict.IMPORT_FAILED,
                      why="torchtune 0.6.1 needs module torchao.quantization, which torchao 0.1.0 does not have",
                      cell_id="bookworm-amd64__broken__chain")
    assert known.from_record(record) == [fact]
    # had torchao's own __init__ made that import, it would still be torchao alone: no pair
    own = json.loads(json.dumps(record))
    own["probe"]["imports"][2]["error"]["importer"] = "torchao"
    assert known.from_record(own) == [fact]
    # a module that no installed distribution provides pairs with nothing
    unowned = json.loads(json.dumps(record))
    for step in unowned["probe"]["imports"]:
        if step["error"]:
            step["error"]["missing_module"] = "nf4.quantization"
    assert known.from_record(unowned) == []


def renamed(record: dict, module: str, distribution: str) -> dict:
    """The record as if `module` came from a distribution of another name (as `yaml` from PyYAML)."""
    out = json.loads(json.dumps(record))
    probe = out["probe"]
    probe["owners"][module] = [distribution]
    probe["distributions"][distribution] = probe["distributions"].pop(module)
    return out


def test_a_module_belongs_to_the_distribution_the_probe_says_owns_it():
    from harness.answers import known

    [fact] = known.from_record(renamed(recorded("0.18.0"), "torchao", "ao-nightly"))
    assert fact.pins == (("ao-nightly", "0.18.0"), ("torchtune", "0.6.1"))
    assert fact.why == "torchtune 0.6.1 needs module torchao.dtypes.nf4tensor, which ao-nightly 0.18.0 does not have"
    [loss] = known.from_record(renamed(recorded("0.15.0"), "torch", "torch-nightly"))
    assert loss.pins == (("torch-nightly", "2.13.0+cpu"), ("torchao", "0.15.0"))
    assert loss.cell_id == recorded("0.15.0")["cell_id"] and loss.losses == 1


def test_a_loss_pairs_with_torch_only_where_torch_is_installed_and_is_another_distribution():
    from harness.answers import known

    no_torch = recorded("0.15.0")
    del no_torch["probe"]["distributions"]["torch"]
    assert known.from_record(no_torch) == []
    # torch itself losing function (torchao's message said of torch's import) pairs torch with nothing
    itself = recorded("0.15.0")
    imports = itself["probe"]["imports"]
    ao = next(step for step in imports if step["module"] == "torchao")
    next(step for step in imports if step["module"] == "torch")["messages"] = ao["messages"]
    ao["messages"] = []
    assert known.from_record(itself) == []


def test_a_fact_holds_for_a_nightly_pin_and_not_for_a_version_packaging_cannot_read():
    from harness.answers import known

    nightly = known.Fact(pins=(("torch", "2.13.0.dev20261101+cpu"), ("torchao", "0.15.0")),
                         verdict=Verdict.DEGRADED, why="w", cell_id="c")
    assert nightly.holds_for({"torch": "2.13.0.dev20261101", "torchao": "0.15.0"})  # a pre-release, pinned
    assert not nightly.holds_for({"torch": "2.13.0.dev20261102", "torchao": "0.15.0"})
    # `torch===2.13.0-custom` pins a version PEP 440 cannot read: no claim that the fact holds
    assert not nightly.holds_for({"torch": "2.13.0-custom", "torchao": "0.15.0"})


def test_what_changed_between_two_real_results():
    from harness.model import CellResult

    good, bad = CellResult.from_json(recorded("0.15.0")), CellResult.from_json(recorded("0.16.0"))
    lines = bisection.changes(good, bad)
    # the two venvs' installer tooling differs (pip in one, not the other): not a change of the packages
    assert lines[:2] == ["verdict: degraded → import-failed", "installed: torchao 0.15.0 → 0.16.0"]
    assert lines[2].startswith("now: import torchtune.training: ImportError: cannot import name 'int4_weight_only' "
                               "from 'torchao.quantization'")
    assert [line for line in lines if line.startswith("no longer:")] == [
        "no longer: torchao: Skipping import of cpp extensions due to incompatible torch version 2.13.0+cpu for "
        "torchao version 0.15.0 Please see https://github.com/pytorch/ao/issues/2919 for more info"]
    assert lines[-1] == f"hint: {bad.hint}"
    assert bisection.finding(bad.hint) == ("torchtune 0.6.1 imports int4_weight_only from torchao.quantization, "
                                           "which torchao 0.16.0 does not provide")


def test_a_working_set_is_ranked_by_its_verdict_and_losses():
    from harness.answers import solve
    from harness.model import CellResult

    assert solve.rank(CellResult.from_json(recorded("0.15.0"))) == (1, 1)
    assert solve.rank(CellResult.from_json(recorded("0.16.0"))) is None


def test_steps_are_rows_of_the_table_of_the_matrix_that_declares_their_image_and_index(tmp_path, monkeypatch,
                                                                                       capsys):
    import json
    import shutil

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    results = tmp_path / "results"
    (results / "smoke").mkdir(parents=True)
    for version in ("0.15.0", "0.16.0"):
        record = recorded(version)
        (results / "smoke" / f"{record['cell_id']}.json").write_text(json.dumps(record))
    shutil.copy("results/smoke/README.md", results / "smoke" / "README.md")
    assert main(["table", "matrices/smoke.toml", "--results", str(results)]) == 0
    table = (results / "smoke" / "README.md").read_text()
    assert "`bookworm-amd64__wheelhouse__torch-2.13.0_torchao-0.15.0_torchtune-0.6.1__uv`" in table
    assert "`bookworm-amd64__wheelhouse__torch-2.13.0_torchao-0.16.0_torchtune-0.6.1__uv`" in table
    assert "Left out of the table" not in capsys.readouterr().out
    # a matrix that does not declare their index variant leaves them out
    other = tmp_path / "other.toml"
    other.write_text(Path("matrices/smoke.toml").read_text().replace("[indexes.wheelhouse]", "[indexes.house]")
                     .replace('index = "wheelhouse"', 'index = "house"')
                     .replace('"../', f'"{Path.cwd()}/'))  # paths in a matrix are relative to its file
    assert main(["table", str(other), "--results", str(results)]) == 0
    assert "Left out of the table: 2 stored result(s)" in capsys.readouterr().out


def test_the_budget_counts_cells_run_and_seconds(tmp_path):
    from harness.run.options import RunOptions

    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    now = [100.0]
    stepper = steps.Stepper(m, None, RunOptions(run_id="r"), results_dir=tmp_path / "r",
                            budget=steps.Budget(cells=2, seconds=60), clock=lambda: now[0])
    assert stepper.spent() is None
    stepper.ran = 2
    assert stepper.spent() == "the budget of 2 cell(s) is spent"
    stepper.ran = 1
    now[0] += 60
    assert stepper.spent() == "the budget of 60 s is spent"
    # a spent budget runs nothing: the step says why
    [step] = stepper.run([m.cells[0]])
    assert step.result is None and step.unrun == "the budget of 60 s is spent" and step.ran == 0
    assert step.outcome() == "not run: the budget of 60 s is spent"


class Containers:
    """runner.run_cells for a stepper's batches, answered with recorded results (tests/data/report/) in
    turn per cell, each as if this run had run it; and `plan`'s predictions, from recorded ones."""

    def __init__(self, monkeypatch, answers: dict, predictions: dict | None = None):
        from harness.run import runner

        self.answers = {cell_id: list(names) for cell_id, names in answers.items()}
        self.batches: list[list[str]] = []
        self.predictions = predictions or {}
        monkeypatch.setattr(runner, "run_cells", self.run_cells)
        monkeypatch.setattr(runner, "predictor", lambda options, log: self.predict)

    def predict(self, cell):
        name = self.predictions.get(cell.id, "bookworm-amd64__lan__chain")
        return json.loads((RECORDS / f"{name}.json").read_text())["prediction"]

    def run_cells(self, matrix, cells, backend, options, *, results_dir, log, predictions, reporter):
        self.batches.append([c.id for c in cells])
        self.given = dict(matrix=matrix, backend=backend, options=options, results_dir=results_dir, log=log,
                          predictions=predictions, reporter=reporter)
        return [recorded_as(self.answers[c.id].pop(0), c) for c in cells]


CHAIN, OTHER = "bookworm-amd64__fixtures__chain", "bookworm-amd64__fixtures__other"  # the cells of write()
UNUSED_BACKEND = object()  # the stepper only hands it to the runner, which Containers stands for


def stepper_for(tmp_path, jobs=1, **kwargs):
    (tmp_path / "house").mkdir(parents=True)  # the runner is answered from records: no wheel is needed
    m = reader.load(write(tmp_path / "m.toml", tmp_path / "house"))
    now = [100.0]
    lines: list[str] = []
    stepper = steps.Stepper(m, UNUSED_BACKEND, RunOptions(run_id="r", jobs=jobs), results_dir=tmp_path / "r",
                            log=lines.append, clock=lambda: now[0], **kwargs)
    return m, stepper, lines, now


def test_a_step_plan_says_cannot_install_is_ruled_out_before_its_container(tmp_path, monkeypatch):
    containers = Containers(monkeypatch, {}, predictions={"bookworm-amd64__fixtures__chain":
                                                          "bookworm-amd64__arm-only__edgeops"})
    m, stepper, lines, _ = stepper_for(tmp_path)
    cell = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    [step] = stepper.run([cell])
    said = containers.predict(cell)["evidence"][0]  # uv's words for the recorded no-distribution
    assert step.pruned == f"plan: uv cannot install it here (no-distribution): {said}"
    assert step.outcome() == f"not run: {step.pruned}" and step.result is None and step.verdict is None
    assert step.cell is cell and step.prediction == containers.predict(cell)
    assert containers.batches == [] and stepper.counts() == {"ran": 0, "reused": 0, "retried": 0, "pruned": 1}
    assert lines == ["  bookworm-amd64__fixtures__chain: ruled out by plan (no-distribution)"]
    # a prediction without uv's words says only the outcome; each step ruled out counts
    other = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__other")
    monkeypatch.setattr(stepper, "_predict", lambda c: {"outcome": "conflict", "evidence": []})
    [step] = stepper.run([other])
    assert step.pruned == "plan: uv cannot install it here (conflict)" and stepper.pruned == 2


def test_an_outage_is_run_again_up_to_the_retries_and_says_nothing_about_the_packages(tmp_path, monkeypatch):
    outage, passed = "missing__lan__chain", "bookworm-amd64__lan__chain"  # image-unavailable, then a pass
    containers = Containers(monkeypatch, {CHAIN: [outage, outage, passed], OTHER: [outage, outage, outage]})
    m, stepper, lines, _ = stepper_for(tmp_path, retries=2, jobs=2)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal: plain lines all the same, as asked
    chain, other = (next(c for c in m.cells if c.id == f"bookworm-amd64__fixtures__{p}") for p in ("chain", "other"))
    got = stepper.run([chain, other, chain])  # the same cell twice is one step
    assert [s.cell.id for s in got] == [chain.id, other.id]
    assert containers.batches == [[chain.id, other.id]] * 3
    fixed, down = got
    assert (fixed.verdict, fixed.ran, fixed.judged) == (Verdict.PASS, 3, True)
    assert fixed.unjudged == ("image-unavailable", "image-unavailable")
    assert fixed.prediction == containers.predict(chain)
    # the recorded pass took 3.959 s
    assert fixed.outcome() == "pass (ran 4.0 s, after image-unavailable, image-unavailable)"
    assert (down.verdict, down.ran, down.judged) == (None, 3, False)
    assert down.result.verdict is Verdict.IMAGE_UNAVAILABLE and down.unjudged == ("image-unavailable",) * 3
    assert down.outcome() == "image-unavailable (ran 0.0 s)"
    assert stepper.counts() == {"ran": 6, "reused": 0, "retried": 4, "pruned": 0}
    assert lines == [f"  {cell.id}: image-unavailable says nothing about the packages: running it again "
                     f"(retry {n} of 2)" for n in (1, 2) for cell in (chain, other)]
    # the runner ran each batch with the stepper's matrix, options, folder and log, and plan's predictions
    given = containers.given
    assert (given["matrix"], given["backend"], given["options"]) == (m, UNUSED_BACKEND, stepper.options)
    assert given["results_dir"] == tmp_path / "r" and given["log"] == lines.append
    assert given["predictions"] == {c.id: containers.predict(c) for c in (chain, other)}
    assert isinstance(given["reporter"], progress.Lines) and given["reporter"].total == 2
    assert given["reporter"].log == lines.append and given["reporter"].jobs == 2


def test_a_step_that_has_not_run_says_so(tmp_path):
    (tmp_path / "house").mkdir()
    m = reader.load(write(tmp_path / "m.toml", tmp_path / "house"))
    assert steps.Step(cell=m.cells[0]).outcome() == "not run"


def test_retries_near_the_end_of_a_cell_budget_run_one_by_one_and_stop_at_the_budget(tmp_path, monkeypatch):
    outage = "missing__lan__chain"
    containers = Containers(monkeypatch, {CHAIN: [outage, "bookworm-amd64__lan__chain"], OTHER: [outage]})
    m, stepper, _, _ = stepper_for(tmp_path, budget=steps.Budget(cells=3))
    chain, other = (next(c for c in m.cells if c.id == f"bookworm-amd64__fixtures__{p}") for p in ("chain", "other"))
    first, second = stepper.run([chain, other])
    assert containers.batches == [[chain.id, other.id], [chain.id]]  # 2 ran; 1 left: one at a time
    assert first.verdict is Verdict.PASS and second.unrun == "the budget of 3 cell(s) is spent"
    assert stepper.ran == 3


def test_a_result_this_run_reused_costs_nothing(tmp_path, monkeypatch):
    Containers(monkeypatch, {CHAIN: ["bookworm-amd64__skipping__ao"]})
    m, stepper, _, now = stepper_for(tmp_path)
    cell = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    from harness.run import runner

    fresh = runner.run_cells

    def reusing(*args, **kwargs):  # the result cache answered: the runner marks the record reused by this run
        return [dataclasses.replace(r, reused={"by_run": "r", "why": "inputs unchanged"})
                for r in fresh(*args, **kwargs)]

    monkeypatch.setattr(runner, "run_cells", reusing)
    now[0] += 7
    [step] = stepper.run([cell])
    assert (step.reused, step.ran, step.verdict) == (True, 0, Verdict.DEGRADED)
    assert step.outcome() == "degraded (reused)"
    assert stepper.counts() == {"ran": 0, "reused": 1, "retried": 0, "pruned": 0}
    assert stepper.counts_text() == ("0 cell(s) run, 1 reused from earlier results, 0 retried after an "
                                     "infrastructure verdict, 0 ruled out by plan before a container started; 7 s")


def test_near_the_end_of_a_cell_budget_steps_run_one_by_one_and_the_rest_say_why_not(tmp_path, monkeypatch):
    containers = Containers(monkeypatch, {CHAIN: ["bookworm-amd64__lan__chain"]})
    m, stepper, _, _ = stepper_for(tmp_path, budget=steps.Budget(cells=1))
    chain, other = (next(c for c in m.cells if c.id == f"bookworm-amd64__fixtures__{p}") for p in ("chain", "other"))
    first, second = stepper.run([chain, other])
    assert containers.batches == [[chain.id]]
    assert first.verdict is Verdict.PASS and second.unrun == "the budget of 1 cell(s) is spent"
    # a budget that covers every step runs them together
    _, roomy, _, _ = stepper_for(tmp_path / "roomy", budget=steps.Budget(cells=2))
    containers = Containers(monkeypatch, {CHAIN: ["bookworm-amd64__lan__chain"],
                                          OTHER: ["bookworm-amd64__lan__chain"]})
    assert [s.verdict for s in roomy.run([chain, other])] == [Verdict.PASS, Verdict.PASS]
    assert containers.batches == [[chain.id, other.id]]


def test_a_search_without_plan_is_refused(tmp_path):
    from harness.errors import HarnessError

    m = reader.load(write(tmp_path / "m.toml", bisect_releases(tmp_path / "house")))
    with pytest.raises(HarnessError, match="a search needs `plan`"):
        steps.Stepper(m, None, RunOptions(run_id="r", plan=False), results_dir=tmp_path / "r", log=lambda _: None)


SEARCHED = """
[images.jp6]
local_build = "debian-bookworm"
platform = "linux/arm64"
jetpack = "6.2"
cuda = "12.6"
[indexes.jetson]
index_url = "http://127.0.0.1:8080/jp{jetpack_major}/cu{cuda_nodot}"
[indexes.mirror]
index_url = "http://127.0.0.1:8080/simple"
[matrix]
images = []
timeout = 600
[[matrix.include]]
image = "bookworm-amd64"
index = "mirror"
packages = "other"
memory = "2g"
[[matrix.include]]
image = "bookworm-amd64"
index = "fixtures"
packages = "chain"
expect = "import-failed"
why = "a known-bad pair"
memory = "1g"
[[matrix.include]]
image = "bookworm-arm64"
index = "fixtures"
packages = "other"
memory = "3g"
"""


def test_a_search_builds_its_steps_on_a_cell_of_the_matrix_for_its_image(tmp_path):
    """The base keeps a declared cell's limits (the same image and index variant, else the same image),
    takes the search's packages and installer, expects nothing; an image no cell uses gets a fresh cell
    with the matrix's timeout. The index variant is filled for the image either way."""
    from harness.errors import HarnessError
    from harness.model import PackageSet

    (tmp_path / "house").mkdir()
    m = reader.load(write(tmp_path / "m.toml", tmp_path / "house", extra=SEARCHED))
    declared = m.cells[1]
    assert (declared.id, declared.expect, declared.memory) == ("bookworm-amd64__fixtures__chain", "import-failed",
                                                               1 << 30)
    asked = PackageSet(name="q", requirements=("torch==2.13.0",), modules=("torch",))
    same = steps.base_for(m, image="bookworm-amd64", index="fixtures", installer="uv", packages=asked)
    assert same == dataclasses.replace(declared, packages=asked, installer="uv", expect="pass", expect_why=None)
    other_index = steps.base_for(m, image="bookworm-arm64", index="jetson", installer="uv", packages=asked)
    assert other_index.id == "bookworm-arm64__jetson__q__uv" and other_index.memory == 3 << 30
    assert other_index.index.index_url == "http://127.0.0.1:8080/jp{jetpack_major}/cu{cuda_nodot}"  # no JetPack
    fresh = steps.base_for(m, image="jp6", index="jetson", installer="uv", packages=asked)
    assert fresh.id == "jp6__jetson__q__uv" and (fresh.timeout, fresh.memory, fresh.expect) == (600, None, "pass")
    assert fresh.image == next(i for i in m.images if i.name == "jp6") and fresh.packages == asked
    assert fresh.index.index_url == "http://127.0.0.1:8080/jp6/cu126"
    with pytest.raises(HarnessError) as image:
        steps.base_for(m, image="jammy", index="fixtures", installer="pip", packages=asked)
    assert (str(image.value), image.value.hint) == (f"{m.source}: no image 'jammy'",
                                                    "the matrix declares: bookworm-amd64, bookworm-arm64, jp6")
    with pytest.raises(HarnessError) as index:
        steps.base_for(m, image="jp6", index="nightly", installer="pip", packages=asked)
    assert (str(index.value), index.value.hint) == (f"{m.source}: no index variant 'nightly'",
                                                    "the matrix declares: fixtures, jetson, mirror")


def test_a_step_cell_expects_nothing_of_its_pins(tmp_path):
    (tmp_path / "house").mkdir()
    m = reader.load(write(tmp_path / "m.toml", tmp_path / "house", extra=SEARCHED))
    declared = m.cells[1]
    step = steps.step_cell(declared, ["torch==2.13.0", "torchao==0.16.0"], made_by="solve", matrix=m)
    assert step.id == "bookworm-amd64__fixtures__torch-2.13.0_torchao-0.16.0"
    assert (step.expect, step.expect_why, step.memory) == ("pass", None, 1 << 30)  # the limits are the base's


def test_without_uv_a_search_is_refused_saying_what_to_install(tmp_path, monkeypatch):
    from harness import installers
    from harness.errors import HarnessError

    def missing():
        raise HarnessError("uv is not installed in this environment")

    monkeypatch.setattr(installers, "uv_binary", missing)
    (tmp_path / "house").mkdir()
    m = reader.load(write(tmp_path / "m.toml", tmp_path / "house"))
    said: list[str] = []
    with pytest.raises(HarnessError) as refused:
        steps.Stepper(m, None, RunOptions(run_id="r"), results_dir=tmp_path / "r", log=said.append)
    assert said == ["note: no plan stored with the results: uv is not installed in this environment"]
    assert refused.value.lines() == [
        "ERROR a search needs `plan` (uv) to predict each step before its container starts",
        "  hint: install uv (a dependency of the harness) and do not pass --no-plan"]


def test_a_set_with_ranges_extras_or_markers_is_named_with_a_hash_of_the_whole_set():
    ranged = steps.set_name(["torchao~=0.15.0", "torch!=2.12.0", "numpy<2", "scipy>1.10", "pandas<=2.2"])
    name, digest = ranged.rsplit("-", 1)
    assert name == "numpy-lt2_pandas-le2.2_scipy-gt1.10_torch-ne2.12.0_torchao-compat0.15.0"
    assert len(digest) == 8 and int(digest, 16) >= 0
    extras = steps.set_name(["torch==2.13.0", "uvicorn[standard]>=0.30"])
    assert extras.startswith("torch-2.13.0_uvicorn-ge0.30-")
    assert extras != steps.set_name(["torch==2.13.0", "uvicorn>=0.30"])  # the extra changes the set
    assert steps.set_name(['edgeops; python_version > "3.8"']).startswith("edgeops-")
    # arbitrary equality is an exact pin too; its version is written safely, never ending in a separator
    assert steps.set_name(["torch===2.13.0-Custom-"]) == "torch-2.13.0-custom"
    # one order by distribution name, whatever the case the requirement is written in
    assert steps.ordered(["torch==2.13.0", "TorchAO==0.15.0"]) == ("torch==2.13.0", "TorchAO==0.15.0")


def test_a_long_set_name_is_cut_to_the_limit_and_still_tells_sets_apart():
    pins = ["torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1", "torchvision==0.28.0", "torchaudio==2.13.0",
            "numpy==2.3.4"]
    whole = "numpy-2.3.4_torch-2.13.0_torchao-0.15.0_torchaudio-2.13.0_torchtune-0.6.1_torchvision-0.28.0"
    name = steps.set_name(pins)
    assert len(whole) > steps.NAME_MAX and len(name) == steps.NAME_MAX
    assert name.startswith(whole[:steps.NAME_MAX - 9].rstrip("_-.") + "-")
    assert name != steps.set_name([*pins[:-1], "numpy==2.3.5"])  # past the cut, the hash tells them apart
    assert reader.NAME_RE.match(name)
    exact = "a" * (steps.NAME_MAX - len("-1.0")) + "==1.0"  # a name of exactly the limit is kept whole
    assert steps.set_name([exact]) == exact.replace("==", "-")
    # a cut that ends on a separator drops it before the hash
    first = "a" * (steps.NAME_MAX - 9 - len("-1.0") - 1) + "==1.0"  # its part and the "_" fill the cut
    cut = steps.set_name([first, "b" * 10 + "==1.0"])
    assert cut.rsplit("-", 1)[0] == first.replace("==", "-") and len(cut) == steps.NAME_MAX - 1


# --- the search loops without containers: a stepper that answers from recorded results ------------------

RECORDS = Path(__file__).parent / "data" / "report"


def recorded_as(name: str, cell) -> CellResult:
    """A recorded result (tests/data/report/) standing for a step's cell."""
    data = json.loads((RECORDS / f"{name}.json").read_text())
    return CellResult.from_json({**data, "cell_id": cell.id})


class Recorded:
    """A Stepper (harness.answers.steps) whose cells get a recorded result chosen by their pins, and whose
    plan refuses the pin sets `refuse` names: what bisect and solve decide, without a container."""

    def __init__(self, outcome, refuse=lambda pins: False):
        self.outcome, self.refuse = outcome, refuse
        self.options = RunOptions(run_id="r1")
        self.asked: list[tuple[str, ...]] = []
        self.ran = self.reused = self.retried = self.pruned = 0

    @staticmethod
    def pins(cell) -> dict[str, str]:
        return {steps.requirement_name(r): str(Requirement(r).specifier).lstrip("=")
                for r in cell.packages.requirements}

    def predict(self, cell):
        return {"outcome": "conflict" if self.refuse(self.pins(cell)) else "installs"}

    def run(self, cells):
        out = []
        for cell in cells:
            self.asked.append(tuple(sorted(cell.packages.requirements)))
            self.ran += 1
            out.append(steps.Step(cell=cell, result=recorded_as(self.outcome(self.pins(cell)), cell), ran=1))
        return out

    def spent(self):
        return None

    def counts(self):
        return {"ran": self.ran, "reused": self.reused, "retried": self.retried, "pruned": self.pruned}

    def counts_text(self):
        return f"{self.ran} cell(s) run"


PASSED, BROKEN, DEGRADED = "bookworm-amd64__lan__chain", "bookworm-amd64__broken__chain", "bookworm-amd64__skipping__ao"


@pytest.fixture
def chain_and_offer(tmp_path):
    from harness.plan import releases
    from harness.plan.target import Target

    house = bisect_releases(tmp_path / "house")
    m = reader.load(write(tmp_path / "m.toml", house))
    chain = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    target = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))
    return chain, releases.offered(chain.index, "torchao", target)


def dropped_int4(pins) -> str:
    """torchao 0.17.0 and 0.18.0 dropped what torchtune imports (as bisect_releases makes them)."""
    return BROKEN if pins["torchao"] in ("0.17.0", "0.18.0") else PASSED


def test_bisect_finds_the_first_bad_release(chain_and_offer):
    chain, offer = chain_and_offer
    q = bisection.Question(base=chain, package="torchao", good=Version("0.15.0"), bad=Version("0.19.0"))
    stepper = Recorded(lambda pins: BROKEN if pins["torchao"] >= "0.17.0" else PASSED)
    got = bisection.bisect(q, offer, stepper, log=lambda _: None)
    assert (got.first, got.last, got.none, got.exit_code) == (Version("0.17.0"), Version("0.16.0"), None, 0)
    assert got.changed[0] == "verdict: pass → import-failed"
    assert got.because == "torchao 0.1.0 has no module torchao.quantization"  # the recorded result's finding
    assert dict(got.skipped)[Version("0.16.1")].startswith("no wheel for this target")


def test_bisect_with_the_good_end_newer_finds_the_first_release_that_fixed_it(chain_and_offer):
    chain, offer = chain_and_offer
    q = bisection.Question(base=chain, package="torchao", good=Version("0.19.0"), bad=Version("0.17.0"))
    stepper = Recorded(dropped_int4)
    got = bisection.bisect(q, offer, stepper, log=lambda _: None)
    assert (got.first, got.last, got.exit_code) == (Version("0.19.0"), Version("0.18.0"), 0)
    assert [v for v, _ in got.tried] == [Version("0.19.0"), Version("0.17.0"), Version("0.18.0")]
    assert got.because == "fixes: torchao 0.1.0 has no module torchao.quantization"
    assert got.lines()[0] == "First release that fixed it: torchao 0.19.0 (pass); last bad: torchao 0.18.0 " \
                             "(import-failed)"


def test_bisect_without_a_bad_end_has_nothing_to_bisect(chain_and_offer):
    chain, offer = chain_and_offer
    q = bisection.Question(base=chain, package="torchao", good=Version("0.16.0"), bad=Version("0.19.0"))
    got = bisection.bisect(q, offer, Recorded(dropped_int4), log=lambda _: None)
    assert got.exit_code == 1 and got.first is None
    assert got.none == ("the bad end torchao 0.19.0 is pass, which does not count as bad (anything but pass): "
                        "nothing to bisect")


def test_solve_does_not_run_a_set_that_a_known_loss_says_cannot_beat_the_best(tmp_path):
    """The Docker test's second solve: torch 2.13.0, torchao below 0.16, any torchtune. The newest set is
    degraded (torchao 0.15.0 skipped its C++ extensions with torch 2.13.0, one loss); the older torchtune
    with the same torchao would lose the same: ruled out without a cell. torchtune 0.7.0 plan refuses."""
    from harness.answers import solve
    from harness.plan import releases
    from harness.plan.target import Target

    house = solve_releases(tmp_path / "house")
    m = reader.load(write(tmp_path / "m.toml", house, requirements='["torch", "torchao", "torchtune"]'))
    base = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    target = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))
    offers = {n: releases.offered(base.index, n, target) for n in ("torch", "torchao", "torchtune")}
    stepper = Recorded(lambda pins: DEGRADED, refuse=lambda pins: pins["torchtune"] == "0.7.0")
    got = solve.solve(base, ["torch==2.13.0", "torchao<0.16", "torchtune"], offers, stepper, log=lambda _: None)
    assert stepper.asked == [("torch==2.13.0", "torchao==0.15.0", "torchtune==0.6.1")]
    assert got.best is not None and got.best.versions == {"torch": "2.13.0", "torchao": "0.15.0", "torchtune": "0.6.1"}
    assert got.best_result.verdict is Verdict.DEGRADED and got.exit_code == 0
    [older] = [d for d in got.decided if d is not got.best]
    assert older.versions["torchtune"] == "0.6.0" and older.step is None
    assert older.rejected.startswith("cannot beat torch 2.13.0, torchao 0.15.0, torchtune 0.6.1 (degraded, "
                                     "1 loss(es)): known: torchao 0.15.0 skipped its C++ extensions with torch 2.13.0")
    assert dict(got.skipped["torchtune"])["0.7.0"].startswith("plan: cannot install here with torch==2.13.0, "
                                                              "torchao<0.16 (conflict)")


def test_solve_prefers_a_passing_older_set_to_a_newer_degraded_one(tmp_path):
    from harness.answers import solve
    from harness.plan import releases
    from harness.plan.target import Target

    house = solve_releases(tmp_path / "house")
    m = reader.load(write(tmp_path / "m.toml", house, requirements='["torch", "torchao", "torchtune"]'))
    base = next(c for c in m.cells if c.id == "bookworm-amd64__fixtures__chain")
    target = Target(python=(3, 11), machine="x86_64", glibc=(2, 36))
    offers = {n: releases.offered(base.index, n, target) for n in ("torch", "torchao", "torchtune")}
    stepper = Recorded(lambda pins: DEGRADED if pins["torch"] == "2.13.0" else PASSED)
    got = solve.solve(base, ["torch", "torchao<0.16", "torchtune==0.6.1"], offers, stepper, log=lambda _: None)
    assert got.best.versions == {"torch": "2.12.0", "torchao": "0.15.0", "torchtune": "0.6.1"}
    assert got.best_result.verdict is Verdict.PASS
    newer = next(d for d in got.decided if d.versions["torch"] == "2.13.0")
    assert newer.rejected.startswith("degraded with 1 loss(es): torchao 0.15.0 skipped its C++ extensions with "
                                     "torch 2.13.0; torch 2.12.0, torchao 0.15.0, torchtune 0.6.1 passes")
