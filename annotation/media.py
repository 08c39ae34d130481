"""How a task points Label Studio at an item's image in the DataStore (pure)."""

from __future__ import annotations

from urllib.parse import quote


def local_file_url(key: str) -> str:
    """The URL Label Studio serves a local file under its document root with.

    The local DataStore's folder must be Label Studio's
    `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT` (the local stack sets it so).

    Args:
        key: the store key, relative to the store's folder.
    """
    return f"/data/local-files/?d={quote(key, safe='/')}"


def s3_uri(bucket: str, prefix: str, key: str) -> str:
    """The `s3://` URI Label Studio resolves through a connected S3 storage."""
    path = f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key
    return f"s3://{bucket}/{path}"
