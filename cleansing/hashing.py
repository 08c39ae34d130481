"""Stable content hashes: the ``item_id`` of a row.

The id is a 128-bit digest (32 hex characters, see :func:`digests`) of a canonical
serialisation of the row's content columns. The serialisation depends only on column names and values,
not on pandas' or numpy's hashing internals, so an id is the same across runs, processes,
machines and library versions:

* columns are taken in sorted name order; each contributes ``name=<tag><payload>``
  and the parts are joined by ``\\x1f``;
* missing -> tag ``n`` (no payload); text -> ``s<utf8 byte length>:<text>``;
  integers -> ``i<decimal>``; booleans -> ``b1``/``b0``;
  floats -> ``f<decimal of the IEEE-754 float64 bit pattern>`` (``-0.0`` as ``0.0``,
  NaN as missing); datetimes -> ``t<ns since the epoch, UTC>``.

The serialisation is built with vectorised pyarrow string kernels and the digest with
vectorised numpy integer arithmetic: no per-row Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ID_HEX_CHARS = 32
_DIGEST_BYTES = 16
_SEPARATOR = "\x1f"


def _tagged(tag: str, payload: pa.Array, valid: pa.Array) -> pa.Array:
    text = pc.binary_join_element_wise(pa.scalar(tag), payload.cast(pa.string()), "")
    return pc.if_else(valid, text, pa.scalar("n"))


def _serialise_column(series: pd.Series) -> pa.Array:
    """Canonical text of each cell of one column (see the module docstring)."""
    dtype = series.dtype
    valid = pa.array(series.notna().to_numpy(dtype=bool))
    if pd.api.types.is_bool_dtype(dtype):
        bits = series.fillna(False).astype(bool).to_numpy().astype(np.int8)
        return _tagged("b", pa.array(bits), valid)
    if pd.api.types.is_integer_dtype(dtype):
        ints = pa.array(series.to_numpy(dtype="int64", na_value=0))
        return _tagged("i", ints, valid)
    if pd.api.types.is_float_dtype(dtype):
        floats = series.to_numpy(dtype="float64", na_value=np.nan)
        finite_or_inf = ~np.isnan(floats)
        floats = np.where(floats == 0.0, 0.0, floats)  # -0.0 -> 0.0
        floats = np.where(finite_or_inf, floats, 0.0)
        bits = pa.array(floats.view(np.int64))
        return _tagged("f", bits, pa.array(finite_or_inf & valid.to_numpy(zero_copy_only=False)))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = series.dt.tz_convert("UTC") if getattr(dtype, "tz", None) is not None else series
        nanos = pa.array(stamps.dt.as_unit("ns").astype("int64", errors="ignore").to_numpy(dtype="int64", na_value=0))
        return _tagged("t", nanos, valid)
    text = pa.array(series.astype("str").where(series.notna()), type=pa.string(), from_pandas=True)
    filled = pc.fill_null(text, "")
    lengths = pc.binary_length(filled).cast(pa.string())
    body = pc.binary_join_element_wise(lengths, filled, ":")
    return _tagged("s", body, valid)


def canonical_rows(df: pd.DataFrame, columns: Sequence[str]) -> pa.Array:
    """The canonical serialisation of each row over ``columns`` (sorted by name).

    Args:
        df: the frame.
        columns: content columns; every one must be in ``df``.

    Returns:
        A pyarrow string array, one element per row.

    Raises:
        KeyError: naming a column that is not in the frame.
        ValueError: if ``columns`` is empty.
    """
    if not columns:
        raise ValueError("canonical_rows needs at least one content column")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"content columns not in frame: {missing}")
    parts: list[pa.Array] = []
    for column in sorted(columns):
        value = _serialise_column(df[column])
        parts.append(pc.binary_join_element_wise(pa.scalar(f"{column}="), value, ""))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, _SEPARATOR)


_MASK = (1 << 64) - 1
_LANE_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)  # pi digits: two independent lanes
_POSITION_MULT = 0x9E3779B97F4A7C15
_LENGTH_MULT = 0xC2B2AE3D27D4EB4F
_BLOCK_ROWS = 65_536


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _digest_block(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Digest rows ``data[offsets[i]:offsets[i+1]]``; returns uint64 array of shape (n, 2)."""
    lengths = np.diff(offsets)
    n = len(lengths)
    words = np.maximum((lengths + 7) // 8, 1)
    word_start = np.zeros(n, dtype=np.int64)
    np.cumsum(words[:-1], out=word_start[1:])
    total_words = int(words.sum())
    buf = np.zeros(total_words * 8, dtype=np.uint8)
    total_bytes = int(lengths.sum())
    if total_bytes:
        row_starts = np.repeat(word_start * 8 - offsets[:-1], lengths)
        source = np.arange(offsets[0], offsets[-1], dtype=np.int64)
        buf[source + row_starts] = data[offsets[0] : offsets[-1]]
    values = buf.view("<u8").astype(np.uint64, copy=False)
    position = np.arange(total_words, dtype=np.uint64) - np.repeat(word_start, words).astype(np.uint64)
    position_key = (position + np.uint64(1)) * np.uint64(_POSITION_MULT)
    length_key = lengths.astype(np.uint64) * np.uint64(_LENGTH_MULT)
    out = np.empty((n, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lane, seed in enumerate(_LANE_SEEDS):
            mixed = _mix(values ^ position_key ^ np.uint64(seed))
            summed = np.add.reduceat(mixed, word_start)
            out[:, lane] = _mix(summed ^ length_key ^ np.uint64(seed))
    return out


def digests(rows: pa.Array) -> np.ndarray:
    """128-bit digests of serialised rows ("labelloop row hash v1"), vectorised.

    Each row's UTF-8 bytes are zero-padded to 8-byte little-endian words; in each of two
    lanes with fixed seeds, word ``k`` is mixed (SplitMix64 finaliser) with its position,
    the mixed words are summed mod 2**64, and the sum is mixed with the byte length. The
    two lanes, big-endian, form the 16-byte digest. Everything is fixed integer
    arithmetic, so digests never change with library versions or platforms. It is a
    content id, not a cryptographic hash.

    Args:
        rows: pyarrow string/binary array (from :func:`canonical_rows`), no nulls.

    Returns:
        numpy array of dtype ``S16``, one digest per row.

    Raises:
        ValueError: if ``rows`` holds nulls.
    """
    if rows.null_count:
        raise ValueError("digests: serialised rows must not be null")
    binary = rows.cast(pa.large_binary())
    if isinstance(binary, pa.ChunkedArray):
        binary = binary.combine_chunks()
    n = len(binary)
    if n == 0:
        return np.empty(0, dtype=f"S{_DIGEST_BYTES}")
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[binary.offset : binary.offset + n + 1]
    data_buffer = binary.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    parts = [
        _digest_block(data, offsets[start : min(start + _BLOCK_ROWS, n) + 1])
        for start in range(0, n, _BLOCK_ROWS)
    ]
    lanes = np.concatenate(parts).astype(">u8")
    return lanes.view(f"S{_DIGEST_BYTES}").reshape(n)


def reference_digest(row: bytes) -> bytes:
    """Pure-Python definition of one row's digest (what :func:`digests` computes).

    Args:
        row: the canonical serialisation of one row, UTF-8 encoded.

    Returns:
        The 16-byte digest.
    """

    def mix(z: int) -> int:
        z ^= z >> 30
        z = (z * 0xBF58476D1CE4E5B9) & _MASK
        z ^= z >> 27
        z = (z * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    padded = row + b"\0" * (-len(row) % 8 or (8 if not row else 0))
    words = [int.from_bytes(padded[i : i + 8], "little") for i in range(0, len(padded), 8)]
    lanes = []
    for seed in _LANE_SEEDS:
        total = 0
        for k, word in enumerate(words):
            total = (total + mix(word ^ (((k + 1) * _POSITION_MULT) & _MASK) ^ seed)) & _MASK
        lanes.append(mix(total ^ ((len(row) * _LENGTH_MULT) & _MASK) ^ seed))
    return b"".join(lane.to_bytes(8, "big") for lane in lanes)


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
    """Parse hex ids back to ``S16`` digests (for compact membership sets).

    Args:
        ids: 32-character lower-case hex ids.

    Returns:
        numpy array of dtype ``S16``.

    Raises:
        ValueError: naming the first id that is not 32 hex characters.
    """
    values = list(ids)
    bad = next((v for v in values if not isinstance(v, str) or len(v) != ID_HEX_CHARS), None)
    if bad is not None:
        raise ValueError(f"not a {ID_HEX_CHARS}-character hex item_id: {bad!r}")
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=f"S{_DIGEST_BYTES}")


def content_hash(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The stable ``item_id`` of every row.

    Args:
        df: the (normalised, validated) frame.
        columns: the content columns that define an item.

    Returns:
        A str series of 32-character hex ids aligned with ``df.index``.
    """
    ids = hex_ids(digests(canonical_rows(df, columns)))
    ids.index = df.index
    return ids.rename("item_id")
