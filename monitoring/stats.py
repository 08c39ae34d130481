"""Drift and accuracy statistics: pure numpy/scipy, vectorised over features where it matters.

Conventions used across labelloop's monitoring:

- PSI (population stability index) compares two binned distributions:
  ``sum((actual - expected) * ln(actual / expected))``. Empty bins are floored (default
  1e-4) so the logarithm stays finite; identical distributions give 0. Rule of thumb:
  < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.
- Numeric columns are binned at quantiles of the *reference* sample, bins closed on the
  right (``(e[i-1], e[i]]``), with one extra bin for missing values.
- The significance test on binned counts is the chi-square test of homogeneity on the
  2 x B table (reference counts, batch counts): a two-sample test, so the sampling noise
  of the reference itself is accounted for.
- Proportions get the Wilson score interval (not the Wald interval, which collapses at
  0 and 1 and under-covers for small n).
- Macro-F1 (`learning.evaluation.macro_f1`, the product's one definition) gets a
  percentile bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

DEFAULT_FLOOR = 1e-4

FloatArray = npt.NDArray[np.float64]


class KSResult(NamedTuple):
    """A two-sample KS statistic with its p-value."""

    statistic: float
    p_value: float


class Interval(NamedTuple):
    """A two-sided confidence interval."""

    low: float
    high: float


def quantile_edges(reference: npt.ArrayLike, n_bins: int = 10) -> FloatArray:
    """Bin edges at the quantiles of a reference sample, plus two out-of-range bins.

    The reference range [min, max] is cut at its quantiles; below min and above max get
    a bin each, empty in the reference, so values outside the range seen in training
    (a pixel that was always 0 turning grey) show up as drift. Ties collapse: a column
    that is mostly one value gets fewer, wider bins, never duplicate ones. Missing values
    are ignored.

    Args:
        reference: The reference values (1-D).
        n_bins: The number of quantile bins wanted inside the range (fewer with ties).

    Returns:
        Sorted unique edges; bins are ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` with
        e0 just below the reference minimum and e_last its maximum. Empty when the
        reference has no values.
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    values = np.asarray(reference, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    # Edges are observed values (the inverted CDF at i/n_bins, in integer arithmetic), so
    # discrete columns bin on their own values.
    ordered = np.sort(values)
    positions = (np.arange(1, n_bins) * ordered.size + n_bins - 1) // n_bins - 1
    below = np.nextafter(ordered[0], -np.inf)
    return np.unique(np.concatenate([[below], ordered[positions], [ordered[-1]]]))


def bin_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> FloatArray:
    """Counts of values per bin, with a last bin for missing values (NaN).

    Args:
        values: 1-D numeric values.
        edges: Interior edges from `quantile_edges`.

    Returns:
        Counts of length ``len(edges) + 2`` (bins, then missing).
    """
    x = np.asarray(values, dtype=np.float64)
    cuts = np.asarray(edges, dtype=np.float64)
    missing = np.isnan(x)
    index = np.searchsorted(cuts, x[~missing], side="left")
    counts = np.bincount(index, minlength=cuts.size + 1).astype(np.float64)
    return np.append(counts, float(missing.sum()))


def bin_counts_matrix(values: npt.ArrayLike, edges: Sequence[Sequence[float]]) -> FloatArray:
    """`bin_counts` for many columns at once, each with its own edges.

    Args:
        values: Shape (n_rows, F).
        edges: F lists of interior edges.

    Returns:
        Shape (F, max_edges + 2): row f holds the ``len(edges[f]) + 1`` bin counts, then
        the missing count, then zeros (padding).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(edges):
        raise ValueError(f"values of shape {x.shape} do not match {len(edges)} edge lists")
    n_features = len(edges)
    sizes = np.array([len(e) for e in edges], dtype=np.int64)
    width = int(sizes.max(initial=0)) + 2
    index = np.empty(x.shape, dtype=np.int64)
    for f, e in enumerate(edges):
        # Number of edges strictly below the value = the right-closed bin index.
        index[:, f] = np.searchsorted(np.asarray(e, dtype=np.float64), x[:, f], side="left")
    index = np.where(np.isnan(x), sizes[None, :] + 1, index)
    flat = index + (np.arange(n_features) * width)[None, :]
    counts = np.bincount(flat.ravel(), minlength=n_features * width)
    return counts.reshape(n_features, width).astype(np.float64)


def category_counts(values: Sequence[object], categories: Sequence[str]) -> FloatArray:
    """Counts per known category, then one bucket for categories never seen before.

    Values are compared as strings; missing values (None/NaN) count as the category
    ``"<missing>"`` if the reference had it, else as unseen.

    Args:
        values: The batch's values.
        categories: The reference's categories, in profile order.

    Returns:
        Counts of length ``len(categories) + 1``.
    """
    position = {category: i for i, category in enumerate(categories)}
    unseen = len(categories)
    index = np.fromiter(
        (position.get(category_key(v), unseen) for v in values), dtype=np.int64, count=len(values)
    )
    return np.bincount(index, minlength=unseen + 1).astype(np.float64)


def category_key(value: object) -> str:
    """The string a categorical value is profiled under (missing -> ``"<missing>"``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<missing>"
    return str(value)


def proportions(counts: npt.ArrayLike) -> FloatArray:
    """Counts -> proportions along the last axis (all-zero rows stay zero)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, floor: float = DEFAULT_FLOOR) -> FloatArray:
    """Population stability index between binned distributions.

    Proportions below `floor` (empty bins) are raised to it before the logarithm, so a
    bin empty on one side adds a large but finite term.

    Args:
        expected: Reference proportions (or counts), shape (B,) or (F, B) for F features.
        actual: Batch proportions (or counts), same shape.
        floor: The smallest proportion used in the logarithm.

    Returns:
        PSI per feature: a 0-d array for 1-D input, shape (F,) for 2-D input.
    """
    e = np.maximum(proportions(expected), floor)
    a = np.maximum(proportions(actual), floor)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual have different shapes: {e.shape} vs {a.shape}")
    return np.sum((a - e) * np.log(a / e), axis=-1)


def chi_square_homogeneity(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Chi-square test of homogeneity of two binned samples (a 2 x B contingency table).

    Bins empty on both sides are dropped (they carry no information). Reference counts
    may be fractional (proportions x n from a saved profile).

    Args:
        reference_counts: Shape (B,) or (F, B).
        current_counts: Same shape.

    Returns:
        (statistic, p_value, dof), each of shape () or (F,). A feature with fewer than two
        non-empty bins, or an empty side, gets statistic 0, p-value 1, dof 0.
    """
    r = np.atleast_2d(np.asarray(reference_counts, dtype=np.float64))
    c = np.atleast_2d(np.asarray(current_counts, dtype=np.float64))
    if r.shape != c.shape:
        raise ValueError(f"reference and current have different shapes: {r.shape} vs {c.shape}")
    column = r + c
    used = column > 0
    n_r = r.sum(axis=1, keepdims=True)
    n_c = c.sum(axis=1, keepdims=True)
    total = n_r + n_c
    safe_total = np.where(total > 0, total, 1.0)
    e_r = n_r * column / safe_total
    e_c = n_c * column / safe_total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(used & (e_r > 0), (r - e_r) ** 2 / e_r, 0.0) + np.where(
            used & (e_c > 0), (c - e_c) ** 2 / e_c, 0.0
        )
    statistic = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1
    valid = (dof >= 1) & (n_r[:, 0] > 0) & (n_c[:, 0] > 0)
    dof = np.where(valid, dof, 0)
    statistic = np.where(valid, statistic, 0.0)
    p_value = np.where(valid, sps.chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
    if np.ndim(reference_counts) == 1:
        return statistic[0], p_value[0], dof[0]
    return statistic, p_value, dof.astype(np.int64)


def ks_two_sample(reference: npt.ArrayLike, current: npt.ArrayLike) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test (scipy's exact/asymptotic choice), NaNs dropped.

    Needs the raw reference sample; the saved profile keeps bins, so `compare` uses
    the binned chi-square test instead. Conservative on discrete data (ties).

    Args:
        reference: Reference values.
        current: Batch values.

    Returns:
        The KS statistic (largest CDF gap) and its p-value.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    if r.size == 0 or c.size == 0:
        raise ValueError(f"KS needs values on both sides, got {r.size} and {c.size}")
    result = sps.ks_2samp(r, c)
    return KSResult(float(result.statistic), float(result.pvalue))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion.

    Args:
        successes: Number of successes k (0 <= k <= n).
        n: Number of trials (> 0).
        confidence: Two-sided confidence level.

    Returns:
        The interval (low, high), always inside [0, 1].
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    z2 = z * z
    center = (successes + z2 / 2) / (n + z2)
    half = z / (n + z2) * np.sqrt(successes * (n - successes) / n + z2 / 4)
    return Interval(max(0.0, center - half), min(1.0, center + half))


def macro_f1_of_resamples(
    y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64], axis: int = -1
) -> FloatArray:
    """`learning.evaluation.macro_f1` of each resample at once, from class codes.

    The statistic `scipy.stats.bootstrap` calls with a batch of resamples: per resample,
    the mean F1 over the classes that occur among its true or predicted labels, exactly
    sklearn's ``f1_score(average="macro", zero_division=0)`` (a unit test holds the two
    equal). It exists because sklearn scores one sample per call (~3 ms): 1000 resamples
    would take seconds, where one bincount over all of them takes milliseconds.

    Args:
        y_true: True class codes (0..k-1), shape (..., n).
        y_pred: Predicted class codes, same shape.
        axis: The items' axis (scipy passes -1).

    Returns:
        Macro-F1 per resample, shape (...,).
    """
    t = np.moveaxis(np.asarray(y_true, dtype=np.int64), axis, -1)
    p = np.moveaxis(np.asarray(y_pred, dtype=np.int64), axis, -1)
    batch_shape = t.shape[:-1]
    t = t.reshape(-1, t.shape[-1])
    p = p.reshape(-1, p.shape[-1])
    rows = t.shape[0]
    k = int(max(t.max(initial=0), p.max(initial=0))) + 1
    offset = (np.arange(rows) * k)[:, None]
    size = rows * k
    tp = np.bincount((offset + t)[t == p], minlength=size).reshape(rows, k)
    true_count = np.bincount((offset + t).ravel(), minlength=size).reshape(rows, k)
    pred_count = np.bincount((offset + p).ravel(), minlength=size).reshape(rows, k)
    denominator = (true_count + pred_count).astype(np.float64)
    present = denominator > 0
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros(denominator.shape), where=present)
    n_present = present.sum(axis=-1)
    scores = np.divide(
        f1.sum(axis=-1), n_present, out=np.zeros(n_present.shape), where=n_present > 0
    )
    return scores.reshape(batch_shape)


def class_codes(
    y_true: Sequence[object], y_pred: Sequence[object]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Labels (compared as strings) -> integer codes shared by both sides."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}")
    labels = sorted({str(v) for v in y_true} | {str(v) for v in y_pred})
    index = {label: i for i, label in enumerate(labels)}
    t = np.fromiter((index[str(v)] for v in y_true), dtype=np.int64, count=len(y_true))
    p = np.fromiter((index[str(v)] for v in y_pred), dtype=np.int64, count=len(y_pred))
    return t, p


def bootstrap_macro_f1_interval(
    y_true: Sequence[object],
    y_pred: Sequence[object],
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval for macro-F1 (`scipy.stats.bootstrap`, paired).

    Items are resampled with replacement, each keeping its (true, predicted) pair; every
    resample is scored by `macro_f1_of_resamples` in one vectorised call.

    Args:
        y_true: True labels.
        y_pred: Predicted labels.
        confidence: Two-sided confidence level.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling, so a report is reproducible.

    Returns:
        The (low, high) percentiles of the bootstrap distribution; a single item gives
        its own score twice (every resample is that item).
    """
    t, p = class_codes(y_true, y_pred)
    if t.size == 0:
        raise ValueError("macro-F1 interval needs at least one item")
    if t.size == 1:
        score = float(macro_f1_of_resamples(t, p))
        return Interval(score, score)
    result = sps.bootstrap(
        (t, p),
        macro_f1_of_resamples,
        n_resamples=n_boot,
        vectorized=True,
        paired=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Interval(float(interval.low), float(interval.high))
