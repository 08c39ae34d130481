"""Drift and accuracy statistics against hand-computed and textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from learning.evaluation import macro_f1
from monitoring.stats import (
    bin_counts,
    bin_counts_matrix,
    bootstrap_macro_f1_interval,
    category_counts,
    chi_square_homogeneity,
    ks_two_sample,
    macro_f1_of_resamples,
    psi,
    quantile_edges,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("expected", "actual", "value"),
    [
        ([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 0.0),
        # (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
        ([0.5, 0.5], [0.25, 0.75], 0.25 * math.log(2) + 0.25 * math.log(1.5)),
        # counts are normalised first
        ([10, 10], [5, 15], 0.25 * math.log(2) + 0.25 * math.log(1.5)),
        # an empty reference bin is floored at 1e-4: finite, large
        (
            [0.5, 0.5, 0.0],
            [0.5, 0.25, 0.25],
            0.25 * math.log(2) + (0.25 - 1e-4) * math.log(0.25 / 1e-4),
        ),
    ],
)
def test_psi_hand_values(expected: list[float], actual: list[float], value: float) -> None:
    assert float(psi(expected, actual)) == pytest.approx(value, abs=1e-9)


def test_psi_is_vectorised_over_features() -> None:
    expected = np.array([[0.5, 0.5], [0.2, 0.8]])
    actual = np.array([[0.5, 0.5], [0.8, 0.2]])
    values = psi(expected, actual)
    assert values.shape == (2,)
    assert values[0] == pytest.approx(0.0)
    assert values[1] == pytest.approx(2 * 0.6 * math.log(4))


def test_psi_rejects_different_bins() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_bin_counts_right_closed_with_missing_bin() -> None:
    counts = bin_counts([0, 1, 1.5, 2, 3, np.nan], [1.0, 2.0])
    assert counts.tolist() == [2, 2, 1, 1]


def _below(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


@pytest.mark.parametrize(
    ("values", "edges"),
    [
        (np.arange(100), [_below(0), 9, 19, 29, 39, 49, 59, 69, 79, 89, 99]),
        (np.arange(5), [_below(0), 0, 1, 2, 3, 4]),
        # mostly one value: ties collapse into one bin
        ([0] * 90 + [5] * 10, [_below(0), 0, 5]),
        # a constant column still has its out-of-range bins
        ([3.0] * 20, [_below(3), 3]),
        ([np.nan, np.nan], []),
    ],
)
def test_quantile_edges(values: list[float], edges: list[float]) -> None:
    assert quantile_edges(values, n_bins=10).tolist() == edges


def test_quantile_bins_of_reference_are_balanced() -> None:
    reference = np.random.default_rng(1).normal(size=10_000)
    counts = bin_counts(reference, quantile_edges(reference, 10))
    assert counts[0] == 0  # below the minimum
    assert counts[1:11] == pytest.approx(np.full(10, 1000), abs=1)  # the deciles
    assert counts[11:].tolist() == [0, 0]  # above the maximum, missing


def test_values_outside_the_reference_range_are_drift() -> None:
    reference = np.zeros(1000)  # a pixel that is always 0 in training
    edges = quantile_edges(reference, 10)
    batch = np.r_[np.zeros(200), np.full(100, 3.0)]
    assert float(psi(bin_counts(reference, edges), bin_counts(batch, edges))) > 1.0


def test_category_counts_unseen_and_missing() -> None:
    counts = category_counts(["a", "b", "a", None, "zzz", 3], ["a", "b", "<missing>", "3"])
    assert counts.tolist() == [2, 1, 1, 1, 1]


@pytest.mark.parametrize(
    "table",
    [
        [[20, 30, 50], [25, 25, 50]],
        [[100, 5, 0, 7], [80, 15, 0, 2]],  # a bin empty on both sides is dropped
        [[12.5, 40.2, 7.3], [3, 9, 1]],  # fractional reference counts from a profile
    ],
)
def test_chi_square_homogeneity_matches_scipy(table: list[list[float]]) -> None:
    reference, current = np.array(table[0]), np.array(table[1])
    stat, p, dof = chi_square_homogeneity(reference, current)
    used = (reference + current) > 0
    expected = chi2_contingency(np.array([reference[used], current[used]]), correction=False)
    assert float(stat) == pytest.approx(expected.statistic)
    assert float(p) == pytest.approx(expected.pvalue)
    assert int(dof) == expected.dof


def test_chi_square_homogeneity_vectorised_and_degenerate() -> None:
    reference = np.array([[20.0, 30.0, 50.0], [100.0, 0.0, 0.0], [10.0, 10.0, 0.0]])
    current = np.array([[25.0, 25.0, 50.0], [40.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    stat, p, dof = chi_square_homogeneity(reference, current)
    assert stat.shape == (3,)
    # one non-empty bin, and an empty batch: no evidence either way
    assert p[1:].tolist() == [1.0, 1.0]
    assert dof[1:].tolist() == [0, 0]
    assert p[0] == pytest.approx(
        chi2_contingency(np.array([reference[0], current[0]]), correction=False).pvalue
    )


def test_ks_two_sample() -> None:
    same = ks_two_sample([1, 2, 3, 4], [1, 2, 3, 4])
    assert same.statistic == 0.0 and same.p_value == pytest.approx(1.0)
    apart = ks_two_sample(np.arange(50), np.arange(50) + 100)
    assert apart.statistic == 1.0 and apart.p_value < 1e-10
    with pytest.raises(ValueError, match="both sides"):
        ks_two_sample([np.nan], [1.0])


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # 0 of 10: upper bound z^2 / (n + z^2) = 0.2775
        (0, 10, 0.0, 0.2775),
    ],
)
def test_wilson_interval_textbook(k: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(k, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_bad_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(k, n)


def test_bootstrap_interval_brackets_estimate_and_narrows_with_n() -> None:
    rng = np.random.default_rng(3)
    widths = []
    for n in (50, 800):
        y_true = rng.integers(0, 4, size=n)
        y_pred = np.where(rng.random(n) < 0.8, y_true, rng.integers(0, 4, size=n))
        low, high = bootstrap_macro_f1_interval(y_true.tolist(), y_pred.tolist(), seed=1)
        assert 0.0 <= low <= macro_f1(y_true.tolist(), y_pred.tolist()) <= high <= 1.0
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_interval_perfect_predictions() -> None:
    assert tuple(bootstrap_macro_f1_interval([1, 2, 3, 1], [1, 2, 3, 1])) == (1.0, 1.0)


def test_bin_counts_matrix_matches_column_by_column() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=(200, 3))
    values[::7, 1] = np.nan
    edges = [quantile_edges(values[:, 0], 10), [0.0], []]
    counts = bin_counts_matrix(values, edges)
    assert counts.shape == (3, len(edges[0]) + 2)
    for f in range(3):
        expected = bin_counts(values[:, f], edges[f])
        assert counts[f, : expected.size].tolist() == expected.tolist()
        assert counts[f, expected.size :].sum() == 0


def test_resampled_macro_f1_is_sklearns_on_every_resample() -> None:
    # The bootstrap's vectorised statistic must be the product's one macro-F1.
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 5, size=(40, 30))
    y_pred = np.where(rng.random((40, 30)) < 0.6, y_true, rng.integers(0, 6, size=(40, 30)))
    scores = macro_f1_of_resamples(y_true, y_pred)
    expected = [macro_f1(t.tolist(), p.tolist()) for t, p in zip(y_true, y_pred, strict=True)]
    np.testing.assert_allclose(scores, expected)


def test_bootstrap_interval_of_one_item_is_its_score() -> None:
    assert tuple(bootstrap_macro_f1_interval(["a"], ["b"])) == (0.0, 0.0)
