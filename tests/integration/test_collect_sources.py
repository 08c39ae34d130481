"""Collect from real servers: a local HTTP server started here and the stack's S3 server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks import DataStore
from collection.sources import HttpSource, S3Source
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect
from stack import control
from tests.conftest import Stack
from tests.flows.helpers import (
    DIGITS_SCHEMA,
    IRIS_SCHEMA,
    digit_png,
    iris_frame,
    read_all,
    snapshot,
)

pytestmark = pytest.mark.integration


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/broken"):
            self.send_error(500, "server on fire")
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A stdlib HTTP server on a free loopback port, serving a temporary folder."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_collect_over_http_is_idempotent_and_reports_http_errors(
    http_root: tuple[Path, str], tmp_path: Path, prefect_server: str
) -> None:
    root, base = http_root
    iris_frame().to_csv(root / "iris.csv", index=False)
    source = HttpSource(urls=[f"{base}/iris.csv", f"{base}/missing.csv", f"{base}/broken/x.csv"])
    store = DataStore(base_path=str(tmp_path / "store"))
    params = CollectParams(dataset="iris", sources=[source], schema_path=IRIS_SCHEMA)

    first = collect(params, store=store)
    assert first.new_files == 1 and first.new_rows == 150
    assert "HTTP 404" in first.failed[f"{base}/missing.csv"]
    assert "HTTP 500" in first.failed[f"{base}/broken/x.csv"]

    raw_before = {k: v for k, v in snapshot(store).items() if k.startswith("raw/")}
    second = collect(params, store=store)
    assert second.message.startswith("iris: 0 new")
    assert {k: v for k, v in snapshot(store).items() if k.startswith("raw/")} == raw_before

    iris_frame(seed=3).to_csv(root / "iris.csv", index=False)  # the file changed upstream
    assert collect(params, store=store).new_files == 1
    result = cleanse(CleanseParams(dataset="iris", schema_path=IRIS_SCHEMA), store=store)
    for report in result.batches:
        assert report.rows_in == report.clean + report.quarantined + report.duplicates
    assert result.total.rows_in == 300


def test_collect_from_s3_incrementally_into_an_s3_store(
    stack: Stack, unique: str, prefect_server: str
) -> None:
    client = control.s3_client(stack.settings, stack.credentials)
    bucket = stack.settings.s3_bucket
    incoming = f"incoming/{unique}/"
    for index in range(5):
        client.put_object(Bucket=bucket, Key=f"{incoming}{index}.png", Body=digit_png(index))
    client.put_object(Bucket=bucket, Key=f"{incoming}truncated.png", Body=digit_png(9)[:30])
    store = stack.s3_store(prefix=f"tests/{unique}/store")
    source = S3Source(bucket=bucket, prefix=incoming, endpoint_url=stack.settings.s3_endpoint_url)
    params = CollectParams(dataset="digits", sources=[source])
    try:
        first = collect(params, store=store, s3_credentials=store)
        assert first.new_rows == 5
        assert list(first.failed) == [f"s3://{bucket}/{incoming}truncated.png"]
        raw = read_all(store, "raw/digits/")
        assert sorted(raw["_source"]) == sorted(
            f"s3://{bucket}/{incoming}{i}.png" for i in range(5)
        )

        client.put_object(
            Bucket=bucket, Key=f"{incoming}truncated.png", Body=digit_png(9)
        )  # re-uploaded whole
        keys_before = store.list_keys("raw/")
        second = collect(params, store=store, s3_credentials=store)
        assert (second.new_rows, second.failed) == (1, {})
        assert len(store.list_keys("raw/")) == len(keys_before) + 2  # one batch + one image file

        third = collect(params, store=store, s3_credentials=store)
        assert third.message == "digits: 0 new"
        assert store.list_keys("raw/") == sorted(
            [*keys_before, *set(store.list_keys("raw/")) - set(keys_before)]
        )

        result = cleanse(CleanseParams(dataset="digits", schema_path=DIGITS_SCHEMA), store=store)
        assert result.total.clean == 6 and result.total.quarantined == 0
    finally:
        for key in client.list_objects_v2(Bucket=bucket, Prefix=f"incoming/{unique}/").get(
            "Contents", []
        ):
            client.delete_object(Bucket=bucket, Key=key["Key"])
        for key in store.list_keys():
            store.delete(key)


def test_s3_access_error_names_the_bucket_and_other_sources_go_on(
    stack: Stack, unique: str, prefect_server: str, tmp_path: Path
) -> None:
    store = DataStore(base_path=str(tmp_path / "store"))
    denied = S3Source(
        bucket=f"no-such-bucket-{unique}", prefix="x/", endpoint_url=stack.settings.s3_endpoint_url
    )
    local = tmp_path / "local"
    local.mkdir()
    iris_frame().to_csv(local / "iris.csv", index=False)
    params = CollectParams(dataset="iris", sources=[denied, {"kind": "local", "path": str(local)}])
    result = collect(params, store=store, s3_credentials=stack.s3_store(prefix="unused"))
    assert result.new_rows == 150
    (where,) = result.failed
    assert where == f"s3://no-such-bucket-{unique}/x/"
    assert "NoSuchBucket" in result.failed[where]
