"""Drift monitoring on scikit-learn's digits through the real flows: false alarms, detection,
and what monitoring adds to a cleanse run.

Run from the repository root:  python -m benchmarks.monitoring
(a temporary Prefect server is started first, as the flow tests do; it is not timed).

- The loop's own path: the digits become 8x8 PNGs in a local DataStore, written as raw
  batches exactly as the collect flow writes them (one row per image: key, size, SHA-256,
  width, height, format, provenance). A stratified 60% are cleansed, labelled with their
  true digit and trained on by the retrain flow, which promotes the champion and saves its
  reference profile (the 64 pixels the model takes, plus its out-of-fold probabilities on
  the holdout).
- 20 batches drawn from the other 40% (the training distribution) and 5 shifted batches
  (Gaussian noise on the pixels AND 75% of the batch from digits 0-4, against ~50%), all
  in this run, each cleansed by its own run of the cleanse flow with drift monitoring on.
  A batch is an alarm when the flow emitted `labelloop.data.drifted` for it (default
  `DriftThresholds`: PSI >= 0.2 and p < 0.05 / features tested). Each PNG carries a text
  chunk naming its batch, so a digit drawn twice is a new file (cleanse dedups by checksum)
  with the same pixels.
- More unshifted batches (and noise-only / class-mix-only ones) are compared with the same
  champion and profile without the flow, for a tighter false alarm estimate.
- Overhead: pairs of cleanse flow runs on fresh unshifted batches, one with monitoring off
  and one with it on (order alternating), each run timed from the call to its return (wall
  clock; the process's CPU time too). Ratio = median over pairs of (on - off) / median off.
  Monitoring in a run, inside the task that announces each batch (no task of its own):
  read the champion and its profile, the clean batch and its images, the champion's
  predict_proba once (on one BLAS thread), `compare`, report JSON, the drift table in the
  batch's one markdown artifact, the event when drifted.

Ends with JSON lines: drift_false_alarm_rate, drift_detection_rate,
monitoring_overhead_ratio.

`--form pixels` runs the same on the digits as a table (64 pixel columns in 0-16 and a
scan id; a tabular spec), where the cleanse validates and hashes every value.

Measured on 2 cores shared with other jobs (load average 2-4), defaults (batches of 300,
30 interleaved timing pairs), with the default image model (`KernelLogisticRegression`,
an RBF Nystroem map on 300 landmarks): 4 runs of the default form (images; the 4th after
the drift events moved after the artifact, the same work) and 2 of
`--form pixels` (a logistic regression on the table) with the product code of this
version; "before" = the previous version (a check task and a drift artifact of its own
per batch, predict_proba on all BLAS threads, Pillow for every PNG, two skops parses per
champion load): for the images the same day with the same model (one full run, and two
runs of 10 and 16 pairs instrumented with `time.thread_time` around each call), for the
pixels on an earlier day:

| figure | images (4 runs) | pixels (2 runs) | goal |
|---|---|---|---|
| false alarms, 20 unshifted batches through the flow | 0/20 in each | 0/20, 0/20 | <= 5% |
| false alarms, 200 more batches (no flow) | 1/200 each (Wilson 95% <= 2.8%) | 0/200 each | |
| detection, 5 shifted batches through the flow | 5/5 in each | 5/5, 5/5 | 100% |
| noise only / class mix only (no flow) | 5/5 / 5/5 | 5/5 / 5/5 | |
| monitoring_overhead_ratio (wall, median paired) | 0.095, 0.038, 0.037, 0.072 | 0.075, 0.050 | <= 0.10 |
| same, before | 0.217 (1 run), 0.34 / 0.23 (10-16 pairs) | 0.048, 0.048 | |
| same in CPU time of this process | 0.14, 0.13, 0.10, 0.12 | 0.08, 0.10 | |
| same, before | 0.46 (1 run), 0.74 / 0.63 (10-16 pairs) | 0.07, 0.09 | |
| cleanse run, monitoring off (medians) | 0.35-0.40 s wall, 0.23-0.24 s CPU | 0.61-0.71 s, 0.40-0.43 s | |
| Prefect server CPU per run, off -> on | 0.175-0.18 -> 0.18-0.19 s (before 0.165-0.185 -> 0.205-0.245) | 0.195-0.205 -> the same | |
| reference profile at training | 13-28 ms, 0.6-0.9% of the retrain run | 16 ms, 2.2-2.5% | |

Earlier versions (before the kernel model): 0.074, 0.113, 0.231 and 0.083, 0.247, 0.245
(images), 0.048, 0.048 and 0.083, 0.137 (pixels). One run's ratio still swings with the
load of the other jobs (0.037-0.095 here), but it met the goal in every run of this version.

Where a monitored run's extra time went with the kernel model, before this version (per
batch of 300, 10-16 instrumented pairs, thread CPU of the check; `time.thread_time`
around each call, py-spy for the rest): `predict_proba` 4-8 ms in the calling thread,
but OpenBLAS ran the 300 x 300 kernel products on both cores and its helper thread then
spun for ~0.1 s: 100-140 ms of process CPU per check (measured alone: 4-6 ms of CPU on one
thread, 100-140 ms on two), the largest item by far, taken from the flow run and the
server; reading and decoding the 300 PNGs 22-25 ms (Pillow's Python ~40 us a file);
reading the champion and its profile 6-7 ms (two skops parses of the 0.9 MB file);
`compare` 4 ms; monitored frame 2 ms; the check's own task run and its markdown artifact:
+10-25 ms of CPU here, +30-35 ms of server CPU, 0.09-0.10 of the run in wall time
measured with the check's work stubbed out (the artifact alone: 2 ms of CPU, 30-45 ms of
waiting, 15 ms of server CPU). What this version does: the champion scores the batch on
one BLAS thread (`learning.threads.one_blas_thread`; 4 ms, no spin); the check runs in
the task that already announces each batch, whose one markdown artifact now shows the
counts and the drift table (no task run, no artifact call of its own: the server's CPU
per run is the same with monitoring on and off); small 8-bit grayscale PNGs at the spec's
size were decoded without Pillow (23 us against 59 us a digit; since removed, see below);
`load_model` parses the skops file
once (3 ms against 5). What is left per batch (thread CPU, 12 instrumented pairs): the
images 15 ms, the champion and profile 6 ms, predict_proba 5 ms, `compare` 4.5 ms, the
monitored frame 2 ms, reading the clean batch 2 ms, the report JSON (fsynced) and the log
line 2-4 ms.
Pillow for every image (the hand PNG decoder removed; one `tobytes` copy instead of numpy's
array interface): 20 us a digit by hand against 93 us with Pillow, best of 7 over 300
digits, so ~22 ms more per batch of 300. Two full runs of this benchmark on one day at a
heavy load of other jobs (off-run medians 0.86 and 1.25 s, 2-3x the table's): 0.117 with
the hand decoder, then 0.086 with Pillow; the load moves one run's figure more than the
decoder does.
Not tried: creating the drift artifact without waiting. Prefect's `Artifact.create` is one
blocking POST on a sync client (`acreate` the same POST on an async one); in the
background the server would spend the same CPU and the run would still have to wait for
it before it ends, whereas folded into the batch's artifact the call is gone. Tried and
dropped earlier: reading the champion and profile once per run in a task of its own (+38
ms wall per single-batch run: one more task run costs more than the overlap saves). Left
for later: the kernel map scored with the logistic regression folded into its landmark
weights (300 x 300 x 10 instead of 300 x 300 x 300: ~2 ms less of predict_proba); pixels
stored at collect time so the check reads no image file (a change of the raw batch
format).
On S3 the images are fetched 16 at a time (`DataStore.read_many`); this benchmark uses a
local folder. The heartbeat wait is off in both arms (with Prefect's default heartbeat
every run waits up to 1 s more, which would halve the ratios without changing the work).
With a batch of image files added per run the cleanse's own listing of raw/ grows (0.3 s
per listing at 15,000 files), which is why the timing runs delete their files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
import pandera.pandas as pa
import psutil
from pandera.typing import Series
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from annotation.config import DataKind, LabelSpec
from blocks import DataStore
from cleansing.readers import image_frame, image_record
from collection.batches import as_text_frame, raw_batch_id, with_provenance
from flows.cleanse import CleanseParams, CleanseResult, DriftMonitoring, cleanse
from flows.train import TrainParams, retrain_model
from learning.pipelines import FeatureSpec
from monitoring.inputs import monitored_frame
from monitoring.profile import DriftReport, DriftThresholds, ReferenceProfile, compare
from monitoring.stats import wilson_interval
from specs import DIGITS, DatasetSpec
from storage.layout import (
    clean_prefix,
    labels_key,
    latest_labels_key,
    profile_key,
    raw_file_key,
    raw_key,
)
from storage.pointers import LabelsPointer
from tasks.monitoring import read_reference
from tasks.predict import probabilities

SCALE = 255 / 16  # load_digits pixels are 0-16; the PNGs are 8-bit
PIXELS = [f"pixel_{i}" for i in range(64)]
PIXELS_SCHEMA = "benchmarks.monitoring:DigitPixels"

# The digits as a table, for `--form pixels`: 64 pixel columns in 0-16 and the scan the
# row came from (so a digit drawn twice is two rows, as two PNG files are two images).
DigitPixels = type(
    "DigitPixels",
    (pa.DataFrameModel,),
    {
        "__annotations__": {"scan": Series[str], **dict.fromkeys(PIXELS, Series[float])},
        "scan": pa.Field(str_length={"min_value": 1}),
        **{c: pa.Field(ge=0, le=16) for c in PIXELS},
        "Config": type(
            "Config",
            (),
            {
                "coerce": True,
                "strict": False,
                "metadata": {"id_columns": ["scan", *PIXELS], "categorical": []},
            },
        ),
    },
)

PIXEL_SPEC = DatasetSpec(
    name="digits-pixels",
    schema_path=PIXELS_SCHEMA,
    labels=LabelSpec(kind=DataKind.TABULAR, labels=[str(d) for d in range(10)]),
    features=FeatureSpec(modality="tabular", numeric_columns=PIXELS),
    value_column="pixel_0",
)


@dataclass(frozen=True)
class Form:
    """How the digits reach the loop: PNG files (the shipped `digits`) or a table."""

    spec: DatasetSpec
    schema_path: str | None

    @property
    def images(self) -> bool:
        return self.spec.features.modality == "image"


FORMS = {"images": Form(DIGITS, None), "pixels": Form(PIXEL_SPEC, PIXELS_SCHEMA)}


def png(image: np.ndarray, tag: str) -> bytes:
    """An 8-bit grayscale PNG of a 0-16 digit, with a text chunk that makes the file unique."""
    info = PngInfo()
    info.add_text("labelloop-benchmark", tag)
    buffer = io.BytesIO()
    Image.fromarray((image * SCALE).astype(np.uint8)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def write_raw_batch(
    store: DataStore, form: Form, images: np.ndarray, tag: str
) -> tuple[list[str], list[str]]:
    """A raw batch as the collect flow writes one. Images: the files plus one row per image
    (key, size, SHA-256, width, height, format); pixels: one text row per digit (collect
    keeps table values as text) with its scan id. Provenance columns in both.

    Returns:
        Per row, the value identifying it in the clean rows (checksum / scan), and the
        store keys of the image files written.
    """
    dataset = form.spec.name
    files: list[str] = []
    if form.images:
        records: list[dict[str, object]] = []
        for k, image in enumerate(images):
            data = png(image, f"{tag}-{k}")
            record = image_record(f"bench://{tag}/{k}.png", data)
            key = raw_file_key(dataset, record["checksum"], ".png")
            store.write_bytes(key, data)
            files.append(key)
            records.append({**record, "key": key})
        rows = image_frame(records)
        ids = rows["checksum"].tolist()
    else:
        rows = as_text_frame(pd.DataFrame(images.reshape(len(images), -1), columns=PIXELS))
        ids = [f"{tag}-{k}" for k in range(len(images))]
        rows.insert(0, "scan", pd.Series(ids, dtype="str"))
    frame = with_provenance(
        rows, source=f"bench://{tag}", collected_at=dt.datetime.now(dt.UTC), first_row=0
    )
    group = hashlib.sha256("".join(ids).encode()).hexdigest()
    store.write_parquet(raw_key(dataset, raw_batch_id(f"bench:{tag}", group, 0)), frame)
    return ids, files


def noisy(images: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Pixels plus rounded Gaussian noise, clipped to the 0-16 range of the scanner."""
    return np.clip(np.rint(images + rng.normal(0.0, sigma, images.shape)), 0, 16)


