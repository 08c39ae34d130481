"""Bring the local stack up, down, and say what runs where."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import yaml
from botocore.exceptions import ClientError
from prefect.blocks.system import Secret
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_URL,
    PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW,
    temporary_settings,
)
from prefect_aws import AwsCredentials
from pydantic import BaseModel, SecretStr

from blocks import DataStore, LabelStudioCredentials
from blocks.s3 import s3_client as make_s3_client
from stack import process
from stack.credentials import (
    StackCredentials,
    generate_credentials,
    load_credentials,
    save_credentials,
)
from stack.logs import hide_websocket_frames
from stack.process import StackError
from stack.servers import (
    ServerSpec,
    label_studio_spec,
    prefect_client_env,
    prefect_spec,
    receiver_spec,
    s3_spec,
    serve_spec,
)
from stack.prefect_yaml import triggered_names
from stack.serving import automation_ids, wait_until_served
from stack.settings import StackSettings
from tasks.datasets import WebhookTarget
from webhooks.events import SECRET_HEADER

# Names of the block documents that `save_blocks` writes for the local stack.
LOCAL_BLOCK = "local"
LOCAL_S3_BLOCK = "local-s3"
WEBHOOK_SECRET_BLOCK = "labelloop-webhook-secret"


class ServerState(BaseModel):
    """What a user needs to know about one server."""

    name: str
    url: str
    state: Literal["started", "reused", "running", "stopped", "down", "unhealthy"]
    pid: int | None
    log: str


def stack_credentials(settings: StackSettings) -> StackCredentials:
    """The stack's credentials, generated on the first `up`.

    Raises:
        StackError: Label Studio's data exists but its credentials were lost.
    """
    if settings.credentials_path.exists():
        return load_credentials(settings.credentials_path)
    if (settings.root / "label-studio").exists():
        raise StackError(
            f"label-studio: {settings.credentials_path} is missing but Label Studio's data in "
            f"{settings.root / 'label-studio'} exists; its admin token cannot be recovered. "
            "Remove that folder to start Label Studio afresh."
        )
    credentials = generate_credentials()
    save_credentials(settings.credentials_path, credentials)
    return credentials


def server_specs(
    settings: StackSettings, credentials: StackCredentials, environ: Mapping[str, str]
) -> list[ServerSpec]:
    """The stack's servers, in start order; the webhook receiver comes last."""
    return [
        prefect_spec(settings, credentials, environ),
        label_studio_spec(settings, credentials, environ),
        s3_spec(settings, environ),
        receiver_spec(settings, credentials, environ),
    ]


@contextmanager
def stack_api(settings: StackSettings, credentials: StackCredentials) -> Iterator[None]:
    """Prefect clients and flow runs of this process talk to the stack's Prefect server.

    They get its URL and auth string (`stack.servers.prefect_client_env`), as the
    processes the stack starts get them in their environment; websockets' frames, the
    events websocket's auth message among them, stay out of this process's logs.
    """
    hide_websocket_frames()
    env = prefect_client_env(settings, credentials)
    updates = {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"],
    }
    with temporary_settings(updates=updates):
        yield


def up(settings: StackSettings) -> list[ServerState]:
    """Start every server that is not already running and wait until all are healthy.

    The backing servers come first; then the block documents are written; then the
    webhook receiver starts (it reads its secret from a block). Idempotent: a healthy
    server started earlier is reused. If any server fails, the ones this call started
    are stopped again and the error names the failed server and its log.

    The Prefect server must refuse calls without the stack's auth string and take the
    stack's own (`check_prefect_auth`): one reused from before the stack had it is not.

    Raises:
        StackError: a server failed to start or to become healthy, or the running
            Prefect server does not require the stack's auth string.
    """
    credentials = stack_credentials(settings)
    specs = server_specs(settings, credentials, os.environ)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    reused: dict[str, process.RunningServer] = {}
    started: dict[str, process.RunningServer] = {}
    try:
        _start_and_wait(specs[:-1], reused, started)
        check_prefect_auth(settings, credentials)
        _check_label_studio_token(settings, credentials)
        _ensure_bucket(settings, credentials)
        save_blocks(settings, credentials)
        _start_and_wait(specs[-1:], reused, started)
    except BaseException:
        for spec in reversed(specs):
            if spec.name in started:
                process.stop(spec)
        raise
    return [
        ServerState(
            name=spec.name,
            url=spec.url,
            state="reused" if spec.name in reused else "started",
            pid=(reused.get(spec.name) or started[spec.name]).pid,
            log=str(spec.log_path),
        )
        for spec in specs
    ]


