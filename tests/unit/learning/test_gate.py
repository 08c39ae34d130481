import pydantic
import pytest
from scipy.stats import binomtest

from learning.evaluation import compute_metrics
from learning.gate import (
    ChampionComparison,
    GateConfig,
    PairedOutcomes,
    decide_promotion,
    majority_baseline,
    paired_difference,
)

# 10 evaluated items: 6 "a", 4 "b".
TRUE = ["a"] * 6 + ["b"] * 4
IDS = [f"item-{i}" for i in range(10)]


def metrics(pred, ids=IDS, true=TRUE):
    return compute_metrics(true, pred, "holdout", ids)


PERFECT = metrics(TRUE)
ALL_A = metrics(["a"] * 10)  # the majority baseline itself
ONE_B_MISSED = metrics(["a"] * 6 + ["b", "b", "b", "a"])  # acc 0.9, recall b 0.75
TWO_B_MISSED = metrics(["a"] * 6 + ["b", "b", "a", "a"])  # acc 0.8, recall b 0.5


def wrong(label: str) -> str:
    return "b" if label == "a" else "a"


def paired(
    truth: list[str],
    new_right: list[bool],
    champion_right: list[bool],
    new_labels: int = 80,
    champion_labels: int = 20,
    same_pipeline: bool = True,
) -> ChampionComparison:
    """Paired outcomes built from who was right on which item."""
    return ChampionComparison(
        outcomes=PairedOutcomes(
            item_ids=[f"item-{i}" for i in range(len(truth))],
            truth=truth,
            new=[t if ok else wrong(t) for t, ok in zip(truth, new_right, strict=True)],
            champion=[t if ok else wrong(t) for t, ok in zip(truth, champion_right, strict=True)],
        ),
        new_labels=new_labels,
        champion_labels=champion_labels,
        same_pipeline=same_pipeline,
    )


# 64 items, half "a", half "b"; both models right on the first 50.
TRUTH_64 = ["a", "b"] * 32
BOTH_RIGHT = [True] * 50


def concordant_then(new_tail: list[bool], champion_tail: list[bool]) -> tuple[list[bool], list[bool]]:
    return BOTH_RIGHT + new_tail, BOTH_RIGHT + champion_tail


# Clearly better: 14 items only the challenger gets right, none only the champion.
BETTER = concordant_then([True] * 14, [False] * 14)
# Clearly worse: the mirror image.
WORSE = concordant_then([False] * 14, [True] * 14)
# A tie: 4 items only the challenger gets right, 5 only the champion, 5 both wrong.
TIE = concordant_then([True] * 4 + [False] * 5 + [False] * 5, [False] * 4 + [True] * 5 + [False] * 5)


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
    assert decision.outcome == "first_model"
    assert reason in decision.summary, decision.summary
    assert decision.summary.startswith("promoted" if promote else "not promoted")


def test_paired_difference_is_mcnemar_exact():
    # 50 items: 10 only the challenger gets right, none only the champion.
    new = [True] * 10 + [True] * 30 + [False] * 10
    old = [False] * 10 + [True] * 30 + [False] * 10
    diff = paired_difference(new, old, confidence=0.9)
    assert (diff.n_items, diff.new_only, diff.champion_only) == (50, 10, 0)
    assert diff.difference == pytest.approx(0.2)
    assert diff.p_value == pytest.approx(2 * 0.5**10)
    # Clopper-Pearson lower bound for 10/10 at 90% two-sided: 0.05 ** (1 / 10).
    assert diff.lower == pytest.approx(10 / 50 * (2 * 0.05**0.1 - 1))
    assert diff.upper == pytest.approx(0.2)
    # Concordant items do not move the test, only the scale of the difference.
    assert paired_difference([True] + [False] * 3, [False] * 4, 0.9).p_value == pytest.approx(
        binomtest(1, 1, 0.5).pvalue
    )


