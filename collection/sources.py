"""Typed sources (local glob, HTTP URLs, S3 prefix): listing objects and fetching them.

A fetched object is a local file (the original for local sources, a temporary copy for
HTTP and S3), so readers can stream it chunk by chunk with bounded memory.
"""

from __future__ import annotations

import glob
import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cleansing.errors import SourceReadError
from cleansing.readers import IMAGE_SUFFIXES, TABLE_SUFFIXES

SUPPORTED_SUFFIXES = frozenset(IMAGE_SUFFIXES | set(TABLE_SUFFIXES))
_COPY_BYTES = 1 << 20


class LocalSource(BaseModel):
    """Files on this machine: a file, a folder (every supported file below it) or a glob."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["local"] = "local"
    path: str = Field(min_length=1, description="A file, a folder or a glob like 'data/*.csv'.")


class HttpSource(BaseModel):
    """Files served over HTTP(S), one URL each."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["http"] = "http"
    urls: list[HttpUrl] = Field(min_length=1, description="URLs of the files to collect.")
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")


class S3Source(BaseModel):
    """Objects under a prefix of an S3 bucket (AWS or any S3-compatible endpoint).

    Credentials never appear here: they come from a DataStore block (see the collect
    flow's ``s3_credentials_block``) or boto3's default chain.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, description="Bucket name.")
    prefix: str = Field(default="", description="Key prefix; every supported object below it.")
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint; None for AWS."
    )
    region_name: str = Field(default="us-east-1", description="Region.")


Source = Annotated[LocalSource | HttpSource | S3Source, Field(discriminator="kind")]


class SourceObject(BaseModel):
    """One file to collect, as listed (before reading it)."""

    model_config = ConfigDict(frozen=True)

    uri: str = Field(description="Absolute path, URL, or s3://bucket/key: the manifest key.")
    name: str = Field(description="File name with suffix (decides the reader).")
    size: int | None = Field(default=None, description="Bytes, if the listing tells.")
    version: str | None = Field(
        default=None,
        description="Cheap change marker from the listing (mtime+size, ETag); None if unknown.",
    )


def _supported(name: str) -> bool:
    return Path(name.split("?", 1)[0]).suffix.lower() in SUPPORTED_SUFFIXES


def list_local(source: LocalSource) -> list[SourceObject]:
    """Supported files matching a local path, folder or glob.

    Args:
        source: the local source.

    Returns:
        Objects sorted by path.

    Raises:
        SourceReadError: if nothing matches the path.
    """
    base = Path(source.path).expanduser()
    if base.is_dir():
        paths = [p for p in base.rglob("*") if p.is_file()]
    elif base.is_file():
        paths = [base]
    else:
        paths = [Path(p) for p in glob.glob(str(base), recursive=True) if Path(p).is_file()]
    if not paths:
        raise SourceReadError(source.path, "no file matches this path")
    objects = []
    for path in sorted(p.resolve() for p in paths):
        if not _supported(path.name) or path.name.startswith("."):
            continue
        stat = path.stat()
        objects.append(
            SourceObject(
                uri=str(path),
                name=path.name,
                size=stat.st_size,
                version=f"{stat.st_size}:{stat.st_mtime_ns}",
            )
        )
    return objects


def list_http(source: HttpSource) -> list[SourceObject]:
    """One object per URL (HTTP listings are not standard; the content decides changes).

    Args:
        source: the HTTP source.

    Returns:
        Objects in the given order.
    """
    return [
        SourceObject(uri=str(url), name=Path(url.path or "").name or "index", version=None)
        for url in source.urls
    ]


def list_s3(source: S3Source, client: Any) -> list[SourceObject]:
    """Supported objects under the prefix, with their ETags.

    Args:
        source: the S3 source.
        client: a boto3 S3 client.

    Returns:
        Objects sorted by key.

    Raises:
        SourceReadError: naming the bucket/prefix on an S3 error (access denied, no bucket).
    """
    where = f"s3://{source.bucket}/{source.prefix}"
    objects = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=source.bucket, Prefix=source.prefix
        ):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/") or not _supported(key):
                    continue
                objects.append(
                    SourceObject(
                        uri=f"s3://{source.bucket}/{key}",
                        name=Path(key).name,
                        size=int(item["Size"]),
                        version=str(item.get("ETag", "")).strip('"') or None,
                    )
                )
    except (ClientError, BotoCoreError) as exc:
        raise SourceReadError(where, f"cannot list: {exc}") from exc
    return sorted(objects, key=lambda o: o.uri)


def check_file_size(uri: str, size: int | None, max_bytes: int | None) -> None:
    """Refuse a file larger than ``max_bytes``.

    Args:
        uri: the file named in the error.
        size: its size in bytes, if known.
        max_bytes: the limit; None = no limit.

    Raises:
        SourceReadError: naming the file, its size and the limit.
    """
    if max_bytes is not None and size is not None and size > max_bytes:
        raise SourceReadError(uri, f"{size:,} bytes, more than {_limit_name(uri)}={max_bytes:,}")


def _limit_name(uri: str) -> str:
    suffix = Path(uri.split("?", 1)[0]).suffix.lower()
    return "max_image_bytes" if suffix in IMAGE_SUFFIXES else "max_file_bytes"


def _copy_hashing(
    reader: IO[bytes], writer: IO[bytes], uri: str = "", max_bytes: int | None = None
) -> str:
    digest = hashlib.sha256()
    copied = 0
    while block := reader.read(_COPY_BYTES):
        copied += len(block)
        if max_bytes is not None and copied > max_bytes:  # a stream that never said its size
            raise SourceReadError(
                uri, f"more than {_limit_name(uri)}={max_bytes:,} bytes, stopped reading"
            )
        digest.update(block)
        writer.write(block)
    return digest.hexdigest()


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, read in blocks.

    Args:
        path: the file.

    Returns:
        Hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_COPY_BYTES):
            digest.update(block)
    return digest.hexdigest()


class FetchedObject(BaseModel):
    """A source object available as a local file."""

    path: Path
    checksum: str


@contextmanager
def fetch(
    obj: SourceObject,
    *,
    s3_client: Any = None,
    timeout_s: float = 60.0,
    max_bytes: int | None = None,
) -> Iterator[FetchedObject]:
    """Make an object readable as a local file (a temporary copy for HTTP and S3).

    Args:
        obj: the listed object.
        s3_client: a boto3 S3 client, for ``s3://`` objects.
        timeout_s: HTTP timeout.
        max_bytes: a larger object is refused: from its listed or local size before
            reading, or as soon as a download passes it.

    Yields:
        The local file and its SHA-256; temporary copies are removed afterwards.

    Raises:
        SourceReadError: naming the URI on HTTP errors (404, 500, ...), S3 errors,
            unreadable local files or more than ``max_bytes``.
    """
    check_file_size(obj.uri, obj.size, max_bytes)
    if obj.uri.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="labelloop-fetch-") as folder:
            target = Path(folder) / "object"
            try:
                with (
                    urllib.request.urlopen(obj.uri, timeout=timeout_s) as response,
                    target.open("wb") as out,
                ):
                    checksum = _copy_hashing(response, out, obj.uri, max_bytes)
            except urllib.error.HTTPError as exc:
                raise SourceReadError(obj.uri, f"HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise SourceReadError(obj.uri, f"cannot fetch: {exc}") from exc
            yield FetchedObject(path=target, checksum=checksum)
    elif obj.uri.startswith("s3://"):
        if s3_client is None:
            raise SourceReadError(obj.uri, "an S3 client is needed to fetch s3:// objects")
        bucket, _, key = obj.uri[len("s3://") :].partition("/")
        with tempfile.TemporaryDirectory(prefix="labelloop-fetch-") as folder:
            target = Path(folder) / "object"
            try:
                response = s3_client.get_object(Bucket=bucket, Key=key)
                with target.open("wb") as out:
                    checksum = _copy_hashing(response["Body"], out, obj.uri, max_bytes)
            except (ClientError, BotoCoreError) as exc:
                raise SourceReadError(obj.uri, f"S3 error: {exc}") from exc
            yield FetchedObject(path=target, checksum=checksum)
    else:
        path = Path(obj.uri)
        try:
            check_file_size(obj.uri, path.stat().st_size, max_bytes)
            checksum = file_checksum(path)
        except OSError as exc:
            raise SourceReadError(obj.uri, f"cannot read: {exc}") from exc
        yield FetchedObject(path=path, checksum=checksum)


def copy_file(path: Path, target: IO[bytes]) -> None:
    """Copy a local file into an open binary file in blocks.

    Args:
        path: the source file.
        target: the destination.
    """
    with path.open("rb") as handle:
        shutil.copyfileobj(handle, target, _COPY_BYTES)
