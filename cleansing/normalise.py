"""Normalisation before validation: trim, NA tokens, type coercion, unified case.

Every step is switchable through :class:`NormaliseOptions` and counted, per column, in a
:class:`NormaliseReport`. Values that cannot be coerced are NOT turned into missing values
silently: they are returned as coercion failures so validation can quarantine their rows.
With ``columns`` set (from the schema, by default) only those columns are touched: the
others pass through as read, at no cost per column.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

TargetKind = Literal["int", "float", "bool", "datetime", "string"]

DEFAULT_NA_TOKENS: tuple[str, ...] = (
    "",
    "na",
    "n/a",
    "nan",
    "null",
    "none",
    "nil",
    "-",
    "?",
    "#n/a",
)
TRUE_TOKENS: frozenset[str] = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TOKENS: frozenset[str] = frozenset({"false", "f", "no", "n", "0"})

FAILURE_COLUMNS: list[str] = ["row", "column", "check", "failure_case"]


class NormaliseOptions(BaseModel):
    """Which normalisation steps run, and how.

    Attributes:
        trim_whitespace: strip leading/trailing whitespace from text cells.
        na_tokens: text cells equal to one of these (after trimming) become missing.
        na_case_insensitive: compare NA tokens ignoring case ("NULL" == "null").
        coerce_types: convert columns to the kinds in ``dtypes``.
        dtypes: target kind per column (usually filled from the schema).
        categorical_columns: columns whose text is brought to one case.
        case: the case categorical text is brought to.
        only_schema_columns: with a schema, normalise only the columns it names.
        columns: the text columns trimmed and NA-mapped; None = every text column.
    """

    model_config = ConfigDict(frozen=True)

    trim_whitespace: bool = Field(
        default=True, description="Strip surrounding whitespace from text cells."
    )
    na_tokens: tuple[str, ...] = Field(
        default=DEFAULT_NA_TOKENS, description="Text values meaning 'missing'."
    )
    na_case_insensitive: bool = Field(default=True, description="Match NA tokens ignoring case.")
    coerce_types: bool = Field(default=True, description="Coerce columns to their target kinds.")
    dtypes: dict[str, TargetKind] = Field(
        default_factory=dict, description="Target kind per column."
    )
    categorical_columns: tuple[str, ...] = Field(
        default=(), description="Columns brought to one case."
    )
    case: Literal["lower", "upper"] = Field(
        default="lower", description="Case for categorical columns."
    )
    only_schema_columns: bool = Field(
        default=True,
        description="With a schema, trim and NA-map only the columns it names; the others "
        "pass through as read.",
    )
    columns: tuple[str, ...] | None = Field(
        default=None,
        description="Text columns trimmed and NA-mapped (filled from the schema); "
        "None = every text column.",
    )


class NormaliseReport(BaseModel):
    """Cells changed by each step, per column (columns with 0 changes are omitted)."""

    trimmed: dict[str, int] = Field(default_factory=dict)
    na_tokens: dict[str, int] = Field(default_factory=dict)
    coerced: dict[str, int] = Field(default_factory=dict)
    coercion_failed: dict[str, int] = Field(default_factory=dict)
    case_unified: dict[str, int] = Field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Total cells per step.

        Returns:
            ``{step: cells}`` for every step, zeros included.
        """
        return {name: sum(getattr(self, name).values()) for name in type(self).model_fields}

    def merge(self, other: NormaliseReport) -> NormaliseReport:
        """Add two reports (for chunked processing).

        Args:
            other: the report of another chunk.

        Returns:
            A new report with the per-column counts summed.
        """
        merged: dict[str, dict[str, int]] = {}
        for name in type(self).model_fields:
            acc = dict(getattr(self, name))
            for column, count in getattr(other, name).items():
                acc[column] = acc.get(column, 0) + count
            merged[name] = acc
        return NormaliseReport(**merged)


class NormaliseResult(BaseModel):
    """Normalised frame, its report, and the cells that failed coercion."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    frame: pd.DataFrame
    report: NormaliseReport
    failures: pd.DataFrame  # columns FAILURE_COLUMNS; "row" holds index labels of ``frame``


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


def _as_text(series: pd.Series) -> pd.Series:
    """The series as pandas' str dtype; non-str objects (numbers in an object column) via str()."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series
    return series.astype("str")


def _changed(before: pd.Series, after: pd.Series) -> int:
    both = before.notna() & after.notna()
    return int((before[both] != after[both]).sum())


_FLOAT_PATTERN = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity)$"
_INT_PATTERN = r"^[+-]?[0-9]{1,18}(\.0*)?$"


def _arrow_text(text: pd.Series) -> pa.Array:
    return pa.array(text, type=pa.string(), from_pandas=True)


