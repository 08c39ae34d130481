"""Second opinions ranked against new items on ActiveLab's one scale; share 0 asks for none."""

from __future__ import annotations

import pandas as pd
import pytest

from learning.second_opinions import activelab_scores, second_opinions

CLASSES = ["cat", "dog"]


def _proba(rows: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=CLASSES)


def test_a_doubtful_label_scores_below_a_sure_one_and_a_sure_new_item() -> None:
    votes = {
        "sure": {"ann": "cat", "bob": "cat"},
        "split": {"ann": "cat", "bob": "dog"},
        "doubted": {"ann": "cat"},  # one vote, and the model says dog
        "fine": {"bob": "dog"},
    }
    labelled = _proba(
        {"sure": [0.95, 0.05], "split": [0.5, 0.5], "doubted": [0.1, 0.9], "fine": [0.1, 0.9]}
    )
    new = _proba({"clear": [0.99, 0.01], "unsure": [0.55, 0.45]})
    scores, new_scores = activelab_scores(votes, CLASSES, labelled, new)
    assert set(scores.index) == set(votes) and list(new_scores.index) == ["clear", "unsure"]
    assert scores["sure"] > scores["split"] and scores["sure"] > scores["doubted"]
    assert new_scores["unsure"] < new_scores["clear"]
    assert ((scores >= 0) & (scores <= 1)).all() and ((new_scores >= 0) & (new_scores <= 1)).all()


def test_labelled_items_without_out_of_sample_probabilities_are_not_scored() -> None:
    votes = {"a": {"ann": "cat"}, "b": {"ann": "dog"}}
    scores, _ = activelab_scores(votes, CLASSES, _proba({"a": [0.9, 0.1]}), _proba({}))
    assert list(scores.index) == ["a"]


def test_nothing_to_score_gives_no_scores() -> None:
    scores, new_scores = activelab_scores({"a": {"ann": "cat"}}, CLASSES, _proba({}), _proba({}))
    assert scores.empty and new_scores.empty
    only_new, _ = activelab_scores({}, CLASSES, _proba({}), _proba({"u": [0.6, 0.4]}))
    assert only_new.empty
    assert second_opinions(only_new, pd.Series({"u": 0.3}), 4, 1.0) == []


def test_a_vote_outside_the_label_set_is_named() -> None:
    with pytest.raises(ValueError, match="owl"):
        activelab_scores({"a": {"ann": "owl"}}, CLASSES, _proba({"a": [0.5, 0.5]}), _proba({}))


LABELLED = pd.Series({"l1": 0.10, "l2": 0.30, "l3": 0.60, "l4": 0.20})
UNLABELLED = pd.Series({"u1": 0.15, "u2": 0.25, "u3": 0.40, "u4": 0.50})


@pytest.mark.parametrize(
    ("batch", "share", "expected"),
    [
        (4, 0.0, []),  # today's push: no second opinion
        (4, 1.0, ["l1", "l4"]),  # the joint top 4 is l1 u1 l4 u2
        (4, 0.25, ["l1"]),  # capped at a quarter of the batch
        (4, 0.2, []),  # a fifth of 4 is no whole label
        (8, 1.0, ["l1", "l4", "l2", "l3"]),
        (0, 1.0, []),
    ],
)
def test_second_opinions_come_from_the_joint_ranking_up_to_the_share(
    batch: int, share: float, expected: list[str]
) -> None:
    assert second_opinions(LABELLED, UNLABELLED, batch, share) == expected


def test_a_tie_goes_to_the_new_item() -> None:
    assert second_opinions(pd.Series({"l": 0.2}), pd.Series({"u": 0.2}), 1, 1.0) == []


@pytest.mark.parametrize(("batch", "share"), [(4, -0.1), (4, 1.1), (-1, 0.5)])
def test_a_bad_share_or_batch_is_refused(batch: int, share: float) -> None:
    with pytest.raises(ValueError, match="share|batch"):
        second_opinions(LABELLED, UNLABELLED, batch, share)
