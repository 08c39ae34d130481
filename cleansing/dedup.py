"""Dedup by item_id within a batch and against ids already clean. Nothing is dropped silently:
duplicates come back as a frame with a reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from cleansing.hashing import ids_to_raw

DuplicateReason = Literal["duplicate_in_batch", "already_clean"]
IN_BATCH: DuplicateReason = "duplicate_in_batch"
ALREADY_CLEAN: DuplicateReason = "already_clean"
REASON_COLUMN = "duplicate_reason"


class KnownIds:
    """A compact, growing set of item ids (16 bytes per id).

    Ids are kept as sorted ``S16`` segments that merge when sizes are close, so adding
    chunk after chunk costs O(n log n) overall and membership is a few binary searches.

    Args:
        ids: initial ids (hex strings), e.g. every item_id already under ``clean/``.
    """

    def __init__(self, ids: Iterable[str] | np.ndarray | pd.Series = ()) -> None:
        self._segments: list[np.ndarray] = []
        initial = ids if isinstance(ids, np.ndarray) and ids.dtype == np.dtype("S16") else None
        if initial is not None:
            self.add_raw(initial)
        else:
            values = list(ids)
            if values:
                self.add_raw(ids_to_raw(values))

    def __len__(self) -> int:
        return sum(len(segment) for segment in self._segments)

    def add_raw(self, raw: np.ndarray) -> None:
        """Add ``S16`` digests.

        Args:
            raw: digests (duplicates allowed; they are collapsed).
        """
        if len(raw) == 0:
            return
        self._segments.append(np.unique(raw))
        while len(self._segments) > 1 and len(self._segments[-2]) <= 2 * len(self._segments[-1]):
            last = self._segments.pop()
            previous = self._segments.pop()
            self._segments.append(np.unique(np.concatenate([previous, last])))

    def add(self, ids: Iterable[str]) -> None:
        """Add hex ids.

        Args:
            ids: 32-character hex item ids.
        """
        self.add_raw(ids_to_raw(list(ids)))

    def contains_raw(self, raw: np.ndarray) -> np.ndarray:
        """Membership of ``S16`` digests.

        Args:
            raw: digests to look up.

        Returns:
            Boolean array, True where the digest is known.
        """
        found = np.zeros(len(raw), dtype=bool)
        for segment in self._segments:
            position = np.searchsorted(segment, raw)
            position = np.minimum(position, len(segment) - 1)
            found |= segment[position] == raw
        return found

    def contains(self, ids: Iterable[str]) -> np.ndarray:
        """Membership of hex ids.

        Args:
            ids: 32-character hex item ids.

        Returns:
            Boolean array, True where the id is known.
        """
        return self.contains_raw(ids_to_raw(list(ids)))


class DedupResult(BaseModel):
    """Unique rows and the duplicates (with ``duplicate_reason``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    unique: pd.DataFrame
    duplicates: pd.DataFrame


def dedup(
    df: pd.DataFrame,
    known: KnownIds | Iterable[str] | None = None,
    *,
    id_column: str = "item_id",
) -> DedupResult:
    """Split rows into first occurrences and duplicates.

    A row is a duplicate if its id is already known (``already_clean``) or appeared earlier
    in ``df`` (``duplicate_in_batch``). Row order is kept.

    Args:
        df: rows with an id column.
        known: ids already clean (a :class:`KnownIds`, or any iterable of hex ids).
        id_column: the id column.

    Returns:
        A :class:`DedupResult`; ``len(unique) + len(duplicates) == len(df)``.

    Raises:
        KeyError: if ``id_column`` is absent.
    """
    if id_column not in df.columns:
        raise KeyError(f"dedup: column {id_column!r} not in frame (columns: {list(df.columns)})")
    ids = df[id_column]
    in_batch = ids.duplicated(keep="first").to_numpy(dtype=bool)
    if known is None:
        already = np.zeros(len(df), dtype=bool)
    else:
        known_set = known if isinstance(known, KnownIds) else KnownIds(known)
        already = known_set.contains(ids) if len(known_set) and len(df) else np.zeros(len(df), dtype=bool)
    is_dup = in_batch | already
    duplicates = df.loc[is_dup].copy()
    duplicates[REASON_COLUMN] = np.where(already[is_dup], ALREADY_CLEAN, IN_BATCH)
    duplicates[REASON_COLUMN] = duplicates[REASON_COLUMN].astype("str")
    return DedupResult(unique=df.loc[~is_dup], duplicates=duplicates)
