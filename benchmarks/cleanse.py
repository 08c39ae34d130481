"""Benchmark: the cleanse flow against a plain pandas + pandera script, and peak memory
of the chunked path on 10 million rows.

    python -m benchmarks.cleanse                 # 1M rows + 10M rows (from the repository root)
    python -m benchmarks.cleanse --big-rows 0    # only the 1M comparison
    python -m benchmarks.cleanse --rows 0 --big-rows 0   # only the wide row

Both sides of the comparison run in this process, on the same raw parquet files, in
the same run; each is timed ``--repeats`` times and the best time is kept. The flow is
timed from the call to its return (a temporary Prefect server is started first and not
timed). The wide-row figure cleanses one row of ``--wide-columns`` columns (the iris
columns, the rest named by no schema) with ``cleanse_frame`` and with the plain script's
steps on the same frame, in the same run. The 10M-row figure comes from a child process running the cleanse flow on raw
batches written by another child; its peak RSS (ru_maxrss) is that process's own
(the temporary Prefect server runs in a process of its own and is not counted).

Ends with JSON lines, one per figure.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_lib
import pyarrow.parquet as pq
from prefect.testing.utilities import prefect_test_harness

from blocks import DataStore
from cleansing.normalise import DEFAULT_NA_TOKENS
from cleansing.pipeline import cleanse_frame
from cleansing.schemas import IrisMeasurements, load_schema
from flows.cleanse import CleanseParams, cleanse
from storage.layout import raw_key, raw_prefix

# Benchmarks run as modules from here (`python -m benchmarks.cleanse`): run as a file,
# this folder would come first on sys.path and its monitoring.py and annotation.py would
# shadow the packages of those names.
ROOT = Path(__file__).resolve().parents[1]

DATASET = "bench"
SCHEMA_PATH = "cleansing.schemas:IrisMeasurements"
CONTENT = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
SPECIES = np.array(["setosa", "versicolor", "virginica", " Setosa", "VIRGINICA ", "Versicolor"])
TENTHS = np.array([f"{i / 10:.1f}" for i in range(100)], dtype=object)


def generate(rows: int, seed: int) -> pd.DataFrame:
    """Iris-like text rows: ~5% fail a check, ~3% repeat an earlier row, some need normalising."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {c: pd.Series(TENTHS[rng.integers(1, 80, rows)], dtype="str") for c in CONTENT[:4]}
    )
    frame["species"] = pd.Series(SPECIES[rng.integers(0, len(SPECIES), rows)], dtype="str")
    kind = rng.random(rows)
    frame.loc[kind < 0.02, "sepal_length"] = "-1.0"  # greater_than(0)
    frame.loc[(kind >= 0.02) & (kind < 0.035), "species"] = "rose"  # isin
    frame.loc[(kind >= 0.035) & (kind < 0.045), "petal_width"] = "abc"  # coercion
    frame.loc[(kind >= 0.045) & (kind < 0.05), "sepal_width"] = "NA"  # not_nullable
    copies = np.flatnonzero((kind >= 0.05) & (kind < 0.08))
    originals = rng.integers(0, np.maximum(copies, 1))
    originals = originals[kind[originals] >= 0.08]
    copies = copies[: len(originals)]
    frame.iloc[copies, :] = frame.iloc[originals, :].to_numpy()
    return frame


def write_raw(
    store: DataStore, rows: int, batch_rows: int, seed: int, chunk_rows: int
) -> list[str]:
    """Raw batches as the collect flow writes them (text columns + provenance)."""
    keys = []
    written = 0
    part = 0
    while written < rows:
        n = min(batch_rows, rows - written)
        frame = generate(n, seed + part)
        frame["_source"] = pd.Series(["bench.csv"] * n, dtype="str")
        frame["_source_row"] = np.arange(written, written + n)
        buffer = io.BytesIO()
        pq.write_table(
            pyarrow_lib.Table.from_pandas(frame, preserve_index=False),
            buffer,
            row_group_size=chunk_rows,
        )
        key = raw_key(DATASET, f"part-{part:05d}")
        store.write_bytes(key, buffer.getvalue())
        keys.append(key)
        written += n
        part += 1
    return keys


