"""Consensus of constructed teams: who wins a disagreement, who is flagged, bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from annotation.consensus import (
    ConsensusError,
    ConsensusMethod,
    compute_consensus,
    flagged_annotators,
    majority_of,
)
from annotation.labels import LabelPolicy, UnresolvedReason

CLASSES = ["cat", "dog", "fox"]


def _truth(n: int) -> list[str]:
    return [CLASSES[i % 3] for i in range(n)]


def _wrong(label: str) -> str:
    return CLASSES[(CLASSES.index(label) + 1) % 3]


def _model(truth: list[str], confidence: float = 0.7) -> pd.DataFrame:
    rest = (1 - confidence) / 2
    return pd.DataFrame(
        [[confidence if c == t else rest for c in CLASSES] for t in truth],
        index=[str(i) for i in range(len(truth))],
        columns=CLASSES,
    )


def _team(n: int = 60) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Two careful annotators (always right) and a careless one (right on 1 item in 3).

    Items 0-29 get votes from careful1, careful2 and careless; items 30-59 only from
    careful1 and careless, so half of those are a 1-1 tie.
    """
    truth = _truth(n)
    votes: dict[str, dict[str, str]] = {}
    for i, label in enumerate(truth):
        careless = label if i % 3 == 0 else _wrong(label)
        given = {"careful1": label, "careless": careless}
        if i < n // 2:
            given["careful2"] = label
        votes[str(i)] = given
    return truth, votes


def test_careful_annotators_and_the_model_win_the_ties_majority_leaves_open() -> None:
    truth, votes = _team()
    result = compute_consensus(votes, CLASSES, _model(truth))
    ties = [item for item in result.items if item.majority_label is None]
    assert ties, "the constructed team has 1-1 ties"
    assert all(item.consensus_label == truth[int(item.item_id)] for item in result.items)
    assert all(item.label == item.consensus_label for item in ties)
    assert {item.method for item in result.items} == {ConsensusMethod.CROWDLAB}


def test_annotators_ranked_by_estimated_accuracy_and_the_careless_one_flagged() -> None:
    truth, votes = _team()
    result = compute_consensus(votes, CLASSES, _model(truth))
    ranked = [q.annotator for q in result.annotators]
    assert ranked[-1] == "careless"
    careless = result.annotators[-1]
    assert careless.accuracy == pytest.approx(1 / 3, abs=0.01)
    assert careless.accuracy_low < careless.accuracy < careless.accuracy_high
    assert careless.labels == 60
    flagged = flagged_annotators(result.annotators)
    assert [q.annotator for q, _ in flagged] == ["careless"]
    assert flagged[0][1] == pytest.approx(1.0)


def test_without_a_champion_the_majority_decides_and_a_tie_stays_unresolved() -> None:
    truth, votes = _team()
    result = compute_consensus(votes, CLASSES, probabilities=None)
    by_item = result.by_item()
    tie = by_item["31"]  # careful1 and careless disagree
    assert tie.method is ConsensusMethod.MAJORITY
    assert (tie.label, tie.reason) == (None, UnresolvedReason.TIE)
    assert by_item["1"].label == truth[1]  # 2 careful against 1 careless
    assert result.model_weight is None


def test_majority_policy_ignores_the_champion() -> None:
    truth, votes = _team()
    result = compute_consensus(votes, CLASSES, _model(truth), LabelPolicy(method="majority"))
    assert {item.method for item in result.items} == {ConsensusMethod.MAJORITY}
    assert result.by_item()["31"].reason is UnresolvedReason.TIE


def test_one_vote_tasks_are_checked_against_the_champion() -> None:
    truth = _truth(6)
    votes = {str(i): {"solo": truth[i] if i != 4 else _wrong(truth[i])} for i in range(6)}
    result = compute_consensus(votes, CLASSES, _model(truth, confidence=0.9))
    by_item = result.by_item()
    assert {item.method for item in result.items} == {ConsensusMethod.MODEL_CHECKED}
    assert by_item["0"].label == truth[0]
    wrong = by_item["4"]  # one vote the confident champion contradicts
    assert (wrong.label, wrong.reason) == (None, UnresolvedReason.LOW_QUALITY)
    assert wrong.consensus_label == _wrong(truth[4])


def test_an_annotator_with_one_label_gets_a_wide_interval_and_no_flag() -> None:
    truth, votes = _team()
    votes["5"]["newcomer"] = _wrong(truth[5])
    result = compute_consensus(votes, CLASSES, _model(truth))
    newcomer = next(q for q in result.annotators if q.annotator == "newcomer")
    assert (newcomer.labels, newcomer.accuracy) == (1, 0.0)
    assert newcomer.accuracy_high is not None and newcomer.accuracy_high > 0.7
    assert "newcomer" not in [q.annotator for q, _ in flagged_annotators(result.annotators)]


def test_an_annotator_with_only_skips_is_listed_without_an_estimate() -> None:
    truth, votes = _team()
    result = compute_consensus(votes, CLASSES, _model(truth), skips={"skipper": 4})
    skipper = next(q for q in result.annotators if q.annotator == "skipper")
    assert (skipper.labels, skipper.skips, skipper.accuracy, skipper.agreement) == (0, 4, None, None)


def test_a_class_nobody_picked_is_allowed_and_never_invented() -> None:
    truth, votes = _team()
    classes = [*CLASSES, "owl"]
    model = _model(truth).assign(owl=0.0)
    result = compute_consensus(votes, classes, model)
    assert "owl" not in {item.consensus_label for item in result.items}
    assert result.by_item()["31"].label == truth[31]


def test_a_class_the_champion_never_learnt_has_probability_zero() -> None:
    truth, votes = _team()
    model = _model(truth).drop(columns="fox")
    by_item = compute_consensus(votes, CLASSES, model).by_item()
    assert by_item["31"].method is ConsensusMethod.CROWDLAB
    assert by_item["0"].consensus_label == "cat"


def test_items_the_champion_has_no_probabilities_for_fall_back_to_majority() -> None:
    truth, votes = _team()
    model = _model(truth).drop(index=["31", "1"])
    by_item = compute_consensus(votes, CLASSES, model).by_item()
    assert by_item["31"].method is ConsensusMethod.MAJORITY
    assert by_item["31"].reason is UnresolvedReason.TIE
    assert by_item["32"].method is ConsensusMethod.CROWDLAB


@pytest.mark.parametrize(
    ("votes", "model", "named"),
    [
        ({"7": {"ann": "wolf"}}, None, "item '7'"),
        ({"7": {}}, None, "item '7'"),
        (
            {"0": {"a": "cat"}, "1": {"a": "dog", "b": "dog"}},
            _model(_truth(2)).assign(cat=0.0, dog=[0.0, 1.0], fox=[0.0, 0.0]),
            "item '0'",
        ),
        (
            {"0": {"a": "cat"}, "1": {"a": "dog", "b": "dog"}},
            _model(_truth(2)).assign(cat=[float("nan"), 0.5]),
            "item '0'",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_item_or_class(
    votes: dict[str, dict[str, str]], model: pd.DataFrame | None, named: str
) -> None:
    with pytest.raises(ConsensusError, match=named):
        compute_consensus(votes, CLASSES, model)


@pytest.mark.parametrize(
    ("given", "expected"),
    [({"a": "cat", "b": "cat", "c": "dog"}, "cat"), ({"a": "cat", "b": "dog"}, None), ({}, None)],
)
def test_majority_of(given: dict[str, str], expected: str | None) -> None:
    assert majority_of(given) == expected
