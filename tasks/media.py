"""Connect a Label Studio project to the DataStore so the labelling UI can show images."""

from __future__ import annotations

from pathlib import Path

from label_studio_sdk import LabelStudio
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from annotation.media import local_file_url, s3_uri
from blocks import DataStore
from blocks.s3 import access_keys
from storage.layout import raw_files_prefix

STORAGE_TITLE = "labelloop"


def image_reference(store: DataStore, key: str) -> str:
    """What a task's data carries for an image stored under `key`."""
    if store.bucket is None:
        return local_file_url(key)
    return s3_uri(store.bucket, store.prefix, key)


@task(name="ensure-image-storage", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def ensure_image_storage(
    client: LabelStudio, project_id: int, store: DataStore, dataset: str
) -> int:
    """Create (once) the import storage through which Label Studio reads the images.

    Never synced: labelloop imports the tasks itself, and a task both imported and
    synced would appear twice. Local stores need Label Studio's local-files serving
    rooted at the store's folder (the local stack starts it so).

    Returns:
        The storage connection's id.
    """
    if store.bucket is None:
        path = str(Path(store.base_path).expanduser().resolve() / raw_files_prefix(dataset))
        for storage in client.import_storage.local.list(project=project_id):
            if storage.path == path:
                return int(storage.id)
        created = client.import_storage.local.create(
            project=project_id, path=path, use_blob_urls=True, title=STORAGE_TITLE
        )
    else:
        prefix = "/".join(p for p in (store.prefix.strip("/"), raw_files_prefix(dataset)) if p)
        for storage in client.import_storage.s3.list(project=project_id):
            if storage.bucket == store.bucket and storage.prefix == prefix:
                return int(storage.id)
        key_id, secret = access_keys(store.credentials)
        created = client.import_storage.s3.create(
            project=project_id,
            bucket=store.bucket,
            prefix=prefix,
            use_blob_urls=True,
            presign=False,
            s3endpoint=store.endpoint_url,
            region_name=store.region_name,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            title=STORAGE_TITLE,
        )
    get_run_logger().info("Connected project %s to %s", project_id, store.describe())
    return int(created.id)
