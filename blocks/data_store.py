"""Where labelloop keeps its data: a local folder or an S3 bucket and prefix."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

import pandas as pd
from botocore.exceptions import ClientError
from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from pydantic import Field, field_validator, model_validator

from blocks.s3 import S3Credentials, credentials_from_data, s3_client

# The fields that held the S3 keys before the `credentials` block (still accepted).
LEGACY_KEY_FIELDS = ("aws_access_key_id", "aws_secret_access_key")
READ_MANY_WORKERS = 16  # concurrent GETs of DataStore.read_many on S3
READ_MANY_WINDOW = 256  # keys read ahead of the consumer at most


def default_local_path() -> str:
    """The local default store: `$LABELLOOP_HOME/data` (`.labelloop/data` when unset), as
    an absolute path fixed when the store is made, so a run never follows a later change
    of the working directory; `labelloop stack env` exports the stack's `LABELLOOP_HOME`,
    so a script run from any folder writes where the stack's flows do."""
    home = Path(os.environ.get("LABELLOOP_HOME") or ".labelloop").expanduser()
    return str((home / "data").resolve())


class MissingKeyError(FileNotFoundError):
    """The store holds no object under that key."""


def check_key(key: str) -> str:
    """A store key is a relative POSIX path without `..`, e.g. `raw/digits/b1.parquet`.

    Raises:
        ValueError: naming the key that is not one.
    """
    parts = key.split("/")
    if "\\" not in key and "" not in parts and "." not in parts and ".." not in parts:
        return key  # already a normalised relative path: the common case, without pathlib
    path = PurePosixPath(key)
    if not key or key.endswith("/") or path.is_absolute() or ".." in path.parts or "\\" in key:
        raise ValueError(
            f"invalid store key {key!r}: use a relative path like 'raw/name/batch.parquet'"
        )
    return str(path)


class _Backend(Protocol):
    def read_bytes(self, key: str) -> bytes: ...
    def read_many(self, keys: Sequence[str]) -> Iterator[bytes]: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def open_read(self, key: str) -> Any: ...


