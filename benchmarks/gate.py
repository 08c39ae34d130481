"""Promotion-gate benchmark: a labelling campaign with an oracle annotator, gated two ways.

For each data set and seed: a fixed stratified test split (25%); the pool is the rest.
Each round the loop's own selection (:data:`learning.selection.DEFAULT_STRATEGY`, ranked
by the serving champion's probabilities) picks ``--batch`` items, the oracle labels them,
the default pipeline is fitted on every label so far (the challenger) and the gate
decides whether it replaces the champion. Two campaigns per seed, one per gate:

- ``current``: the gate before the paired rule, copied here as it was: macro-F1 on the
  plan's out-of-fold predictions for the evaluated items the champion never trained
  on, promoted only when strictly higher, no class recall dropping by more than 0.05 on
  a class with 20 or more compared items.
- ``new``: :func:`learning.gate.decide_promotion` with :class:`learning.gate.GateConfig`
  defaults on :func:`learning.training.pair_with_champion`, as the retrain flow runs it.

**Champion regret**: per round, test accuracy of the challenger (the model on every label
so far) minus test accuracy of the champion serving after the gate; the mean over the
rounds of a campaign, then over campaigns. A first model that loses to the majority
baseline leaves the majority class serving.

**Bad challengers** (in the ``new`` campaign, every other round with a champion, against the
champion serving before that round's gate, trained on the same labels as the healthy
challenger): ``shuffled``, a data bug that shuffles, at training time only, the most
informative half of the feature columns (by ANOVA F on the labels); one shuffled column
costs these data sets almost nothing (load_digits: 0.000-0.004 of test accuracy on the
most important pixel) and no gate can or should see it; ``near_majority``, k-nearest
neighbours with k = 80% of the labels, an estimator regularised until it predicts little
more than the majority class. The gate is told what the retrain flow would know: the
shuffled columns leave the pipeline as it was, the near-majority estimator is another
pipeline (so it is not presumed no worse without evidence). The figure is the share
refused among the faulty challengers whose test accuracy is at least ``MATERIAL_DROP``
(0.05) below the champion's, with the share refused on evidence alone (worse, or a class
regression); the others are counted apart as harmless, each fault's mean drop is
printed, and so is every bad challenger promoted, with the gate's reason.

Usage: ``PYTHONPATH=. python -m benchmarks.gate [--seeds 3] [--batch 20] [--rounds 9]
[--dataset NAME ...]``. Data sets: load_digits (image pipeline), load_wine,
load_breast_cancer (tabular). With 9 rounds of 20 every plan is cross-validation (fewer
than 200 labels), the regime of a young loop where the gate decided worst.
Ends with two JSON lines: ``champion_regret`` (new gate, baseline = current gate,
ratio = new / current) and ``bad_challenger_refusal_rate`` (new gate).
"""

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import f_classif
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from benchmarks.active_learning import DATASETS, Dataset
from learning.evaluation import (
    EvaluationError,
    Metrics,
    compute_metrics,
    plan_evaluation,
)
from learning.gate import ChampionComparison, GateConfig, decide_promotion
from learning.pipelines import build_features, build_pipeline, selection_features
from learning.selection import DEFAULT_STRATEGY, select_batch
from learning.training import comparison_positions, out_of_fold, pair_with_champion

TEST_SIZE = 0.25
BENCHMARK_DATASETS = ("load_digits", "load_wine", "load_breast_cancer")
NEAR_MAJORITY_SHARE = 0.8
# A faulty challenger counts as bad when its test accuracy is this much below the champion's.
MATERIAL_DROP = 0.05
Rows = pd.DataFrame | NDArray[np.float64]


def _take(rows: Rows, idx: Any) -> Rows:
    positions = np.asarray(idx, dtype=np.intp)
    return rows.iloc[positions] if isinstance(rows, pd.DataFrame) else rows[positions]


class ShuffledAtFit(ClassifierMixin, BaseEstimator):
    """A pipeline fitted on rows whose ``columns`` were shuffled (a data bug); predicts as usual."""

    def __init__(self, make: Callable[[], Pipeline], columns: list[int], seed: int = 0) -> None:
        self.make = make
        self.columns = columns
        self.seed = seed

    def fit(self, X: Rows, y: Any) -> "ShuffledAtFit":
        rng = np.random.default_rng(self.seed)
        broken = X.copy()
        for column in self.columns:
            if isinstance(broken, pd.DataFrame):
                broken.iloc[:, column] = rng.permutation(broken.iloc[:, column].to_numpy())
            else:
                broken[:, column] = rng.permutation(broken[:, column])
        self.model_ = self.make().fit(broken, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Rows) -> NDArray[Any]:
        return self.model_.predict(X)


def near_majority(data: Dataset, n_labels: int) -> Callable[[], Pipeline]:
    """k-nearest neighbours with k = 80% of the labels: little more than the majority class."""

    def make() -> Pipeline:
        k = max(1, int(NEAR_MAJORITY_SHARE * n_labels))
        return Pipeline([("features", build_features(data.spec)), ("model", KNeighborsClassifier(n_neighbors=k))])

    return make