def test_no_discordant_item_is_an_exact_tie():
    diff = paired_difference([True, False, True], [True, False, True], 0.9)
    assert (diff.difference, diff.lower, diff.upper, diff.p_value) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("comparison", "promote", "outcome", "summary"),
    [
        (
            paired(TRUTH_64, *BETTER),
            True,
            "better",
            "promoted: better than the champion (accuracy diff +0.219 [",
        ),
        (
            paired(TRUTH_64, *WORSE),
            False,
            "worse",
            "not promoted: worse than the champion (accuracy diff -0.219 [",
        ),
        # Clearly better wins even with fewer labels; clearly worse loses even with more.
        (paired(TRUTH_64, *BETTER, new_labels=20, champion_labels=80), True, "better", "promoted"),
        (paired(TRUTH_64, *WORSE, new_labels=800, champion_labels=80), False, "worse", "not promoted"),
        (
            paired(TRUTH_64, *TIE),
            True,
            "no_evidence",
            "promoted: no evidence of a difference (accuracy diff -0.016 [",
        ),
        (
            paired(TRUTH_64, *TIE, new_labels=20, champion_labels=80),
            False,
            "no_evidence",
            "not promoted: no evidence of a difference (accuracy diff -0.016 [",
        ),
        # The same number of labels is not more: the champion stays.
        (paired(TRUTH_64, *TIE, new_labels=80, champion_labels=80), False, "no_evidence", "not promoted"),
    ],
    ids=["better", "worse", "better-fewer-labels", "worse-more-labels", "tie-more", "tie-fewer", "tie-same"],
)
def test_paired_decision(comparison, promote, outcome, summary):
    decision = decide_promotion(PERFECT, comparison, GateConfig())
    assert decision.promote is promote
    assert decision.outcome == outcome
    assert decision.reference == "champion"
    assert decision.summary.startswith(summary), decision.summary
    assert decision.reasons[0] == decision.summary
    assert decision.summary.count("on 64 paired items") == 1
    lo, hi = decision.paired.lower, decision.paired.upper
    assert lo <= decision.paired.difference <= hi
    if outcome == "no_evidence":
        assert lo < 0 < hi
        assert decision.summary.endswith(
            f"trained on {comparison.new_labels} labels vs {comparison.champion_labels}"
        )


def test_tie_reads_as_the_issue_asks():
    decision = decide_promotion(PERFECT, paired(TRUTH_64, *TIE), GateConfig())
    # 4 - 5 discordant items of 64; the 80% exact interval for 4 of 9 is [0.212, 0.699].
    assert decision.summary == (
        "promoted: no evidence of a difference "
        "(accuracy diff -0.016 [-0.081, +0.056] on 64 paired items), trained on 80 labels vs 20"
    )


@pytest.mark.parametrize(
    ("config", "promote"),
    [
        (GateConfig(), False),  # clearly worse at 90%
        (GateConfig(max_regression=0.2), True),  # the interval's top is above -0.2
        (GateConfig(confidence=0.99999), True),  # 6 discordant items do not show it at 99.999%
    ],
)
def test_margin_and_confidence_move_the_worse_verdict(config, promote):
    new, old = concordant_then([False] * 6, [True] * 6)
    decision = decide_promotion(PERFECT, paired(TRUTH_64[:56], new, old), config)
    assert decision.promote is promote


def test_min_improvement_asks_for_a_clear_margin():
    config = GateConfig(min_improvement=0.16)
    decision = decide_promotion(PERFECT, paired(TRUTH_64, *BETTER), config)
    # Interval [+0.152, +0.219]: better, but not clearly by 0.16; more labels -> still promoted.
    assert decision.outcome == "no_evidence" and decision.promote
    clear = decide_promotion(PERFECT, paired(TRUTH_64, *BETTER), GateConfig(min_improvement=0.15))
    assert clear.outcome == "better"
    fewer = paired(TRUTH_64, *BETTER, new_labels=10, champion_labels=80)
    assert not decide_promotion(PERFECT, fewer, config).promote


# Three classes: "c" has 12 items the champion gets right and the challenger all wrong;
# the challenger fixes 30 "a"/"b" items the champion missed. Overall clearly better.
TRUTH_CLASS = ["a"] * 40 + ["b"] * 40 + ["c"] * 12
NEW_CLASS = ["a"] * 40 + ["b"] * 40 + ["a"] * 12
CHAMPION_CLASS = ["a"] * 25 + ["b"] * 15 + ["b"] * 25 + ["a"] * 15 + ["c"] * 12