def baseline(store: DataStore, keys: list[str], out: Path) -> int:
    """A plain pandas + pandera script doing the same normalisation, checks and dedup."""
    seen: set[int] = set()
    clean_rows = 0
    tokens = list(DEFAULT_NA_TOKENS)
    for number, key in enumerate(keys):
        frame = pd.read_parquet(store.describe() + "/" + key)
        for column in CONTENT:
            text = frame[column].str.strip()
            frame[column] = text.mask(text.str.lower().isin(tokens))
        frame["species"] = frame["species"].str.lower()
        pending, failures = frame, []
        for _ in range(4):
            try:
                clean = IrisMeasurements.validate(pending, lazy=True)
                break
            except pa.errors.SchemaErrors as exc:
                cases = exc.failure_cases
                cases = cases[cases["index"].notna()]
                failures.append(cases)
                pending = pending.drop(index=cases["index"].unique())
        quarantine = (
            pd.concat(failures).drop_duplicates("index").set_index("index") if failures else None
        )
        hashes = pd.util.hash_pandas_object(clean[CONTENT], index=False)
        dup = hashes.duplicated().to_numpy() | hashes.isin(seen).to_numpy()
        seen.update(hashes[~dup].tolist())
        clean = clean.assign(item_id=hashes.astype(str))
        clean.loc[~dup].to_parquet(out / f"clean-{number}.parquet", index=False)
        clean.loc[dup].to_parquet(out / f"duplicates-{number}.parquet", index=False)
        if quarantine is not None:
            rejected = frame.loc[quarantine.index.astype(int)].assign(
                check=quarantine["check"].astype(str).to_numpy(),
                column=quarantine["column"].astype(str).to_numpy(),
            )
            rejected.to_parquet(out / f"quarantine-{number}.parquet", index=False)
        clean_rows += int((~dup).sum())
    return clean_rows


def wide_row(columns: int) -> pd.DataFrame:
    """One raw row: the iris columns, then ``columns - 5`` text columns no schema names."""
    names = CONTENT + [f"extra_{i}" for i in range(columns - len(CONTENT))]
    values = ["5.1", "3.5", "1.4", "0.2", " Setosa"] + [" x "] * (columns - len(CONTENT))
    return pd.DataFrame({n: pd.Series([v], dtype="str") for n, v in zip(names, values)})


def wide_baseline(frame: pd.DataFrame) -> int:
    """The plain script's steps on one frame: strip + NA tokens + case on the schema's
    columns, pandera validation, a row hash of the content columns."""
    tokens = list(DEFAULT_NA_TOKENS)
    out = frame.copy()
    for column in CONTENT:
        text = out[column].str.strip()
        out[column] = text.mask(text.str.lower().isin(tokens))
    out["species"] = out["species"].str.lower()
    clean = IrisMeasurements.validate(out, lazy=True)
    pd.util.hash_pandas_object(clean[CONTENT], index=False)
    return len(clean)


def wide(columns: int, repeats: int) -> dict[str, float]:
    frame = wide_row(columns)
    IrisMeasurements.to_schema()
    flow_times, base_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = cleanse_frame(frame, load_schema(SCHEMA_PATH), source="wide")
        flow_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        base_clean = wide_baseline(frame)
        base_times.append(time.perf_counter() - start)
    ratio = min(flow_times) / min(base_times)
    sys.stdout.write(
        f"wide row (1 row, {columns:,} columns, {columns - len(CONTENT):,} named by no schema):\n"
        f"  cleanse_frame : best {min(flow_times):.2f}s of {[round(t, 2) for t in flow_times]}, "
        f"{result.report.clean} clean\n"
        f"  pandas+pandera: best {min(base_times):.2f}s of {[round(t, 2) for t in base_times]}, "
        f"{base_clean} clean\n"
        f"  ratio (cleanse_frame time over baseline time): {ratio:.2f}\n"
    )
    return {"seconds": min(flow_times), "baseline_seconds": min(base_times), "ratio": ratio}


def _reset_outputs(store: DataStore) -> None:
    for key in store.list_keys():
        if not key.startswith(raw_prefix(DATASET)):
            store.delete(key)


