"""Stable content hashes: the ``item_id`` of a row ("labelloop row hash v1").

The id is a 128-bit digest (32 hex characters) computed from a canonical encoding of
the row's content columns. It depends only on column names and values, never on
pandas', numpy's or pyarrow's hashing internals, so an id is the same across runs,
processes, machines and library versions.

Canonical encoding of a cell (after normalisation and schema coercion):

* missing (None, NA, NaN) -> tag ``n``;
* integers -> tag ``i``, the value as a 64-bit two's complement word;
* floats -> tag ``f``, the IEEE-754 float64 bit pattern (``-0.0`` as ``0.0``);
* booleans -> tag ``b``, word 0 or 1;
* datetimes -> tag ``t``, nanoseconds since the epoch (UTC);
* anything else -> tag ``s``, the UTF-8 bytes of its text.

Digest, per lane (two lanes with fixed seeds give 2 x 64 bits):

* a cell's digest is ``mix(word ^ tagkey ^ seed)`` for fixed-width cells; for text, the
  bytes are zero-padded to little-endian 64-bit words, word ``k`` contributes
  ``mix(word ^ (k+1)*P ^ tagkey ^ seed)``, the contributions are summed mod 2**64 and
  the sum is mixed with the byte length;
* a row's digest is ``mix(sum over columns of mix(cell ^ namekey(column)))`` where
  ``namekey`` is the text digest of the column name: order of columns does not matter,
  their names do.

``mix`` is the SplitMix64 finaliser. Everything is fixed integer arithmetic, vectorised
with numpy over whole columns (no per-row Python). :func:`reference_row_digest` is the
same definition in plain Python, used by the tests. It is a content id, not a
cryptographic hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

ID_HEX_CHARS = 32
_DIGEST_BYTES = 16
_MASK = (1 << 64) - 1
_LANE_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)
_POSITION_MULT = 0x9E3779B97F4A7C15
_LENGTH_MULT = 0xC2B2AE3D27D4EB4F
_TAG_MULT = 0xD6E8FEB86659FD93
_BLOCK_ROWS = 65_536
_TAGS = {"n": 1, "i": 2, "f": 3, "b": 4, "t": 5, "s": 6}
_SEEDS = np.array(_LANE_SEEDS, dtype=np.uint64)


def _tag_key(tag: str) -> int:
    return (_TAGS[tag] * _TAG_MULT) & _MASK


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix_int(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _MASK
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _text_block(data: np.ndarray, offsets: np.ndarray, tag_key: int) -> np.ndarray:
    """Text digests of rows ``data[offsets[i]:offsets[i+1]]`` -> uint64 (n, 2)."""
    lengths = np.diff(offsets)
    n = len(lengths)
    words = np.maximum((lengths + 7) // 8, 1)
    word_start = np.zeros(n, dtype=np.int64)
    np.cumsum(words[:-1], out=word_start[1:])
    total_words = int(words.sum())
    if total_words == n and int(lengths.max(initial=0)) <= 8:
        buf = np.zeros(n * 8, dtype=np.uint8)
    else:
        buf = np.zeros(total_words * 8, dtype=np.uint8)
    total_bytes = int(lengths.sum())
    if total_bytes:
        shift = np.repeat(word_start * 8 - offsets[:-1], lengths)
        shift += np.arange(offsets[0], offsets[-1], dtype=np.int64)
        buf[shift] = data[offsets[0] : offsets[-1]]
    values = buf.view("<u8").astype(np.uint64, copy=False)
    if total_words == n:
        position_key = np.full(n, _POSITION_MULT, dtype=np.uint64)
    else:
        position = np.arange(total_words, dtype=np.int64) - np.repeat(word_start, words)
        position_key = (position.astype(np.uint64) + np.uint64(1)) * np.uint64(_POSITION_MULT)
    length_key = lengths.astype(np.uint64) * np.uint64(_LENGTH_MULT)
    out = np.empty((n, 2), dtype=np.uint64)
    keyed = values ^ position_key ^ np.uint64(tag_key)
    for lane, seed in enumerate(_LANE_SEEDS):
        mixed = _mix(keyed ^ np.uint64(seed))
        summed = mixed if total_words == n else np.add.reduceat(mixed, word_start)
        out[:, lane] = _mix(summed ^ length_key ^ np.uint64(seed))
    return out


def _text_digests(text: pa.Array) -> np.ndarray:
    """Text digests of a pyarrow string array (nulls are digested as empty; mask them)."""
    binary = text.cast(pa.large_binary())
    if isinstance(binary, pa.ChunkedArray):
        binary = binary.combine_chunks()
    n = len(binary)
    if n == 0:
        return np.empty((0, 2), dtype=np.uint64)
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[
        binary.offset : binary.offset + n + 1
    ]
    data_buffer = binary.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, np.uint8)
    )
    tag_key = _tag_key("s")
    parts = [
        _text_block(data, offsets[start : min(start + _BLOCK_ROWS, n) + 1], tag_key)
        for start in range(0, n, _BLOCK_ROWS)
    ]
    return np.concatenate(parts)


def _word_digests(words: np.ndarray, tag: str) -> np.ndarray:
    keyed = words.astype(np.uint64, copy=False) ^ np.uint64(_tag_key(tag))
    return _mix(keyed[:, None] ^ _SEEDS[None, :])


def _column_words(series: pd.Series) -> tuple[np.ndarray, str] | None:
    """The 64-bit word and tag of each cell of a fixed-width column, or None for text."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype="int64", na_value=0).view(np.uint64), "b"
    if pd.api.types.is_integer_dtype(dtype):
        return series.to_numpy(dtype="int64", na_value=0).view(np.uint64), "i"
    if pd.api.types.is_float_dtype(dtype):
        floats = series.to_numpy(dtype="float64", na_value=np.nan)
        floats = np.where(floats == 0.0, 0.0, floats)
        return floats.view(np.uint64), "f"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = (
            series.dt.tz_convert("UTC").dt.tz_localize(None)
            if getattr(dtype, "tz", None)
            else series
        )
        return stamps.dt.as_unit("ns").to_numpy(dtype="int64", na_value=0).view(np.uint64), "t"
    return None


