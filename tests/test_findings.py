"""The plan table's rows and findings (harness.reports.columns, harness.reports.findings): pure logic on
numbers, and the whole block rendered from records of a real run of the smoke matrix."""

from __future__ import annotations

import pytest

from harness.reports import findings


@pytest.mark.parametrize(("value", "base", "text"), [
    (10.0, 60.0, "6× faster than"),
    (40.0, 60.0, "1.5× faster than"),
    (57.0, 60.0, "about as fast as"),
    (70.0, 60.0, "1.2× slower than"),
    (180.0, 60.0, "3× slower than"),
    (None, 60.0, None),
    (10.0, None, None),
    (0.0, 60.0, None),
])
def test_a_time_is_put_against_the_baselines(value, base, text):
    assert findings.faster(value, base) == text


@pytest.mark.parametrize(("value", "base", "text"), [
    (620, 1000, "38 % smaller than"),
    (1120, 1000, "12 % larger than"),
    (1004, 1000, "the same size as"),
    (None, 1000, None),
    (1000, 0, None),
])
def test_a_size_is_put_against_the_baselines(value, base, text):
    assert findings.smaller(value, base) == text
