"""`python -m labelloop`: the `labelloop` command."""

from labelloop.cli import app

app()
