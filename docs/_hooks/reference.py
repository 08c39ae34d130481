"""MkDocs hook: the Reference pages, generated from the code at every build.

Nothing here is written by hand, so the reference cannot drift from the code:

- `reference/params.md`: every flow's `*Params` pydantic model (and the models nested in
  it): each field's type, default, constraints and description, read from the model.
- `reference/events.md`: every event labelloop emits, read from the source with `ast`:
  where it is sent, its resource, every payload key and the expression that fills it, and
  the `prefect.yaml` deployments whose triggers expect it.
- `reference/blocks.md`: every block's fields (as for the Params) and its docstring and
  methods through mkdocstrings.
- `reference/cli.md`: `labelloop --help` and the help of every subcommand.

Generated pages live only in the build (`File.generated`); nothing is written to `docs/`.
The project's modules are imported here, at build time, which is why none of them may do
work at import time.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml
from mkdocs.config.defaults import MkDocsConfig
from prefect.blocks.core import Block
from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
# The flow modules whose *Params models are documented, in the loop's order.
FLOW_MODULES = [
    "flows.collect",
    "flows.cleanse",
    "flows.annotate",
    "flows.sync",
    "flows.sync_session",
    "flows.train",
    "flows.preannotate",
    "flows.monitor",
]
# Where events are emitted: every `announce(...)` call and every event model built with
# `event=` and `payload=` under these packages.
EVENT_SOURCES = ["flows", "tasks", "monitoring", "webhooks", "annotation"]
EVENT_NAME = re.compile(r"labelloop\.[a-z_]+\.[a-z_]+")
LAYOUT_MARKER = "<!-- labelloop:layout -->"
BLOCKS = ["blocks.DataStore", "blocks.LabelStudioCredentials", "blocks.DatasetRegistration"]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated Reference pages to the build."""
    pages = {
        "reference/params.md": params_page(),
        "reference/events.md": events_page(),
        "reference/blocks.md": blocks_page(),
        "reference/cli.md": cli_page(),
    }
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Files) -> str:
    """Fill the markers a hand-written page leaves for text that lives in the code."""
    if LAYOUT_MARKER in markdown:
        markdown = markdown.replace(LAYOUT_MARKER, layout_tree())
    return markdown


def layout_tree() -> str:
    """The tree of DataStore keys, as `storage/layout.py`'s docstring draws it."""
    doc = inspect.getdoc(import_quietly("storage.layout")) or ""
    match = re.search(r"```\n(.*?)```", doc, re.S)
    if not match:
        raise RuntimeError("storage/layout.py's docstring no longer draws the key tree in a ``` block")
    return f"```text\n{match.group(1)}```"


# ---------------------------------------------------------------- models (Params, blocks)


def import_quietly(name: str) -> types.ModuleType:
    """Import a project module. Prefect's `@flow` parses each flow function's docstring with
    griffe (for the parameter descriptions of its schema), and griffe warns about every
    `Args:` entry without a type in the docstring; in a strict build those warnings, which
    are about Prefect's parse and not about these pages, would fail it."""
    # mkdocstrings routes griffe's messages to this logger (griffe.patch_loggers).
    griffe = logging.getLogger("mkdocs.plugins.griffe")
    level = griffe.level
    griffe.setLevel(logging.ERROR)
    try:
        return importlib.import_module(name)
    finally:
        griffe.setLevel(level)


def type_name(annotation: Any) -> str:
    """A short, readable name for a field's type."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models a field's type names (a nested model, a list of them, ...)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from nested_models(arg)


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return f"`{type(value).__name__}()` defaults"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{text}`"


def constraints_text(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        text = re.sub(r"^(\w+)\((\w+)=(.*)\)$", r"\2 \3", repr(item))
        parts.append(text.replace("|", "\\|"))
    return ", ".join(f"`{part}`" for part in parts)


def cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def model_table(model: type[BaseModel], skip: set[str] = frozenset()) -> tuple[str, list[type[BaseModel]]]:
    """The fields of a model as a Markdown table, and the models nested in it."""
    rows = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    nested: list[type[BaseModel]] = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        rows.append(
            f"| `{name}` | {type_name(info.annotation)} | {default_text(info)} | "
            f"{constraints_text(info)} | {cell(info.description)} |"
        )
        nested.extend(m for m in nested_models(info.annotation) if m not in nested)
    return "\n".join(rows), nested


def first_paragraph(obj: object) -> str:
    """The first paragraph of a class's own docstring (never one inherited from pydantic)."""
    doc = inspect.cleandoc(vars(obj).get("__doc__") or "")
    return doc.split("\n\n", 1)[0].strip()


