"""Consensus benchmark: simulated annotation teams, majority vote against labelloop's default.

For each data set (load_digits with the image pipeline, load_wine and load_breast_cancer
with the tabular one) and seed, three simulated teams label every item (a wrong vote
picks another class at random):

- sparse: 5 annotators of accuracy 0.95, 0.8625, 0.775, 0.6875, 0.6; 1-3 votes per item;
- dense: 3 annotators of accuracy 0.95, 0.9, 0.85; 3 votes per item;
- adversarial: annotators of accuracy 0.95, 0.9, 0.85 and 0.3; 3 of the 4 per item.

The champion is the project's pipeline for the modality fitted out of fold
(``learning.training.out_of_fold``, 5-fold cross-validation) on the majority labels.
The baseline is majority vote with ties broken at random; labelloop's default is
``annotation.consensus.compute_consensus`` with the default ``LabelPolicy``. Accuracy is
over every item (the consensus label of an item the policy leaves unresolved counts
too); the share left unresolved and the accuracy of the labelled items are printed.
Annotator quality: mean absolute error of each annotator's estimated accuracy against
its simulated accuracy, over every team, data set and seed. Label issues: 10% of the
labels the default resolved (sparse team) are flipped, the champion is fitted out of
fold on them, and ``cleanlab.rank.get_label_quality_scores`` ranks them: AUROC of the
score for "flipped", and precision among the k lowest (k = the number flipped).

Usage: ``python -m benchmarks.consensus [--seeds 5] [--dataset NAME ...]``.
Ends with JSON lines (``consensus_accuracy_gain_*`` in points, baseline = majority's
accuracy, ``annotator_quality_mae``, ``label_issue_auroc``, ``label_issue_precision_at_k``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from cleanlab.rank import get_label_quality_scores
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from annotation.consensus import compute_consensus
from annotation.labels import LabelPolicy
from learning.evaluation import EvaluationConfig, plan_evaluation
from learning.pipelines import FeatureSpec, build_pipeline
from learning.training import out_of_fold

TEAMS: dict[str, tuple[list[float], tuple[int, int]]] = {
    "sparse": (list(np.linspace(0.95, 0.6, 5)), (1, 3)),
    "dense": ([0.95, 0.9, 0.85], (3, 3)),
    "adversarial": ([0.95, 0.9, 0.85, 0.3], (3, 3)),
}
FLIP_SHARE = 0.10
FOLDS = EvaluationConfig(holdout_min_items=10**9, max_folds=5)


@dataclass(frozen=True)
class Dataset:
    name: str
    rows: pd.DataFrame | NDArray[np.float64]
    labels: NDArray[np.int64]
    spec: FeatureSpec


def _digits() -> Dataset:
    data = load_digits()
    return Dataset("load_digits", data.data, data.target, FeatureSpec(modality="image", pixel_max=16.0))


def _tabular(name: str, loader: Callable[..., Any]) -> Dataset:
    bunch = loader(as_frame=True)
    spec = FeatureSpec(modality="tabular", numeric_columns=[str(c) for c in bunch.data.columns])
    return Dataset(name, bunch.data, np.asarray(bunch.target), spec)


DATASETS: dict[str, Callable[[], Dataset]] = {
    "load_digits": _digits,
    "load_wine": lambda: _tabular("load_wine", load_wine),
    "load_breast_cancer": lambda: _tabular("load_breast_cancer", load_breast_cancer),
}


def simulate(
    truth: NDArray[np.int64], classes: list[str], team: str, rng: np.random.Generator
) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """Votes of a simulated team: item id -> annotator -> label, and each one's accuracy."""
    accuracies, (fewest, most) = TEAMS[team]
    names = [f"a{i}" for i in range(len(accuracies))]
    votes: dict[str, dict[str, str]] = {}
    for position, true in enumerate(truth):
        count = int(rng.integers(fewest, most + 1))
        chosen = rng.choice(len(names), size=count, replace=False)
        given: dict[str, str] = {}
        for who in chosen:
            label = int(true)
            if rng.random() >= accuracies[who]:
                label = int(rng.choice([c for c in range(len(classes)) if c != true]))
            given[names[who]] = classes[label]
        votes[str(position)] = given
    return votes, dict(zip(names, accuracies, strict=True))


def majority_with_random_ties(given: dict[str, str], rng: np.random.Generator) -> str:
    counts = pd.Series(list(given.values())).value_counts()
    top = sorted(counts[counts == counts.max()].index)
    return str(top[int(rng.integers(len(top)))])


def out_of_fold_probabilities(data: Dataset, labels: list[str], seed: int) -> pd.DataFrame:
    """The project's pipeline fitted out of fold on ``labels``: item id -> class probabilities."""
    config = FOLDS.model_copy(update={"seed": seed})
    result = out_of_fold(lambda: build_pipeline(data.spec), data.rows, labels, plan_evaluation(labels, config))
    assert result.probabilities is not None
    probabilities = result.probabilities
    probabilities.index = [str(i) for i in probabilities.index]
    return probabilities


