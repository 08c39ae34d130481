"""Pure steps of training: labels x clean data, image pixels, fair champion comparison.

- :func:`join_labels` joins a labels version with the clean rows by ``item_id``;
  unresolved labels are left out and counted, labels of items missing from the clean
  data are counted and listed (not fatal).
- :func:`out_of_fold` predicts every evaluated item with a model that did not see it,
  following an :class:`~learning.evaluation.EvaluationPlan`, and keeps the class
  probabilities (the drift profile's reference predictions).
- :func:`comparison_positions` keeps the items the champion never trained on: a
  champion scored on its own training items would look better than it is.
- :func:`comparison_predictions` predicts each of those items with the challenger's
  pipeline fitted on every other label (k-fold over the compared items only), so the
  gate pairs the champion with models trained on nearly all the challenger's labels;
  :func:`pair_with_champion` puts both models' predictions side by side, on the
  champion's own items too (its pipeline refitted without each fold).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from learning.evaluation import EvaluationPlan, Metrics
from learning.gate import PairedOutcomes

ITEM_ID = "item_id"
LABEL = "label"
STATUS = "status"
RESOLVED = "resolved"


class TrainingError(ValueError):
    """The inputs of a training run are unusable (names the file, row or field)."""


class TrainingSet(BaseModel):
    """Labelled clean rows ready for features.

    Attributes:
        rows: clean rows with a ``label`` column, one per resolved label, sorted by item_id.
        n_labels: rows in the labels version.
        n_unresolved: unresolved labels left out.
        missing_items: item ids labelled but absent from the clean data (left out).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    rows: pd.DataFrame
    n_labels: int
    n_unresolved: int
    missing_items: list[str]


