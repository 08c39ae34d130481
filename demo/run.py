"""The main job on local defaults: bring the stack up and run the loop's flows against it."""

from __future__ import annotations

import typer

from stack import control
from stack.settings import StackSettings


def run_demo(settings: StackSettings) -> None:
    """Bring the stack up and say where everything is."""
    states = control.up(settings)
    for state in states:
        typer.echo(f"{state.name:<13} {state.state:<8} {state.url}")
    typer.echo(
        "\nThe stack is up. Prefect UI: "
        f"{settings.prefect_api_url.removesuffix('/api')}  Label Studio: {settings.label_studio_url}\n"
        "Label Studio login: `.venv/bin/labelloop stack login`; stop with `make down`."
    )