class _LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            with open(os.path.join(self.root, check_key(key)), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise MissingKeyError(f"no object {key!r} in {self.root}") from None

    def read_many(self, keys: Sequence[str]) -> Iterator[bytes]:
        # A local read is a few microseconds of system call: threads would only add work.
        return (self.read_bytes(key) for key in keys)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list_keys(self, prefix: str) -> list[str]:
        if not self.root.exists():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise MissingKeyError(f"no object {key!r} in {self.root}") from None
        with handle:
            yield handle


class _S3Backend:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _object(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object(key)}"

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            raise _s3_error(error, self._where(key)) from None
        return response["Body"].read()

    def read_many(self, keys: Sequence[str]) -> Iterator[bytes]:
        # Each GET waits on the network: READ_MANY_WORKERS at a time, a window at a time
        # (memory stays bounded when the consumer is slower than the reads).
        with ThreadPoolExecutor(max_workers=READ_MANY_WORKERS) as pool:
            for start in range(0, len(keys), READ_MANY_WINDOW):
                yield from pool.map(self.read_bytes, keys[start : start + READ_MANY_WINDOW])

    def write_bytes(self, key: str, data: bytes) -> None:
        # One PUT replaces an object atomically: readers see the old or the new bytes.
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        except ClientError as error:
            raise _s3_error(error, self._where(key)) from None

    def list_keys(self, prefix: str) -> list[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=root + prefix):
                keys.extend(item["Key"][len(root) :] for item in page.get("Contents", []))
        except ClientError as error:
            raise _s3_error(error, f"s3://{self.bucket}/{root}{prefix}") from None
        return sorted(keys)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise _s3_error(error, self._where(key)) from None
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            raise _s3_error(error, self._where(key)) from None

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as handle:
            try:
                self.client.download_fileobj(self.bucket, self._object(key), handle)
            except ClientError as error:
                raise _s3_error(error, self._where(key)) from None
            handle.seek(0)
            yield handle  # type: ignore[misc]


def _s3_error(error: ClientError, where: str) -> Exception:
    """A short error naming the object; botocore's own message carries no secret."""
    code = error.response.get("Error", {}).get("Code", "")
    if code in {"404", "NoSuchKey", "NotFound"}:
        return MissingKeyError(f"no object at {where}")
    return OSError(f"S3 error {code or 'unknown'} at {where}: {error}")


class DataStore(Block):
    """Where labelloop keeps raw, clean, quarantined and labelled data, models and state.

    A local folder by default, or an S3 bucket and prefix (any S3-compatible server
    through `endpoint_url`). Both offer the same small API. The S3 keys live in a
    prefect-aws credentials block (`AwsCredentials` or `MinIOCredentials`), as in
    prefect-aws's `S3Bucket.credentials`; a block saved with the earlier
    `aws_access_key_id` / `aws_secret_access_key` fields loads with them moved into an
    `AwsCredentials`.

    Example:
        ```python
        from blocks import DataStore

        store = DataStore.load("local")
        store.write_parquet("clean/digits/b1.parquet", frame)
        store.list_keys("clean/digits/")

        from prefect_aws import AwsCredentials
        DataStore(bucket="labelloop", credentials=AwsCredentials.load("team-keys")).save("s3")
        ```
    """

    _block_type_name = "Data Store"
    _block_type_slug = "labelloop-data-store"
    _description = "A local folder or an S3 bucket + prefix holding labelloop's data."

    base_path: str = Field(
        default_factory=default_local_path,
        description=(
            "Local folder used when no bucket is set; by default $LABELLOOP_HOME/data "
            "(.labelloop/data when unset), made absolute."
        ),
    )
    bucket: str | None = Field(default=None, description="S3 bucket; set it to store in S3.")
    prefix: str = Field(default="", description="Key prefix inside the bucket.")
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None for AWS."
    )
    region_name: str = Field(
        default="us-east-1", description="S3 region, when the credentials block names none."
    )
    credentials: S3Credentials | None = Field(
        default=None,
        description=(
            "An AWS or MinIO credentials block (prefect-aws) with the S3 keys; None uses "
            "boto3's default credential chain."
        ),
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description=(
            "Types the model loader trusts on top of skops' and labelloop's own, for models "
            "fitted with your own estimator (e.g. 'mypkg.models.MyClassifier'). An "
            "administrator's setting: no run parameter widens it."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _keys_into_credentials(cls, data: Any) -> Any:
        """Blocks saved before the credentials field held the keys themselves: those
        fields become an `AwsCredentials` (nothing to migrate on the server). A block
        that has a credentials block uses it: re-saving an earlier block with this
        version keeps the earlier fields in the document (Prefect merges on overwrite)."""
        if not isinstance(data, dict) or not {*LEGACY_KEY_FIELDS} & data.keys():
            return data
        data = dict(data)
        key_id, secret = (data.pop(field, None) for field in LEGACY_KEY_FIELDS)
        if data.get("credentials") is None and (key_id or secret):
            data["credentials"] = AwsCredentials(
                aws_access_key_id=key_id, aws_secret_access_key=secret
            )
        return data

    @field_validator("credentials", mode="before")
    @classmethod
    def _credentials_block(cls, value: Any) -> Any:
        return credentials_from_data(value)

    @cached_property
    def _backend(self) -> _Backend:
        if self.bucket is None:
            return _LocalBackend(Path(self.base_path).expanduser())
        client = s3_client(
            self.credentials, endpoint_url=self.endpoint_url, region_name=self.region_name
        )
        return _S3Backend(client, self.bucket, self.prefix)

    @classmethod
    def named(cls, block: str | None) -> DataStore:
        """The DataStore block saved under `block`, or the local default folder for None.

        Every flow resolves its `store_block` parameter this way, so a flow run as a plain
        script with no blocks saved still has a store.
        """
        return cls.load(block) if block else cls()

    def describe(self) -> str:
        """Where the data lives, without any secret."""
        if self.bucket is None:
            return str(Path(self.base_path).expanduser().resolve())
        where = f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
        return f"{where} ({self.endpoint_url})" if self.endpoint_url else where

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes.

        Raises:
            MissingKeyError: nothing stored under the key.
        """
        return self._backend.read_bytes(key)

    def read_many(self, keys: Sequence[str]) -> Iterator[bytes]:
        """The objects' bytes, one after the other in the order of ``keys``; on S3 several
        are fetched at a time (``READ_MANY_WORKERS``), so a batch of small files (images)
        does not wait for one round trip per file.

        Args:
            keys: store keys.

        Returns:
            An iterator of the bytes, in the order of ``keys``.

        Raises:
            MissingKeyError: when the iteration reaches a key with no object (names it).
        """
        return self._backend.read_many(keys)

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store bytes under the key, replacing any object atomically."""
        self._backend.write_bytes(key, data)

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A parquet object as a DataFrame (optionally only some columns)."""
        with self.open_read(key) as handle:
            return pd.read_parquet(handle, columns=columns)

    def write_parquet(self, key: str, frame: pd.DataFrame) -> None:
        """Store a DataFrame as parquet (without the pandas index)."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        self.write_bytes(key, buffer.getvalue())

    def open_read(self, key: str) -> Any:
        """A context manager yielding a seekable binary file with the object's bytes."""
        return self._backend.open_read(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys that start with the prefix, relative to the store's root."""
        return self._backend.list_keys(prefix)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        return self._backend.exists(key)

    def read_json(self, key: str) -> Any:
        """A JSON document.

        Raises:
            MissingKeyError: nothing stored under the key.
        """
        return json.loads(self.read_bytes(key))

    def replace_json(self, key: str, document: Any) -> None:
        """Atomically replace a small JSON document (pointers, watermarks, manifests)."""
        self.write_bytes(key, json.dumps(document, sort_keys=True, default=str).encode())

    def delete(self, key: str) -> None:
        """Remove the object under the key; no error if there is none."""
        self._backend.delete(key)
