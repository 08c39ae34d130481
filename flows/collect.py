"""Collect flow: take new or changed files from local paths, HTTP URLs and S3 prefixes
into raw batches, incrementally and idempotently.

    python flows/collect.py --dataset iris --local 'data/*.csv'
    python flows/collect.py --dataset digits --s3 labelloop/incoming/ --endpoint-url http://127.0.0.1:18402
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field

from blocks import DataStore
from blocks.data_store import MissingKeyError
from cleansing.readers import (
    DEFAULT_MAX_COLUMNS,
    DEFAULT_MAX_IMAGE_PIXELS,
    IMAGE_SUFFIXES,
    PILLOW_MAX_IMAGE_PIXELS,
)
from cleansing.schemas import load_schema, schema_columns
from collection.manifest import Manifest, plan_collection
from collection.sources import S3Source, Source, SourceObject
from specs import NAME_PATTERN
from storage.layout import collect_manifest_key
from flows.cli import Shortcut, run_flow_script
from tasks.datasets import DatasetRuns, registered_landing, resolve_dataset, run_for_each_registered
from tasks.collect import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_IMAGE_BYTES,
    ImageOptions,
    ObjectOutcome,
    TableOptions,
    collect_image_files,
    collect_table_file,
    list_source,
)



class CollectParams(BaseModel):
    """Parameters of the collect flow (the form in the Prefect UI)."""

    dataset: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Data set name: raw/<dataset>/ in the store; None: every registered one.",
    )
    sources: list[Source] = Field(
        default_factory=list,
        description="Local paths/globs, HTTP URLs, S3 prefixes; empty: the registered landing.",
    )
    schema_path: str | None = Field(
        default=None,
        description="pandera schema (DataFrameModel import path or YAML); when set, or when "
        "the registered landing is read, table files missing a required column fail early.",
    )
    store_block: str | None = Field(
        default=None,
        description=(
            "DataStore block name; None = the local folder $LABELLOOP_HOME/data "
            "(default .labelloop/data)."
        ),
    )
    s3_credentials_block: str | None = Field(
        default=None, description="DataStore block whose S3 keys and endpoint reach S3 sources."
    )
    chunk_rows: int = Field(
        default=100_000, ge=1, le=10_000_000, description="Rows read at a time."
    )
    batch_rows: int = Field(default=500_000, ge=1, description="Rows per raw batch (parquet part).")
    image_group_size: int = Field(default=500, ge=1, description="Images per task and raw batch.")
    encoding: str = Field(default="utf-8", description="Text encoding of CSV / JSON Lines files.")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    max_columns: int = Field(
        default=DEFAULT_MAX_COLUMNS,
        ge=1,
        le=100_000,
        description="A table file with more columns fails alone, refused from its header.",
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        ge=1,
        description="A table file larger than this fails alone, refused before it is read.",
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_IMAGE_PIXELS,
        ge=1,
        le=PILLOW_MAX_IMAGE_PIXELS,
        description="An image with more pixels (width x height, read from its header) fails "
        "alone without being decoded. At most Pillow's own decompression-bomb limit.",
    )
    max_image_bytes: int = Field(
        default=DEFAULT_MAX_IMAGE_BYTES,
        ge=1,
        description="An image file larger than this fails alone, refused before it is read.",
    )


class CollectResult(BaseModel):
    """What a collect run did."""

    dataset: str
    new_files: int = 0
    unchanged_files: int = 0
    failed: dict[str, str] = Field(default_factory=dict, description="URI -> error.")
    new_batches: list[str] = Field(default_factory=list)
    new_rows: int = 0
    message: str = ""


def load_manifest(store: DataStore, dataset: str) -> Manifest:
    """The data set's manifest, or an empty one on the first run.

    Args:
        store: the DataStore.
        dataset: data set name.

    Returns:
        The manifest.
    """
    try:
        return Manifest.model_validate(store.read_json(collect_manifest_key(dataset)))
    except MissingKeyError:
        return Manifest(dataset=dataset)


def _outcome_rows(
    outcomes: list[ObjectOutcome], listing_errors: dict[str, str]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "file": o.entry.uri,
            "status": "unchanged" if o.unchanged else o.entry.status,
            "rows": o.entry.rows,
            "new batches": len(o.new_batches),
            "error": o.entry.error or "",
        }
        for o in outcomes
    ]
    rows.extend(
        {"file": where, "status": "failed", "rows": 0, "new batches": 0, "error": error}
        for where, error in listing_errors.items()
    )
    return rows


@flow(name="collect-data", log_prints=False)
def collect(
    params: CollectParams,
    store: DataStore | None = None,
    s3_credentials: DataStore | None = None,
) -> CollectResult | DatasetRuns:
    """Collect new or changed files into ``raw/<dataset>/`` and record them in the manifest.

    Args:
        params: what to collect and how; with no `dataset`, every registered data set
            from its landing sources (each its own subflow run).
        store: a DataStore to use instead of ``params.store_block`` (tests, scripts).
        s3_credentials: a DataStore with S3 keys instead of ``params.s3_credentials_block``.

    Returns:
        A :class:`CollectResult`; a rerun with nothing new reports "0 new" and writes
        nothing. With no `dataset`: each data set's final state.

    Raises:
        DatasetsFailedError: with no `dataset`, after every data set ran, naming those
            whose collect failed.
        SpecError: no sources given and none registered for the data set.
    """
    if params.dataset is None:
        return run_for_each_registered(collect, params, store=store, s3_credentials=s3_credentials)
    logger = get_run_logger()
    sources = params.sources or registered_landing(params.dataset)
    target = store or DataStore.named(params.store_block)
    credentials = s3_credentials or (
        DataStore.load(params.s3_credentials_block) if params.s3_credentials_block else None
    )
    collected_at = datetime.now(UTC)
    manifest = load_manifest(target, params.dataset)
    listings = [list_source.submit(source, credentials) for source in sources]
    listing_errors: dict[str, str] = {}
    listed: list[SourceObject] = []
    for future in listings:
        listing = future.result()
        if listing.error:
            listing_errors[listing.source] = listing.error
        listed.extend(listing.objects)
    planned = plan_collection(listed, manifest)
    s3_sources = {s.bucket: s for s in sources if isinstance(s, S3Source)}
    # A registered data set's schema (its landing was read) or the one given: a table
    # file missing a required column fails early.
    schema_ref = params.schema_path or (
        None if params.sources else resolve_dataset(params.dataset).schema_ref
    )
    expected = None
    if schema_ref:
        expected = [c for c, required in schema_columns(load_schema(schema_ref)).items() if required]
    options = TableOptions(
        chunk_rows=params.chunk_rows,
        batch_rows=params.batch_rows,
        encoding=params.encoding,
        delimiter=params.delimiter,
        expected_columns=expected,
        max_columns=params.max_columns,
        max_file_bytes=params.max_file_bytes,
    )
    image_options = ImageOptions(
        max_pixels=params.max_image_pixels, max_bytes=params.max_image_bytes
    )
    images = [o for o in planned if _is_image(o)]
    tables = [o for o in planned if not _is_image(o)]
    table_futures = [
        collect_table_file.submit(
            obj,
            dataset=params.dataset,
            store=target,
            prior=manifest.entries.get(obj.uri),
            options=options,
            collected_at=collected_at,
            s3_sources=s3_sources,
            s3_credentials=credentials,
        )
        for obj in tables
    ]
    groups = [
        images[i : i + params.image_group_size]
        for i in range(0, len(images), params.image_group_size)
    ]
    image_futures = [
        collect_image_files.submit(
            group,
            dataset=params.dataset,
            store=target,
            priors={o.uri: manifest.entries[o.uri] for o in group if o.uri in manifest.entries},
            collected_at=collected_at,
            s3_sources=s3_sources,
            s3_credentials=credentials,
            options=image_options,
        )
        for group in groups
    ]
    outcomes: list[ObjectOutcome] = [f.result() for f in table_futures]
    for future in image_futures:
        outcomes.extend(future.result())
    for outcome in outcomes:
        manifest = manifest.record(outcome.entry)
    changed = [o for o in outcomes if not o.unchanged]
    if changed or listing_errors:
        target.replace_json(collect_manifest_key(params.dataset), manifest.model_dump(mode="json"))
    result = _summarise(params.dataset, outcomes, listing_errors)
    create_table_artifact(
        table=_outcome_rows(outcomes, listing_errors),
        key=f"collect-{params.dataset}",
        description=f"collect {params.dataset}: {result.message}",
    )
    logger.info("%s", result.message)
    for uri, error in result.failed.items():
        logger.warning("failed: %s: %s (will be retried next run)", uri, error)
    return result


def _is_image(obj: SourceObject) -> bool:
    return Path(obj.name).suffix.lower() in IMAGE_SUFFIXES


def _summarise(
    dataset: str, outcomes: list[ObjectOutcome], listing_errors: dict[str, str]
) -> CollectResult:
    failed = {o.entry.uri: o.entry.error or "" for o in outcomes if o.entry.status == "failed"}
    failed.update(listing_errors)
    new = [o for o in outcomes if o.new_batches]
    batches = sorted({b for o in new for b in o.new_batches})  # images share a batch
    rows = sum(o.new_rows for o in new)
    message = f"{dataset}: {len(new)} new file(s), {len(batches)} new batch(es), {rows} new row(s)"
    if not new:
        message = f"{dataset}: 0 new"
    if failed:
        message += f", {len(failed)} failed"
    return CollectResult(
        dataset=dataset,
        new_files=len(new),
        unchanged_files=sum(o.unchanged for o in outcomes),
        failed=failed,
        new_batches=batches,
        new_rows=rows,
        message=message,
    )


def _s3_source(spec: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """`--s3 bucket/prefix` (optionally `s3://`) as a source, at `--endpoint-url` if given."""
    bucket, _, prefix = spec.removeprefix("s3://").partition("/")
    endpoint = given.get("--endpoint-url")
    return {"kind": "s3", "bucket": bucket, "prefix": prefix, "endpoint_url": endpoint}


SHORTCUTS = [
    Shortcut(
        "--local",
        "sources",
        "file, folder or glob (repeatable)",
        repeatable=True,
        convert=lambda path, _: {"kind": "local", "path": path},
    ),
    Shortcut(
        "--url",
        "sources",
        "HTTP(S) URL (repeatable)",
        repeatable=True,
        convert=lambda url, _: {"kind": "http", "urls": [url]},
    ),
    Shortcut("--s3", "sources", "bucket/prefix (repeatable)", repeatable=True, convert=_s3_source),
    Shortcut("--endpoint-url", None, "S3-compatible endpoint for --s3"),
    Shortcut("--schema", "schema_path", "same as --schema-path"),
]


if __name__ == "__main__":
    run_flow_script(
        collect,
        CollectParams,
        __doc__,
        SHORTCUTS,
        failed=lambda outcome: isinstance(outcome, CollectResult) and bool(outcome.failed),
    )
