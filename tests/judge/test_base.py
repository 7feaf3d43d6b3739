from shipsafe.judge.base import Interval, Outcome, Verdict


def test_interval_prints_what_it_bounds():
    assert str(Interval(0.5, 2.0, "rate ratio")) == "rate ratio in [0.5, 2]"


def test_verdict_outcomes_are_the_four_a_check_can_reach():
    assert {o.value for o in Outcome} == {"pass", "marginal", "fail", "undecided"}
    v = Verdict(Outcome.FAIL, "canary worse")
    assert v.interval is None and v.score is None
