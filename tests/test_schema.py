"""The JSON Schema of the matrix format: made from the model and the reader, shipped beside the
matrices, named by each one's first line, and rejecting what `validate` rejects wherever a schema can
say it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import tomllib
from harness_cli import cli
from test_matrix import ERRORS

from harness import resources
from harness.matrix import reader, schema

# The bad inputs of test_matrix.ERRORS a schema cannot reject, and why: only the reader knows.
BEYOND_A_SCHEMA = {
    "dockerfile-not-found": "a file must exist",
    "find-links-dir-missing": "a folder must exist",
    "serve-dir-missing": "a folder must exist",
    "requirement-no-version": "PEP 508 is a grammar no pattern here spells",
    "requirement-dangling-comma": "PEP 508",
    "prefetch-bad-requirement": "PEP 508",
    "template-unfillable": "a template field another table (the image) must give",
    "axis-undeclared-image": "a name another table must declare",
    "axis-undeclared-package": "a name another table must declare",
    "include-undeclared-value": "a name another table must declare",
    "exclude-matches-nothing": "a pattern that must match a declared name",
    "no-cells-empty-axis": "the expansion into cells",
    "no-cells-all-excluded": "the expansion into cells",
}


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(resources.SCHEMA.read_text(encoding="utf-8")))


def test_the_shipped_schema_is_the_one_the_model_makes():
    jsonschema.Draft7Validator.check_schema(schema.build())
    assert resources.SCHEMA.read_text(encoding="utf-8") == schema.text(), \
        "run: wheel-harness schema -o matrices/matrix.schema.json"


def test_the_schema_command_prints_it():
    done = cli("schema")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == schema.build()


@pytest.mark.parametrize("path", resources.shipped_matrices(), ids=lambda p: p.name)
def test_every_shipped_matrix_names_the_schema_and_is_valid_under_it(path, validator):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#:schema "), f"{path.name}: the first line names no schema"
    named = (path.parent / first.removeprefix("#:schema ").strip()).resolve()
    assert named == resources.SCHEMA.resolve()
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(tomllib.loads(path.read_text(encoding="utf-8")))]
    assert not errors, errors


@pytest.mark.parametrize("name, text", [(e[0], e[1]) for e in ERRORS if e[0] not in BEYOND_A_SCHEMA],
                         ids=[e[0] for e in ERRORS if e[0] not in BEYOND_A_SCHEMA])
def test_the_schema_rejects_what_validate_rejects(name, text, validator):
    assert list(validator.iter_errors(tomllib.loads(text))), f"{name}: the schema accepts it"


@pytest.mark.parametrize("name", sorted(BEYOND_A_SCHEMA))
def test_what_the_schema_cannot_say_is_said_by_validate(name, validator, tmp_path):
    """The list above stays true: the schema lets these through, and the reader catches each."""
    text = next(e[1] for e in ERRORS if e[0] == name)
    assert not list(validator.iter_errors(tomllib.loads(text))), f"{name}: the schema rejects it now: drop it above"
    (tmp_path / "m.toml").write_text(text)
    assert reader.validate(tmp_path / "m.toml")


def test_every_bad_input_is_sorted():
    names = {e[0] for e in ERRORS}
    assert set(BEYOND_A_SCHEMA) <= names
    assert len(names - set(BEYOND_A_SCHEMA)) > len(BEYOND_A_SCHEMA)


def test_a_key_the_reader_learns_must_be_described(monkeypatch):
    monkeypatch.setattr(reader, "IMAGE_KEYS", (*reader.IMAGE_KEYS, "gpu_arch"))
    with pytest.raises(schema.SchemaDrift, match=r"images\.NAME.*gpu_arch"):
        schema.build()

