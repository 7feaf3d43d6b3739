"""Reading a Prometheus matrix answer (range queries for judge checks), without a server."""

from __future__ import annotations

import math

import pytest

from shipsafe.errors import ProviderError
from shipsafe.providers.metrics.prometheus import _series


def test_one_series_becomes_its_points():
    answer = [{"metric": {}, "values": [[100, "1.5"], [110, "NaN"], [120, "2"]]}]
    points = _series(answer, "q")
    assert points[0] == (100.0, 1.5) and points[2] == (120.0, 2.0)
    assert math.isnan(points[1][1])


def test_no_series_is_no_data():
    assert _series([], "q") == ()


def test_several_series_name_the_query():
    answer = [{"metric": {"a": "1"}, "values": []}, {"metric": {"a": "2"}, "values": []}]
    with pytest.raises(ProviderError, match="'q' returned 2 series"):
        _series(answer, "q")


@pytest.mark.parametrize(
    "answer",
    [
        [{"metric": {}, "value": [1, "2"]}],  # an instant vector
        [{"metric": {}, "values": [[1]]}],
        [{"metric": {}, "values": [[1, "x"]]}],
        {"resultType": "matrix"},
    ],
)
def test_malformed_answers_are_provider_errors(answer):
    with pytest.raises(ProviderError):
        _series(answer, "q")
