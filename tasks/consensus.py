"""The champion's out-of-sample probabilities, which the consensus weighs with the votes.

Out of sample means a fit that never saw the item's label: the training run's
out-of-fold probabilities for the items it evaluated (saved beside the version), and
the champion's own prediction for items it was never trained on. An item the champion
trained on without evaluating it has none (its consensus is the majority).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks import DataStore
from learning.registry import ModelCard
from learning.training import ITEM_ID
from specs import DatasetSpec
from storage.layout import out_of_fold_key
from tasks.data import feature_rows, load_clean_rows
from tasks.predict import probabilities
from tasks.registry import LoadedModel, read_trained_items

STORE_RETRIES = {"retries": 2, "retry_delay_seconds": [1, 5]}


@task(name="save-out-of-fold", cache_policy=NO_CACHE, **STORE_RETRIES)
def save_out_of_fold(
    store: DataStore, card: ModelCard, item_ids: Sequence[str], evaluated: pd.DataFrame | None
) -> str | None:
    """Save a training run's out-of-fold probabilities by item id beside its version.

    Args:
        store: the DataStore of the registry.
        card: the version's card.
        item_ids: the training rows' item ids (position -> item id).
        evaluated: out-of-fold probabilities, index = position (None: the estimator has
            no ``predict_proba``; nothing is saved).

    Returns:
        The key written, or None.
    """
    if evaluated is None or evaluated.empty:
        return None
    frame = evaluated.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.insert(0, ITEM_ID, [item_ids[int(p)] for p in evaluated.index])
    key = out_of_fold_key(card.name, card.version)
    store.write_parquet(key, frame)
    get_run_logger().info("Out-of-fold probabilities of %d items at %s", len(frame), key)
    return key


@task(name="read-champion-probabilities", cache_policy=NO_CACHE, **STORE_RETRIES)
def read_champion_probabilities(
    store: DataStore, spec: DatasetSpec, champion: LoadedModel, item_ids: Sequence[str]
) -> pd.DataFrame:
    """The champion's out-of-sample class probabilities of the items (index = item id).

    Args:
        store: the DataStore.
        spec: the data set spec (how clean rows become features).
        champion: the loaded champion.
        item_ids: the items voted on.

    Returns:
        One row per item that has out-of-sample probabilities, one column per class the
        champion knows; items without any are absent.
    """
    logger = get_run_logger()
    wanted = {str(i) for i in item_ids}
    trained = set(read_trained_items(store, champion.card))
    parts: list[pd.DataFrame] = []
    key = out_of_fold_key(champion.card.name, champion.card.version)
    if store.exists(key):
        oof = store.read_parquet(key)
        oof = oof[oof[ITEM_ID].astype(str).isin(wanted)]
        parts.append(oof.set_index(oof[ITEM_ID].astype(str)).drop(columns=ITEM_ID))
    unseen = sorted(wanted - trained)
    if unseen:
        clean, _ = load_clean_rows(store, spec.name)
        rows = clean[clean[ITEM_ID].astype(str).isin(unseen)]
        if not rows.empty:
            classes, proba = probabilities(champion.model, feature_rows(store, spec, rows))
            parts.append(
                pd.DataFrame(proba, index=rows[ITEM_ID].astype(str).tolist(), columns=classes)
            )
    frame = pd.concat(parts) if parts else pd.DataFrame()
    frame = frame[~frame.index.duplicated(keep="last")].fillna(0.0)
    logger.info(
        "Champion %s: out-of-sample probabilities for %d of %d voted items",
        champion.card.version,
        len(frame),
        len(wanted),
    )
    return frame
