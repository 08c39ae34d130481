"""The collection manifest: what was taken from which source, so reruns are incremental.

Decisions are pure functions over a :class:`Manifest` and a listing; storing the
manifest (one JSON document under ``state/``) is the caller's job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from collection.sources import SourceObject

MANIFEST_VERSION = 1


class ManifestEntry(BaseModel):
    """The last outcome for one source object."""

    uri: str
    status: Literal["collected", "failed"]
    version: str | None = Field(default=None, description="Listing version at collection time.")
    size: int | None = None
    checksum: str | None = Field(default=None, description="SHA-256 of the bytes collected.")
    batches: list[str] = Field(default_factory=list, description="Raw batch ids written from it.")
    rows: int = 0
    error: str | None = None
    attempts: int = 0
    updated_at: datetime


class Manifest(BaseModel):
    """Every source object a data set's collection has seen."""

    version: int = MANIFEST_VERSION
    dataset: str
    entries: dict[str, ManifestEntry] = Field(default_factory=dict)

    def record(self, entry: ManifestEntry) -> Manifest:
        """A new manifest with ``entry`` replacing the one for its URI.

        Args:
            entry: the outcome to record.

        Returns:
            The updated manifest (this one is not modified).
        """
        return self.model_copy(update={"entries": {**self.entries, entry.uri: entry}})


def plan_collection(listing: list[SourceObject], manifest: Manifest) -> list[SourceObject]:
    """Objects to (re)collect: new ones, changed ones, and ones that failed before.

    An object whose listing gives no version (HTTP) is planned every time; the caller
    compares its checksum with the manifest's after fetching (:func:`unchanged`).

    Args:
        listing: objects listed from the sources.
        manifest: what was collected so far.

    Returns:
        The objects to fetch, in listing order, without repeated URIs.
    """
    planned: list[SourceObject] = []
    seen: set[str] = set()
    for obj in listing:
        if obj.uri in seen:
            continue
        seen.add(obj.uri)
        entry = manifest.entries.get(obj.uri)
        if (
            entry is None
            or entry.status == "failed"
            or obj.version is None
            or entry.version != obj.version
        ):
            planned.append(obj)
    return planned


def unchanged(entry: ManifestEntry | None, checksum: str) -> bool:
    """Whether fetched bytes equal what was collected before (no new batch needed).

    Args:
        entry: the object's manifest entry from earlier runs, if any.
        checksum: SHA-256 of the fetched bytes.

    Returns:
        True if the entry is a successful collection of the same bytes.
    """
    return entry is not None and entry.status == "collected" and entry.checksum == checksum