def _coerce_int(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    arrow = _arrow_text(text)
    valid = pc.fill_null(pc.match_substring_regex(arrow, _INT_PATTERN), False)
    digits = pc.replace_substring_regex(
        pc.if_else(valid, arrow, pa.scalar(None, pa.string())), r"\.0*$", ""
    )
    values = pd.Series(
        pc.cast(digits, pa.int64()).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    )
    values.index = text.index
    failed = text.notna().to_numpy(dtype=bool) & ~valid.to_numpy(zero_copy_only=False)
    return values, pd.Series(failed, index=text.index)


def _coerce_float(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    arrow = _arrow_text(text)
    valid = pc.fill_null(pc.match_substring_regex(arrow, _FLOAT_PATTERN, ignore_case=True), False)
    numbers = pc.cast(pc.if_else(valid, arrow, pa.scalar(None, pa.string())), pa.float64())
    values = pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")
    failed = text.notna().to_numpy(dtype=bool) & ~valid.to_numpy(zero_copy_only=False)
    return values, pd.Series(failed, index=text.index)


def _coerce_bool(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    lowered = text.str.lower()
    is_true = lowered.isin(TRUE_TOKENS)
    is_false = lowered.isin(FALSE_TOKENS)
    failed = text.notna() & ~is_true & ~is_false
    values = pd.Series(pd.NA, index=text.index, dtype="boolean")
    values[is_true.to_numpy(dtype=bool)] = True
    values[is_false.to_numpy(dtype=bool)] = False
    return values, failed


def _coerce_datetime(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    values = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    failed = text.notna() & values.isna()
    return values, failed


_COERCERS = {
    "int": _coerce_int,
    "float": _coerce_float,
    "bool": _coerce_bool,
    "datetime": _coerce_datetime,
}


def _already(kind: TargetKind, series: pd.Series) -> bool:
    dtype = series.dtype
    if kind == "int":
        return pd.api.types.is_integer_dtype(dtype)
    if kind == "float":
        return pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(dtype)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    return pd.api.types.is_string_dtype(dtype) and dtype != object


def coerce_column(series: pd.Series, kind: TargetKind) -> tuple[pd.Series, pd.Series]:
    """Convert one column to ``kind``.

    Args:
        series: the column (text, or already typed).
        kind: target kind.

    Returns:
        ``(values, failed)``: the converted column (failed cells missing) and a boolean mask
        of the cells that held a value that could not be converted.
    """
    if _already(kind, series):
        if kind == "float" and pd.api.types.is_integer_dtype(series.dtype):
            return series.astype("float64"), pd.Series(False, index=series.index)
        return series, pd.Series(False, index=series.index)
    if kind == "string":
        return _as_text(series), pd.Series(False, index=series.index)
    text = _as_text(series) if _is_text(series) else series.astype("str").where(series.notna())
    return _COERCERS[kind](text)


def normalise(df: pd.DataFrame, options: NormaliseOptions | None = None) -> NormaliseResult:
    """Trim, map NA tokens to missing, coerce types and unify case, counting each step.

    Steps run in that order on a copy; the input frame is not modified. Only text columns
    are trimmed and NA-mapped, and of those only ``options.columns`` when it is set. Cells
    that fail coercion become missing in the frame and are listed in ``failures`` (index label, column, check ``coerce_dtype('<kind>')``, original
    value) so that validation quarantines their rows instead of accepting a silent NA.

    Args:
        df: the raw frame (any index; labels are reported in ``failures``).
        options: which steps run; defaults to :class:`NormaliseOptions()`.

    Returns:
        A :class:`NormaliseResult`.
    """
    opts = options or NormaliseOptions()
    report = NormaliseReport()
    failure_parts: list[pd.DataFrame] = []
    tokens = (
        {t.lower() for t in opts.na_tokens} if opts.na_case_insensitive else set(opts.na_tokens)
    )
    selected = (
        list(df.columns)
        if opts.columns is None
        else [c for c in dict.fromkeys(opts.columns) if c in df.columns]
    )
    changed: dict[str, pd.Series] = {}
    for column in selected:
        series = df[column]
        if not _is_text(series):
            continue
        text = _as_text(series) if series.dtype == object else series
        if series.dtype == object:
            text = text.where(series.notna())
        if opts.trim_whitespace:
            stripped = text.str.strip()
            count = _changed(text, stripped)
            if count:
                report.trimmed[column] = count
            text = stripped
        if tokens:
            probe = text.str.lower() if opts.na_case_insensitive else text
            is_na = probe.isin(tokens).to_numpy(dtype=bool) & text.notna().to_numpy(dtype=bool)
            count = int(is_na.sum())
            if count:
                report.na_tokens[column] = count
                text = text.mask(is_na)
        changed[column] = text
    out = df.copy()
    for column, text in changed.items():
        out[column] = text
    if opts.coerce_types:
        for column, kind in opts.dtypes.items():
            if column not in out.columns:
                continue
            original = out[column]
            values, failed = coerce_column(original, kind)
            failed_mask = failed.to_numpy(dtype=bool)
            n_failed = int(failed_mask.sum())
            if n_failed:
                report.coercion_failed[column] = n_failed
                failure_parts.append(
                    pd.DataFrame(
                        {
                            "row": out.index[failed_mask],
                            "column": column,
                            "check": f"coerce_dtype('{kind}')",
                            "failure_case": original[failed_mask].astype("str").to_numpy(),
                        }
                    )
                )
            if values.dtype != original.dtype:
                converted = int(original.notna().sum()) - n_failed
                if converted:
                    report.coerced[column] = converted
            out[column] = values
    for column in opts.categorical_columns:
        if column not in out.columns or not _is_text(out[column]):
            continue
        text = _as_text(out[column])
        unified = text.str.lower() if opts.case == "lower" else text.str.upper()
        count = _changed(text, unified)
        if count:
            report.case_unified[column] = count
        out[column] = unified
    failures = (
        pd.concat(failure_parts, ignore_index=True)
        if failure_parts
        else pd.DataFrame({c: pd.Series(dtype="object") for c in FAILURE_COLUMNS})
    )
    return NormaliseResult(frame=out, report=report, failures=failures)


def missing_by_column(df: pd.DataFrame) -> dict[str, int]:
    """Missing cells per column (columns without missing values omitted).

    Args:
        df: any frame.

    Returns:
        ``{column: missing cells}``.
    """
    counts = df.isna().sum()
    return {str(c): int(n) for c, n in counts.items() if n}


__all__ = [
    "DEFAULT_NA_TOKENS",
    "NormaliseOptions",
    "NormaliseReport",
    "NormaliseResult",
    "coerce_column",
    "missing_by_column",
    "normalise",
]
