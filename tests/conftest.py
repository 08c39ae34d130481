"""Session fixtures: the local stack's real servers, started once (or reused)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio
from pydantic import BaseModel, ConfigDict

from blocks import DataStore, LabelStudioCredentials
from stack import control, process
from stack.credentials import StackCredentials
from stack.servers import prefect_client_env
from stack.settings import StackSettings


class Stack(BaseModel):
    """The running local stack as the tests see it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: StackSettings
    credentials: StackCredentials
    states: list[control.ServerState]

    def label_studio(self) -> LabelStudioCredentials:
        return LabelStudioCredentials(
            url=self.settings.label_studio_url, api_key=self.credentials.label_studio_token
        )

    def prefect_env(self) -> dict[str, str]:
        """The environment a subprocess needs to talk to the stack's Prefect server."""
        return prefect_client_env(self.settings, self.credentials)

    def s3_store(self, prefix: str) -> DataStore:
        return DataStore(
            bucket=self.settings.s3_bucket,
            prefix=prefix,
            endpoint_url=self.settings.s3_endpoint_url,
            credentials=control.s3_credentials(self.credentials),
        )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Bring the stack up once per session; stop only what this session started.

    A failure here fails every test that needs a server: never a skip.
    """
    settings = StackSettings()
    states = control.up(settings)
    started = {s.name for s in states if s.state == "started"}
    try:
        yield Stack(
            settings=settings,
            credentials=control.stack_credentials(settings),
            states=states,
        )
    finally:
        if started:
            control.down(settings, only=started)


@pytest.fixture(scope="session")
def prefect_server(stack: Stack) -> Iterator[str]:
    """Point Prefect clients and flow runs of this session at the stack's server (its URL
    and auth string)."""
    with control.stack_api(stack.settings, stack.credentials):
        yield stack.settings.prefect_api_url


@pytest.fixture
def ls(stack: Stack) -> LabelStudio:
    """An SDK client for the stack's Label Studio, built by the block."""
    return stack.label_studio().get_client()


@pytest.fixture
def unique() -> str:
    """A name no other test (or earlier run) uses."""
    return f"t{uuid.uuid4().hex[:10]}"


def free_port_base(ports: int = 5) -> int:
    """A port base whose `ports` consecutive ports are free (a stack uses base to +4).

    `LABELLOOP_OTHER_PORT_BASE` fixes it, for a machine whose ports are shared out
    (it must be free); otherwise a random one above 20000.
    """
    fixed = os.environ.get("LABELLOOP_OTHER_PORT_BASE")
    if fixed is not None:
        taken = [p for p in range(int(fixed), int(fixed) + ports) if process.port_in_use(p)]
        if taken:
            raise RuntimeError(f"LABELLOOP_OTHER_PORT_BASE={fixed}: ports {taken} are taken")
        return int(fixed)
    for _ in range(200):
        base = random.randrange(20000, 32000, 10)  # below the ephemeral range (32768+)
        if not any(process.port_in_use(base + i) for i in range(ports)):
            return base
    raise RuntimeError(f"no {ports} free consecutive ports found")


@pytest.fixture
def other(tmp_path: Path, stack: Stack) -> Iterator[StackSettings]:
    """Settings of a second, throwaway stack in a temporary home on free ports.

    Nothing is started; whatever the test starts is stopped afterwards, so the session's
    stack is never disturbed. Label Studio comes from the session stack's venv.
    """
    settings = StackSettings(
        home=tmp_path / "stack",
        port_base=free_port_base(),
        ls_venv=stack.settings.label_studio_venv,
    )
    try:
        yield settings
    finally:
        control.down(settings)
