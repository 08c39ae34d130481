"""A boto3 S3 client for a source, from plain values (credentials come from a block)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from collection.sources import S3Source


def s3_client(
    source: S3Source,
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """Build an S3 client for a source; its own retries are off (Prefect retries tasks).

    Args:
        source: the S3 source (bucket, endpoint, region).
        aws_access_key_id: access key id; None uses boto3's default chain.
        aws_secret_access_key: the secret matching it.
        endpoint_url: endpoint used when the source names none (e.g. the block's).

    Returns:
        A boto3 S3 client.
    """
    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        region_name=source.region_name,
    )
    return session.client(
        "s3",
        endpoint_url=source.endpoint_url or endpoint_url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
