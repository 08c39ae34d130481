"""What each server of the local stack is: its command, environment, port and health check.

Pure: building a spec starts nothing.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from stack.credentials import StackCredentials
from stack.settings import StackSettings

# Label Studio reads `LABEL_STUDIO_X`, `HEARTEX_X` and bare `X`: a stray PORT or
# USERNAME in the caller's environment would silently change the server.
_LABEL_STUDIO_STRAY = frozenset({"PORT", "HOST", "USERNAME", "PASSWORD", "USER_TOKEN", "DATA_DIR"})


class ServerSpec(BaseModel):
    """One server of the local stack."""

    name: str = Field(description="Short name used in commands, logs and pid files.")
    port: int
    command: list[str]
    env: dict[str, str] = Field(repr=False)
    health_url: str
    url: str = Field(description="What a user opens or configures.")
    log_path: Path
    pid_path: Path
    ready_timeout_s: float = Field(gt=0)
    install_hint: str | None = Field(
        default=None, description="What to run when the command's executable is missing."
    )
    stop_signal: signal.Signals = Field(
        default=signal.SIGTERM, description="Sent to the process group to stop it."
    )


def _bin(name: str) -> str:
    """An executable installed beside the running interpreter (the project venv)."""
    return str(Path(sys.executable).parent / name)


def _spec(settings: StackSettings, name: str, port: int, **fields: object) -> ServerSpec:
    return ServerSpec(
        name=name,
        port=port,
        log_path=settings.logs_dir / f"{name}.log",
        pid_path=settings.run_dir / f"{name}.pid",
        **fields,  # type: ignore[arg-type]
    )


def prefect_client_env(settings: StackSettings, credentials: StackCredentials) -> dict[str, str]:
    """What a Prefect client needs to talk to the stack's server: its URL and auth string.

    Every process the stack starts that calls the Prefect API gets these (and only
    these of the caller's PREFECT_ settings). Secret: never log or print the result.
    """
    return {
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_API_AUTH_STRING": credentials.prefect_api_auth_string.get_secret_value(),
    }


def prefect_spec(
    settings: StackSettings, credentials: StackCredentials, environ: Mapping[str, str]
) -> ServerSpec:
    """The Prefect server, with its own PREFECT_HOME under the stack's home.

    It is `prefect server start` run by `stack.prefect_server`, whose SQLite write
    transactions take the write lock when they begin (see that module). Every API call
    but the health check must carry the stack's auth string (the UI asks for it once).
    """
    env = {k: v for k, v in environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_SERVER_API_AUTH_STRING": credentials.prefect_api_auth_string.get_secret_value(),
        "PREFECT_HOME": str(settings.root / "prefect"),
        # where the UI in the browser sends its calls (by default port 4200's API)
        "PREFECT_UI_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # A request answered 503 ("database is locked", retried by the client 2 s
        # later) leaves its traceback in logs/prefect.log instead of nothing.
        "PREFECT_SERVER_LOG_RETRYABLE_ERRORS": "true",
    }
    port = settings.prefect_port
    return _spec(
        settings,
        "prefect",
        port,
        command=[
            sys.executable,
            "-m",
            "stack.prefect_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        health_url=f"http://127.0.0.1:{port}/api/health",
        url=f"http://127.0.0.1:{port}",
        ready_timeout_s=120,
    )


def label_studio_spec(
    settings: StackSettings, credentials: StackCredentials, environ: Mapping[str, str]
) -> ServerSpec:
    """Label Studio from its own venv, non-interactive, with the generated admin user.

    The secrets travel in the environment, never on the command line (which `ps` shows).
    """
    env = {
        k: v
        for k, v in environ.items()
        if k not in _LABEL_STUDIO_STRAY
        and not k.startswith(("LABEL_STUDIO_", "HEARTEX_", "DJANGO_", "PREFECT_"))
    }
    env |= {
        # The stack phones nobody: no error reports to Sentry (server or browser), no usage
        # analytics, no PyPI version check. An empty DSN turns Sentry off.
        "LABEL_STUDIO_SENTRY_DSN": "",
        "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_USERNAME": credentials.label_studio_username,
        "LABEL_STUDIO_PASSWORD": credentials.label_studio_password.get_secret_value(),
        "LABEL_STUDIO_USER_TOKEN": credentials.label_studio_token.get_secret_value(),
        # Images in a local DataStore are served to the labelling UI from here.
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(settings.data_dir),
        # Loopback only: lets webhooks reach the receiver on 127.0.0.1.
        "SSRF_PROTECTION_ENABLED": "false",
    }
    port = settings.label_studio_port
    executable = settings.label_studio_venv / "bin" / "label-studio"
    return _spec(
        settings,
        "label-studio",
        port,
        command=[
            str(executable),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(settings.root / "label-studio"),
            "--enable-legacy-api-token",
        ],
        env=env,
        health_url=f"http://127.0.0.1:{port}/health",
        url=f"http://127.0.0.1:{port}",
        ready_timeout_s=240,
        install_hint="run `labelloop stack install` to create Label Studio's virtual environment",
    )


def s3_spec(settings: StackSettings, environ: Mapping[str, str]) -> ServerSpec:
    """An S3-compatible server (moto) on loopback; its buckets live in memory."""
    port = settings.s3_port
    return _spec(
        settings,
        "s3",
        port,
        command=[_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=dict(environ),
        health_url=f"http://127.0.0.1:{port}/moto-api/",
        url=f"http://127.0.0.1:{port}",
        ready_timeout_s=60,
    )


def receiver_spec(
    settings: StackSettings, credentials: StackCredentials, environ: Mapping[str, str]
) -> ServerSpec:
    """The webhook receiver, emitting events to the stack's Prefect server.

    Its secret comes from the Prefect Secret block that `up` saves before starting it.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("PREFECT_")}
    env |= prefect_client_env(settings, credentials)
    port = settings.receiver_port
    return _spec(
        settings,
        "receiver",
        port,
        command=[_bin("labelloop"), "receiver", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        health_url=f"http://127.0.0.1:{port}/health",
        url=f"http://127.0.0.1:{port}/label-studio",
        ready_timeout_s=60,
    )


def serve_spec(
    settings: StackSettings, credentials: StackCredentials, environ: Mapping[str, str]
) -> ServerSpec:
    """`labelloop serve` of the stack's `prefect.yaml` (the demo's loop), as a server.

    Its health is the runner's own webserver (`/health` answers while the runner polls
    for runs). It stops on SIGINT, as on Ctrl-C: the runs in flight go back on the
    schedule and its deployments are paused.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("PREFECT_")}
    port = settings.serve_port
    env |= prefect_client_env(settings, credentials)
    env |= {
        "PREFECT_RUNNER_SERVER_ENABLE": "true",
        "PREFECT_RUNNER_SERVER_HOST": "127.0.0.1",
        "PREFECT_RUNNER_SERVER_PORT": str(port),
        # one poll may lag on a loaded machine; /health turns 503 after this many
        "PREFECT_RUNNER_SERVER_MISSED_POLLS_TOLERANCE": "10",
    }
    return _spec(
        settings,
        "serve",
        port,
        command=[_bin("labelloop"), "serve", "--file", str(settings.served_file)],
        env=env,
        health_url=f"http://127.0.0.1:{port}/health",
        url=str(settings.served_file),
        ready_timeout_s=300,
        stop_signal=signal.SIGINT,
    )
