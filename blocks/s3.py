"""S3 credentials as prefect-aws blocks, and labelloop's one boto3 S3 client factory.

Every S3 client of labelloop (the `DataStore`'s, collect's S3 sources, the local stack's
bucket) is built by `s3_client` from a prefect-aws credentials block (`AwsCredentials`
or `MinIOCredentials`), the blocks a team on Prefect already keeps its keys in: the
block's own boto3 session and client parameters, with botocore's retries off (one retry
layer: Prefect's task retries).
"""

from __future__ import annotations

from typing import Any, TypeAlias, get_args

from botocore.config import Config
from mypy_boto3_s3 import S3Client
from prefect.blocks.abstract import CredentialsBlock
from prefect.utilities.dispatch import lookup_type
from prefect_aws import AwsCredentials, MinIOCredentials
from pydantic import SecretStr

S3Credentials: TypeAlias = MinIOCredentials | AwsCredentials

# botocore's own retries off: a failed call fails the task, which Prefect retries.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def s3_client(
    credentials: S3Credentials | None,
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> S3Client:
    """A boto3 S3 client from a credentials block, with botocore's retries off.

    Args:
        credentials: The block; None uses boto3's default chain (environment, profile,
            instance role), as an empty `AwsCredentials` does.
        endpoint_url: The S3-compatible endpoint (MinIO, moto); None keeps the block's
            ``aws_client_parameters.endpoint_url`` (None there too: AWS).
        region_name: Used when the block names no region.

    Returns:
        The client (thread-safe: one per store or source is enough).
    """
    block = credentials if credentials is not None else AwsCredentials()
    params: dict[str, Any] = block.aws_client_parameters.get_params_override()
    own_config = params.pop("config", None)
    params["config"] = own_config.merge(NO_RETRIES) if own_config is not None else NO_RETRIES
    if endpoint_url is not None:
        params["endpoint_url"] = endpoint_url
    region = block.region_name or region_name
    if region is not None:
        params["region_name"] = region
    return block.get_boto3_session().client("s3", **params)


def access_keys(credentials: S3Credentials | None) -> tuple[str | None, SecretStr | None]:
    """The access key id and secret a block holds (for a server that takes them as values,
    such as Label Studio's S3 import storage); (None, None) for boto3's default chain."""
    if isinstance(credentials, MinIOCredentials):
        return credentials.minio_root_user, credentials.minio_root_password
    if isinstance(credentials, AwsCredentials):
        return credentials.aws_access_key_id, credentials.aws_secret_access_key
    return None, None


def credentials_from_data(value: Any) -> Any:
    """A credentials block from a field's raw data (a dict as saved), as prefect-aws's
    `S3Bucket.credentials` validates it: by the saved ``block_type_slug`` when there is
    one, else the first type whose fields match (MinIO's user field is required, so keys
    without it are AWS keys). Anything else is returned as it is."""
    if not isinstance(value, dict):
        return value
    data = dict(value)
    slug = data.pop("block_type_slug", None)
    classes = (
        (lookup_type(CredentialsBlock, dispatch_key=slug),) if slug else get_args(S3Credentials)
    )
    errors: list[str] = []
    for credentials_cls in classes:
        try:
            return credentials_cls(**data)
        except ValueError as error:
            errors.append(f"{credentials_cls.__name__}: {error}")
    raise ValueError(f"S3 credentials match no credentials block type ({'; '.join(errors)})")
