"""Choosing what people label next.

Every strategy is a pure function of the pool (item ids, a feature matrix, and the
champion's predicted probabilities when there is a champion). The entry point is
:func:`select_batch`. Scores returned by the scorers are "higher = more uncertain".

Strategies:

- ``random``: uniform sample of the selectable items.
- ``least_confidence``, ``margin``, ``entropy``: the ``batch_size`` most uncertain.
- ``margin_diversity`` (the default, :data:`DEFAULT_STRATEGY`): the
  ``candidate_factor * batch_size`` distinct items with the smallest margin, clustered
  into ``batch_size`` groups by k-means on the features weighted by uncertainty; the
  item nearest each group's centre is taken (a typical confusing item rather than
  an outlier), so a batch is not near-copies of one confusing item. Exact duplicate
  feature rows count once. How it compares with random selection, and the alternatives
  it was chosen over: ``benchmarks/active_learning.py`` and
  ``benchmarks/RESULTS-active-learning.md``.

Cold start (``proba`` is None, no champion yet): every strategy except ``random`` takes a
diverse sample: k-means on the features (k-means++ seeding from ``seed``) and, per
cluster, the item nearest its centre. Items whose ids are in ``exclude`` (already
pushed or labelled) are never selected. Results depend only on the inputs and
``seed``.
"""

from collections.abc import Collection, Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans

Strategy = Literal["random", "least_confidence", "margin", "entropy", "margin_diversity"]
DEFAULT_STRATEGY: Strategy = "margin_diversity"
STRATEGIES: tuple[str, ...] = get_args(Strategy)

# Candidates considered by the batch-aware strategy, as a multiple of the batch size.
DEFAULT_CANDIDATE_FACTOR = 10
# Above this many selectable items, the cold-start clustering runs on a seeded sample.
COLD_START_MAX_POOL = 20_000
_PROBA_SUM_TOLERANCE = 1e-3


class SelectionError(ValueError):
    """The inputs of a selection are inconsistent (lengths, shapes, batch size)."""


def least_confidence_scores(proba: NDArray[np.floating]) -> NDArray[np.float64]:
    """Uncertainty as one minus the probability of the predicted class.

    Args:
        proba: (n_items, n_classes) predicted probabilities.

    Returns:
        (n_items,) scores in [0, 1 - 1/n_classes]; higher is more uncertain.
    """
    p = _check_proba(proba, None)
    return 1.0 - p.max(axis=1)


def margin_scores(proba: NDArray[np.floating]) -> NDArray[np.float64]:
    """Uncertainty as one minus the gap between the two most probable classes.

    Args:
        proba: (n_items, n_classes) predicted probabilities.

    Returns:
        (n_items,) scores in [0, 1]; 1 means a tie between the top two classes.
    """
    p = _check_proba(proba, None)
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(proba: NDArray[np.floating]) -> NDArray[np.float64]:
    """Uncertainty as the Shannon entropy (nats) of the predicted distribution.

    Args:
        proba: (n_items, n_classes) predicted probabilities.

    Returns:
        (n_items,) scores in [0, log(n_classes)]; higher is more uncertain.
    """
    p = _check_proba(proba, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=1)


_SCORERS = {
    "least_confidence": least_confidence_scores,
    "margin": margin_scores,
    "entropy": entropy_scores,
}


