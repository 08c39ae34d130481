"""Collect tasks: list sources, fetch objects, write raw batches with provenance."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel, Field

from blocks import DataStore
from blocks.s3 import s3_client
from cleansing.errors import CleansingError, SourceReadError
from cleansing.readers import (
    DEFAULT_MAX_COLUMNS,
    DEFAULT_MAX_IMAGE_PIXELS,
    PILLOW_MAX_IMAGE_PIXELS,
    detect_kind,
    image_frame,
    image_record,
    iter_table_chunks,
)
from collection.batches import (
    SOURCE_COLUMN,
    PartWriter,
    as_text_frame,
    raw_batch_id,
    with_provenance,
)
from collection.manifest import ManifestEntry, unchanged
from collection.sources import (
    HttpSource,
    LocalSource,
    S3Source,
    Source,
    SourceObject,
    fetch,
    list_http,
    list_local,
    list_s3,
)
from storage.layout import raw_file_key, raw_key
from tasks.events import BATCH_COLLECTED, announce, dataset_resource

DEFAULT_MAX_FILE_BYTES = 4 * 1024**3
DEFAULT_MAX_IMAGE_BYTES = 256 * 1024**2


class TableOptions(BaseModel):
    """How table files are read and split into raw batches."""

    chunk_rows: int = Field(default=100_000, ge=1)
    batch_rows: int = Field(default=500_000, ge=1)
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    expected_columns: list[str] | None = None
    max_columns: int = Field(default=DEFAULT_MAX_COLUMNS, ge=1)
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, ge=1)


class ImageOptions(BaseModel):
    """Limits on image files, checked before an image is read or decoded."""

    max_pixels: int = Field(default=DEFAULT_MAX_IMAGE_PIXELS, ge=1, le=PILLOW_MAX_IMAGE_PIXELS)
    max_bytes: int = Field(default=DEFAULT_MAX_IMAGE_BYTES, ge=1)


class Listing(BaseModel):
    """Objects listed from one source, or why the source could not be listed."""

    source: str
    objects: list[SourceObject] = Field(default_factory=list)
    error: str | None = None


def _client_for(obj_or_source: S3Source | None, credentials: DataStore | None) -> Any:
    """The S3 client for a source: the credentials block of the DataStore given as the
    flow's S3 credentials (boto3's default chain without one), the source's endpoint
    (else that store's), the source's region when the block names none."""
    if obj_or_source is None:
        return None
    return s3_client(
        credentials.credentials if credentials is not None else None,
        endpoint_url=obj_or_source.endpoint_url
        or (credentials.endpoint_url if credentials is not None else None),
        region_name=obj_or_source.region_name,
    )


@task(name="list-source")
def list_source(source: Source, s3_credentials: DataStore | None = None) -> Listing:
    """List the files of one source.

    Args:
        source: a local, HTTP or S3 source.
        s3_credentials: a DataStore block whose S3 keys (and endpoint) reach the source.

    Returns:
        A :class:`Listing`; an unreachable source is returned with its error, not raised,
        so the other sources still go through.
    """
    logger = get_run_logger()
    if isinstance(source, LocalSource):
        where = source.path
    elif isinstance(source, HttpSource):
        where = ", ".join(str(u) for u in source.urls)
    else:
        where = f"s3://{source.bucket}/{source.prefix}"
    try:
        if isinstance(source, LocalSource):
            objects = list_local(source)
        elif isinstance(source, HttpSource):
            objects = list_http(source)
        else:
            objects = list_s3(source, _client_for(source, s3_credentials))
    except SourceReadError as exc:
        logger.error("cannot list source %s: %s", where, exc)
        return Listing(source=where, error=str(exc))
    logger.info("source %s: %d file(s)", where, len(objects))
    return Listing(source=where, objects=objects)


def _write_part(store: DataStore, key: str, path: Path) -> bool:
    if store.exists(key):  # written by an interrupted earlier run: same id, same bytes
        return False
    store.write_bytes(key, path.read_bytes())
    return True


def failure_reason(uri: str, exc: Exception) -> str:
    """The error recorded for a file: a library's own message (it names the file), or the
    file, the exception's type and message for anything a reader did not foresee.

    Args:
        uri: the file.
        exc: what reading the file raised.

    Returns:
        The text stored in the manifest and the artifact.
    """
    if isinstance(exc, CleansingError):
        return str(exc)
    return f"{uri}: unexpected {type(exc).__name__} while reading: {exc}"


def _failed(
    obj: SourceObject,
    prior: ManifestEntry | None,
    exc: Exception,
    now: datetime,
    logger: logging.Logger | logging.LoggerAdapter,
) -> ObjectOutcome:
    """One file's failure, recorded against it (the run goes on) and logged; a traceback
    only for what no reader foresaw."""
    reason = failure_reason(obj.uri, exc)
    logger.error(
        "collect failed for %s: %s", obj.uri, reason, exc_info=not isinstance(exc, CleansingError)
    )
    entry = ManifestEntry(
        uri=obj.uri,
        status="failed",
        version=obj.version,
        size=obj.size,
        error=reason,
        attempts=(prior.attempts if prior else 0) + 1,
        updated_at=now,
    )
    return ObjectOutcome(entry=entry)


def _s3_source_of(obj: SourceObject, sources: dict[str, S3Source]) -> S3Source | None:
    if not obj.uri.startswith("s3://"):
        return None
    bucket = obj.uri[len("s3://") :].split("/", 1)[0]
    return sources.get(bucket) or S3Source(bucket=bucket)


class ObjectOutcome(BaseModel):
    """A manifest entry plus what this run wrote for it."""

    entry: ManifestEntry
    new_batches: list[str] = Field(default_factory=list)
    new_rows: int = 0
    unchanged: bool = False


@task(name="collect-table-file")
def collect_table_file(
    obj: SourceObject,
    *,
    dataset: str,
    store: DataStore,
    prior: ManifestEntry | None,
    options: TableOptions,
    collected_at: datetime,
    s3_sources: dict[str, S3Source] | None = None,
    s3_credentials: DataStore | None = None,
) -> ObjectOutcome:
    """Read one CSV/JSON Lines/Parquet file in chunks and write it as raw batches.

    Args:
        obj: the listed file.
        dataset: data set name.
        store: where raw batches go.
        prior: the manifest entry from earlier runs, if any.
        options: reading and batching options.
        collected_at: the run's collection time (UTC).
        s3_sources: S3 sources by bucket (endpoint, region) for ``s3://`` objects.
        s3_credentials: a DataStore block with the S3 keys.

    Returns:
        The outcome; a bad file (unreadable, wrong encoding or delimiter, missing or
        reserved column, over a limit, HTTP/S3 error, or any other error while reading it)
        is a ``failed`` entry naming the file, retried on the next run.
    """
    logger = get_run_logger()
    source_s3 = _s3_source_of(obj, s3_sources or {})
    try:
        kind = detect_kind(obj.name)
        if kind == "image":
            raise SourceReadError(obj.uri, "image files are collected by collect_image_files")
        with fetch(
            obj,
            s3_client=_client_for(source_s3, s3_credentials),
            max_bytes=options.max_file_bytes,
        ) as fetched:
            if unchanged(prior, fetched.checksum):
                logger.info("%s unchanged (same checksum): nothing to write", obj.uri)
                entry = prior.model_copy(
                    update={"version": obj.version, "updated_at": collected_at}
                )
                return ObjectOutcome(entry=entry, unchanged=True)
            with (
                tempfile.TemporaryDirectory(prefix="labelloop-raw-") as folder,
                fetched.path.open("rb") as handle,
            ):
                writer = PartWriter(folder=Path(folder), batch_rows=options.batch_rows)
                first_row = 0
                try:
                    for chunk in iter_table_chunks(
                        handle,
                        kind,  # type: ignore[arg-type]
                        name=obj.uri,
                        chunk_rows=options.chunk_rows,
                        expected_columns=options.expected_columns,
                        encoding=options.encoding,
                        delimiter=options.delimiter,
                        max_columns=options.max_columns,
                    ):
                        text = chunk if kind == "parquet" else as_text_frame(chunk)
                        writer.write(
                            with_provenance(
                                text, source=obj.uri, collected_at=collected_at, first_row=first_row
                            )
                        )
                        first_row += len(chunk)
                finally:
                    writer.close()
                batches: list[str] = []
                new_batches: list[str] = []
                for number, (path, rows) in enumerate(writer.parts):
                    batch_id = raw_batch_id(obj.uri, fetched.checksum, number)
                    batches.append(batch_id)
                    if _write_part(store, raw_key(dataset, batch_id), path):
                        new_batches.append(batch_id)
                        announce(
                            BATCH_COLLECTED,
                            dataset_resource(dataset),
                            {"batch_id": batch_id, "rows": rows, "source": obj.uri},
                        )
            entry = ManifestEntry(
                uri=obj.uri,
                status="collected",
                version=obj.version,
                size=obj.size if obj.size is not None else fetched.path.stat().st_size,
                checksum=fetched.checksum,
                batches=batches,
                rows=first_row,
                attempts=(prior.attempts if prior else 0) + 1,
                updated_at=collected_at,
            )
    except Exception as exc:  # one file's failure is recorded against it; the run goes on
        return _failed(obj, prior, exc, collected_at, logger)
    logger.info("%s: %d row(s) in %d batch(es)", obj.uri, entry.rows, len(entry.batches))
    return ObjectOutcome(
        entry=entry, new_batches=new_batches, new_rows=first_row if new_batches else 0
    )


@task(name="collect-image-files")
def collect_image_files(
    objs: list[SourceObject],
    *,
    dataset: str,
    store: DataStore,
    priors: dict[str, ManifestEntry],
    collected_at: datetime,
    s3_sources: dict[str, S3Source] | None = None,
    s3_credentials: DataStore | None = None,
    options: ImageOptions | None = None,
) -> list[ObjectOutcome]:
    """Copy a group of images into the store and write one raw batch describing them.

    Each image becomes one row (store key, size, SHA-256 checksum, width, height, format
    and provenance). Images are handled in groups so a run has one task per group, not
    one per image.

    Args:
        objs: the image files of this group.
        dataset: data set name.
        store: where bytes and the raw batch go.
        priors: manifest entries from earlier runs by URI.
        collected_at: the run's collection time.
        s3_sources: S3 sources by bucket.
        s3_credentials: a DataStore block with the S3 keys.
        options: limits on bytes and pixels per image.

    Returns:
        One outcome per image; an image that is unreadable, truncated, over a limit or
        fails in any other way while read is a ``failed`` entry; the others go through.
    """
    logger = get_run_logger()
    limits = options or ImageOptions()
    records: list[dict[str, object]] = []
    done: list[tuple[SourceObject, str, int]] = []
    outcomes: dict[str, ObjectOutcome] = {}
    clients: dict[str, Any] = {}
    for obj in objs:
        source_s3 = _s3_source_of(obj, s3_sources or {})
        bucket = source_s3.bucket if source_s3 else ""
        if source_s3 is not None and bucket not in clients:
            clients[bucket] = _client_for(source_s3, s3_credentials)
        prior = priors.get(obj.uri)
        try:
            with fetch(obj, s3_client=clients.get(bucket), max_bytes=limits.max_bytes) as fetched:
                if unchanged(prior, fetched.checksum):
                    entry = prior.model_copy(
                        update={"version": obj.version, "updated_at": collected_at}
                    )
                    outcomes[obj.uri] = ObjectOutcome(entry=entry, unchanged=True)
                    continue
                data = fetched.path.read_bytes()
            record = image_record(obj.uri, data, max_pixels=limits.max_pixels)
        except Exception as exc:  # one image's failure is recorded against it; the group goes on
            outcomes[obj.uri] = _failed(obj, prior, exc, collected_at, logger)
            continue
        suffix = Path(obj.name).suffix.lower()
        key = raw_file_key(dataset, record["checksum"], suffix)
        if not store.exists(key):
            store.write_bytes(key, data)
        record["key"] = key
        records.append(record)
        done.append((obj, str(record["checksum"]), len(data)))
    if records:
        frame = image_frame(records)
        uris = [obj.uri for obj, _, _ in done]
        frame = with_provenance(frame, source="", collected_at=collected_at, first_row=0)
        frame[SOURCE_COLUMN] = pd.Series(uris, dtype="str")
        group_checksum = _group_checksum([c for _, c, _ in done])
        batch_id = raw_batch_id("images:" + uris[0], group_checksum, 0)
        with tempfile.TemporaryDirectory(prefix="labelloop-raw-") as folder:
            path = Path(folder) / "images.parquet"
            frame.to_parquet(path, index=False)
            written = _write_part(store, raw_key(dataset, batch_id), path)
        if written:
            announce(
                BATCH_COLLECTED,
                dataset_resource(dataset),
                {"batch_id": batch_id, "rows": len(frame), "source": "images"},
            )
        for obj, checksum, size in done:
            prior = priors.get(obj.uri)
            entry = ManifestEntry(
                uri=obj.uri,
                status="collected",
                version=obj.version,
                size=size,
                checksum=checksum,
                batches=[batch_id],
                rows=1,
                attempts=(prior.attempts if prior else 0) + 1,
                updated_at=collected_at,
            )
            outcomes[obj.uri] = ObjectOutcome(
                entry=entry, new_batches=[batch_id] if written else [], new_rows=1 if written else 0
            )
    logger.info(
        "images: %d collected, %d failed",
        len(done),
        sum(o.entry.status == "failed" for o in outcomes.values()),
    )
    return [outcomes[obj.uri] for obj in objs]


def _group_checksum(checksums: list[str]) -> str:
    return hashlib.sha256("".join(sorted(checksums)).encode()).hexdigest()
