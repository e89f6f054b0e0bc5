"""routing.decide and friends: every rule, as pure functions."""

from __future__ import annotations

import pytest

from router.protocol import ChatMessage
from router.routing import Estimate, decide, expected_cost
from router.scoring import routing_text
from router.scoring.stand_in import StandInScorer

CANDS = ["a", "b", "c"]
COSTS = {"a": 1.0, "b": 2.0, "c": 4.0}


def run(scores, costs=COSTS, threshold=0.7, fallback="c", **kw):
    return decide(candidates=list(scores), scores=scores, costs=costs, threshold=threshold,
                  fallback=fallback, **kw)


def test_cheapest_candidate_that_clears_wins():
    d = run({"a": 0.6, "b": 0.8, "c": 0.9})
    assert (d.chosen, d.reason, d.p_success) == ("b", "cheapest_above_threshold", 0.8)


def test_threshold_is_inclusive():
    assert run({"a": 0.7, "b": 0.8, "c": 0.9}).chosen == "a"


def test_no_candidate_clears_uses_fallback():
    d = run({"a": 0.1, "b": 0.3, "c": 0.2}, fallback="c")
    assert (d.chosen, d.reason, d.p_success) == ("c", "fallback_none_above_threshold", 0.2)
    assert d.fallbacks == ("b", "a")  # the rest by P, highest first


def test_cost_tie_goes_to_higher_p_then_policy_order():
    costs = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert run({"a": 0.8, "b": 0.9, "c": 0.9}, costs).chosen == "b"
    assert run({"a": 0.9, "b": 0.9, "c": 0.9}, costs).chosen == "a"


def test_fallbacks_ranked_clearing_by_cost_then_policy_fallback_then_rest_by_p():
    scores = {"a": 0.75, "b": 0.1, "c": 0.3, "d": 0.8, "e": 0.2}
    costs = {"a": 1.0, "b": 0.5, "c": 9.0, "d": 3.0, "e": 0.1}
    d = decide(candidates=list(scores), scores=scores, costs=costs, threshold=0.7, fallback="e")
    assert d.chosen == "a"
    assert d.fallbacks == ("d", "e", "c", "b")


def test_fallback_that_clears_keeps_its_cost_rank():
    d = run({"a": 0.8, "b": 0.1, "c": 0.9}, fallback="c")
    assert (d.chosen, d.fallbacks) == ("a", ("c", "b"))


def test_estimates_keep_policy_order():
    d = run({"c": 0.9, "a": 0.8, "b": 0.1})
    assert d.estimates == (Estimate("c", 0.9, 4.0), Estimate("a", 0.8, 1.0), Estimate("b", 0.1, 2.0))


def test_utility_strategy_trades_p_against_normalised_cost():
    scores = {"a": 0.6, "b": 0.8, "c": 0.95}
    # utility: a 0.6-0.5*0.25=0.475, b 0.8-0.5*0.5=0.55, c 0.95-0.5*1=0.45
    d = run(scores, strategy="utility", lam=0.5)
    assert (d.chosen, d.reason, d.fallbacks) == ("b", "max_utility", ("a", "c"))
    assert run(scores, strategy="utility", lam=0.0).chosen == "c"


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="no score"):
        decide(candidates=["a", "z"], scores={"a": 1.0}, costs={"a": 1.0}, threshold=0.5, fallback="a")
    with pytest.raises(ValueError, match="fallback"):
        run({"a": 0.5, "b": 0.5, "c": 0.5}, fallback="z")
    with pytest.raises(ValueError, match="strategy"):
        run({"a": 0.5, "b": 0.5, "c": 0.5}, strategy="coin")
    with pytest.raises(ValueError, match="no candidates"):
        decide(candidates=[], scores={}, costs={}, threshold=0.5, fallback="a")


def test_expected_cost_is_prompt_times_input_plus_expected_output():
    assert expected_cost(1000, input_per_token=1e-6, output_per_token=4e-6, output_tokens=250) == \
        pytest.approx(1000 * 1e-6 + 250 * 4e-6)


def test_routing_text_is_system_prompts_and_last_user_message():
    messages = [ChatMessage(role="system", content="Be terse."),
                ChatMessage(role="user", content="first"),
                ChatMessage(role="assistant", content="ok"),
                ChatMessage(role="user", content=[{"type": "text", "text": "second"},
                                                  {"type": "image_url", "image_url": {"url": "x"}}])]
    assert routing_text(messages) == "Be terse.\n\nsecond"
    assert routing_text([ChatMessage(role="assistant", content="x")]) == ""


def test_stand_in_scorer_is_deterministic():
    scorer = StandInScorer({"cheap": 0.0, "dear": 1.0})
    result = scorer.score("x" * 2000, ["cheap", "dear"])
    assert result.p_success == {"cheap": 0.55, "dear": 0.85}
    assert result.profile_versions == {}


def test_utility_lambda_zero_is_highest_p_and_large_lambda_cheapest():
    scores, costs = {"c": 0.5, "m": 0.7, "d": 0.9}, {"c": 1.0, "m": 2.0, "d": 4.0}
    kw = dict(candidates=["c", "m", "d"], scores=scores, costs=costs, threshold=0.99, fallback="d",
              strategy="utility")
    assert decide(**kw, lam=0.0).chosen == "d"
    assert decide(**kw, lam=10.0).chosen == "c"
    # lambda 0.5: c 0.5-0.125=0.375, m 0.7-0.25=0.45, d 0.9-0.5=0.4 -> m, then d, then c
    d = decide(**kw, lam=0.5)
    assert (d.chosen, d.reason, d.fallbacks) == ("m", "max_utility", ("d", "c"))
