"""The contract every metric source passes: a query gives one number, "no data" (None) is
not "several series" (an error), an error answer is a ProviderError (the engine records it
as an error measurement), and no library error ever escapes. Subclass MetricSourceContract
and define three fixtures:

    source          a source on a healthy server
    queries         Queries: what to ask that source for each case
    broken_source   the same source whose transport raises its library's own errors
                    (requests', httpx', botocore's, OSError ...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from shipsafe.errors import ProviderError, ShipsafeError
from shipsafe.providers.metrics.base import MetricQuery, MetricSource

VALUE = 0.25  # what `queries.value` answers


@dataclass(frozen=True)
class Queries:
    value: MetricQuery  # one series whose value is VALUE
    no_data: MetricQuery  # the source answers, with nothing in it
    several: MetricQuery  # more than one series (or value) where one was asked for
    error: MetricQuery  # the source answers an error


class MetricSourceContract:
    @pytest.fixture
    def source(self) -> MetricSource:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def queries(self) -> Queries:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def broken_source(self) -> MetricSource:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_check_passes_when_the_source_is_online(self, source: MetricSource) -> None:
        source.check()

    def test_one_series_is_its_number(self, source: MetricSource, queries: Queries) -> None:
        result = source.query(queries.value)
        assert result.value == pytest.approx(VALUE)
        assert result.sent  # what was asked, shown with the measurement

    def test_no_data_is_none_not_an_error(self, source: MetricSource, queries: Queries) -> None:
        assert source.query(queries.no_data).value is None

    def test_several_series_is_an_error_not_no_data(
        self, source: MetricSource, queries: Queries
    ) -> None:
        with pytest.raises(ProviderError):
            source.query(queries.several)

    def test_an_error_answer_is_a_provider_error(
        self, source: MetricSource, queries: Queries
    ) -> None:
        with pytest.raises(ProviderError):
            source.query(queries.error)

    @pytest.mark.parametrize("verb", ["query", "check"])
    def test_library_errors_never_escape(
        self, broken_source: MetricSource, queries: Queries, verb: str
    ) -> None:
        calls: dict[str, Callable[[], object]] = {
            "query": lambda: broken_source.query(queries.value),
            "check": broken_source.check,
        }
        with pytest.raises(ShipsafeError):
            calls[verb]()
