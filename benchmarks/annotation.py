"""Push and sync against the local stack's real Label Studio, each against a raw baseline.

    .venv/bin/labelloop stack up && .venv/bin/python -m benchmarks.annotation [--items 10000]
    [--only push|sync] [--repeats 3]

1. push_10k_with_predictions: the push flow (selection, ledger, bulk tasks, the
   champion's predictions) against one raw `import_tasks` call of the same tasks with
   inline predictions into a fresh project. Goal: ratio <= 1.2.
2. sync_500_of_10k: the incremental label sync reading 500 new annotations on a project
   holding 10,000 annotated tasks, against a full JSON export of that project
   (`/api/projects/<id>/export?exportType=JSON`). Sync and export run `--repeats` times,
   interleaved; every sync starts from the same watermark and labels version; the best
   time of each side is kept. Goal: ratio <= 0.1.
   Measured (2 shared cores, load 3-9 from other jobs, 3 runs): 0.070, 0.095, 0.059
   (sync 2.28 / 2.11 / 2.17 s, export 32.6 / 22.1 / 36.9 s). Before the frame merge and
   the read-only project lookup: 0.216, 0.136, 0.176 (sync 6.9 / 4.1 / 4.5 s). Of the
   ~2.1 s: ~1 s is Label Studio serialising the 500 tasks with their annotations (the
   export's per-task work), ~0.25 s Prefect creating and starting the run, and 0-1 s
   Prefect's heartbeat thread ending its 1 s sleep after the run is Completed (the call
   waits for it; printed: the time from Running to Completed, 1.4-1.9 s).
Ends with one JSON line per figure: {"metric", "value" (s), "baseline" (s), "ratio"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
import uuid

import httpx
import pandas as pd
from prefect import get_client

from annotation.config import DataKind, LabelSpec, build_label_config
from annotation.predictions import choice_result
from annotation.versions import labels_frame
from blocks import DataStore, LabelStudioCredentials
from demo.bot import oracle_labels
from flows.annotate import PushParams, push_batch
from flows.sync import SyncParams, sync_labels
from flows.train import TrainParams, retrain_model
from learning.pipelines import FeatureSpec
from specs import DatasetSpec
from stack import control
from stack.credentials import StackCredentials
from stack.settings import StackSettings
from storage.layout import cleanse_output_key, latest_labels_key, sync_state_key
from tasks.state import write_labels_version

LABELS = ["positive", "negative", "neutral"]
WORDS = {
    "positive": ["great", "lovely", "superb", "happy", "excellent"],
    "negative": ["awful", "broken", "sad", "terrible", "poor"],
    "neutral": ["okay", "average", "plain", "usual", "fine"],
}


def texts(n: int, seed: int) -> pd.DataFrame:
    """Generated reviews with their true label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(LABELS)
        words = rng.sample(WORDS[label], 2) + rng.sample(
            [w for ws in WORDS.values() for w in ws], 2
        )
        rows.append(
            {
                "item_id": f"r{seed}-{i:06d}",
                "text": f"review {i}: " + " ".join(words),
                "truth": label,
            }
        )
    return pd.DataFrame(rows)


def champion_for(spec: DatasetSpec, store: DataStore, frame: pd.DataFrame) -> str:
    """Train and promote a model through the train flow on 300 labels; returns its version."""
    now = dt.datetime.now(dt.UTC)
    head = frame.head(300)
    labels = oracle_labels(dict(zip(head["item_id"], head["truth"], strict=True)), now)
    write_labels_version.fn(store, spec.name, labels_frame(labels, []), now)
    result = retrain_model(TrainParams(dataset=spec, store_block=None), store=store)
    assert result.status == "promoted", result.message
    # The labelled items were never pushed: keep them out of the push pool.
    store.delete(latest_labels_key(spec.name))
    return str(result.version)


def bench_push(stack: StackCredentials, settings: StackSettings, n: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    spec = DatasetSpec(
        name=f"bench-push-{tag}",
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=LABELS),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )
    store = DataStore(base_path=tempfile.mkdtemp(prefix="bench-push-"))
    frame = texts(n + 300, seed=1)
    clean_key = cleanse_output_key("clean", spec.name, "b1")
    store.write_parquet(clean_key, frame.drop(columns="truth"))
    version = champion_for(spec, store, frame)
    store.write_parquet(clean_key, frame.iloc[300:].drop(columns="truth"))
    credentials = _credentials(settings, stack)
    client = credentials.get_client()

    start = time.perf_counter()
    result = push_batch(
        PushParams(dataset=spec, batch_size=n),
        store=store,
        credentials=credentials,
    )
    flow_s = time.perf_counter() - start
    assert result.imported == n and result.predictions == n, result

    # Baseline: the same tasks with the same model version's guesses, inline, in one call.
    config = build_label_config(spec.labels)
    project = client.projects.create(title=f"bench-raw-{tag}", label_config=config.xml)
    payload = [
        {
            "data": {"text": r.text, "item_id": r.item_id},
            "predictions": [
                {"model_version": version, "score": 0.9, "result": choice_result(config, r.truth)}
            ],
        }
        for r in frame.iloc[300:].itertuples()
    ]
    start = time.perf_counter()
    client.projects.import_tasks(id=project.id, request=payload)
    raw_s = time.perf_counter() - start
    for title in (spec.name, f"bench-raw-{tag}"):
        for p in client.projects.list(title=title):
            client.projects.delete(id=p.id)
    return {"value": flow_s, "baseline": raw_s}


