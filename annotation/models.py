"""Typed models of the Label Studio JSON that labelloop consumes.

The tasks layer hands over plain dicts (an SDK object's ``model_dump(mode="json")``
or a raw API answer); they are parsed here once, and nothing else indexes into
Label Studio JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from annotation.errors import LabelStudioDataError

ITEM_ID_KEY = "item_id"


class _LSModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LSResult(_LSModel):
    """One region of an annotation or prediction result.

    For a classification it is ``{"from_name", "to_name", "type": "choices",
    "value": {"choices": [...]}}``. Label Studio stores whatever JSON its API is given,
    so a region of another shape still parses: ``problem`` says what is wrong with it,
    and the task it belongs to stays readable.
    """

    from_name: str = ""
    to_name: str = ""
    type: str = ""
    value: Any = Field(default_factory=dict)
    problem: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_malformed(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return {"problem": f"a region is a {type(raw).__name__}, not an object"}
        raw = {key: value for key, value in raw.items() if key != "problem"}  # ours to set
        wrong = [
            f"{key} is a {type(raw[key]).__name__}"
            for key in ("from_name", "to_name", "type")
            if key in raw and not isinstance(raw[key], str)
        ]
        if wrong:
            return {"problem": f"a region's {', '.join(wrong)}, not a string"}
        return raw

    @property
    def choices(self) -> list[str]:
        """The chosen labels of a ``choices`` region (empty for other region types)."""
        return self.choice_list() or []

    def choice_list(self) -> list[str] | None:
        """The chosen labels, or None when ``value.choices`` is not a list of strings."""
        raw = self.value.get("choices") if isinstance(self.value, Mapping) else None
        if not isinstance(raw, list) or not all(isinstance(choice, str) for choice in raw):
            return None
        return list(raw)

    def choices_problem(self) -> str:
        """What is wrong with ``value.choices`` (for a region whose choice_list is None)."""
        if not isinstance(self.value, Mapping):
            return f"its value is a {type(self.value).__name__}, not an object"
        raw = self.value.get("choices")
        if not isinstance(raw, list):
            return f"its choices are a {type(raw).__name__}, not a list"
        return "its choices are not all strings"


class LSAnnotation(_LSModel):
    """A person's annotation of one task."""

    id: int
    result: list[LSResult] = Field(default_factory=list)
    completed_by: int | None = None
    was_cancelled: bool = False

    @field_validator("result", mode="before")
    @classmethod
    def _result_is_a_list(cls, raw: Any) -> Any:
        if raw is None:
            return []
        if not isinstance(raw, list):
            problem = f"the result is a {type(raw).__name__}, not a list"
            return [LSResult.model_construct(problem=problem)]
        return raw
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    lead_time: float | None = None

    @property
    def last_changed_at(self) -> dt.datetime | None:
        """When the annotation was last written (``updated_at``, else ``created_at``)."""
        return self.updated_at or self.created_at


class LSPrediction(_LSModel):
    """A model's pre-annotation of one task."""

    id: int | None = None
    result: list[LSResult] = Field(default_factory=list)
    model_version: str | None = None
    score: float | None = None
    created_at: dt.datetime | None = None


class LSTask(_LSModel):
    """A Label Studio task with the annotations and predictions that were included."""

    id: int
    data: dict[str, Any]
    annotations: list[LSAnnotation] = Field(default_factory=list)
    predictions: list[LSPrediction] = Field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def item_id(self) -> str:
        """The labelloop ``item_id`` carried in the task data.

        Raises:
            LabelStudioDataError: the task has no ``item_id`` in its data.
        """
        value = self.data.get(ITEM_ID_KEY)
        if value is None or value == "":
            raise LabelStudioDataError(f"task {self.id} has no '{ITEM_ID_KEY}' in its data")
        return str(value)

    @property
    def has_item_id(self) -> bool:
        """Whether the task carries an ``item_id`` (tasks made outside labelloop may not)."""
        return self.data.get(ITEM_ID_KEY) not in (None, "")

    @property
    def shown_model_version(self) -> str | None:
        """The model version of the newest prediction on the task, if any."""
        dated = [p for p in self.predictions if p.model_version]
        if not dated:
            return None
        newest = max(
            dated, key=lambda p: (p.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), p.id or 0)
        )
        return newest.model_version


def parse_task(raw: Mapping[str, Any]) -> LSTask:
    """Parse one task dict.

    Args:
        raw: a task as the API or ``model_dump(mode="json")`` of an SDK task gives it.

    Returns:
        The typed task.

    Raises:
        LabelStudioDataError: the dict does not look like a task (names the task id).
    """
    try:
        return LSTask.model_validate(dict(raw))
    except ValidationError as exc:
        task_id = raw.get("id", "<no id>") if isinstance(raw, Mapping) else "<not a mapping>"
        raise LabelStudioDataError(f"task {task_id}: not a Label Studio task: {exc}") from exc


def parse_tasks(raws: Iterable[Mapping[str, Any]]) -> list[LSTask]:
    """Parse many task dicts.

    Args:
        raws: task dicts.

    Returns:
        The typed tasks, in order.
    """
    return [parse_task(raw) for raw in raws]


class _IdOnly(_LSModel):
    id: int


class _ProjectRef(_LSModel):
    id: int
    title: str | None = None


class LSWebhookEvent(_LSModel):
    """A Label Studio webhook call, reduced to what starts a sync.

    ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` carry ``task`` and
    ``annotation``; ``ANNOTATIONS_DELETED`` carries ``annotations`` (ids only) and
    no task. Every payload carries the whole ``project`` (including its sharing
    token: never log a payload).
    """

    action: str
    project: _ProjectRef | None = None
    task: _IdOnly | None = None
    annotation: _IdOnly | None = None
    annotations: list[_IdOnly] = Field(default_factory=list)

    @property
    def project_id(self) -> int | None:
        """The project the call is about."""
        return self.project.id if self.project else None

    @property
    def project_title(self) -> str | None:
        """The project's title (labelloop's stable project name)."""
        return self.project.title if self.project else None

    @property
    def annotation_ids(self) -> tuple[int, ...]:
        """The annotations created, updated or deleted."""
        single = [self.annotation.id] if self.annotation else []
        return tuple(single + [annotation.id for annotation in self.annotations])


def parse_webhook(raw: Mapping[str, Any]) -> LSWebhookEvent:
    """Parse a webhook body.

    Args:
        raw: the JSON body Label Studio posted.

    Returns:
        The event.

    Raises:
        LabelStudioDataError: the body has no ``action`` or malformed ids.
    """
    try:
        return LSWebhookEvent.model_validate(dict(raw))
    except (ValidationError, TypeError, ValueError) as exc:
        raise LabelStudioDataError(f"not a Label Studio webhook body: {exc}") from exc
