"""Consensus of an annotation team: one label per item, each annotator's quality.

Pure: votes (item -> annotator -> label) and, when a champion exists, its out-of-sample
class probabilities in; per item a consensus label with a quality score, and per
annotator an estimated accuracy with an interval, out. The statistics are cleanlab's
CROWDLAB (``cleanlab.multiannotator.get_label_quality_multiannotator``): the model and
each annotator are weighted by how well they agree with the others, so a careful
annotator and a good model outvote a careless one. Without probabilities the consensus
is the plain majority (a tie has none). Plain majority is also a ``LabelPolicy`` option.

An item is labelled when its consensus quality reaches the policy's ``min_quality``
(CROWDLAB) or its majority is clear (majority); otherwise it stays unresolved with a
reason. Every item given is in the result, labelled or not.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
import pandas as pd
from cleanlab.multiannotator import get_label_quality_multiannotator
from cleanlab.rank import get_label_quality_scores
from pydantic import BaseModel, ConfigDict
from scipy.stats import binomtest

from annotation.labels import LabelPolicy, UnresolvedReason

Votes = Mapping[str, Mapping[str, str]]  # item id -> annotator id -> label


class ConsensusMethod(StrEnum):
    """How an item's consensus label was reached."""

    CROWDLAB = "crowdlab"  # annotators and the champion, weighted (several voters somewhere)
    MODEL_CHECKED = "model_checked"  # one vote per item, checked against the champion
    MAJORITY = "majority"  # votes only


class ConsensusError(ValueError):
    """The votes or the probabilities cannot be used (names the item, class or annotator)."""


class ItemConsensus(BaseModel):
    """The consensus of one item.

    Attributes:
        item_id: the item.
        majority_label: the most voted label (None on a tie).
        consensus_label: the label the team and the model agree on best (None: no decision).
        quality: how likely ``consensus_label`` is right, 0-1 (None under majority).
        agreement: share of votes for ``consensus_label``.
        n_votes: how many people voted.
        method: how the consensus was reached.
        label: the label the item gets under the policy (None: unresolved).
        reason: why it is unresolved (None when labelled).
    """

    model_config = ConfigDict(frozen=True)

    item_id: str
    majority_label: str | None
    consensus_label: str | None
    quality: float | None
    agreement: float
    n_votes: int
    method: ConsensusMethod
    label: str | None
    reason: UnresolvedReason | None


class AnnotatorQuality(BaseModel):
    """How one annotator's labels compare with the consensus.

    Attributes:
        annotator: the annotator id.
        labels: labels given (votes that counted).
        judged: of those, labels on items the consensus labelled (the accuracy's basis).
        skips: annotations that were not a vote (skips, malformed results).
        agreement: share of their labels equal to the item's consensus (None: no label).
        accuracy: estimated accuracy: agreement with the consensus of the items the
            consensus decided (None: no label).
        accuracy_low / accuracy_high: its 95% Wilson interval.
        crowdlab_quality: cleanlab's annotator quality score (None without CROWDLAB).
    """

    model_config = ConfigDict(frozen=True)

    annotator: str
    labels: int
    judged: int
    skips: int
    agreement: float | None
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    crowdlab_quality: float | None


class Consensus(BaseModel):
    """Consensus of every item and quality of every annotator.

    Attributes:
        items: one per item voted on, in the order given.
        annotators: one per annotator (votes or skips), best estimate first.
        model_weight: CROWDLAB's weight of the champion (None without it).
    """

    model_config = ConfigDict(frozen=True)

    items: tuple[ItemConsensus, ...]
    annotators: tuple[AnnotatorQuality, ...]
    model_weight: float | None

    def by_item(self) -> dict[str, ItemConsensus]:
        """item id -> its consensus."""
        return {item.item_id: item for item in self.items}


def majority_of(votes: Mapping[str, str]) -> str | None:
    """The most voted label (None on a tie or without votes)."""
    ranked = Counter(votes.values()).most_common()
    if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def _check_votes(votes: Votes, classes: Sequence[str]) -> None:
    known = set(classes)
    for item_id, given in votes.items():
        if not given:
            raise ConsensusError(f"item {item_id!r} has no votes")
        for annotator, label in given.items():
            if label not in known:
                raise ConsensusError(
                    f"item {item_id!r}: annotator {annotator!r} voted {label!r}, not one of "
                    f"the classes {list(classes)}"
                )