def select_batch(
    strategy: Strategy,
    item_ids: Sequence[str],
    features: NDArray[np.floating],
    proba: NDArray[np.floating] | None,
    batch_size: int,
    exclude: Collection[str] = frozenset(),
    seed: int = 0,
    candidate_factor: int = DEFAULT_CANDIDATE_FACTOR,
) -> list[str]:
    """Pick the next items to label.

    Args:
        strategy: one of :data:`STRATEGIES`; :data:`DEFAULT_STRATEGY` unless told.
        item_ids: ids of the pool, unique, in the row order of ``features``/``proba``.
        features: (n_items, n_features) numeric matrix used for diversity.
        proba: (n_items, n_classes) champion probabilities, or None at cold start.
        batch_size: how many items to return; at most the number of selectable items.
        exclude: ids already pushed or labelled; never returned. Ids not in the pool
            are ignored.
        seed: seed of every random choice (ties, sampling, k-means).
        candidate_factor: ``margin_diversity`` only: clusters are formed among the
            ``candidate_factor * batch_size`` most uncertain items.

    Returns:
        ``batch_size`` distinct item ids, the most uncertain first for the uncertainty
        strategies.

    Raises:
        SelectionError: unknown strategy, mismatched lengths, duplicate ids, bad
            probabilities, or a batch larger than the selectable pool.
    """
    if strategy not in STRATEGIES:
        raise SelectionError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if candidate_factor < 1:
        raise SelectionError(f"candidate_factor must be >= 1, got {candidate_factor}")
    ids = _check_ids(item_ids)
    x = _check_features(features, len(ids))
    p = None if proba is None else _check_proba(proba, len(ids))
    excluded = set(exclude)
    selectable = np.array([i for i, item in enumerate(ids) if item not in excluded], dtype=np.intp)
    _check_batch_size(batch_size, len(selectable), len(ids))
    rng = np.random.default_rng(seed)

    if strategy == "random":
        chosen = rng.choice(selectable, size=batch_size, replace=False)
    elif p is None:
        chosen = _cold_start(x[selectable], batch_size, rng, selectable)
    elif strategy == "margin_diversity":
        scores = margin_scores(p[selectable])
        chosen = selectable[_uncertain_diverse(x[selectable], scores, batch_size, candidate_factor, rng)]
    else:
        scores = _SCORERS[strategy](p[selectable])
        chosen = selectable[_top_k(scores, batch_size, rng)]
    return [ids[i] for i in chosen]


def diverse_sample(features: NDArray[np.floating], k: int, seed: int = 0) -> NDArray[np.intp]:
    """Row indices of ``k`` representative, mutually distant rows (the cold start).

    Args:
        features: (n_items, n_features) numeric matrix.
        k: number of rows to return, at most n_items.
        seed: seed of the k-means++ seeding and of the tie breaks.

    Returns:
        ``k`` distinct row indices.
    """
    x = _check_features(features, None)
    _check_batch_size(k, len(x), len(x))
    rng = np.random.default_rng(seed)
    return _cold_start(x, k, rng, np.arange(len(x), dtype=np.intp))


def _top_k(scores: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Indices of the k highest scores; ties broken by a seeded permutation."""
    tie_break = rng.permutation(len(scores))
    order = np.lexsort((tie_break, -scores))
    return order[:k]


def _unique_rows_first(x: NDArray[np.float64], order: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Split ``order`` into the first occurrence of each distinct row and the rest."""
    _, first = np.unique(x[order], axis=0, return_index=True)
    keep = np.zeros(len(order), dtype=bool)
    keep[first] = True
    return order[keep], order[~keep]


def _cluster_pick(
    x: NDArray[np.float64],
    k: int,
    weights: NDArray[np.float64] | None,
    rng: np.random.Generator,
    prefer: NDArray[np.float64] | None,
) -> NDArray[np.intp]:
    """One row per k-means cluster of the (distinct) rows of ``x``.

    Picks the row nearest the centre, or the row with the highest ``prefer`` value.
    """
    if len(x) == k:
        return np.arange(k, dtype=np.intp)
    km = KMeans(n_clusters=k, n_init=1, random_state=int(rng.integers(2**31 - 1)))
    labels = km.fit_predict(x, sample_weight=weights)
    dist = np.linalg.norm(x - km.cluster_centers_[labels], axis=1)
    picks: list[int] = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        if prefer is None:
            picks.append(int(members[np.argmin(dist[members])]))
        else:
            picks.append(int(members[np.argmax(prefer[members])]))
    if len(picks) < k:
        # k-means left a cluster empty: fill with the rows farthest from the picks.
        picks.extend(_farthest_fill(x, picks, k - len(picks)))
    return np.array(picks, dtype=np.intp)


def _farthest_fill(x: NDArray[np.float64], picked: list[int], n: int) -> list[int]:
    """Greedy k-center: ``n`` more rows, each the farthest from everything picked."""
    chosen = list(picked)
    nearest = np.full(len(x), np.inf)
    for i in chosen:
        nearest = np.minimum(nearest, np.linalg.norm(x - x[i], axis=1))
    extra: list[int] = []
    for _ in range(n):
        if chosen:
            nearest[chosen] = -np.inf
            nxt = int(np.argmax(nearest))
        else:
            nxt = 0
        extra.append(nxt)
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[nxt], axis=1))
    return extra


