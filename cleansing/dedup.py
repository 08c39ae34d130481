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


def _halves(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.frombuffer(raw.tobytes(), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _repeat_mask(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order rows by ``hi`` and mark exact (hi, lo) repeats in that order.

    Only rows whose high half is shared are sorted again by (hi, lo, row), so the work is
    one integer sort. A repeat is every occurrence but the one with the smallest row.

    Returns:
        ``(order, repeat)``: the permutation and, aligned with it, the repeat mask.
    """
    order = np.argsort(hi)
    shi = hi[order]
    repeat = np.zeros(len(order), dtype=bool)
    same = shi[1:] == shi[:-1]
    if not same.any():
        return order, repeat
    shared = np.zeros(len(order), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    positions = np.flatnonzero(shared)
    rows = order[positions]
    sub = np.lexsort((rows, lo[rows], hi[rows]))
    sorted_rows = rows[sub]
    again = np.zeros(len(sub), dtype=bool)
    again[1:] = (hi[sorted_rows[1:]] == hi[sorted_rows[:-1]]) & (
        lo[sorted_rows[1:]] == lo[sorted_rows[:-1]]
    )
    repeat[positions[sub][again]] = True
    return order, repeat


def _sorted_unique(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Distinct (hi, lo) pairs as a (2, n) array sorted by hi."""
    order, repeat = _repeat_mask(hi, lo)
    keep = order[~repeat]
    return np.stack([hi[keep], lo[keep]])


def first_occurrence_duplicates(raw: np.ndarray) -> np.ndarray:
    """Mask of digests that already occurred earlier in ``raw``.

    Args:
        raw: ``S16`` digests.

    Returns:
        Boolean array, True for second and later occurrences.
    """
    hi, lo = _halves(raw)
    order, repeat = _repeat_mask(hi, lo)
    mask = np.zeros(len(raw), dtype=bool)
    mask[order] = repeat
    return mask


class KnownIds:
    """A compact, growing set of item ids (16 bytes per id).

    Ids are kept as sorted segments of two uint64 halves that merge when their sizes are
    close, so adding chunk after chunk costs O(n log n) overall and a lookup is a few
    binary searches.

    Args:
        ids: initial ids (hex strings, or an ``S16`` array), e.g. every clean item_id.
    """

    def __init__(self, ids: Iterable[str] | np.ndarray | pd.Series = ()) -> None:
        self._segments: list[np.ndarray] = []  # each (2, n): hi sorted, lo aligned
        if isinstance(ids, np.ndarray) and ids.dtype == np.dtype("S16"):
            self.add_raw(ids)
        else:
            values = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype="str")
            if len(values):
                self.add_raw(ids_to_raw(values))

    def __len__(self) -> int:
        return sum(segment.shape[1] for segment in self._segments)

    def add_raw(self, raw: np.ndarray) -> None:
        """Add ``S16`` digests.

        Args:
            raw: digests (repeats are collapsed).
        """
        if len(raw) == 0:
            return
        hi, lo = _halves(raw)
        self._segments.append(_sorted_unique(hi, lo))
        while (
            len(self._segments) > 1
            and self._segments[-2].shape[1] <= 2 * self._segments[-1].shape[1]
        ):
            last = self._segments.pop()
            merged = np.concatenate([self._segments.pop(), last], axis=1)
            self._segments.append(_sorted_unique(merged[0], merged[1]))

    def merge_from(self, other: KnownIds) -> None:
        """Add every id of another set (its segments are shared, not copied).

        Args:
            other: another set of ids.
        """
        for segment in other._segments:
            self._segments.insert(0, segment)
        self._segments.sort(key=lambda seg: -seg.shape[1])

    def add(self, ids: Iterable[str] | pd.Series) -> None:
        """Add hex ids.

        Args:
            ids: 32-character hex item ids.
        """
        values = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype="str")
        self.add_raw(ids_to_raw(values))

    def contains_raw(self, raw: np.ndarray) -> np.ndarray:
        """Membership of ``S16`` digests.

        Args:
            raw: digests to look up.

        Returns:
            Boolean array, True where the digest is known.
        """
        found = np.zeros(len(raw), dtype=bool)
        if len(raw) == 0:
            return found
        hi, lo = _halves(raw)
        for segment in self._segments:
            seg_hi, seg_lo = segment[0], segment[1]
            start = np.searchsorted(seg_hi, hi, side="left")
            stop = np.searchsorted(seg_hi, hi, side="right")
            runs = stop - start
            single = runs == 1
            found[single] |= seg_lo[start[single]] == lo[single]
            for row in np.flatnonzero(runs > 1):  # same high half, different ids: rare
                found[row] |= bool((seg_lo[start[row] : stop[row]] == lo[row]).any())
        return found

    def contains(self, ids: Iterable[str] | pd.Series) -> np.ndarray:
        """Membership of hex ids.

        Args:
            ids: 32-character hex item ids.

        Returns:
            Boolean array, True where the id is known.
        """
        values = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype="str")
        return self.contains_raw(ids_to_raw(values))


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
    raw: np.ndarray | None = None,
) -> DedupResult:
    """Split rows into first occurrences and duplicates.

    A row is a duplicate if its id is already known (``already_clean``) or appeared earlier
    in ``df`` (``duplicate_in_batch``). Row order is kept.

    Args:
        df: rows with an id column.
        known: ids already clean (a :class:`KnownIds`, or any iterable of hex ids).
        id_column: the id column.
        raw: the ``S16`` digests of the ids, if already at hand (saves parsing the hex).

    Returns:
        A :class:`DedupResult`; ``len(unique) + len(duplicates) == len(df)``.

    Raises:
        KeyError: if ``id_column`` is absent.
    """
    if id_column not in df.columns:
        raise KeyError(f"dedup: column {id_column!r} not in frame (columns: {list(df.columns)})")
    digests = raw if raw is not None else ids_to_raw(df[id_column])
    if len(digests) != len(df):
        raise ValueError(f"dedup: {len(digests)} digests for {len(df)} rows")
    in_batch = first_occurrence_duplicates(digests)
    if known is None:
        already = np.zeros(len(df), dtype=bool)
    else:
        known_set = known if isinstance(known, KnownIds) else KnownIds(known)
        already = known_set.contains_raw(digests)
    is_dup = in_batch | already
    duplicates = df.loc[is_dup].copy()
    duplicates[REASON_COLUMN] = np.where(already[is_dup], ALREADY_CLEAN, IN_BATCH)
    duplicates[REASON_COLUMN] = duplicates[REASON_COLUMN].astype("str")
    return DedupResult(unique=df.loc[~is_dup], duplicates=duplicates)