def _start_and_wait(
    specs: list[ServerSpec],
    reused: dict[str, process.RunningServer],
    started: dict[str, process.RunningServer],
) -> None:
    """Start the servers that are not running (all at once), then wait for each."""
    for spec in specs:
        running = process.read_pid_file(spec)
        if running is not None:
            reused[spec.name] = running
        else:
            started[spec.name] = process.start(spec)
    for spec in specs:
        process.wait_healthy(spec, reused.get(spec.name) or started[spec.name])


def down(settings: StackSettings, only: set[str] | None = None) -> list[ServerState]:
    """Stop the stack's servers (all, or the named ones) and their child processes."""
    specs = _specs_for_status(settings)
    states = []
    for spec in specs:
        if only is not None and spec.name not in only:
            continue
        stopped = process.stop(spec)
        states.append(
            ServerState(
                name=spec.name,
                url=spec.url,
                state="stopped" if stopped else "down",
                pid=None,
                log=str(spec.log_path),
            )
        )
    return states


def status(settings: StackSettings) -> list[ServerState]:
    """What runs where, with each server's health."""
    states = []
    for spec in _specs_for_status(settings):
        running = process.read_pid_file(spec)
        if running is None:
            state: Literal["running", "down", "unhealthy"] = "down"
        else:
            state = "running" if process.is_healthy(spec.health_url) else "unhealthy"
        states.append(
            ServerState(
                name=spec.name,
                url=spec.url,
                state=state,
                pid=running.pid if running else None,
                log=str(spec.log_path),
            )
        )
    return states


def serve(settings: StackSettings, document: Mapping[str, Any]) -> ServerState:
    """(Re)start the stack's `labelloop serve` on `document`; return once it serves.

    A serve already running is stopped first (its runs in flight go back on the
    schedule), since its file may differ. The document is written to
    `settings.served_file`; the call returns when the runner answers its health check
    and every deployment is unpaused with automations of its own, so an event sent
    afterwards starts its runs. `down` stops it with the servers.

    Args:
        settings: the stack.
        document: a `prefect.yaml` document (see `stack.prefect_yaml.served_document`).

    Raises:
        StackError: serve exited, or did not serve everything in time (names its log).
    """
    credentials = load_credentials(settings.credentials_path)
    spec = serve_spec(settings, credentials, os.environ)
    names = [d["name"] for d in document["deployments"]]
    process.stop(spec)
    with stack_api(settings, credentials):
        earlier = automation_ids(names)
        settings.served_file.write_text(yaml.safe_dump(dict(document), sort_keys=False))
        running = process.start(spec)
        try:
            process.wait_healthy(spec, running)
            wait_until_served(
                names,
                triggered_names(document),
                earlier,
                spec.ready_timeout_s,
                lambda: process.read_pid_file(spec) is not None,
                lambda: process.tail(spec.log_path),
            )
        except BaseException:
            process.stop(spec)
            raise
    return ServerState(
        name=spec.name, url=spec.url, state="started", pid=running.pid, log=str(spec.log_path)
    )


def _specs_for_status(settings: StackSettings) -> list[ServerSpec]:
    """Specs for stopping or inspecting; no credentials are needed or created.

    The stack's `labelloop serve` comes first: it stops before the servers it uses.
    """
    placeholder = StackCredentials(
        label_studio_username="",
        label_studio_password=SecretStr(""),
        label_studio_token=SecretStr(""),
        s3_access_key_id="",
        s3_secret_access_key=SecretStr(""),
        webhook_secret=SecretStr(""),
        prefect_api_auth_string=SecretStr(""),
    )
    return [serve_spec(settings, placeholder, {}), *server_specs(settings, placeholder, {})]


def receiver_url(settings: StackSettings) -> str:
    """Where the stack's webhook receiver takes Label Studio's calls."""
    return f"http://127.0.0.1:{settings.receiver_port}/label-studio"


def webhook_target(settings: StackSettings, url: str | None = None) -> WebhookTarget:
    """The stack's receiver and its shared secret (read from the Secret block), for
    `labelloop dataset add` to register with a project."""
    secret = Secret.load(WEBHOOK_SECRET_BLOCK, _sync=True).get()  # type: ignore[call-arg]
    return WebhookTarget(
        url=url or receiver_url(settings), header=SECRET_HEADER, secret=SecretStr(str(secret))
    )