def _missing(series: pd.Series) -> np.ndarray:
    mask = series.isna().to_numpy(dtype=bool, copy=True)
    if pd.api.types.is_float_dtype(series.dtype):
        mask |= np.isnan(series.to_numpy(dtype="float64", na_value=np.nan))
    return mask


def column_digests(series: pd.Series) -> np.ndarray:
    """Cell digests of one column.

    Args:
        series: a normalised column.

    Returns:
        uint64 array of shape ``(len(series), 2)``.
    """
    fixed = _column_words(series)
    if fixed is not None:
        words, tag = fixed
        cells = _word_digests(words, tag)
    else:
        text = pa.array(series.astype("str"), type=pa.string(), from_pandas=True)
        cells = _text_digests(text)
    missing = _missing(series)
    if missing.any():
        cells[missing] = _word_digests(np.zeros(1, dtype=np.uint64), "n")[0]
    return cells


def _name_key(name: str) -> np.ndarray:
    digest = reference_text_digest(name.encode("utf-8"))
    return np.array(
        [int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")], dtype=np.uint64
    )


def row_digests(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """128-bit digests of the rows over ``columns``.

    Args:
        df: the frame.
        columns: content columns; every one must be in ``df``.

    Returns:
        numpy array of dtype ``S16`` (big-endian lane 0 then lane 1), one per row.

    Raises:
        KeyError: naming columns that are not in the frame.
        ValueError: if ``columns`` is empty.
    """
    if not columns:
        raise ValueError("row_digests needs at least one content column")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"content columns not in frame: {missing}")
    total = np.zeros((len(df), 2), dtype=np.uint64)
    for column in sorted(set(columns)):
        total += _mix(column_digests(df[column]) ^ _name_key(column)[None, :])
    lanes = _mix(total).astype(">u8")
    return lanes.view(f"S{_DIGEST_BYTES}").reshape(len(df))


def reference_text_digest(data: bytes, tag: str = "s") -> bytes:
    """Pure-Python text digest (two lanes, big-endian): the definition of the text rule.

    Args:
        data: UTF-8 bytes.
        tag: the cell tag folded into the digest (``"s"`` for text cells).

    Returns:
        16 bytes.
    """
    padded = data + b"\0" * ((-len(data)) % 8 if data else 8)
    words = [int.from_bytes(padded[i : i + 8], "little") for i in range(0, len(padded), 8)]
    lanes = []
    for seed in _LANE_SEEDS:
        total = 0
        for k, word in enumerate(words):
            position = ((k + 1) * _POSITION_MULT) & _MASK
            total = (total + _mix_int(word ^ position ^ _tag_key(tag) ^ seed)) & _MASK
        lanes.append(_mix_int(total ^ ((len(data) * _LENGTH_MULT) & _MASK) ^ seed))
    return b"".join(lane.to_bytes(8, "big") for lane in lanes)


def _reference_cell(value: Any) -> tuple[int, int]:
    if not isinstance(value, str) and pd.isna(value):
        words, tag = 0, "n"
    elif isinstance(value, bool | np.bool_):
        words, tag = int(value), "b"
    elif isinstance(value, int | np.integer):
        words, tag = int(value) & _MASK, "i"
    elif isinstance(value, float | np.floating):
        bits = np.array([0.0 if value == 0 else float(value)], dtype=np.float64).view(np.uint64)[0]
        words, tag = int(bits), "f"
    elif isinstance(value, pd.Timestamp):
        stamp = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        words, tag = int(stamp.as_unit("ns").value) & _MASK, "t"
    else:
        digest = reference_text_digest(str(value).encode("utf-8"))
        return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")
    lane_values = [_mix_int(words ^ _tag_key(tag) ^ seed) for seed in _LANE_SEEDS]
    return lane_values[0], lane_values[1]


def reference_row_digest(row: Mapping[str, Any]) -> bytes:
    """Pure-Python definition of one row's digest (what :func:`row_digests` computes).

    Args:
        row: ``{column: value}`` over the content columns.

    Returns:
        The 16-byte digest.
    """
    totals = [0, 0]
    for name in sorted(row):
        cell = _reference_cell(row[name])
        name_digest = reference_text_digest(name.encode("utf-8"))
        keys = (int.from_bytes(name_digest[:8], "big"), int.from_bytes(name_digest[8:], "big"))
        for lane in range(2):
            totals[lane] = (totals[lane] + _mix_int(cell[lane] ^ keys[lane])) & _MASK
    return b"".join(_mix_int(t).to_bytes(8, "big") for t in totals)


def hex_ids(raw: np.ndarray) -> pd.Series:
    """Lower-case hex strings of ``S16`` digests, vectorised.

    Args:
        raw: array of dtype ``S16``.

    Returns:
        A str series of 32-character ids.
    """
    hexed = raw.tobytes().hex().encode("ascii")
    fixed = np.frombuffer(hexed, dtype=f"S{ID_HEX_CHARS}")
    return pd.Series(pa.array(fixed, type=pa.binary()).cast(pa.string()), dtype="str")


def ids_to_raw(ids: pd.Series | Sequence[str]) -> np.ndarray:
    """Parse hex ids back to ``S16`` digests.

    Args:
        ids: 32-character lower-case hex ids.

    Returns:
        numpy array of dtype ``S16``.

    Raises:
        ValueError: naming an id that is not 32 hex characters.
    """
    try:
        text = pa.array(ids, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"item_ids must be {ID_HEX_CHARS}-character hex strings: {exc}") from exc
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if len(text) == 0:
        return np.empty(0, dtype=f"S{_DIGEST_BYTES}")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[
        text.offset : text.offset + len(text) + 1
    ]
    bad = np.flatnonzero(np.diff(offsets) != ID_HEX_CHARS)
    if text.null_count:
        bad = np.union1d(bad, np.flatnonzero(np.asarray(text.is_null())))
    if len(bad):
        raise ValueError(
            f"not a {ID_HEX_CHARS}-character hex item_id: {text[int(bad[0])].as_py()!r}"
        )
    hexed = text.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    try:
        return np.frombuffer(bytes.fromhex(hexed.decode("ascii")), dtype=f"S{_DIGEST_BYTES}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"not a {ID_HEX_CHARS}-character hex item_id among the ids: {exc}"
        ) from exc


def content_hash(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The stable ``item_id`` of every row.

    Args:
        df: the (normalised, validated) frame.
        columns: the content columns that define an item.

    Returns:
        A str series of 32-character hex ids aligned with ``df.index``.
    """
    ids = hex_ids(row_digests(df, columns))
    ids.index = df.index
    return ids.rename("item_id")