def _check_probabilities(
    probabilities: pd.DataFrame, classes: Sequence[str], item_ids: Sequence[str]
) -> np.ndarray:
    # A class the champion never trained on (nobody had picked it) has probability 0;
    # a class the label set no longer has is dropped.
    rows = (
        probabilities.loc[list(item_ids)]
        .reindex(columns=list(classes), fill_value=0.0)
        .to_numpy(dtype=float)
    )
    bad = ~np.isfinite(rows).all(axis=1) | (rows < 0).any(axis=1) | (rows.sum(axis=1) <= 0)
    if bad.any():
        first = item_ids[int(np.flatnonzero(bad)[0])]
        raise ConsensusError(
            f"the champion's probabilities of item {first!r} over the classes {list(classes)} "
            "are not finite, non-negative and with a positive sum"
        )
    return rows / rows.sum(axis=1, keepdims=True)


def _majority_decision(
    item_id: str, given: Mapping[str, str], policy: LabelPolicy
) -> ItemConsensus:
    majority = majority_of(given)
    n = len(given)
    agreement = (sum(1 for v in given.values() if v == majority) / n) if majority else 0.0
    reason: UnresolvedReason | None = None
    if n < policy.min_annotators:
        reason = UnresolvedReason.TOO_FEW_ANNOTATORS
    elif majority is None:
        reason = UnresolvedReason.TIE
        agreement = Counter(given.values()).most_common(1)[0][1] / n
    elif agreement < policy.min_agreement:
        reason = UnresolvedReason.LOW_AGREEMENT
    return ItemConsensus(
        item_id=item_id,
        majority_label=majority,
        consensus_label=majority,
        quality=None,
        agreement=agreement,
        n_votes=n,
        method=ConsensusMethod.MAJORITY,
        label=majority if reason is None else None,
        reason=reason,
    )


def _model_decision(
    item_id: str,
    given: Mapping[str, str],
    label: str,
    quality: float,
    method: ConsensusMethod,
    policy: LabelPolicy,
) -> ItemConsensus:
    majority = majority_of(given)
    n = len(given)
    reason: UnresolvedReason | None = None
    if n < policy.min_annotators:
        reason = UnresolvedReason.TOO_FEW_ANNOTATORS
    elif quality < policy.min_quality:
        reason = UnresolvedReason.TIE if majority is None else UnresolvedReason.LOW_QUALITY
    return ItemConsensus(
        item_id=item_id,
        majority_label=majority,
        consensus_label=label,
        quality=quality,
        agreement=sum(1 for v in given.values() if v == label) / n,
        n_votes=n,
        method=method,
        label=label if reason is None else None,
        reason=reason,
    )


def _wilson(hits: int, n: int) -> tuple[float, float]:
    interval = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _annotator_quality(
    votes: Votes,
    decided: Mapping[str, ItemConsensus],
    skips: Mapping[str, int],
    crowdlab_quality: Mapping[str, float],
) -> tuple[AnnotatorQuality, ...]:
    given: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for item_id, item_votes in votes.items():
        outcome = decided[item_id]
        for annotator, label in item_votes.items():
            given[annotator] += 1
            agreed[annotator] += int(label == outcome.consensus_label)
            if outcome.label is not None:
                judged[annotator] += 1
                hits[annotator] += int(label == outcome.label)
    rows: list[AnnotatorQuality] = []
    for annotator in sorted(set(given) | set(skips)):
        n, k = judged[annotator], hits[annotator]
        low, high = _wilson(k, n) if n else (None, None)
        rows.append(
            AnnotatorQuality(
                annotator=annotator,
                labels=given[annotator],
                judged=n,
                skips=skips.get(annotator, 0),
                agreement=agreed[annotator] / given[annotator] if given[annotator] else None,
                accuracy=k / n if n else None,
                accuracy_low=low,
                accuracy_high=high,
                crowdlab_quality=crowdlab_quality.get(annotator),
            )
        )
    rows.sort(key=lambda q: (q.accuracy is None, -(q.accuracy or 0.0), q.annotator))
    return tuple(rows)


