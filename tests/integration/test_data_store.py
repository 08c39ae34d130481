"""Contract: the DataStore API behaves the same on a local folder and a real S3 server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import BlockDocumentCreate
from prefect_aws import AwsCredentials, MinIOCredentials

from blocks import DataStore
from blocks.data_store import MissingKeyError
from stack import control
from tests.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> DataStore:
    if request.param == "local":
        return DataStore(base_path=str(tmp_path / "store"))
    stack: Stack = request.getfixturevalue("stack")
    return stack.s3_store(prefix=f"tests/{unique}")


def test_parquet_round_trip(store: DataStore) -> None:
    frame = pd.DataFrame(
        {"item_id": ["a", "b", "c"], "x": [1.5, None, 3.0], "label": ["pos", None, "neg"]}
    )
    store.write_parquet("clean/demo/b1.parquet", frame)
    pd.testing.assert_frame_equal(store.read_parquet("clean/demo/b1.parquet"), frame)
    pd.testing.assert_frame_equal(
        store.read_parquet("clean/demo/b1.parquet", columns=["label"]), frame[["label"]]
    )


def test_list_exists_delete(store: DataStore) -> None:
    for key in ["raw/d/2.parquet", "raw/d/1.parquet", "raw/e/1.parquet", "state/w.json"]:
        store.write_bytes(key, b"x")
    assert store.list_keys("raw/d/") == ["raw/d/1.parquet", "raw/d/2.parquet"]
    assert store.list_keys() == sorted(
        ["raw/d/1.parquet", "raw/d/2.parquet", "raw/e/1.parquet", "state/w.json"]
    )
    assert store.exists("raw/e/1.parquet") and not store.exists("raw/e/2.parquet")
    store.delete("raw/e/1.parquet")
    assert not store.exists("raw/e/1.parquet")


def test_replace_json_and_missing_keys(store: DataStore) -> None:
    store.replace_json("models/m/champion.json", {"version": "v1"})
    store.replace_json("models/m/champion.json", {"version": "v2"})
    assert store.read_json("models/m/champion.json") == {"version": "v2"}
    with pytest.raises(MissingKeyError, match="models/m/none.json"):
        store.read_json("models/m/none.json")
    with pytest.raises(MissingKeyError, match="nothing.parquet"):
        store.read_parquet("nothing.parquet")


@pytest.mark.parametrize("key", ["", "/abs/key", "a/../b", "dir/", "a\\b"])
def test_bad_keys_are_refused(store: DataStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.write_bytes(key, b"x")


@pytest.mark.parametrize("written", ["a//b.json", "./a/b.json", "a/./b.json"])
def test_keys_are_normalised(store: DataStore, written: str) -> None:
    store.write_bytes(written, b"x")
    assert store.list_keys("a/") == ["a/b.json"]
    assert store.read_bytes("a/b.json") == b"x"


def test_read_many_keeps_the_order_and_names_a_missing_key(store: DataStore) -> None:
    keys = [f"raw/d/files/{n}.png" for n in range(300)]  # more than one S3 read window
    for n, key in enumerate(keys):
        store.write_bytes(key, str(n).encode())
    assert [int(data) for data in store.read_many(list(reversed(keys)))] == list(range(299, -1, -1))
    assert list(store.read_many([])) == []
    files = store.read_many([keys[0], "raw/d/files/none.png", keys[1]])
    assert next(files) == b"0"
    with pytest.raises(MissingKeyError, match="none.png"):
        next(files)


def test_s3_objects_are_really_on_the_server(stack: Stack, unique: str) -> None:
    store = stack.s3_store(prefix=f"tests/{unique}")
    store.write_bytes("raw/d/1.bin", b"hello")
    client = control.s3_client(stack.settings, stack.credentials)
    listed = client.list_objects_v2(Bucket=stack.settings.s3_bucket, Prefix=f"tests/{unique}/")  # type: ignore[attr-defined]
    assert [o["Key"] for o in listed["Contents"]] == [f"tests/{unique}/raw/d/1.bin"]
    assert "s3://labelloop/tests/" in store.describe()


def test_s3_error_names_the_object(stack: Stack, unique: str) -> None:
    good = stack.s3_store(prefix=f"tests/{unique}")
    bad = good.model_copy(update={"bucket": f"missing-{unique}"})
    with pytest.raises(OSError, match=f"s3://missing-{unique}/tests/{unique}/raw/x"):
        bad.write_bytes("raw/x", b"x")


def test_named_resolves_a_saved_block_or_the_local_default(
    stack: Stack, prefect_server: str
) -> None:
    assert DataStore.named(None).base_path == DataStore().base_path
    saved = DataStore.named("local-s3")
    assert saved.bucket == stack.settings.s3_bucket
    assert saved.endpoint_url == stack.settings.s3_endpoint_url


def _delete_block(name: str) -> None:
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, DataStore.get_block_type_slug())
        client.delete_block_document(document.id)


def _round_trip(store: DataStore) -> bytes:
    store.write_bytes("raw/d/keys.bin", b"through the credentials block")
    return store.read_bytes("raw/d/keys.bin")


def test_a_store_saved_with_minio_credentials_loads_and_reaches_s3(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    keys = control.s3_credentials(stack.credentials)
    secret = keys.aws_secret_access_key
    assert secret is not None
    saved = DataStore(
        bucket=stack.settings.s3_bucket,
        prefix=f"tests/{unique}",
        endpoint_url=stack.settings.s3_endpoint_url,
        credentials=MinIOCredentials(
            minio_root_user=keys.aws_access_key_id or "", minio_root_password=secret
        ),
    )
    saved.save(unique)
    try:
        loaded = DataStore.load(unique)
        assert isinstance(loaded.credentials, MinIOCredentials)
        assert _round_trip(loaded) == b"through the credentials block"
    finally:
        _delete_block(unique)


def test_a_store_saved_with_the_earlier_key_fields_still_loads(
    stack: Stack, prefect_server: str, unique: str
) -> None:
    # A block document as earlier versions saved it: the keys as fields of the store.
    keys = control.s3_credentials(stack.credentials)
    secret = keys.aws_secret_access_key
    assert secret is not None
    DataStore.register_type_and_schema()
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug(DataStore.get_block_type_slug())
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
        assert schema is not None
        client.create_block_document(
            BlockDocumentCreate(
                name=unique,
                block_type_id=block_type.id,
                block_schema_id=schema.id,
                data={
                    "base_path": ".labelloop/data",
                    "bucket": stack.settings.s3_bucket,
                    "prefix": f"tests/{unique}",
                    "endpoint_url": stack.settings.s3_endpoint_url,
                    "region_name": "us-east-1",
                    "aws_access_key_id": keys.aws_access_key_id,
                    "aws_secret_access_key": secret.get_secret_value(),
                    "trusted_types": [],
                },
            )
        )
    try:
        loaded = DataStore.load(unique)
        assert isinstance(loaded.credentials, AwsCredentials)
        assert loaded.credentials.aws_access_key_id == keys.aws_access_key_id
        assert _round_trip(loaded) == b"through the credentials block"
    finally:
        _delete_block(unique)