def draw(
    labels: np.ndarray, size: int, rng: np.random.Generator, low_share: float | None
) -> np.ndarray:
    """Positions drawn without replacement: the pool's own class mix when `low_share` is
    None, else exactly `low_share` of the batch from digits 0-4 and the rest from 5-9."""
    if low_share is None:
        return rng.choice(len(labels), size=size, replace=False)
    low, high = np.flatnonzero(labels < 5), np.flatnonzero(labels >= 5)
    n_low = round(size * low_share)
    return rng.permutation(
        np.concatenate(
            [rng.choice(low, n_low, replace=False), rng.choice(high, size - n_low, replace=False)]
        )
    )


def task_seconds(flow_run_id: UUID, prefix: str, deadline_s: float = 60.0) -> float:
    """Run time of a flow run's task (by name prefix) as the Prefect server recorded it."""
    stop = time.monotonic() + deadline_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            done = [r for r in runs if r.name.startswith(prefix) and r.end_time is not None]
            if done:
                return done[0].total_run_time.total_seconds()
            if time.monotonic() > stop:
                raise TimeoutError(f"no finished task run {prefix!r} in flow run {flow_run_id}")
            time.sleep(0.5)


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """The call's result, wall seconds and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_cleanse(
    store: DataStore, form: Form, monitor: bool, thresholds: DriftThresholds
) -> CleanseResult:
    params = CleanseParams(
        dataset=form.spec.name,
        schema_path=form.schema_path,
        drift=DriftMonitoring(enabled=monitor, thresholds=thresholds, dataset_spec=form.spec),
    )
    return cleanse(params, store=store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--form",
        choices=sorted(FORMS),
        default="images",
        help="images: PNG files, the shipped digits data set; pixels: a table of 64 columns",
    )
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--normal", type=int, default=20)
    parser.add_argument("--shifted", type=int, default=5)
    parser.add_argument("--sigma", type=float, default=2.0, help="pixel noise (0-16 scale)")
    parser.add_argument("--low-share", type=float, default=0.75, help="share of digits 0-4")
    parser.add_argument("--pairs", type=int, default=30, help="timing pairs (off, on)")
    parser.add_argument(
        "--extra-normal", type=int, default=200, help="batches compared without the flow"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--psi", type=float, default=DriftThresholds().psi)
    parser.add_argument("--alpha", type=float, default=DriftThresholds().alpha)
    args = parser.parse_args()
    thresholds = DriftThresholds(psi=args.psi, alpha=args.alpha)
    form = FORMS[args.form]
    name = form.spec.name

    digits = load_digits()
    train_idx, pool_idx = train_test_split(
        np.arange(len(digits.target)), test_size=0.4, stratify=digits.target, random_state=args.seed
    )
    pool_images, pool_labels = digits.images[pool_idx], digits.target[pool_idx]
    rng = np.random.default_rng(args.seed)

    def cleanse_run(monitor: bool) -> CleanseResult:
        return run_cleanse(store, form, monitor, thresholds)

    with (
        tempfile.TemporaryDirectory(prefix="labelloop-bench-monitoring-") as folder,
        prefect_test_harness(server_startup_timeout=180),
        # A flow run joins its heartbeat thread for up to 1 s at exit (Prefect 3.8): off,
        # so the runs compared differ by their work and not by that wait.
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        store = DataStore(base_path=folder)

        # The champion, through the loop's own flows.
        ids, _ = write_raw_batch(store, form, digits.images[train_idx], "train")
        cleanse_run(monitor=False)
        truth = dict(zip(ids, digits.target[train_idx].astype(str), strict=True))
        clean = pd.concat(
            [store.read_parquet(k) for k in store.list_keys(clean_prefix(name))], ignore_index=True
        )
        labels = pd.DataFrame(
            {
                "item_id": clean["item_id"],
                "label": clean["checksum" if form.images else "scan"].map(truth),
                "status": "resolved",
            }
        )
        key = labels_key(name, "v1")
        store.write_parquet(key, labels)
        pointer = LabelsPointer(version="v1", key=key, labels=len(labels))
        store.replace_json(latest_labels_key(name), pointer.model_dump(mode="json"))
        state, train_wall, _ = timed(
            lambda: retrain_model(
                TrainParams(dataset=form.spec, reason="benchmark"), store=store, return_state=True
            )
        )
        trained = state.result()
        profile_s = task_seconds(state.state_details.flow_run_id, "save-reference-profile")
        profile = ReferenceProfile.model_validate_json(
            store.read_bytes(profile_key(name, trained.version))
        )

        # Overhead: interleaved pairs of cleanse runs, monitoring off / on. Each run's image
        # files are deleted after it, so every run lists a store of the same size.
        walls: dict[bool, list[float]] = {False: [], True: []}
        cpus: dict[bool, list[float]] = {False: [], True: []}
        server_cpus: dict[bool, list[float]] = {False: [], True: []}
        server = [
            p
            for p in psutil.Process().children(recursive=True)
            if "uvicorn" in " ".join(p.cmdline())
        ]
        for pair in range(args.pairs):
            for monitor in (False, True) if pair % 2 == 0 else (True, False):
                images = pool_images[draw(pool_labels, args.batch_size, rng, None)]
                _, files = write_raw_batch(store, form, images, f"timing-{pair}-{int(monitor)}")
                before = sum(sum(p.cpu_times()[:2]) for p in server)
                result, wall, cpu = timed(lambda m=monitor: cleanse_run(m))
                server_cpus[monitor].append(sum(sum(p.cpu_times()[:2]) for p in server) - before)
                assert len(result.drift) == (1 if monitor else 0)
                walls[monitor].append(wall)
                cpus[monitor].append(cpu)
                for key in files:
                    store.delete(key)

        # Detection and false alarms: one cleanse run per batch, monitoring on.
        def flow_batch(images: np.ndarray, tag: str) -> DriftReport:
            write_raw_batch(store, form, images, tag)
            [drift] = cleanse_run(monitor=True).drift
            record = json.loads(store.read_bytes(drift.report_key))
            return DriftReport.model_validate(record["report"])

        normal_reports = [
            flow_batch(pool_images[draw(pool_labels, args.batch_size, rng, None)], f"normal-{i}")
            for i in range(args.normal)
        ]
        shifted_reports = [
            flow_batch(
                noisy(
                    pool_images[draw(pool_labels, args.batch_size, rng, args.low_share)],
                    rng,
                    args.sigma,
                ),
                f"shifted-{i}",
            )
            for i in range(args.shifted)
        ]

        # The same champion and profile without the flow: many more batches.
        reference = read_reference(store, name, form.spec)
        assert reference.champion is not None
        model, features = reference.champion.model, reference.champion.card.features

        def direct(images: np.ndarray) -> DriftReport:
            flat = images.reshape(len(images), -1)
            if form.images:
                pixels = (flat * SCALE).astype(np.uint8)
                monitored = monitored_frame(features, pd.DataFrame(index=range(len(flat))), pixels)
                model_input: Any = pixels
            else:
                model_input = pd.DataFrame(flat, columns=PIXELS)
                monitored = monitored_frame(features, model_input)
            classes, proba = probabilities(model, model_input)
            return compare(
                profile, monitored.frame, pd.DataFrame(proba, columns=classes), thresholds
            )

        extra = [
            direct(pool_images[draw(pool_labels, args.batch_size, rng, None)])
            for _ in range(args.extra_normal)
        ]
        noise_only = [
            direct(
                noisy(pool_images[draw(pool_labels, args.batch_size, rng, None)], rng, args.sigma)
            )
            for _ in range(args.shifted)
        ]
        mix_only = [
            direct(pool_images[draw(pool_labels, args.batch_size, rng, args.low_share)])
            for _ in range(args.shifted)
        ]

    off_wall, on_wall = np.array(walls[False]), np.array(walls[True])
    off_cpu, on_cpu = np.array(cpus[False]), np.array(cpus[True])
    off_server, on_server = np.array(server_cpus[False]), np.array(server_cpus[True])
    overhead = float(np.median(on_wall - off_wall) / np.median(off_wall))
    cpu_overhead = float(np.median(on_cpu - off_cpu) / np.median(off_cpu))
    n_false = sum(r.drifted for r in normal_reports)
    n_detected = sum(r.drifted for r in shifted_reports)
    form_text = "8x8 PNG files" if form.images else "rows of 64 pixel columns"
    print(f"form: {args.form} ({form_text}), data set {name!r}")
    print(f"digits: {len(train_idx)} cleansed, labelled and trained on, {len(pool_idx)} held out")
    print(
        f"retrain flow {train_wall:.2f} s (champion {trained.version}, {trained.status}); "
        f"save-reference-profile task {profile_s * 1000:.0f} ms = {profile_s / train_wall:.1%} of it"
    )
    print(
        f"profile: {len(profile.features)} features of {profile.n_rows} rows, predictions of "
        f"{profile.predictions.class_mix.n if profile.predictions else 0} out-of-fold rows, "
        f"{len(profile.model_dump_json())} bytes of JSON"
    )
    print(f"thresholds: PSI >= {thresholds.psi}, p < {thresholds.alpha} / features tested")
    print(
        f"false alarms (cleanse flow runs, events): {n_false}/{len(normal_reports)} unshifted "
        f"batches of {args.batch_size}"
    )
    for r in normal_reports:
        top = max(r.features, key=lambda f: f.psi)
        low_p = min(f.p_value for f in r.features)
        print(f"  unshifted: max PSI {top.psi:.3f} ({top.feature}), min p {low_p:.1e}")
    print(
        f"detected (cleanse flow runs, events): {n_detected}/{len(shifted_reports)} shifted "
        f"batches (noise sigma {args.sigma} of 16, digits 0-4 at {args.low_share:.0%})"
    )
    for r in shifted_reports:
        print(
            f"  shifted: {len(r.drifted_features)} drifted features, prediction drift: "
            f"{'prediction' in r.drifted_columns}"
        )
    extra_alarms = sum(r.drifted for r in extra)
    if extra:
        low, high = wilson_interval(extra_alarms, len(extra))
        print(
            f"false alarms over {len(extra)} more unshifted batches (no flow): {extra_alarms} "
            f"({extra_alarms / len(extra):.1%}, Wilson 95% [{low:.1%}, {high:.1%}])"
        )
    print(
        f"noise only: {sum(r.drifted for r in noise_only)}/{len(noise_only)} detected; "
        f"class mix only: {sum(r.drifted for r in mix_only)}/{len(mix_only)} detected "
        f"(by prediction.class: {sum('prediction' in r.drifted_columns for r in mix_only)})"
    )
    print(
        f"cleanse run ({args.pairs} interleaved pairs, medians): monitoring off "
        f"{np.median(off_wall):.3f} s wall, {np.median(off_cpu):.3f} s CPU; on "
        f"{np.median(on_wall):.3f} s wall, {np.median(on_cpu):.3f} s CPU"
    )
    print(
        f"Prefect server CPU per run (its own process): off {np.median(off_server):.3f} s, "
        f"on {np.median(on_server):.3f} s"
    )
    print(
        f"extra time / cleanse run: {overhead:.3f} wall (median paired difference), "
        f"{cpu_overhead:.3f} CPU of this process; difference of medians: "
        f"{np.median(on_wall) / np.median(off_wall) - 1:.3f} wall, "
        f"{np.median(on_cpu) / np.median(off_cpu) - 1:.3f} CPU"
    )
    for metric, value in [
        ("drift_false_alarm_rate", n_false / len(normal_reports)),
        ("drift_detection_rate", n_detected / len(shifted_reports)),
        ("monitoring_overhead_ratio", round(overhead, 4)),
    ]:
        print(json.dumps({"metric": metric, "value": value}))


if __name__ == "__main__":
    main()