def compute_consensus(
    votes: Votes,
    classes: Sequence[str],
    probabilities: pd.DataFrame | None = None,
    policy: LabelPolicy | None = None,
    skips: Mapping[str, int] | None = None,
) -> Consensus:
    """Consensus labels and annotator quality from every vote (and the champion).

    Args:
        votes: item id -> annotator id -> label; every item has at least one vote.
        classes: every class of the label config (a class nobody picked included).
        probabilities: the champion's out-of-sample probabilities, index = item id,
            one column per class (a class it lacks has probability 0); items it lacks
            are decided by majority. None: no champion, every item by majority.
        policy: ``method`` (crowdlab or majority), ``min_quality``, ``min_agreement``,
            ``min_annotators``.
        skips: annotator id -> annotations that were not votes (reported only).

    Returns:
        Every item's consensus and every annotator's quality.

    Raises:
        ConsensusError: a vote outside ``classes``, an item without votes, an item's
            probabilities not finite or all zero.
    """
    rules = policy or LabelPolicy()
    _check_votes(votes, classes)
    items = list(votes)
    modelled: list[str] = []
    if rules.method == "crowdlab" and probabilities is not None:
        modelled = [item for item in items if item in probabilities.index]
    by_model = set(modelled)
    decided: dict[str, ItemConsensus] = {
        item: _majority_decision(item, votes[item], rules) for item in items if item not in by_model
    }
    crowdlab_quality: dict[str, float] = {}
    model_weight: float | None = None
    if modelled:
        probs = _check_probabilities(probabilities, classes, modelled)  # type: ignore[arg-type]
        index = {label: i for i, label in enumerate(classes)}
        annotators = sorted({a for item in modelled for a in votes[item]})
        cells = pd.DataFrame(
            [(item, a, index[label]) for item in modelled for a, label in votes[item].items()],
            columns=["item", "annotator", "label"],
        )
        matrix = (
            cells.pivot(index="item", columns="annotator", values="label")
            .reindex(index=modelled, columns=annotators)
            .astype(float)
        )
        several = (matrix.notna().sum(axis=1) > 1).any() and len(annotators) > 1
        if several:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "annotators do not agree on any example"
                info = get_label_quality_multiannotator(
                    matrix,
                    probs,
                    verbose=False,
                    return_detailed_quality=False,
                    return_weights=True,
                )
            quality = info["label_quality"]
            model_weight = float(info["model_weight"])
            stats = info["annotator_stats"]["annotator_quality"]
            crowdlab_quality = {str(a): float(q) for a, q in stats.items()}
            labels = [classes[int(i)] for i in quality["consensus_label"]]
            scores = quality["consensus_quality_score"].to_numpy(dtype=float)
            method = ConsensusMethod.CROWDLAB
        else:
            labels = [next(iter(votes[item].values())) for item in modelled]
            scores = get_label_quality_scores(np.array([index[v] for v in labels]), probs)
            method = ConsensusMethod.MODEL_CHECKED
        for item, label, score in zip(modelled, labels, scores, strict=True):
            decided[item] = _model_decision(item, votes[item], label, float(score), method, rules)
    return Consensus(
        items=tuple(decided[item] for item in items),
        annotators=_annotator_quality(votes, decided, skips or {}, crowdlab_quality),
        model_weight=model_weight,
    )


def flagged_annotators(
    annotators: Sequence[AnnotatorQuality], min_labels: int = 10
) -> list[tuple[AnnotatorQuality, float]]:
    """Annotators clearly below their team, with the team's accuracy they fall below.

    Clearly below: the upper end of their accuracy interval is under the accuracy of
    every other annotator's labels pooled, and they have at least ``min_labels``
    judged labels (an interval over a handful of labels proves nothing).

    Args:
        annotators: from :func:`compute_consensus`.
        min_labels: the fewest labels a flag is based on.

    Returns:
        (annotator, the rest of the team's pooled accuracy), worst first.
    """
    judged = [q for q in annotators if q.accuracy is not None and q.accuracy_high is not None]
    flagged: list[tuple[AnnotatorQuality, float]] = []
    for quality in judged:
        others = [q for q in judged if q.annotator != quality.annotator]
        total = sum(q.judged for q in others)
        if not others or total == 0 or quality.judged < min_labels:
            continue
        team = sum((q.accuracy or 0.0) * q.judged for q in others) / total
        if quality.accuracy_high is not None and quality.accuracy_high < team:
            flagged.append((quality, team))
    return sorted(flagged, key=lambda pair: pair[0].accuracy or 0.0)


