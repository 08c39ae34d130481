"""Every `labelloop` command the README and the docs show parses as the command has it.

Each command line in a ```bash block, and each inline `labelloop ...` / `.venv/bin/labelloop
...` span, is parsed by the real command tree (click's own parser, nothing runs): a renamed
subcommand or option, or an option a page invents, fails here before a user meets it.
Synopsis lines (with `[...]` or `...`) are left out. Running the commands is the job of
the tests that use the stack (tests/integration/test_own_data_guide.py runs the guides'
"Try it" blocks as written).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from labelloop.cli import app
from stack.prefect_yaml import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
# a command at the start of a line or of `$(...)`, as a shell would run it
COMMAND = re.compile(r"(?:^|\$\()\s*(?:\.venv/bin/)?labelloop((?:\s+[^\s`)#\"']+)*)")


def command_lines(document: Path) -> list[tuple[str, bool]]:
    """The `labelloop` command lines of a document, each with whether it is complete: a
    bash block's line is, an inline span in the prose may only name a command."""
    text = document.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].split(" # ", 1)[0]
            found += [(m.group(1), True) for m in COMMAND.finditer(line)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):  # a span may wrap onto the next line
        span = " ".join(span.split())
        found += [(m.group(1), "-" in m.group(1)) for m in COMMAND.finditer(span)]
    return [
        (line.strip(), complete)
        for line, complete in found
        if "[" not in line and "..." not in line and line.strip()
    ]


def parse(args: list[str], complete: bool) -> None:
    """Resolve the subcommand path and, for a complete line, parse the rest as that
    command would."""
    command: Any = typer.main.get_command(app)
    path = ["labelloop"]
    while hasattr(command, "list_commands") and args and not args[0].startswith("-"):
        name = args.pop(0)
        sub = command.get_command(type(command).context_class(command), name)
        assert sub is not None, f"no command `{' '.join(path)} {name}`"
        command, path = sub, [*path, name]
    if complete:
        command.make_context(" ".join(path), args)


CASES = [
    (doc.relative_to(PROJECT_ROOT).as_posix(), line, complete)
    for doc in DOCUMENTS
    for line, complete in dict.fromkeys(command_lines(doc))
]


def test_the_docs_show_the_main_commands() -> None:
    shown = {line.split()[0] for _, line, _ in CASES}
    assert {"stack", "dataset", "demo", "serve"} <= shown


@pytest.mark.parametrize(("document", "line", "complete"), CASES, ids=[f"{d}:{l}" for d, l, _ in CASES])
def test_a_documented_command_parses(document: str, line: str, complete: bool) -> None:
    parse(shlex.split(line), complete)
