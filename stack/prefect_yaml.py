"""The one reader of `prefect.yaml`: what labelloop needs of its deployments, typed.

`labelloop serve`, the demo and the tests read the file through `read_deployments`
(or a document already loaded through `deployments_of`); `served_document` writes the
copy of it that a serve under other names or parameters reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from pydantic import BaseModel, ConfigDict, Field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The folder of the project's own `prefect.yaml` (entrypoints are relative to it)."""


class DeploymentSpec(BaseModel):
    """The part of a `prefect.yaml` deployment that labelloop uses."""

    model_config = ConfigDict(extra="ignore")

    name: str
    entrypoint: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    concurrency_limit: int | ConcurrencyLimitConfig | None = None
    tags: list[str] = Field(default_factory=list)

    @property
    def entrypoint_file(self) -> str:
        """The entrypoint's file part (`flows/train.py` of `flows/train.py:retrain_model`)."""
        return self.entrypoint.rpartition(":")[0]


def deployments_of(
    document: Mapping[str, Any], source: object = "the document"
) -> list[DeploymentSpec]:
    """The deployments of a loaded `prefect.yaml` document.

    Args:
        document: the parsed YAML.
        source: what to name in the error (the file).

    Raises:
        ValueError: the document has no deployments (names `source`).
    """
    specs = [DeploymentSpec.model_validate(d) for d in document.get("deployments") or []]
    if not specs:
        raise ValueError(f"{source} declares no deployments")
    return specs


def read_deployments(path: Path) -> list[DeploymentSpec]:
    """The deployments declared in a `prefect.yaml`.

    Raises:
        ValueError: the file has no deployments (names the file).
    """
    return deployments_of(yaml.safe_load(path.read_text()) or {}, path)


def triggered_names(document: Mapping[str, Any]) -> set[str]:
    """The deployments of a `prefect.yaml` document that have triggers (automations)."""
    return {spec.name for spec in deployments_of(document) if spec.triggers}


def served_document(
    source: Path,
    names: Iterable[str] | None,
    suffix: str | None,
    extra: Iterable[Mapping[str, Any]] = (),
    keep_schedules: bool = False,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A `prefect.yaml` document with only the named deployments, renamed `<name>-<suffix>`.

    Args:
        source: the `prefect.yaml` to copy.
        names: the deployments to keep (None: all).
        suffix: appended to every deployment name (and to those of `extra`); None keeps
            the names.
        extra: more deployment entries to serve beside them (entrypoints relative to
            `source`'s folder, like the file's own).
        keep_schedules: keep the deployments' schedules (dropped by default, so only
            events start runs).
        changes: deployment name -> keys that replace the entry's own (e.g. other
            `parameters` or `schedules`), applied last.

    Returns:
        The document, entrypoints made absolute.

    Raises:
        ValueError: a name is not a deployment of `source` (names it).
    """
    declared = read_deployments(source)
    wanted = {spec.name for spec in declared} if names is None else set(names)
    kept = [spec for spec in declared if spec.name in wanted]
    missing = wanted - {spec.name for spec in kept}
    if missing:
        raise ValueError(f"{source} has no deployment named {sorted(missing)}")
    root = source.resolve().parent
    entries = [*(spec.model_dump(mode="json", exclude_none=True) for spec in kept), *extra]
    return {
        "deployments": [
            {
                **entry,
                "name": entry["name"] if suffix is None else f"{entry['name']}-{suffix}",
                "entrypoint": str(root / entry["entrypoint"]),
                **({} if keep_schedules else {"schedules": []}),
                **(changes or {}).get(entry["name"], {}),
            }
            for entry in entries
        ]
    }