def _diverse_indices(
    x: NDArray[np.float64],
    order: NDArray[np.intp],
    k: int,
    rng: np.random.Generator,
    weights: NDArray[np.float64] | None,
    prefer: NDArray[np.float64] | None,
) -> NDArray[np.intp]:
    """k indices from ``order`` (positions in ``x``), one per cluster of distinct rows.

    Exact duplicates count once; they are only taken when there are fewer than k
    distinct rows, in ``order``.
    """
    distinct, repeats = _unique_rows_first(x, order)
    if len(distinct) <= k:
        return np.concatenate([distinct, repeats[: k - len(distinct)]])
    local = _cluster_pick(
        x[distinct],
        k,
        None if weights is None else weights[distinct],
        rng,
        None if prefer is None else prefer[distinct],
    )
    return distinct[local]


def _cold_start(
    x: NDArray[np.float64], k: int, rng: np.random.Generator, positions: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Diverse random sample: nearest-to-centre row of each k-means cluster."""
    order = rng.permutation(len(x))
    if len(order) > COLD_START_MAX_POOL:
        order = order[:COLD_START_MAX_POOL]
    local = _diverse_indices(x, order.astype(np.intp), k, rng, None, None)
    return positions[local]


def _uncertain_diverse(
    x: NDArray[np.float64],
    scores: NDArray[np.float64],
    k: int,
    candidate_factor: int,
    rng: np.random.Generator,
) -> NDArray[np.intp]:
    """Most uncertain ``candidate_factor * k`` rows, then one per weighted k-means cluster."""
    ranked = _top_k(scores, len(scores), rng)
    distinct, _ = _unique_rows_first(x, ranked)  # still in ranked order
    candidates = distinct[: max(k, candidate_factor * k)]
    if len(candidates) < k:
        rest = ranked[~np.isin(ranked, candidates)]
        return np.concatenate([candidates, rest[: k - len(candidates)]])
    weights = scores[candidates] + 1e-12
    local = _cluster_pick(x[candidates], k, weights, rng, None)
    picked = candidates[local]
    return picked[np.argsort(-scores[picked], kind="stable")]


def _check_ids(item_ids: Sequence[str]) -> list[str]:
    ids = list(item_ids)
    seen: set[str] = set()
    for row, item in enumerate(ids):
        if item in seen:
            raise SelectionError(f"item_ids: duplicate id {item!r} at row {row}")
        seen.add(item)
    return ids


def _check_features(features: NDArray[np.floating], n_items: int | None) -> NDArray[np.float64]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise SelectionError(f"features must be a 2-D (items x features) array, got shape {x.shape}")
    if n_items is not None and len(x) != n_items:
        raise SelectionError(f"features has {len(x)} rows but item_ids has {n_items}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        raise SelectionError(f"features: row {int(bad[0])} holds NaN or infinite values")
    return x


def _check_proba(proba: NDArray[np.floating], n_items: int | None) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise SelectionError(f"proba must be a 2-D (items x classes>=2) array, got shape {p.shape}")
    if n_items is not None and len(p) != n_items:
        raise SelectionError(f"proba has {len(p)} rows but item_ids has {n_items}")
    bad = np.flatnonzero(
        ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (np.abs(p.sum(axis=1) - 1.0) > _PROBA_SUM_TOLERANCE)
    )
    if len(bad):
        raise SelectionError(f"proba: row {int(bad[0])} is not a probability distribution: {p[bad[0]].tolist()}")
    return p


def _check_batch_size(batch_size: int, n_selectable: int, n_pool: int) -> None:
    if batch_size < 1:
        raise SelectionError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size > n_selectable:
        raise SelectionError(
            f"batch_size {batch_size} is bigger than the {n_selectable} selectable items "
            f"({n_pool} in the pool, {n_pool - n_selectable} excluded)"
        )
