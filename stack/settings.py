"""Where the local stack keeps its state and which ports it uses."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    """Settings of the local stack, read from `LABELLOOP_*` environment variables.

    Example:
        `LABELLOOP_PORT_BASE=19000 labelloop stack up` runs Prefect on 19000, Label
        Studio on 19001, the S3 server on 19002 and leaves 19003 to the webhook
        receiver.
    """

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_", extra="ignore")

    home: Path = Field(
        default=Path(".labelloop"),
        description="Folder for all state, logs and pid files of the stack (git-ignored).",
    )
    port_base: int = Field(
        default=18400,
        ge=1024,
        le=65530,
        description=(
            "Prefect listens here, Label Studio on +1, S3 on +2, the webhook receiver on +3, "
            "the health check of the demo's `labelloop serve` on +4."
        ),
    )
    ls_venv: Path | None = Field(
        default=None,
        description="Label Studio's own virtual environment (default: <home>/venvs/label-studio).",
    )
    s3_bucket: str = Field(default="labelloop", description="Bucket created on the S3 server.")

    @property
    def root(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def label_studio_venv(self) -> Path:
        venv = self.ls_venv if self.ls_venv is not None else self.root / "venvs" / "label-studio"
        return venv.expanduser().resolve()

    @property
    def prefect_port(self) -> int:
        return self.port_base

    @property
    def label_studio_port(self) -> int:
        return self.port_base + 1

    @property
    def s3_port(self) -> int:
        return self.port_base + 2

    @property
    def receiver_port(self) -> int:
        return self.port_base + 3

    @property
    def serve_port(self) -> int:
        return self.port_base + 4

    @property
    def served_file(self) -> Path:
        """The `prefect.yaml` that the stack's `labelloop serve` serves (written by the demo)."""
        return self.root / "prefect.yaml"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def label_studio_url(self) -> str:
        return f"http://127.0.0.1:{self.label_studio_port}"

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def data_dir(self) -> Path:
        """The local DataStore's folder; Label Studio serves local files from here."""
        return self.root / "data"

    @property
    def credentials_path(self) -> Path:
        return self.root / "credentials.json"
