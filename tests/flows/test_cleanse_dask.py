from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from distributed import LocalCluster
from prefect_dask import DaskTaskRunner

from blocks import DataStore
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect
from tests.flows.helpers import IRIS_SCHEMA, iris_frame


def _outputs(store: DataStore) -> dict[str, pd.DataFrame]:
    return {
        key: store.read_parquet(key)
        for prefix in ("clean/", "quarantine/", "duplicates/")
        for key in store.list_keys(prefix)
    }


def test_cleanse_on_a_two_worker_dask_cluster_matches_the_default_runner(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for seed in range(3):
        iris_frame(seed=seed).to_csv(incoming / f"part{seed}.csv", index=False)
    default_store = DataStore(base_path=str(tmp_path / "default"))
    collect(
        CollectParams(dataset="iris", sources=[LocalSource(path=str(incoming))], batch_rows=70),
        store=default_store,
    )
    shutil.copytree(tmp_path / "default", tmp_path / "dask")
    dask_store = DataStore(base_path=str(tmp_path / "dask"))
    params = CleanseParams(dataset="iris", schema_path=IRIS_SCHEMA, chunk_rows=32)

    expected = cleanse(params, store=default_store)
    runner = DaskTaskRunner(
        cluster_class=LocalCluster,
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        },
    )
    got = cleanse.with_options(task_runner=runner)(params, store=dask_store)

    assert len(got.batches) == 9  # 3 files x 3 parts: one task each
    assert got.total == expected.total
    default_outputs, dask_outputs = _outputs(default_store), _outputs(dask_store)
    assert sorted(dask_outputs) == sorted(default_outputs)
    for key, frame in default_outputs.items():
        pd.testing.assert_frame_equal(dask_outputs[key], frame)