def class_case(n_c: int, min_class_support: int = 5) -> tuple[ChampionComparison, GateConfig]:
    keep = 80 + n_c
    comparison = ChampionComparison(
        outcomes=PairedOutcomes(
            item_ids=[f"i{k}" for k in range(keep)],
            truth=TRUTH_CLASS[:keep],
            new=NEW_CLASS[:keep],
            champion=CHAMPION_CLASS[:keep],
        ),
        new_labels=200,
        champion_labels=100,
        same_pipeline=True,
    )
    return comparison, GateConfig(min_class_support=min_class_support)


def test_a_collapsed_class_refuses_a_clearly_better_challenger():
    decision = decide_promotion(PERFECT, *class_case(12))
    assert not decision.promote
    assert decision.outcome == "class_regression"
    assert decision.paired.lower > 0  # overall it is clearly better
    assert decision.summary.startswith(
        "not promoted: class recall regressed ('c' 1.000 -> 0.000, recall diff -1.000 ["
    )


@pytest.mark.parametrize(
    ("n_c", "min_class_support", "why"),
    [
        (3, 5, "classes with fewer than 5 compared items not judged: 'c'"),
        # Judged, but 3 items all lost is not significant once 3 classes share the error.
        (3, 1, "classes judged: 3"),
    ],
)
def test_a_drop_on_a_class_with_too_little_evidence_does_not_block(n_c, min_class_support, why):
    decision = decide_promotion(PERFECT, *class_case(n_c, min_class_support))
    assert decision.promote
    assert decision.outcome == "better"
    assert any(why in r for r in decision.reasons), decision.reasons


def test_a_small_class_drop_within_tolerance_does_not_block():
    comparison, _ = class_case(12)
    decision = decide_promotion(PERFECT, comparison, GateConfig(class_tolerance=1.0))
    assert decision.promote and decision.outcome == "better"


def test_nothing_comparable_keeps_the_champion():
    empty = ChampionComparison(
        outcomes=PairedOutcomes(item_ids=[], truth=[], new=[], champion=[]),
        new_labels=300,
        champion_labels=300,
        same_pipeline=True,
    )
    decision = decide_promotion(PERFECT, empty)
    assert not decision.promote
    assert decision.outcome == "not_comparable"
    assert decision.summary.startswith("not promoted: not comparable")


def test_paired_outcomes_need_one_prediction_per_item():
    with pytest.raises(pydantic.ValidationError, match="truth 2, new 1"):
        PairedOutcomes(item_ids=["x", "y"], truth=["a", "b"], new=["a"], champion=["a", "b"])


def test_decision_survives_a_json_round_trip():
    decision = decide_promotion(PERFECT, paired(TRUTH_64, *TIE))
    assert type(decision).model_validate_json(decision.model_dump_json()) == decision


def test_the_reasons_say_how_many_items_the_champion_was_refitted_for():
    comparison = paired(TRUTH_64, *TIE)
    refitted = comparison.model_copy(
        update={"outcomes": comparison.outcomes.model_copy(update={"champion_refitted": 44})}
    )
    note = "44 of the 64 items were in the champion's training set"
    assert any(r.startswith(note) for r in decide_promotion(PERFECT, refitted).reasons)
    assert not any("training set" in r for r in decide_promotion(PERFECT, comparison).reasons)


def test_more_refitted_items_than_paired_ones_is_refused():
    with pytest.raises(pydantic.ValidationError, match="champion_refitted 3 is more than the 2"):
        PairedOutcomes(
            item_ids=["x", "y"], truth=["a", "b"], new=["a", "b"], champion=["a", "b"],
            champion_refitted=3,
        )


def test_a_changed_pipeline_without_evidence_keeps_the_champion():
    decision = decide_promotion(PERFECT, paired(TRUTH_64, *TIE, same_pipeline=False))
    assert not decision.promote
    assert decision.outcome == "no_evidence"
    assert decision.summary.startswith("not promoted: no evidence of a difference (")
    assert decision.summary.endswith(
        "trained on 80 labels vs 20 with another pipeline (features or estimator changed)"
    )


@pytest.mark.parametrize(
    ("tail", "promote", "outcome"),
    [(BETTER, True, "better"), (WORSE, False, "worse")],
    ids=["better", "worse"],
)
def test_a_changed_pipeline_is_judged_on_evidence_like_any_other(tail, promote, outcome):
    decision = decide_promotion(PERFECT, paired(TRUTH_64, *tail, same_pipeline=False))
    assert (decision.promote, decision.outcome) == (promote, outcome)
