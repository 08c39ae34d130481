import pytest

from learning.evaluation import compute_metrics
from learning.gate import GateConfig, decide_promotion, majority_baseline

# 10 evaluated items: 6 "a", 4 "b".
TRUE = ["a"] * 6 + ["b"] * 4
IDS = [f"item-{i}" for i in range(10)]


def metrics(pred, ids=IDS, true=TRUE):
    return compute_metrics(true, pred, "holdout", ids)


PERFECT = metrics(TRUE)
ALL_A = metrics(["a"] * 10)  # the majority baseline itself
ONE_B_MISSED = metrics(["a"] * 6 + ["b", "b", "b", "a"])  # acc 0.9, recall b 0.75
TWO_B_MISSED = metrics(["a"] * 6 + ["b", "b", "a", "a"])  # acc 0.8, recall b 0.5
ONE_A_MISSED = metrics(["a"] * 5 + ["b"] + ["b"] * 4)  # acc 0.9, recall a 0.833


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("accuracy", 0.6), ("macro_f1", (2 * 0.6 / 1.6) / 2)],
)
def test_majority_baseline(metric, expected):
    assert majority_baseline(ONE_B_MISSED, metric) == pytest.approx(expected)
    # The baseline is exactly what predicting the majority class scores.
    assert majority_baseline(ONE_B_MISSED, metric) == pytest.approx(getattr(ALL_A, metric))


@pytest.mark.parametrize(
    ("new", "config", "promote", "reason"),
    [
        (ONE_B_MISSED, GateConfig(), True, "beats the majority-class baseline"),
        (ALL_A, GateConfig(), False, "does not beat the majority-class baseline"),
        (ALL_A, GateConfig(metric="accuracy"), False, "does not beat the majority-class baseline"),
        (TWO_B_MISSED, GateConfig(metric="accuracy", min_improvement=0.2), True, "gain +0.2000"),
        (
            TWO_B_MISSED,
            GateConfig(metric="accuracy", min_improvement=0.25),
            False,
            "required >= 0.2500",
        ),
    ],
)
def test_first_model_against_majority_baseline(new, config, promote, reason):
    decision = decide_promotion(new, None, config)
    assert decision.promote is promote
    assert decision.reference == "majority_baseline"
    assert any(reason in r for r in decision.reasons), decision.reasons


@pytest.mark.parametrize(
    ("new", "champion", "config", "promote", "reason"),
    [
        # Better everywhere: promoted.
        (PERFECT, ONE_B_MISSED, GateConfig(), True, "beats the champion"),
        # A tie never replaces the champion.
        (ONE_B_MISSED, ONE_B_MISSED, GateConfig(), False, "gain +0.0000"),
        # Worse: kept.
        (TWO_B_MISSED, ONE_B_MISSED, GateConfig(), False, "does not beat the champion"),
        # Better by 0.1 accuracy but the margin asks for 0.15.
        (
            PERFECT,
            ONE_B_MISSED,
            GateConfig(metric="accuracy", min_improvement=0.15),
            False,
            "required >= 0.1500",
        ),
        # Exactly the margin is enough.
        (
            PERFECT,
            ONE_B_MISSED,
            GateConfig(metric="accuracy", min_improvement=0.1),
            True,
            "beats the champion",
        ),
        # Overall better (accuracy 0.9 vs 0.8) but class "a" recall drops 1.0 -> 0.833.
        (
            ONE_A_MISSED,
            TWO_B_MISSED,
            GateConfig(metric="accuracy", min_class_support=1),
            False,
            "'a' 1.000 -> 0.833",
        ),
        # The same drop is within a 0.2 tolerance.
        (
            ONE_A_MISSED,
            TWO_B_MISSED,
            GateConfig(metric="accuracy", class_tolerance=0.2, min_class_support=1),
            True,
            "no class recall dropped",
        ),
        # Per-class check on precision instead: "b" precision 1.0 -> 0.8 regresses.
        (
            ONE_A_MISSED,
            TWO_B_MISSED,
            GateConfig(metric="accuracy", class_metric="precision", min_class_support=1),
            False,
            "'b' 1.000 -> 0.800",
        ),
    ],
)
def test_new_model_against_champion(new, champion, config, promote, reason):
    decision = decide_promotion(new, champion, config)
    assert decision.promote is promote
    assert decision.reference == "champion"
    assert any(reason in r for r in decision.reasons), decision.reasons
    if not promote:
        assert decision.reasons[0].startswith(("does not", "class", "not comparable"))


@pytest.mark.parametrize(
    "champion",
    [
        metrics(TRUE, ids=[f"other-{i}" for i in range(10)]),  # same size, other items
        compute_metrics(TRUE[:8], TRUE[:8], "holdout"),  # other size, no fingerprint
    ],
)
def test_metrics_from_other_items_are_not_compared(champion):
    decision = decide_promotion(PERFECT, champion)
    assert not decision.promote
    assert "not comparable" in decision.reasons[0]


def test_decision_records_scores():
    decision = decide_promotion(
        PERFECT, ONE_B_MISSED, GateConfig(metric="accuracy", min_class_support=1)
    )
    assert decision.new_score == pytest.approx(1.0)
    assert decision.reference_score == pytest.approx(0.9)
    assert decision.metric == "accuracy"
    assert len(decision.reasons) == 2  # the score check and the per-class check


def test_a_drop_on_a_class_with_too_few_compared_items_does_not_block():
    # Overall better, and class "a" (6 items) drops 1.0 -> 0.833: one item, not evidence.
    decision = decide_promotion(
        ONE_A_MISSED, TWO_B_MISSED, GateConfig(metric="accuracy", min_class_support=7)
    )
    assert decision.promote
    assert any("fewer than 7 compared items not judged: 'a', 'b'" in r for r in decision.reasons)
    strict = decide_promotion(
        ONE_A_MISSED, TWO_B_MISSED, GateConfig(metric="accuracy", min_class_support=6)
    )
    assert not strict.promote  # with 6 items "a" is judged, and its drop blocks