def run_team(data: Dataset, team: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, len(data.name), list(TEAMS).index(team)])
    classes = [str(c) for c in sorted(set(data.labels.tolist()))]
    truth_labels = [classes[int(t)] for t in data.labels]
    votes, accuracies = simulate(data.labels, classes, team, rng)
    majority = [majority_with_random_ties(votes[str(i)], rng) for i in range(len(truth_labels))]
    probabilities = out_of_fold_probabilities(data, majority, seed)
    consensus = compute_consensus(votes, classes, probabilities, LabelPolicy())
    items = consensus.items
    truth = np.array(truth_labels)
    chosen = np.array([item.consensus_label for item in items])
    resolved = np.array([item.label is not None for item in items])
    errors = [abs((q.accuracy or 0.0) - accuracies[q.annotator]) for q in consensus.annotators]
    return {
        "majority": float(np.mean(np.array(majority) == truth)),
        "default": float(np.mean(chosen == truth)),
        "unresolved": float(1 - resolved.mean()),
        "resolved_accuracy": float(np.mean(chosen[resolved] == truth[resolved])),
        "quality_errors": errors,
        "estimates": {q.annotator: (q.accuracy, accuracies[q.annotator]) for q in consensus.annotators},
        "resolved_labels": {item.item_id: item.label for item in items if item.label is not None},
        "classes": classes,
    }


def label_issues(data: Dataset, resolved: dict[str, str], classes: list[str], seed: int) -> tuple[float, float]:
    """AUROC and precision@k of cleanlab's label quality on out-of-fold probabilities."""
    rng = np.random.default_rng([seed, 7])
    ids = sorted(resolved, key=int)
    given = [resolved[i] for i in ids]
    flipped = np.zeros(len(ids), dtype=bool)
    for position in rng.choice(len(ids), size=round(FLIP_SHARE * len(ids)), replace=False):
        given[position] = str(rng.choice([c for c in classes if c != given[position]]))
        flipped[position] = True
    positions = [int(i) for i in ids]
    rows = data.rows.iloc[positions] if isinstance(data.rows, pd.DataFrame) else data.rows[positions]
    subset = Dataset(data.name, rows, data.labels[positions], data.spec)
    probabilities = out_of_fold_probabilities(subset, given, seed)
    index = {c: i for i, c in enumerate(probabilities.columns)}
    scores = get_label_quality_scores(
        np.array([index[g] for g in given]), probabilities.to_numpy()
    )
    k = int(flipped.sum())
    top = np.argsort(scores, kind="stable")[:k]
    return float(roc_auc_score(flipped, -scores)), float(flipped[top].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--dataset", action="append", choices=list(DATASETS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    started = time.perf_counter()
    gains: dict[str, list[tuple[float, float]]] = {team: [] for team in TEAMS}
    errors: list[float] = []
    aurocs: list[float] = []
    precisions: list[float] = []
    for name in args.dataset or list(DATASETS):
        data = DATASETS[name]()
        for seed in range(args.seeds):
            for team in TEAMS:
                outcome = run_team(data, team, seed)
                gains[team].append((outcome["default"], outcome["majority"]))
                errors += outcome["quality_errors"]
                estimates = ", ".join(
                    f"{a} {est:.3f}/{true:.3f}" for a, (est, true) in sorted(outcome["estimates"].items())
                )
                print(
                    f"{name} seed {seed} {team:11s} majority {outcome['majority']:.4f} "
                    f"default {outcome['default']:.4f} (unresolved {outcome['unresolved']:.3f}, "
                    f"labelled {outcome['resolved_accuracy']:.4f}); estimated/true accuracy: {estimates}",
                    flush=True,
                )
                if team == "sparse":
                    auroc, precision = label_issues(data, outcome["resolved_labels"], outcome["classes"], seed)
                    aurocs.append(auroc)
                    precisions.append(precision)
                    print(f"{name} seed {seed} label issues: AUROC {auroc:.4f}, precision@k {precision:.4f}", flush=True)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    lines = []
    for team in TEAMS:
        default = float(np.mean([d for d, _ in gains[team]]))
        majority = float(np.mean([m for _, m in gains[team]]))
        print(f"{team}: default {default:.4f} vs majority {majority:.4f}: ratio {default / majority:.4f}")
        lines.append(
            {
                "metric": f"consensus_accuracy_gain_{team}",
                "value": round(100 * (default - majority), 3),
                "baseline": round(majority, 5),
                "accuracy": round(default, 5),
            }
        )
    lines.append({"metric": "annotator_quality_mae", "value": round(float(np.mean(errors)), 5)})
    lines.append({"metric": "label_issue_auroc", "value": round(float(np.mean(aurocs)), 5)})
    lines.append({"metric": "label_issue_precision_at_k", "value": round(float(np.mean(precisions)), 5)})
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