def join_labels(labels: pd.DataFrame, clean: pd.DataFrame, where: str) -> TrainingSet:
    """Join resolved labels with clean rows by ``item_id``.

    A clean column named ``label`` (a label known at collection) is replaced by the
    labels version's label.

    Args:
        labels: a labels version (``item_id``, ``label``, ``status``, ...).
        clean: clean rows with ``item_id``.
        where: the labels version's key, for errors.

    Returns:
        The training set.

    Raises:
        TrainingError: a column is missing or an item is labelled twice.
    """
    for frame, what, columns in (
        (labels, where, (ITEM_ID, LABEL, STATUS)),
        (clean, "clean data", (ITEM_ID,)),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise TrainingError(
                f"{what} has no column(s) {missing}; columns: {list(frame.columns)}"
            )
    repeated = labels[ITEM_ID][labels[ITEM_ID].duplicated()].astype(str).unique().tolist()
    if repeated:
        raise TrainingError(f"{where} labels item(s) more than once: {repeated[:5]}")
    resolved_mask = (labels[STATUS] == RESOLVED) & labels[LABEL].notna()
    resolved = labels.loc[resolved_mask, [ITEM_ID, LABEL]].astype({ITEM_ID: str, LABEL: str})
    clean_rows = clean.drop(columns=[LABEL], errors="ignore").drop_duplicates(subset=[ITEM_ID])
    clean_rows = clean_rows.astype({ITEM_ID: str})
    joined = resolved.merge(clean_rows, on=ITEM_ID, how="left", indicator=True)
    missing_items = sorted(joined.loc[joined["_merge"] == "left_only", ITEM_ID].tolist())
    rows = (
        joined.loc[joined["_merge"] == "both"]
        .drop(columns=["_merge"])
        .sort_values(ITEM_ID)
        .reset_index(drop=True)
    )
    return TrainingSet(
        rows=rows,
        n_labels=len(labels),
        n_unresolved=int((~resolved_mask).sum()),
        missing_items=missing_items,
    )


def decode_image(data: bytes, size: tuple[int, int], where: str) -> NDArray[np.uint8]:
    """An image's grayscale pixels at a fixed size, flattened.

    Args:
        data: the image file's bytes (PNG, JPEG, ...).
        size: (width, height) to resize to.
        where: the image's key / item, for the error.

    Returns:
        ``width * height`` pixel values (0-255).

    Raises:
        TrainingError: the bytes are not an image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            # An 8-bit grayscale file (most scans) is used as decoded: no converted copy.
            gray = image if image.mode == "L" else image.convert("L")
            if gray.size != tuple(size):
                gray = gray.resize(tuple(size), Image.Resampling.BILINEAR)
            # One buffer copy: numpy's array interface on an image costs ~3x as much.
            return np.frombuffer(gray.tobytes(), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise TrainingError(f"{where} is not a readable image: {exc}") from exc


class OutOfFold(BaseModel):
    """What the evaluation fits said about the items they did not see.

    Attributes:
        predictions: position -> predicted label, for every evaluated position.
        probabilities: one row per evaluated position (index = position), one column per
            class (every label, sorted as strings: the fitted model's ``classes_``); None
            when the estimator has no ``predict_proba``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    predictions: dict[int, str]
    probabilities: pd.DataFrame | None = None


def out_of_fold(
    make_pipeline: Callable[[], Pipeline],
    rows: pd.DataFrame | NDArray[Any],
    labels: Sequence[str],
    plan: EvaluationPlan,
) -> OutOfFold:
    """Predict each evaluated position with a pipeline fitted on its fold's train positions,
    keeping the class probabilities too (the drift profile's reference predictions).

    Args:
        make_pipeline: a new unfitted pipeline per call.
        rows: feature input, one row per label.
        labels: one resolved label per row.
        plan: the plan of :func:`learning.evaluation.plan_evaluation`.

    Returns:
        Labels and, when the estimator has ``predict_proba``, probabilities; a class a fold
        never saw gets probability 0 in that fold's rows.
    """
    y = np.asarray([str(v) for v in labels], dtype=object)
    classes = sorted(set(y.tolist()))
    predicted: dict[int, str] = {}
    blocks: list[pd.DataFrame] = []
    for train, test in plan.folds:
        model = make_pipeline().fit(_take(rows, train), y[train].astype(str))
        held_out = _take(rows, test)
        predicted.update(zip(test, (str(v) for v in model.predict(held_out)), strict=True))
        if hasattr(model, "predict_proba"):
            proba = pd.DataFrame(
                model.predict_proba(held_out),
                index=list(test),
                columns=[str(c) for c in model.classes_],
            )
            blocks.append(proba.reindex(columns=classes, fill_value=0.0))
    probabilities = (
        pd.concat(blocks).sort_index() if blocks and len(blocks) == len(plan.folds) else None
    )
    return OutOfFold(predictions=predicted, probabilities=probabilities)


def _take(
    rows: pd.DataFrame | NDArray[Any], positions: Sequence[int]
) -> pd.DataFrame | NDArray[Any]:
    idx = np.asarray(positions, dtype=np.intp)
    return rows.iloc[idx] if isinstance(rows, pd.DataFrame) else np.asarray(rows)[idx]


def comparison_positions(
    test_positions: Sequence[int], item_ids: Sequence[str], champion_items: Collection[str]
) -> list[int]:
    """The positions among ``test_positions`` whose items the champion did not train on.

    Args:
        test_positions: the candidate positions (the gate passes every labelled row).
        item_ids: one id per row.
        champion_items: the ids the champion was fitted on.

    Returns:
        The positions to score both models on, sorted.
    """
    seen = set(champion_items)
    return sorted(p for p in test_positions if item_ids[p] not in seen)


def comparison_predictions(
    make_pipeline: Callable[[], Pipeline],
    rows: pd.DataFrame | NDArray[Any],
    labels: Sequence[str],
    positions: Sequence[int],
    n_folds: int = 5,
    seed: int = 0,
    train_positions: Sequence[int] | None = None,
) -> dict[int, str]:
    """The prediction on each compared position by a model that did not see it.

    The compared positions are dealt into at most ``n_folds`` folds (seeded); each fold
    is predicted by the pipeline fitted on every other labelled row (of
    ``train_positions`` when given: the champion's own items). A challenger
    trained on n labels of which m are compared is so represented by models trained on
    about ``n - m / n_folds`` labels: more than the champion had when the compared
    items are the labels it never saw. (Out-of-fold predictions of a 5-fold
    cross-validation over all n labels come from models trained on 0.8 n, which can be
    fewer than the champion's.)

    Args:
        make_pipeline: a new unfitted pipeline per call.
        rows: feature input, one row per label.
        labels: one resolved label per row.
        positions: the rows to predict (distinct).
        n_folds: most folds.
        seed: seed of the deal (the same positions and seed deal the same folds).
        train_positions: the rows a fold's model may be fitted on (every row if None).
            A fold whose remaining rows hold one class predicts that class.

    Returns:
        position -> predicted label, for every position in ``positions``.

    Raises:
        TrainingError: ``n_folds`` < 1, or a position is repeated or out of range.
    """
    wanted = np.asarray(positions, dtype=np.intp)
    if n_folds < 1:
        raise TrainingError(f"n_folds must be >= 1, got {n_folds}")
    out_of_range = len(wanted) and (wanted.min() < 0 or wanted.max() >= len(labels))
    if len(np.unique(wanted)) != len(wanted) or out_of_range:
        raise TrainingError(f"compared positions must be distinct rows of the {len(labels)} labels")
    if len(wanted) == 0:
        return {}
    y = np.asarray([str(v) for v in labels], dtype=object).astype(str)
    shuffled = np.random.default_rng(seed).permutation(wanted)
    predicted: dict[int, str] = {}
    pool = np.arange(len(labels)) if train_positions is None else np.asarray(train_positions)
    for fold in np.array_split(shuffled, min(n_folds, len(wanted))):
        train = np.setdiff1d(pool, fold)
        classes = np.unique(y[train])
        if len(classes) == 0:
            raise TrainingError(
                f"no row left to fit on for a fold of {len(fold)} compared positions"
            )
        if len(classes) == 1:  # what any classifier fitted on one class predicts
            predicted.update(dict.fromkeys(fold.tolist(), str(classes[0])))
            continue
        model = make_pipeline().fit(_take(rows, train), y[train])
        guesses = (str(v) for v in model.predict(_take(rows, fold)))
        predicted.update(zip(fold.tolist(), guesses, strict=True))
    return predicted


def pair_with_champion(
    champion: Pipeline,
    make_pipeline: Callable[[], Pipeline],
    rows: pd.DataFrame | NDArray[Any],
    labels: Sequence[str],
    item_ids: Sequence[str],
    champion_items: Collection[str],
    n_folds: int = 5,
    seed: int = 0,
) -> PairedOutcomes:
    """Both models' predictions on every labelled item, each by a model that never saw it.

    - Items the champion never trained on: the champion predicts them as it is, the
      challenger by :func:`comparison_predictions` (fitted on every other label).
    - Items the champion trained on (when there is at least one new item, and at least
      two of them: a lone one is left out, no refit can leave it out): dealt
      into folds; each fold is predicted by the challenger's pipeline fitted on every
      other label and by a clone of the champion's pipeline (same steps and
      hyperparameters) fitted on the champion's other items, with their current labels.
      The challenger keeps its edge in labels (every label but a fold against the
      champion's items but the same fold), and the test pairs every label instead of
      the last batch: a batch the selection picked as the champion's hardest items is
      a small, hard sample on which a broken challenger looks no worse.

    Args:
        champion: the fitted champion.
        make_pipeline: a new unfitted challenger pipeline per call.
        rows: feature input, one row per label.
        labels: one resolved label per row.
        item_ids: one id per row.
        champion_items: the ids the champion was fitted on.
        n_folds: most folds of the challenger's predictions.
        seed: seed of their deal.

    Returns:
        The paired outcomes, in row order; empty when the champion saw every item (the
        same labels again: nothing new to judge on).

    Raises:
        TrainingError: the champion cannot predict these rows (other features).
    """
    positions = comparison_positions(range(len(item_ids)), item_ids, champion_items)
    if not positions:
        return PairedOutcomes(item_ids=[], truth=[], new=[], champion=[])
    try:
        champion_predicted = dict(
            zip(positions, (str(v) for v in champion.predict(_take(rows, positions))), strict=True)
        )
    except ValueError as exc:
        raise TrainingError(f"the champion cannot score this data set's rows: {exc}") from exc
    predicted = comparison_predictions(make_pipeline, rows, labels, positions, n_folds, seed)
    new_items = set(positions)
    seen = [p for p in range(len(item_ids)) if p not in new_items]
    if len(seen) < 2:  # a lone item the champion trained on: no refit can leave it out
        seen = []
    if seen:
        predicted.update(comparison_predictions(make_pipeline, rows, labels, seen, n_folds, seed))
        champion_predicted.update(
            comparison_predictions(
                lambda: clone(champion), rows, labels, seen, n_folds, seed, train_positions=seen
            )
        )
    everything = sorted([*positions, *seen])
    return PairedOutcomes(
        item_ids=[item_ids[p] for p in everything],
        truth=[str(labels[p]) for p in everything],
        new=[predicted[p] for p in everything],
        champion=[champion_predicted[p] for p in everything],
        champion_refitted=len(seen),
    )


def metrics_table(metrics: Metrics) -> list[dict[str, Any]]:
    """Rows of a table artifact: the overall scores (f1 = macro-F1), then one row per class.

    Args:
        metrics: the metrics to show.

    Returns:
        Table rows.
    """
    rows: list[dict[str, Any]] = [
        {
            "scope": f"overall ({metrics.method}, {metrics.n_items} items)",
            "accuracy": round(metrics.accuracy, 4),
            "precision": None,
            "recall": None,
            "f1": round(metrics.macro_f1, 4),
            "support": metrics.n_items,
        }
    ]
    rows.extend(
        {
            "scope": f"class {label}",
            "accuracy": None,
            "precision": round(m.precision, 4),
            "recall": round(m.recall, 4),
            "f1": round(m.f1, 4),
            "support": m.support,
        }
        for label, m in metrics.per_class.items()
    )
    return rows


def confusion_markdown(metrics: Metrics) -> str:
    """The confusion matrix as a markdown table (rows: true, columns: predicted).

    Args:
        metrics: the metrics holding the matrix.

    Returns:
        The table.
    """
    header = "| true \\ predicted | " + " | ".join(metrics.labels) + " |"
    rule = "|---" * (len(metrics.labels) + 1) + "|"
    body = [
        f"| **{label}** | " + " | ".join(str(v) for v in row) + " |"
        for label, row in zip(metrics.labels, metrics.confusion_matrix, strict=True)
    ]
    return "\n".join([header, rule, *body])
