"""The pointer documents of the labels: which version is the newest, which one was trained on.

One model per document, one parser for both; ``tasks.state`` reads and writes them.
Every field added to a document has a default, so documents already stored stay readable.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Pointer = TypeVar("Pointer", bound=BaseModel)


class PointerError(ValueError):
    """A pointer document cannot be read (names its key)."""


class LabelsPointer(BaseModel):
    """``labels/<project>/latest.json``: the newest labels version.

    Attributes:
        version: the labels version id (ids sort by time).
        key: the store key of its parquet.
        labels: resolved labels in it.
        unresolved: items whose votes did not settle on a label.
    """

    model_config = ConfigDict(frozen=True)

    version: str = Field(min_length=1)
    key: str = Field(min_length=1)
    labels: int = Field(ge=0)
    unresolved: int = Field(default=0, ge=0)


class TrainedLabels(BaseModel):
    """``state/train/<project>.json``: the labels version the last training run used.

    Attributes:
        labels_key: the store key of that labels version.
        model: the model trained on it; None in records written before it was kept
            (they were all written by the model named like the project).
    """

    model_config = ConfigDict(frozen=True)

    labels_key: str = Field(min_length=1)
    model: str | None = None

    @property
    def version(self) -> str:
        """The labels version id (the key's file name)."""
        return PurePosixPath(self.labels_key).stem


def parse_labels_document(kind: type[Pointer], document: bytes, where: str) -> Pointer:
    """A pointer document of the given kind.

    Args:
        kind: :class:`LabelsPointer` or :class:`TrainedLabels`.
        document: the file's bytes.
        where: its key, for the error.

    Returns:
        The pointer.

    Raises:
        PointerError: the document is not JSON or not of that kind (names the key).
    """
    try:
        return kind.model_validate_json(document)
    except ValidationError as exc:
        raise PointerError(f"{where} is not a valid {kind.__name__}: {exc.errors()[0]['msg']}") from exc
