"""The `labelloop` command: the local stack, the registered data sets, `serve`, the demo,
the webhook receiver and the model registry's rollback.

    labelloop --help
    python -m labelloop --help
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import typer
from label_studio_sdk.core.api_error import ApiError
import uvicorn
from prefect.blocks.system import Secret
from pydantic import SecretStr, ValidationError

from annotation.errors import LabelConfigError
from blocks import DataStore, LabelStudioCredentials
from collection.sources import LocalSource, S3Source, Source
from demo.run import DemoParams, run_demo
from stack import control
from stack.install import install_label_studio
from stack.logs import hide_websocket_frames
from stack.process import StackError
from specs import SHIPPED, SpecError
from specs.files import DatasetFile, read_dataset_file
from stack.settings import StackSettings
from tasks.datasets import load_registration, registered_names, unwire_dataset, wire_dataset
from tasks.registry import rollback_champion
from webhooks.app import create_app

app = typer.Typer(help="labelloop: the data side of an ML loop, on Prefect and Label Studio.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack: Prefect, Label Studio and an S3 server on loopback.", no_args_is_help=True)
model_app = typer.Typer(help="The model registry in a DataStore.", no_args_is_help=True)
dataset_app = typer.Typer(
    help="Data sets registered on the Prefect server: every deployment serves them by name.",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")
app.add_typer(dataset_app, name="dataset")
app.add_typer(model_app, name="model")


def _print_states(states: list[control.ServerState]) -> None:
    for state in states:
        pid = str(state.pid) if state.pid else "-"
        typer.echo(f"{state.name:<13} {state.state:<9} {state.url:<26} pid {pid:<8} log {state.log}")


@stack_app.command("install")
def install() -> None:
    """Make Label Studio's own virtual environment match its lock, then check it."""
    settings = StackSettings()
    try:
        report = install_label_studio(settings)
    except StackError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    verb = "installed" if report.changed else "already installed"
    typer.echo(
        f"label-studio {report.label_studio_version} {verb} in {report.venv} "
        "(the locked set, checked)"
    )


@stack_app.command("up")
def up() -> None:
    """Start the servers that are not running, wait until all are healthy, write the blocks."""
    settings = StackSettings()
    try:
        states = control.up(settings)
    except StackError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    _print_states(states)
    typer.echo('\nPrefect clients in this shell: eval "$(labelloop stack env)"')


@stack_app.command("down")
def down() -> None:
    """Stop every server of the stack and its child processes."""
    try:
        _print_states(control.down(StackSettings()))
    except StackError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@stack_app.command("status")
def status() -> None:
    """What runs where."""
    _print_states(control.status(StackSettings()))


@stack_app.command("env")
def env() -> None:
    """Shell exports for running flows against the stack: `eval "$(labelloop stack env)"`.

    They hold the Prefect API's auth string: eval them, do not paste or log them.
    """
    try:
        exports = control.shell_env(StackSettings())
    except FileNotFoundError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    for name, value in exports.items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@stack_app.command("login")
def login() -> None:
    """The logins of the stack's Label Studio and Prefect UI (printed only when asked)."""
    settings = StackSettings()
    credentials = control.stack_credentials(settings)
    typer.echo("Label Studio")
    typer.echo(f"  url:      {settings.label_studio_url}")
    typer.echo(f"  email:    {credentials.label_studio_username}")
    typer.echo(f"  password: {credentials.label_studio_password.get_secret_value()}")
    typer.echo("Prefect UI (the whole string goes into its login field)")
    typer.echo(f"  url:      {settings.prefect_api_url.removesuffix('/api')}")
    typer.echo(f"  login:    {credentials.prefect_api_auth_string.get_secret_value()}")


@stack_app.command("blocks")
def blocks() -> None:
    """Write the block documents of the running stack to its Prefect server."""
    for name in control.save_blocks(StackSettings()):
        typer.echo(f"saved block {name}")


@dataset_app.command("add")
def dataset_add(
    source: str = typer.Argument(
        ..., help="A spec file (YAML, see docs/own-data.md) or a shipped data set's name."
    ),
    landing: list[str] = typer.Option(
        None, help="A local landing path or glob (repeatable); replaces the file's `landing`."
    ),
    label_studio_block: str = typer.Option(control.LOCAL_BLOCK, help="LabelStudioCredentials block."),
    receiver_url: str = typer.Option(
        None, help="The webhook receiver's URL (default: the local stack's receiver)."
    ),
    webhook: bool = typer.Option(True, help="--no-webhook: labels sync on the schedule only."),
) -> None:
    """Register a data set: its Label Studio project (created, or an existing one with the
    spec's title adopted), the project's webhook, and its spec and landing as a block.
    Re-running it is harmless."""
    settings = StackSettings()
    try:
        declared = _declared(source, landing)
        with control.prefect_api(settings):
            client = LabelStudioCredentials.load(label_studio_block).get_client()
            target = control.webhook_target(settings, receiver_url) if webhook else None
            registration = wire_dataset(declared, client, target)
    except (SpecError, LabelConfigError, StackError, ApiError, ValueError, OSError) as error:
        typer.echo(f"error: {_said(error)}", err=True)
        raise typer.Exit(1) from None
    hook = f"webhook {registration.webhook_id}" if registration.webhook_id else "no webhook"
    typer.echo(
        f"registered data set {declared.spec.name}: Label Studio project "
        f"{registration.project_id} ({declared.spec.project!r}), {hook}, "
        f"{len(registration.landing)} landing source(s)"
    )


