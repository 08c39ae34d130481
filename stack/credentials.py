"""Generated secrets of the local stack, kept in one file readable by the owner only.

A file written before a secret was added to the stack gets that secret generated and
saved the next time it is read (`complete_credentials`); nothing already in it changes.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class StackCredentials(BaseModel):
    """The admin login and API token of the local Label Studio, the S3 keys, the webhook
    secret and the Prefect API's auth string."""

    label_studio_username: str
    label_studio_password: SecretStr
    label_studio_token: SecretStr
    s3_access_key_id: str
    s3_secret_access_key: SecretStr
    webhook_secret: SecretStr
    prefect_api_auth_string: SecretStr = Field(
        description=(
            "`user:password` the stack's Prefect server requires of every API call "
            "(PREFECT_SERVER_API_AUTH_STRING) and its clients send (PREFECT_API_AUTH_STRING)."
        )
    )


def generate_credentials() -> StackCredentials:
    """New random credentials (Label Studio's legacy token is 40 hex characters)."""
    return StackCredentials(
        label_studio_username="admin@labelloop.local",
        label_studio_password=SecretStr(secrets.token_urlsafe(18)),
        label_studio_token=SecretStr(secrets.token_hex(20)),
        s3_access_key_id="labelloop" + secrets.token_hex(6),
        s3_secret_access_key=SecretStr(secrets.token_urlsafe(30)),
        webhook_secret=SecretStr(secrets.token_urlsafe(24)),
        prefect_api_auth_string=SecretStr("labelloop:" + secrets.token_urlsafe(24)),
    )


def complete_credentials(stored: Mapping[str, object]) -> dict[str, object]:
    """`stored` with every credential it lacks newly generated; what it has is kept."""
    return _plain(generate_credentials()) | dict(stored)


def _plain(credentials: StackCredentials) -> dict[str, object]:
    """The credentials as the file holds them: secrets in clear."""
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials
    }


def save_credentials(path: Path, credentials: StackCredentials) -> None:
    """Write the credentials with mode 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = _plain(credentials)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(tmp, path)


def load_credentials(path: Path) -> StackCredentials:
    """Read the credentials written by `save_credentials`.

    A credential the file lacks (it predates that credential) is generated and saved.

    Raises:
        FileNotFoundError: the stack was never brought up with this home folder.
    """
    if not path.exists():
        raise FileNotFoundError(
            f"No stack credentials at {path}: run `labelloop stack up` first "
            "(with the same LABELLOOP_HOME)."
        )
    stored = json.loads(path.read_text())
    credentials = StackCredentials.model_validate(complete_credentials(stored))
    if set(StackCredentials.model_fields) - set(stored):
        save_credentials(path, credentials)
    return credentials