def compare(rows: int, repeats: int, chunk_rows: int, batch_rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as folder:
        store = DataStore(base_path=str(Path(folder) / "store"))
        keys = write_raw(store, rows, batch_rows, seed=1, chunk_rows=chunk_rows)
        params = CleanseParams(dataset=DATASET, schema_path=SCHEMA_PATH, chunk_rows=chunk_rows)
        flow_times, base_times = [], []
        flow_clean = base_clean = 0
        IrisMeasurements.to_schema()
        for _ in range(repeats):
            _reset_outputs(store)
            start = time.perf_counter()
            result = cleanse(params, store=store)
            flow_times.append(time.perf_counter() - start)
            flow_clean = result.total.clean
            with tempfile.TemporaryDirectory(prefix="labelloop-base-") as out:
                start = time.perf_counter()
                base_clean = baseline(store, keys, Path(out))
                base_times.append(time.perf_counter() - start)
        flow_rate = rows / min(flow_times)
        base_rate = rows / min(base_times)
        sys.stdout.write(
            f"1M comparison ({rows} rows, {len(keys)} batches, chunk {chunk_rows}):\n"
            f"  cleanse flow : best {min(flow_times):.2f}s of {[round(t, 2) for t in flow_times]} "
            f"-> {flow_rate:,.0f} rows/s, {flow_clean} clean, "
            f"{result.total.quarantined} quarantined, {result.total.duplicates} duplicates\n"
            f"  pandas+pandera: best {min(base_times):.2f}s of {[round(t, 2) for t in base_times]} "
            f"-> {base_rate:,.0f} rows/s, {base_clean} clean\n"
            f"  ratio (baseline rows/s over flow rows/s): {base_rate / flow_rate:.2f}  (goal <= 1.3)\n"
        )
        return {"value": flow_rate, "baseline": base_rate, "ratio": base_rate / flow_rate}


def child_generate(store_path: str, rows: int, batch_rows: int, chunk_rows: int) -> None:
    write_raw(DataStore(base_path=store_path), rows, batch_rows, seed=7, chunk_rows=chunk_rows)


def child_cleanse(store_path: str, chunk_rows: int) -> None:
    with prefect_test_harness(server_startup_timeout=180):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = cleanse(
            CleanseParams(dataset=DATASET, schema_path=SCHEMA_PATH, chunk_rows=chunk_rows),
            store=DataStore(base_path=store_path),
        )
        elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(
        json.dumps(
            {
                "rows": result.total.rows_in,
                "clean": result.total.clean,
                "quarantined": result.total.quarantined,
                "duplicates": result.total.duplicates,
                "batches": len(result.batches),
                "seconds": elapsed,
                "rss_before_mib": before / 1024,
                "peak_rss_mib": peak_kib / 1024,
            }
        )
        + "\n"
    )


def big(rows: int, chunk_rows: int, batch_rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-big-") as folder:
        store_path = str(Path(folder) / "store")
        me = [sys.executable, "-m", "benchmarks.cleanse"]  # run as a module: see `ROOT`
        common = ["--chunk-rows", str(chunk_rows), "--batch-rows", str(batch_rows)]
        subprocess.run(
            [*me, "--child-generate", store_path, "--big-rows", str(rows), *common],
            check=True,
            cwd=ROOT,
        )
        done = subprocess.run(
            [*me, "--child-cleanse", store_path, *common],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    sys.stdout.write(
        f"10M chunked ({figures['rows']} rows, {figures['batches']} batches, chunk {chunk_rows}): "
        f"{figures['seconds']:.1f}s, {figures['rows'] / figures['seconds']:,.0f} rows/s, "
        f"peak RSS {figures['peak_rss_mib']:.0f} MiB (goal <= 2048)\n"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--wide-columns", type=int, default=50_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=500_000)
    parser.add_argument("--child-generate", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-cleanse", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_generate:
        child_generate(args.child_generate, args.big_rows, args.batch_rows, args.chunk_rows)
        return
    if args.child_cleanse:
        child_cleanse(args.child_cleanse, args.chunk_rows)
        return
    lines = []
    if args.rows:
        with prefect_test_harness(server_startup_timeout=180):
            small = compare(args.rows, args.repeats, args.chunk_rows, args.batch_rows)
        lines.append({"metric": "cleanse_1m_rows", **small})
    if args.wide_columns:
        lines.append({"metric": "cleanse_wide_row", **wide(args.wide_columns, args.repeats)})
    if args.big_rows:
        figures = big(args.big_rows, args.chunk_rows, args.batch_rows)
        lines.append(
            {
                "metric": "cleanse_10m_rows_chunked",
                "peak_rss_mib": figures["peak_rss_mib"],
                "rows_per_s": figures["rows"] / figures["seconds"],
            }
        )
    for line in lines:
        sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