def bench_sync(
    stack: StackCredentials, settings: StackSettings, n: int, new: int, repeats: int
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    spec = DatasetSpec(
        name=f"bench-sync-{tag}",
        schema_path="cleansing.schemas.TextSnippets",
        labels=LabelSpec(kind=DataKind.TEXT, labels=LABELS),
        features=FeatureSpec(modality="text", text_column="text"),
        value_column="text",
    )
    store = DataStore(base_path=tempfile.mkdtemp(prefix="bench-sync-"))
    credentials = _credentials(settings, stack)
    client = credentials.get_client()
    config = build_label_config(spec.labels)
    project = client.projects.create(title=spec.name, label_config=config.xml)
    user = client.users.whoami().id

    def annotated(frame: pd.DataFrame) -> list[dict]:  # type: ignore[type-arg]
        return [
            {
                "data": {"text": r.text, "item_id": r.item_id},
                "annotations": [{"result": choice_result(config, r.truth), "completed_by": user}],
            }
            for r in frame.itertuples()
        ]

    frame = texts(n + new, seed=2)
    for start_row in range(0, n, 5000):
        client.projects.import_tasks(
            id=project.id, request=annotated(frame.iloc[start_row : min(start_row + 5000, n)])
        )
    params = SyncParams(dataset=spec, ready_threshold=10**9, overlap_seconds=0)
    first = sync_labels(params, store=store, credentials=credentials)
    assert first.labels == n, first
    client.projects.import_tasks(id=project.id, request=annotated(frame.iloc[n:]))
    # Each repeat starts from the same watermark and labels version: the same 500 tasks
    # are read and merged into the same 10,000 labels, and a new version is written.
    before = {
        key: store.read_bytes(key) for key in (sync_state_key(spec.name), latest_labels_key(spec.name))
    }
    sync_runs: list[float] = []
    export_runs: list[float] = []
    for _ in range(repeats):
        for key, data in before.items():
            store.write_bytes(key, data)
        start = time.perf_counter()
        state = sync_labels(params, store=store, credentials=credentials, return_state=True)
        sync_runs.append(time.perf_counter() - start)
        second = state.result()
        assert second.tasks_read == new and second.labels == n + new, second
        print(
            f"sync {sync_runs[-1]:.2f} s, of which the run from Running to Completed "
            f"{_run_seconds(state.state_details.flow_run_id):.2f} s"
        )

        start = time.perf_counter()
        response = httpx.get(
            f"{settings.label_studio_url}/api/projects/{project.id}/export",
            params={"exportType": "JSON"},
            timeout=600,
            headers={"Authorization": f"Token {stack.label_studio_token.get_secret_value()}"},
        )
        response.raise_for_status()
        exported = len(response.json())
        export_runs.append(time.perf_counter() - start)
        assert exported == n + new
        print(f"full export {export_runs[-1]:.2f} s")
    client.projects.delete(id=project.id)
    return {"value": min(sync_runs), "baseline": min(export_runs)}


def _run_seconds(flow_run_id: uuid.UUID | None) -> float:
    """How long Prefect recorded the run as Running.

    The call takes longer: it also creates the run, and returns only once Prefect's
    heartbeat thread wakes from its 1 s sleep (0-1 s after the run is Completed).
    """
    with get_client(sync_client=True) as prefect:
        run = prefect.read_flow_run(flow_run_id)
    if run.start_time is None or run.end_time is None:
        raise RuntimeError(f"flow run {flow_run_id} has no start or end time")
    return (run.end_time - run.start_time).total_seconds()


def _credentials(settings: StackSettings, stack: StackCredentials) -> LabelStudioCredentials:
    return LabelStudioCredentials(
        url=settings.label_studio_url, api_key=stack.label_studio_token, timeout_s=600
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=500)
    parser.add_argument("--only", choices=["push", "sync"], help="Measure one figure only.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Sync and export this many times each; best kept."
    )
    args = parser.parse_args()
    settings = StackSettings()
    control.up(settings)
    credentials = control.stack_credentials(settings)
    figures: dict[str, dict[str, float]] = {}
    with control.stack_api(settings, credentials):
        if args.only in (None, "push"):
            push = bench_push(credentials, settings, args.items)
            print(
                f"push {args.items} with predictions: flow {push['value']:.1f} s, raw import {push['baseline']:.1f} s"
            )
            figures["push_10k_with_predictions"] = push
        if args.only in (None, "sync"):
            sync = bench_sync(credentials, settings, args.items, args.new, args.repeats)
            print(
                f"sync {args.new} of {args.items}: flow {sync['value']:.1f} s, full export {sync['baseline']:.1f} s"
            )
            figures["sync_500_of_10k"] = sync
    for metric, figure in figures.items():
        print(
            json.dumps(
                {
                    "metric": metric,
                    "value": round(figure["value"], 3),
                    "baseline": round(figure["baseline"], 3),
                    "ratio": round(figure["value"] / figure["baseline"], 3),
                }
            )
        )


if __name__ == "__main__":
    main()
