"""The one S3 client factory and the DataStore's credentials block (no server needed:
building a boto3 client sends nothing)."""

from __future__ import annotations

from prefect_aws import AwsCredentials, MinIOCredentials
from prefect_aws.client_parameters import AwsClientParameters
from pydantic import SecretStr

from blocks import DataStore
from blocks.s3 import access_keys, s3_client


def test_the_client_has_botocores_retries_off_and_the_blocks_own_settings() -> None:
    block = MinIOCredentials(
        minio_root_user="user",
        minio_root_password=SecretStr("password"),
        region_name="eu-west-3",
        aws_client_parameters=AwsClientParameters(
            endpoint_url="http://127.0.0.1:9000", config={"connect_timeout": 7}
        ),
    )
    client = s3_client(block)
    assert client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.connect_timeout == 7
    assert client.meta.config.retries["total_max_attempts"] == 2  # botocore: 1 retry at most
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("user", "password")


def test_a_store_or_source_endpoint_and_region_fill_in_what_the_block_leaves_out() -> None:
    client = s3_client(
        AwsCredentials(aws_access_key_id="k", aws_secret_access_key=SecretStr("s")),
        endpoint_url="http://127.0.0.1:9100",
        region_name="ap-south-1",
    )
    assert client.meta.endpoint_url == "http://127.0.0.1:9100"
    assert client.meta.region_name == "ap-south-1"
    with_region = AwsCredentials(aws_access_key_id="k", region_name="us-west-2")
    assert s3_client(with_region, region_name="ap-south-1").meta.region_name == "us-west-2"


def test_a_store_with_the_earlier_key_fields_gets_an_aws_credentials_block() -> None:
    store = DataStore(
        bucket="b", aws_access_key_id="key", aws_secret_access_key=SecretStr("secret")
    )
    assert isinstance(store.credentials, AwsCredentials)
    assert access_keys(store.credentials)[0] == "key"
    secret = access_keys(store.credentials)[1]
    assert secret is not None and secret.get_secret_value() == "secret"
    assert "aws_access_key_id" not in store.model_dump()
    assert DataStore(bucket="b").credentials is None


def test_a_credentials_block_wins_over_the_earlier_key_fields() -> None:
    # An earlier block re-saved with a credentials block keeps its old fields on the
    # server (Prefect merges a document on overwrite): the block is what counts.
    store = DataStore.model_validate(
        {
            "bucket": "b",
            "aws_access_key_id": "old",
            "aws_secret_access_key": "old-secret",
            "credentials": {"minio_root_user": "new", "minio_root_password": "p"},
        }
    )
    assert access_keys(store.credentials)[0] == "new"


def test_saved_credentials_data_becomes_the_block_it_was_saved_as() -> None:
    minio = DataStore.model_validate(
        {
            "bucket": "b",
            "credentials": {
                "minio_root_user": "u",
                "minio_root_password": "p",
                "block_type_slug": "minio-credentials",
            },
        }
    )
    assert isinstance(minio.credentials, MinIOCredentials)
    aws = DataStore.model_validate({"bucket": "b", "credentials": {"aws_access_key_id": "k"}})
    assert isinstance(aws.credentials, AwsCredentials)
    assert access_keys(None) == (None, None)
