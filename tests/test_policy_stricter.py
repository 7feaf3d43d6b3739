"""A policy given on the command line only adds rules: each setting in force is the stricter
of the trust root's and the file's (shipsafe.policy.stricter)."""

from __future__ import annotations

from shipsafe.policy.model import EnvironmentRules
from shipsafe.policy.stricter import stricter

LAX = EnvironmentRules.model_validate({})
STRICT = EnvironmentRules.model_validate({
    "requireApproval": {"count": 3, "group": "release"},
    "maxFirstWeight": 5,
    "maxWeightIncrease": 10,
    "requireCheckBetweenIncreases": True,
    "requireBreakers": True,
    "requireBuiltinBreaker": True,
    "requireDataSnapshot": True,
    "maxConcurrentRollouts": 1,
    "freezeWindows": [{"name": "weekend", "days": ["sat", "sun"]}],
    "freezeAfterRollback": "1h",
    "maxChainDepth": 0,
    "rollbackWindow": "4h",
    "emergency": {"allowed": False, "maxPause": "10s", "approvalAfter": True,
                  "minReasonLength": 30, "allowedKinds": ["human"], "maxPendingReviews": 0},
    "deployers": ["human"],
    "maxDuration": "2h",
})


def test_the_stricter_side_wins_whichever_side_it_is_on() -> None:
    for a, b in ((LAX, STRICT), (STRICT, LAX)):
        merged = stricter(a, b)
        assert merged.model_dump() == STRICT.model_dump()


def test_every_rule_of_the_policy_is_merged() -> None:
    # a rule added to EnvironmentRules and forgotten in stricter() would silently take the
    # trust root's value and drop the command line's: this test names the one forgotten
    merged = stricter(LAX, STRICT)
    forgotten = [
        name for name in EnvironmentRules.model_fields
        if getattr(STRICT, name) != getattr(LAX, name) and getattr(merged, name) != getattr(
            STRICT, name)
    ]
    assert forgotten == []
    untested = [name for name in EnvironmentRules.model_fields
                if getattr(STRICT, name) == getattr(LAX, name)]
    assert untested == [], f"give STRICT a stricter value for {untested}"
