"""Generated secrets of the local stack, kept in one file readable by the owner only."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, SecretStr


class StackCredentials(BaseModel):
    """The admin login and API token of the local Label Studio and the S3 keys."""

    label_studio_username: str
    label_studio_password: SecretStr
    label_studio_token: SecretStr
    s3_access_key_id: str
    s3_secret_access_key: SecretStr
    webhook_secret: SecretStr


def generate_credentials() -> StackCredentials:
    """New random credentials (Label Studio's legacy token is 40 hex characters)."""
    return StackCredentials(
        label_studio_username="admin@labelloop.local",
        label_studio_password=SecretStr(secrets.token_urlsafe(18)),
        label_studio_token=SecretStr(secrets.token_hex(20)),
        s3_access_key_id="labelloop" + secrets.token_hex(6),
        s3_secret_access_key=SecretStr(secrets.token_urlsafe(30)),
        webhook_secret=SecretStr(secrets.token_urlsafe(24)),
    )


def save_credentials(path: Path, credentials: StackCredentials) -> None:
    """Write the credentials with mode 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(tmp, path)


def load_credentials(path: Path) -> StackCredentials:
    """Read the credentials written by `save_credentials`.

    Raises:
        FileNotFoundError: the stack was never brought up with this home folder.
    """
    if not path.exists():
        raise FileNotFoundError(
            f"No stack credentials at {path}: run `labelloop stack up` first "
            "(with the same LABELLOOP_HOME)."
        )
    return StackCredentials.model_validate_json(path.read_text())