def current_gate(new: Metrics, champion: Metrics) -> bool:
    """The gate before the paired rule, with its defaults (see the module docstring)."""
    if new.macro_f1 - champion.macro_f1 <= 1e-9:
        return False
    for label, old in champion.per_class.items():
        if old.support < 20 or label not in new.per_class:
            continue
        if old.recall - new.per_class[label].recall > 0.05 + 1e-9:
            return False
    return True


@dataclass
class Champion:
    model: Any
    items: list[str]
    accuracy: float


@dataclass
class Campaign:
    regrets: list[float] = field(default_factory=list)
    promotions: int = 0
    refused: dict[str, list[bool]] = field(default_factory=lambda: {"shuffled": [], "near_majority": []})
    drops: dict[str, list[float]] = field(default_factory=lambda: {"shuffled": [], "near_majority": []})
    harmless: dict[str, int] = field(default_factory=lambda: {"shuffled": 0, "near_majority": 0})
    # refused as worse or for a class regression (not only kept for a changed pipeline)
    on_evidence: dict[str, list[bool]] = field(default_factory=lambda: {"shuffled": [], "near_majority": []})
    accepted: list[str] = field(default_factory=list)  # the bad challengers promoted, and why


def campaign(data: Dataset, gate: str, seed: int, batch: int, rounds: int) -> Campaign:
    """One labelling campaign gated by ``gate`` ("current" or "new")."""
    positions = np.arange(len(data.labels))
    pool_idx, test_idx = train_test_split(positions, test_size=TEST_SIZE, stratify=data.labels, random_state=seed)
    pool_rows, test_rows = _take(data.rows, pool_idx), _take(data.rows, test_idx)
    pool_y = np.asarray([str(v) for v in data.labels[pool_idx]])
    test_y = np.asarray([str(v) for v in data.labels[test_idx]])
    majority = float(np.mean(test_y == pd.Series(test_y).mode()[0]))
    item_ids = [f"item-{i}" for i in range(len(pool_idx))]
    features = selection_features(data.spec, pool_rows, seed=seed)
    config = GateConfig()

    def make() -> Pipeline:
        return build_pipeline(data.spec)

    result = Campaign()
    labelled: list[int] = []
    champion: Champion | None = None
    gated = 0  # rounds gated against a champion
    for round_no in range(min(rounds, len(item_ids) // batch)):
        proba = None if champion is None else champion.model.predict_proba(pool_rows)
        chosen = select_batch(
            DEFAULT_STRATEGY,
            item_ids,
            features,
            proba,
            batch,
            exclude={item_ids[i] for i in labelled},
            seed=seed * 1000 + round_no,
        )
        labelled.extend(int(c.removeprefix("item-")) for c in chosen)
        rows, labels, ids = _take(pool_rows, labelled), pool_y[labelled].tolist(), [item_ids[i] for i in labelled]
        try:
            plan = plan_evaluation(labels)
        except EvaluationError:
            continue  # the loop trains nothing on these labels either
        challenger = make().fit(rows, labels)
        accuracy = float(np.mean(challenger.predict(test_rows) == test_y))
        if champion is None or gate == "current":
            evaluated = out_of_fold(make, rows, labels, plan)
            tested = plan.test_positions
            metrics = compute_metrics(
                [labels[p] for p in tested], [evaluated.predictions[p] for p in tested], plan.method, [ids[p] for p in tested]
            )
        if champion is None:
            promote = decide_promotion(metrics, None, config).promote
        elif gate == "current":
            compared = comparison_positions(plan.test_positions, ids, champion.items)
            promote = bool(compared) and current_gate(
                compute_metrics([labels[p] for p in compared], [evaluated.predictions[p] for p in compared], plan.method),
                compute_metrics(
                    [labels[p] for p in compared],
                    [str(v) for v in champion.model.predict(_take(rows, compared))],
                    "fixed_model",
                ),
            )
        else:
            gated += 1
            if gated % 2 == 1:  # every other round: the faults cost two more rounds of fits
                _bad_challengers(data, champion, rows, labels, ids, test_rows, test_y, seed, config, result)
            outcomes = pair_with_champion(champion.model, make, rows, labels, ids, champion.items)
            comparison = ChampionComparison(
                outcomes=outcomes, new_labels=len(ids), champion_labels=len(champion.items), same_pipeline=True
            )
            # The decision with a champion reads only the paired outcomes.
            promote = decide_promotion(
                compute_metrics(outcomes.truth or ["-"], outcomes.new or ["-"], plan.method), comparison, config
            ).promote
        if promote:
            champion = Champion(challenger, ids, accuracy)
            result.promotions += 1
        result.regrets.append(accuracy - (champion.accuracy if champion else majority))
    return result


def _bad_challengers(
    data: Dataset,
    champion: Champion,
    rows: Rows,
    labels: list[str],
    ids: list[str],
    test_rows: Rows,
    test_y: NDArray[Any],
    seed: int,
    config: GateConfig,
    result: Campaign,
) -> None:
    """Gate each faulty challenger against the healthy champion; record refusals and true drops."""
    numeric = np.asarray(build_features(data.spec).fit_transform(rows), dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # constant pixels have no F statistic: ranked last
        scores, _ = f_classif(numeric, labels)
    ranked = np.argsort(-np.nan_to_num(scores, nan=-1.0))
    informative = [int(c) for c in ranked[: max(1, numeric.shape[1] // 2)]]
    faults: dict[str, Callable[[], Any]] = {
        "shuffled": lambda: ShuffledAtFit(lambda: build_pipeline(data.spec), informative, seed),
        "near_majority": near_majority(data, len(labels)),
    }
    # What the retrain flow knows: a data bug leaves the pipeline as it was; another
    # estimator (k-nearest neighbours with a huge k) is another pipeline.
    same_pipeline = {"shuffled": True, "near_majority": False}
    for name, make_bad in faults.items():
        outcomes = pair_with_champion(champion.model, make_bad, rows, labels, ids, champion.items)
        comparison = ChampionComparison(
            outcomes=outcomes, new_labels=len(ids), champion_labels=len(champion.items), same_pipeline=same_pipeline[name]
        )
        decision = decide_promotion(compute_metrics(outcomes.truth, outcomes.new, "fixed_model"), comparison, config)
        bad = make_bad().fit(rows, labels)
        drop = champion.accuracy - float(np.mean(bad.predict(test_rows) == test_y))
        result.drops[name].append(drop)
        if drop >= MATERIAL_DROP:
            result.refused[name].append(not decision.promote)
            result.on_evidence[name].append(decision.outcome in ("worse", "class_regression"))
            if decision.promote:
                result.accepted.append(f"{data.name} seed={seed} {name} (test drop {drop:.3f}): {decision.summary}")
        else:
            result.harmless[name] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per data set (0 .. seeds - 1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=20, help="items labelled per round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per campaign (fewer if the pool runs out)")
    parser.add_argument("--dataset", action="append", choices=BENCHMARK_DATASETS, help="repeatable; all three unless told")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    started = time.perf_counter()

    regrets: dict[str, list[float]] = {"current": [], "new": []}
    refused: dict[tuple[str, str], list[bool]] = {}
    on_evidence: dict[tuple[str, str], list[bool]] = {}
    accepted: list[str] = []
    harmless = 0
    for name in args.dataset or BENCHMARK_DATASETS:
        data = DATASETS[name]()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            line = [f"{name:<19} seed={seed}"]
            for gate in ("current", "new"):
                t0 = time.perf_counter()
                run = campaign(data, gate, seed, args.batch, args.rounds)
                regrets[gate].append(float(np.mean(run.regrets)))
                line.append(
                    f"{gate}: regret={np.mean(run.regrets):.4f} promoted={run.promotions}/{len(run.regrets)} "
                    f"({time.perf_counter() - t0:.0f}s)"
                )
                if gate == "new":
                    accepted.extend(run.accepted)
                    for fault, seen in run.refused.items():
                        refused.setdefault((name, fault), []).extend(seen)
                        on_evidence.setdefault((name, fault), []).extend(run.on_evidence[fault])
                        harmless += run.harmless[fault]
                        line.append(
                            f"{fault}: refused {sum(seen)}/{len(seen)}, harmless {run.harmless[fault]} "
                            f"(test drop {np.mean(run.drops[fault]):+.3f})"
                        )
            print("  ".join(line), flush=True)

    value, baseline = float(np.mean(regrets["new"])), float(np.mean(regrets["current"]))
    every = [r for seen in refused.values() for r in seen]
    evidence = [r for seen in on_evidence.values() for r in seen]
    for (name, fault), seen in refused.items():
        print(
            f"{name:<19} {fault:<13} refused {sum(seen)}/{len(seen)} "
            f"({sum(on_evidence[name, fault])} as worse or for a class regression)",
            flush=True,
        )
    for line in accepted:
        print(f"promoted bad challenger: {line}", flush=True)
    print(
        f"bad challengers refused {sum(every)}/{len(every)} ({harmless} faulty ones within "
        f"{MATERIAL_DROP} of the champion's test accuracy not counted); champion regret: "
        f"new {value:.4f}, current {baseline:.4f}; {time.perf_counter() - started:.0f}s in all",
        flush=True,
    )
    print(
        json.dumps(
            {
                "metric": "champion_regret",
                "value": round(value, 5),
                "baseline": round(baseline, 5),
                "ratio": round(value / baseline, 4) if baseline > 0 else None,
            }
        )
    )
    print(
        json.dumps(
            {
                "metric": "bad_challenger_refusal_rate",
                "value": round(float(np.mean(every)), 4),
                "refused_as_worse_or_class_regression": round(float(np.mean(evidence)), 4),
                "n": len(every),
            }
        )
    )


if __name__ == "__main__":
    main()