def params_page() -> str:
    lines = [
        "# Flow parameters",
        "",
        "Generated from the code at every build: each flow's `*Params` model, the form of",
        "its deployment in the Prefect UI and the flags of its script",
        "(`python flows/<file>.py --help`; a nested field `gate.min_improvement` is the flag",
        "`--gate-min-improvement`). A value the model rejects fails before anything runs.",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    for module_name in FLOW_MODULES:
        module = import_quietly(module_name)
        for name, model in vars(module).items():
            if not (name.endswith("Params") and inspect.isclass(model) and issubclass(model, BaseModel)):
                continue
            if model.__module__ != module_name:
                continue
            flows = [
                obj.name
                for obj in vars(module).values()
                if type(obj).__name__ == "Flow" and obj.fn.__module__ == module_name
            ]
            lines += [f"## `{name}`", ""]
            lines += [f"Flow {', '.join(f'`{f}`' for f in flows)}, `{module_name.replace('.', '/')}.py`.", ""]
            lines += [first_paragraph(model), ""]
            queue = [model]
            while queue:
                current = queue.pop(0)
                if current in seen and current is not model:
                    continue
                seen.add(current)
                table, nested = model_table(current)
                if current is not model:
                    lines += [f"### `{current.__name__}`", "", first_paragraph(current), ""]
                lines += [table, ""]
                queue.extend(m for m in nested if m not in seen)
    return "\n".join(lines)


def blocks_page() -> str:
    lines = [
        "# Blocks",
        "",
        "Generated from the code at every build. Register the block types on a Prefect",
        "server with `prefect block register -m blocks`; `labelloop stack up` saves the local",
        "stack's documents (see [Concepts](../concepts.md#blocks)).",
        "",
    ]
    block_fields = set(Block.model_fields)
    for path in BLOCKS:
        module_name, name = path.rsplit(".", 1)
        block = getattr(import_quietly(module_name), name)
        table, _ = model_table(block, skip=block_fields)
        lines += [
            f"## `{name}`",
            "",
            f"Block type slug `{block.get_block_type_slug()}`.",
            "",
            table,
            "",
            f"::: {block.__module__}.{name}",
            "    options:",
            "      show_root_heading: false",
            "      show_source: false",
            "      members_order: source",
            "      filters: [\"!^_\", \"!model_config\"]",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- events


@dataclass
class Emission:
    """One place in the source that sends an event."""

    where: str
    resource: str
    payload: list[tuple[str, str]] = field(default_factory=list)


def call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def event_constants(trees: dict[str, ast.Module]) -> dict[str, str]:
    """Every module-level `NAME = "labelloop...."` of the scanned sources."""
    names: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                value = node.value.value
                if isinstance(value, str) and EVENT_NAME.fullmatch(value):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            names[target.id] = value
    return names


def assignment_in(function: ast.AST | None, name: str) -> ast.expr | None:
    """The last plain `name = ...` inside a function, for a payload or event kept in a variable."""
    found = None
    if function is None:
        return None
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            found = node.value
    return found


def resolve_events(node: ast.expr, constants: dict[str, str], function: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return resolve_events(node.body, constants, function) + resolve_events(node.orelse, constants, function)
    name = call_name(node)
    if name in constants:
        return [constants[name]]
    if isinstance(node, ast.Name):
        value = assignment_in(function, node.id)
        if value is not None:
            return resolve_events(value, constants, function)
    return []


def resolve_resource(node: ast.expr | None) -> str:
    """`labelloop.<kind>.<name>` from a `*_resource(...)` call in the expression."""
    if node is None:
        return ""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = call_name(sub.func)
            if name.endswith("_resource") and name != "_resource":
                return f"labelloop.{name.removesuffix('_resource')}.<name>"
            if name == "_resource" and sub.args and isinstance(sub.args[0], ast.Constant):
                return f"labelloop.{sub.args[0].value}.<name>"
    return ""


def payload_keys(node: ast.expr | None, function: ast.AST | None) -> list[tuple[str, str]] | None:
    """The keys of a payload dict literal, each with the expression that fills it."""
    if isinstance(node, ast.Name):
        node = assignment_in(function, node.id)
    if not isinstance(node, ast.Dict):
        return None
    keys = []
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant):
            keys.append((str(key.value), ast.unparse(value)))
    return keys


def enclosing_functions(tree: ast.Module) -> Iterator[tuple[ast.AST | None, ast.Call]]:
    """Every call of a module with the function it is in."""
    stack: list[tuple[ast.AST | None, ast.AST]] = [(None, tree)]
    while stack:
        function, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                yield function, child
            stack.append((inner, child))


def scan_events() -> tuple[dict[str, list[Emission]], list[str]]:
    """Every event sent from the sources, and the places that add keys to a built event."""
    trees = {}
    for package in EVENT_SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            trees[str(path.relative_to(ROOT))] = ast.parse(path.read_text(), filename=str(path))
    constants = event_constants(trees)
    emitted: dict[str, list[Emission]] = {value: [] for value in sorted(set(constants.values()))}
    additions: list[str] = []
    for path, tree in trees.items():
        for function, call in enclosing_functions(tree):
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            if call_name(call.func) == "announce" and len(call.args) == 3:
                event, resource, payload = call.args
            elif "event" in keywords and "payload" in keywords:
                event, resource, payload = keywords["event"], keywords.get("resource"), keywords["payload"]
            else:
                continue
            names = resolve_events(event, constants, function)
            keys = payload_keys(payload, function)
            where = f"`{path}:{call.lineno}`"
            if not names:
                # Re-sends an event built elsewhere; record the keys it adds, if any.
                if keys:
                    added = ", ".join(f"`{k}`" for k, _ in keys)
                    additions.append(f"{where} ({function.name if function else 'module'}) adds {added} "
                                     f"to the event `{ast.unparse(event)}` it sends.")
                continue
            for name in names:
                emitted.setdefault(name, []).append(Emission(where, resolve_resource(resource), keys or []))
    return emitted, additions


def triggered_deployments() -> dict[str, list[str]]:
    """Event name -> the `prefect.yaml` deployments whose triggers expect it."""
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    found: dict[str, list[str]] = {}
    for deployment in spec.get("deployments", []):
        for trigger in deployment.get("triggers") or []:
            for name in trigger.get("expect") or []:
                found.setdefault(name, []).append(deployment["name"])
    return found


def events_page() -> str:
    emitted, additions = scan_events()
    triggers = triggered_deployments()
    lines = [
        "# Events",
        "",
        "Generated from the source at every build: every place that sends an event, its",
        "resource, each payload key with the expression that fills it, and the deployments",
        "of `prefect.yaml` whose triggers expect it. Event names live in `tasks/events.py`",
        "(and, for monitoring, `monitoring/decisions.py`); they are a public interface.",
        "Every resource also carries `prefect.resource.name` (the data set, project or",
        "model name), which a trigger passes on as `{{ event.resource.name }}`.",
        "",
    ]
    for name, emissions in emitted.items():
        lines += [f"## `{name}`", ""]
        takers = sorted(set(triggers.get(name, [])))
        lines += [
            "Triggers: " + (", ".join(f"`{t}`" for t in takers) if takers else "none in `prefect.yaml`") + ".",
            "",
        ]
        if not emissions:
            lines += ["Not sent by the scanned sources.", ""]
        for emission in emissions:
            resource = f", resource `{emission.resource}`" if emission.resource else ""
            lines += [f"Sent at {emission.where}{resource}.", ""]
            if emission.payload:
                lines += ["| payload key | filled from |", "|---|---|"]
                lines += [f"| `{k}` | `{cell(v)}` |" for k, v in emission.payload]
                lines += [""]
    if additions:
        lines += ["## Keys added when an event is sent on", ""]
        lines += [f"- {line}" for line in additions]
        lines += [""]
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI


def commands(command: Any, path: list[str]) -> Iterator[list[str]]:
    """The path of every command and group under a (typer) click command."""
    yield path
    if hasattr(command, "list_commands"):
        context = type(command).context_class(command)
        for name in command.list_commands(context):
            yield from commands(command.get_command(context, name), [*path, name])


def cli_page() -> str:
    cli = import_quietly("labelloop.cli")
    root = typer.main.get_command(cli.app)
    runner = CliRunner()
    lines = [
        "# The `labelloop` command",
        "",
        "Generated at every build from the command's own `--help`. Run it as",
        "`.venv/bin/labelloop` from the repository (`make setup` installs it).",
        "",
    ]
    for path in commands(root, []):
        result = runner.invoke(
            cli.app, [*path, "--help"], prog_name="labelloop", env={"COLUMNS": "96", "NO_COLOR": "1", "TERM": "dumb"}
        )
        if result.exit_code != 0:
            raise RuntimeError(f"labelloop {' '.join(path)} --help failed: {result.output}")
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        level = "#" * min(2 + len(path), 4)
        lines += [f"{level} `labelloop{''.join(' ' + p for p in path)}`", "", "```text", text, "```", ""]
    return "\n".join(lines)
