"""The local stack's Prefect server: `prefect server start`, with its SQLite write
transactions beginning `IMMEDIATE` (`stack.prefect_patches.server`).

    python -m stack.prefect_server --host 127.0.0.1 --port 4200
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from prefect.cli import app

from stack.logs import hide_websocket_frames
from stack.prefect_patches.server import use_immediate_transactions


def main(argv: Sequence[str] | None = None) -> None:
    """`prefect server start` with the given options, in this process."""
    options = sys.argv[1:] if argv is None else list(argv)
    use_immediate_transactions()
    hide_websocket_frames()
    sys.argv = ["prefect", "server", "start", *options]  # what Prefect's CLI parses
    app()


if __name__ == "__main__":
    main()
