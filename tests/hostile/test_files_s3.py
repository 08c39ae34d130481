"""Hostile objects in an S3 bucket (the stack's moto server), collected into an S3 store.

Each case puts one hostile object beside good ones under a fresh prefix and runs the
real collect and cleanse flows on the stack's Prefect server: the hostile object fails
alone (or goes through under content-derived keys only), every good object is
collected, and raw rows = clean + quarantined + duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from collection.sources import S3Source
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect, load_manifest
from stack import control
from tests.conftest import Stack
from tests.flows.helpers import IRIS_SCHEMA, digit_png, read_all
from tests.hostile import files

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class S3Case:
    """One hostile object: its key under the case's prefix, its bytes, what must happen."""

    id: str
    dataset: str
    key: str
    make: Callable[[], bytes]
    must: str
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


GOOD: dict[str, dict[str, Callable[[], bytes]]] = {
    "iris": {"good.csv": files.iris_csv},
    "digits": {f"{d}.png": (lambda d=d: digit_png(d)) for d in range(3)},
}
CASES = [
    S3Case(
        "decompression-bomb",
        "digits",
        "bomb.png",
        lambda: files.png_declaring(20_000, 20_000),
        "a PNG declaring 20000x20000 pixels, downloaded from S3, fails alone",
        r"bomb\.png: .*more pixels than max_image_pixels=40,000,000",
    ),
    S3Case(
        "reserved-provenance-header",
        "iris",
        "provenance.csv",
        files.reserved_provenance_header,
        "a header with the provenance columns fails alone, naming the object and column",
        r"provenance\.csv: column '_source' is reserved",
    ),
    S3Case(
        "larger-than-max-file-bytes",
        "iris",
        "big.csv",
        lambda: b"a,b\n" + b"1,2\n" * 10_000,
        "an object over max_file_bytes is refused from its listed size, never downloaded",
        r"big\.csv: 40,004 bytes, more than max_file_bytes=16,384",
        params={"max_file_bytes": 16_384},
    ),
    S3Case(
        "dot-dot-key",
        "iris",
        "sub/../evil.csv",
        files.iris_csv,
        "a key with .. segments is collected under content-derived keys only",
    ),
    S3Case(
        "backslash-key",
        "iris",
        "a\\..\\..\\evil.csv",
        files.iris_csv,
        "a key with backslashes is collected under content-derived keys only",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_s3_object(case: S3Case, stack: Stack, unique: str, prefect_server: str) -> None:
    client = control.s3_client(stack.settings, stack.credentials)
    bucket = stack.settings.s3_bucket
    incoming = f"incoming/{unique}/"
    for name, make in GOOD[case.dataset].items():
        client.put_object(Bucket=bucket, Key=incoming + name, Body=make())
    client.put_object(Bucket=bucket, Key=incoming + case.key, Body=case.make())
    store = stack.s3_store(prefix=f"tests/{unique}/store")
    source = S3Source(bucket=bucket, prefix=incoming, endpoint_url=stack.settings.s3_endpoint_url)
    schema = {"schema_path": IRIS_SCHEMA} if case.dataset == "iris" else {}
    try:
        collected = collect(
            CollectParams(dataset=case.dataset, sources=[source], **schema, **case.params),
            store=store,
            s3_credentials=store,
        )
        manifest = load_manifest(store, case.dataset)
        hostile = [uri for uri in manifest.entries if not uri.endswith(tuple(GOOD[case.dataset]))]
        assert len(hostile) == 1, manifest.entries.keys()
        if case.error is None:
            assert collected.failed == {}, case.must
        else:
            assert list(collected.failed) == hostile, case.must
            assert re.search(case.error, collected.failed[hostile[0]]), collected.failed
        for name in GOOD[case.dataset]:
            assert manifest.entries[f"s3://{bucket}/{incoming}{name}"].status == "collected"
        for key in store.list_keys(""):
            assert re.fullmatch(
                r"(raw|clean|quarantine|duplicates|state|monitoring)/[a-z0-9_./-]+", key
            ), key
            assert ".." not in key.split("/")
        result = cleanse(
            CleanseParams(dataset=case.dataset, **schema), store=store
        )  # the shipped schema for digits
        raw_rows = len(read_all(store, f"raw/{case.dataset}/"))
        assert raw_rows == result.total.rows_in
        for report in result.batches:
            assert report.rows_in == report.clean + report.quarantined + report.duplicates
    finally:
        for item in client.list_objects_v2(Bucket=bucket, Prefix=incoming).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        for key in store.list_keys(""):
            store.delete(key)
