"""Credentials for a Label Studio server."""

from __future__ import annotations

from label_studio_sdk import LabelStudio
from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class LabelStudioCredentials(Block):
    """The URL and API key of a Label Studio server.

    Example:
        ```python
        from blocks import LabelStudioCredentials

        ls = LabelStudioCredentials.load("local").get_client()
        ls.projects.list()
        ```
    """

    _block_type_name = "Label Studio Credentials"
    _block_type_slug = "labelloop-label-studio-credentials"
    _description = "URL and API key of a Label Studio server used by labelloop."
    _documentation_url = "https://labelstud.io/guide/api"  # type: ignore[assignment]

    url: str = Field(description="Base URL of the Label Studio server, e.g. http://127.0.0.1:18401.")
    api_key: SecretStr = Field(
        description="A Label Studio access token: a legacy token or a personal access token."
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one HTTP request.")

    def get_client(self) -> LabelStudio:
        """An SDK 2.x client with the SDK's own retries off (Prefect task retries apply).

        Returns:
            A `label_studio_sdk.LabelStudio` client.
        """
        return LabelStudio(
            base_url=self.url.rstrip("/"),
            api_key=self.api_key.get_secret_value(),
            timeout=self.timeout_s,
            max_retries=0,
        )