@dataset_app.command("list")
def dataset_list() -> None:
    """The registered data sets, their projects and landing sources."""
    try:
        with control.prefect_api(StackSettings()):
            for name in registered_names():
                try:
                    registration = load_registration(name)
                except SpecError as error:
                    typer.echo(f"{name:<20} {error}")
                    continue
                if registration is None:
                    continue
                paths = ", ".join(_where(s) for s in registration.landing) or "no landing"
                typer.echo(f"{name:<20} project {registration.project_id}  {paths}")
    except (StackError, ValueError, OSError) as error:
        typer.echo(f"error: {_said(error)}", err=True)
        raise typer.Exit(1) from None


@dataset_app.command("remove")
def dataset_remove(
    name: str = typer.Argument(..., help="The data set's name."),
    label_studio_block: str = typer.Option(control.LOCAL_BLOCK, help="LabelStudioCredentials block."),
) -> None:
    """Unregister a data set and delete its project's webhook; its project, files, labels
    and models stay."""
    try:
        with control.prefect_api(StackSettings()):
            client = LabelStudioCredentials.load(label_studio_block).get_client()
            removed = unwire_dataset(name, client)
    except (SpecError, StackError, ApiError, ValueError, OSError) as error:
        typer.echo(f"error: {_said(error)}", err=True)
        raise typer.Exit(1) from None
    if removed is None:
        typer.echo(f"error: no data set {name!r} is registered", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed data set {name} (project {removed.project_id} and its data are kept)")


def _declared(source: str, landing: list[str] | None) -> DatasetFile:
    """A spec file's data set, or a shipped one's; `--landing` replaces the landing."""
    if source in SHIPPED:
        declared = DatasetFile(spec=SHIPPED[source])
    else:
        declared = read_dataset_file(Path(source))
    if landing:
        sources = [LocalSource(path=str(Path(path).expanduser().resolve())) for path in landing]
        declared = declared.model_copy(update={"landing": sources})
    return declared


def _said(error: Exception) -> str:
    """An error as one line for the terminal. Of a Label Studio error only the status and
    its `detail` are shown: a validation error's body may echo what was sent, the
    webhook's secret header among it."""
    if isinstance(error, ApiError):
        detail = error.body.get("detail") if isinstance(error.body, dict) else None
        return f"Label Studio answered {error.status_code}" + (f": {detail}" if detail else "")
    return str(error)


def _where(source: Source) -> str:
    if isinstance(source, LocalSource):
        return source.path
    if isinstance(source, S3Source):
        return f"s3://{source.bucket}/{source.prefix}"
    return ", ".join(str(url) for url in source.urls)


@app.command("demo")
def demo(
    rounds: int = typer.Option(3, help="Label-train rounds the annotator bots play."),
    batch_size: int = typer.Option(60, help="Items pushed to Label Studio per round."),
    ready_threshold: int = typer.Option(
        None, help="New labels that start a retrain (default: half a batch)."
    ),
    accuracy: float = typer.Option(None, help="Chance a bot picks the true label [0.95]."),
    skip_rate: float = typer.Option(None, help="Chance a bot skips a task [0.03]."),
    bot: bool = typer.Option(True, help="--no-bot leaves the labelling to people."),
) -> None:
    """The main job on local defaults: the loop on scikit-learn's digits, running by itself."""
    try:
        params = DemoParams(
            rounds=rounds, batch_size=batch_size, ready_threshold=ready_threshold, bot=bot
        )
        behaviour = {"accuracy": accuracy, "skip_rate": skip_rate}
        team = params.team.model_validate(
            params.team.model_dump() | {k: v for k, v in behaviour.items() if v is not None}
        )
        run_demo(StackSettings(), params.model_copy(update={"team": team}))
    except (StackError, ValidationError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command("receiver")
def receiver(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(None, help="Port (default: LABELLOOP_PORT_BASE + 3)."),
    secret_block: str = typer.Option(
        control.WEBHOOK_SECRET_BLOCK, help="Prefect Secret block holding the shared secret."
    ),
) -> None:
    """Receive Label Studio webhooks and emit `labelloop.annotations.changed` events."""
    hide_websocket_frames()
    secret = Secret.load(secret_block).get()
    port = port if port is not None else StackSettings().receiver_port
    uvicorn.run(create_app(SecretStr(str(secret))), host=host, port=port, log_level="info")


@app.command("serve")
def serve(
    file: Path = typer.Option(Path("prefect.yaml"), help="The prefect.yaml whose deployments to serve."),
    poll_seconds: float = typer.Option(1.0, help="How often the runner asks for scheduled runs."),
) -> None:
    """Serve every deployment of prefect.yaml (schedules and triggers) from this process.

    The process becomes `python -m stack.serving` (same pid), whose forkserver
    imports the flows once and forks each run's process; every run's process has the
    serving process's main module loaded, and that module imports little beyond
    Prefect, this command everything.
    """
    command = [sys.executable, "-m", "stack.serving", "--file", str(file)]
    os.execv(sys.executable, [*command, "--poll-seconds", str(poll_seconds)])


@model_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Model name (models/<name>/)."),
    version: str = typer.Argument(..., help="The earlier version to serve again."),
    store_block: str = typer.Option("local", help="DataStore block holding the registry."),
    reason: str | None = typer.Option(None, help="Recorded with the pointer."),
) -> None:
    """Point the champion back at an earlier version (checked before the pointer moves)."""
    store = DataStore.load(store_block)
    pointer = rollback_champion(
        store, name, version, reason=reason, extra_trusted=store.trusted_types
    )
    typer.echo(f"{name}: champion is now {pointer.version}")


if __name__ == "__main__":
    app()