@contextmanager
def prefect_api(settings: StackSettings) -> Iterator[None]:
    """Talk to the Prefect server the environment names, else to the stack's, with its
    auth string (a command's task runs log to the terminal only).

    Raises:
        FileNotFoundError: no `PREFECT_API_URL` and the stack was never brought up.
    """
    quiet = temporary_settings(updates={PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore"})
    if PREFECT_API_URL.value():
        with quiet:
            yield
        return
    with stack_api(settings, load_credentials(settings.credentials_path)), quiet:
        yield


def shell_env(settings: StackSettings) -> dict[str, str]:
    """Environment a shell needs to run flows against the stack.

    Its one secret is the Prefect API's auth string (the other secrets are in blocks,
    which only a client holding it can read).

    Raises:
        FileNotFoundError: the stack was never brought up with this home folder.
    """
    credentials = load_credentials(settings.credentials_path)
    return prefect_client_env(settings, credentials) | {
        "LABELLOOP_HOME": str(settings.root),
        "LABELLOOP_PORT_BASE": str(settings.port_base),
    }


def _prefect_answers(settings: StackSettings, auth_string: str | None) -> int:
    """The HTTP status of an API call to the stack's Prefect server, with or without auth."""
    headers = {}
    if auth_string is not None:
        token = base64.b64encode(auth_string.encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(f"{settings.prefect_api_url}/admin/version", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def check_prefect_auth(settings: StackSettings, credentials: StackCredentials) -> None:
    """The running Prefect server refuses a call without the stack's auth string and
    accepts one with it.

    Raises:
        StackError: a server started before the stack had an auth string, or with another.
    """
    restart = (
        "stop it with `labelloop stack down` and run `labelloop stack up` again "
        "(flows, blocks and runs are kept)"
    )
    if _prefect_answers(settings, None) != 401:
        raise StackError(
            f"prefect: the server on port {settings.prefect_port} answers API calls without "
            f"the stack's auth string (it was started without one); {restart}"
        )
    secret = credentials.prefect_api_auth_string.get_secret_value()
    if (status := _prefect_answers(settings, secret)) != 200:
        raise StackError(
            f"prefect: the server on port {settings.prefect_port} answers {status} to the "
            f"stack's auth string from {settings.credentials_path} (it was started with "
            f"another one); {restart}"
        )


def _check_label_studio_token(settings: StackSettings, credentials: StackCredentials) -> None:
    request = urllib.request.Request(
        f"{settings.label_studio_url}/api/current-user/whoami",
        headers={"Authorization": f"Token {credentials.label_studio_token.get_secret_value()}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.load(response)
    except urllib.error.HTTPError as error:
        raise StackError(
            f"label-studio: the stack's API token was rejected (HTTP {error.code}); its data in "
            f"{settings.root / 'label-studio'} was created with other credentials. Remove that "
            "folder to start afresh."
        ) from None


def s3_credentials(credentials: StackCredentials) -> AwsCredentials:
    """The credentials block of the stack's S3 server (its endpoint is the store's)."""
    return AwsCredentials(
        aws_access_key_id=credentials.s3_access_key_id,
        aws_secret_access_key=credentials.s3_secret_access_key,
        region_name="us-east-1",
    )


def s3_client(settings: StackSettings, credentials: StackCredentials) -> Any:
    """A boto3 client for the stack's S3 server."""
    return make_s3_client(s3_credentials(credentials), endpoint_url=settings.s3_endpoint_url)


def _ensure_bucket(settings: StackSettings, credentials: StackCredentials) -> None:
    client = s3_client(settings, credentials)
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
    except ClientError:
        client.create_bucket(Bucket=settings.s3_bucket)


def local_blocks(
    settings: StackSettings, credentials: StackCredentials
) -> dict[str, LabelStudioCredentials | DataStore | Secret]:
    """The block documents for the local stack, by `<slug>/<name>`."""
    return {
        f"labelloop-label-studio-credentials/{LOCAL_BLOCK}": LabelStudioCredentials(
            url=settings.label_studio_url, api_key=credentials.label_studio_token
        ),
        f"labelloop-data-store/{LOCAL_BLOCK}": DataStore(base_path=str(settings.data_dir)),
        f"labelloop-data-store/{LOCAL_S3_BLOCK}": DataStore(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            credentials=s3_credentials(credentials),
        ),
        f"secret/{WEBHOOK_SECRET_BLOCK}": Secret(value=credentials.webhook_secret),
    }


def save_blocks(settings: StackSettings, credentials: StackCredentials | None = None) -> list[str]:
    """Write the local stack's block documents to its Prefect server.

    Returns:
        The saved documents as `<block type slug>/<name>`.
    """
    credentials = credentials or load_credentials(settings.credentials_path)
    with stack_api(settings, credentials):
        for slug_name, block in local_blocks(settings, credentials).items():
            block.save(slug_name.split("/", 1)[1], overwrite=True)
    return list(local_blocks(settings, credentials))
