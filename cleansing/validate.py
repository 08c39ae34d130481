"""Lazy pandera validation that splits a frame into clean and quarantined rows."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pydantic import BaseModel, ConfigDict

from cleansing.errors import BatchValidationError, MissingColumnError
from cleansing.schemas import SchemaType, schema_columns

CHECK_COLUMN = "quarantine_check"
COLUMN_COLUMN = "quarantine_column"
VALUE_COLUMN = "quarantine_value"
REASONS_COLUMN = "quarantine_reasons"
QUARANTINE_COLUMNS = [COLUMN_COLUMN, CHECK_COLUMN, VALUE_COLUMN, REASONS_COLUMN]
MAX_PASSES = 4


class ValidationResult(BaseModel):
    """Rows that passed (coerced to the schema's dtypes) and rows that failed.

    ``quarantined`` holds the failing rows as they were given plus ``quarantine_column``,
    ``quarantine_check``, ``quarantine_value`` (the first failure of the row) and
    ``quarantine_reasons`` (every ``column: check`` that failed, ``; ``-separated).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    clean: pd.DataFrame
    quarantined: pd.DataFrame

    def quarantined_by_check(self) -> dict[str, int]:
        """Quarantined rows per first failing ``column: check``.

        Returns:
            ``{"column: check": rows}``.
        """
        if self.quarantined.empty:
            return {}
        labels = (
            self.quarantined[COLUMN_COLUMN].astype("str")
            + ": "
            + self.quarantined[CHECK_COLUMN].astype("str")
        )
        return {str(k): int(v) for k, v in labels.value_counts().items()}


def require_columns(df: pd.DataFrame, schema: SchemaType, *, source: str) -> None:
    """Fail the whole batch if a required schema column is absent.

    Args:
        df: the frame.
        schema: the DataFrameSchema.
        source: the file/batch named in the error.

    Raises:
        MissingColumnError: naming the first missing column and ``source``.
    """
    for column, required in schema_columns(schema).items():
        if required and column not in df.columns:
            raise MissingColumnError(column, source)


def _row_failures(failure_cases: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    has_index = failure_cases["index"].notna()
    rows = failure_cases.loc[has_index, ["index", "column", "check", "failure_case"]]
    rows = rows.rename(columns={"index": "row"})
    return rows, failure_cases.loc[~has_index]


def _quarantine_frame(df: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    if failures.empty:
        empty = df.iloc[0:0].copy()
        for column in QUARANTINE_COLUMNS:
            empty[column] = pd.Series(dtype="str")
        return empty
    failures = failures.astype({"column": "str", "check": "str"})
    failures["failure_case"] = failures["failure_case"].astype("str")
    failures["reason"] = failures["column"] + ": " + failures["check"]
    first = failures.drop_duplicates("row", keep="first").set_index("row")
    distinct = failures.drop_duplicates(["row", "reason"])
    repeated = distinct["row"].duplicated(keep=False).to_numpy(dtype=bool)
    reasons = first["reason"].copy()
    if repeated.any():
        joined = distinct.loc[repeated].groupby("row", sort=False)["reason"].agg("; ".join)
        reasons.loc[joined.index] = joined
    rows = first.index
    out = df.loc[rows].copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].astype("str").where(out[column].notna())
    out[COLUMN_COLUMN] = first["column"].to_numpy()
    out[CHECK_COLUMN] = first["check"].to_numpy()
    out[VALUE_COLUMN] = first["failure_case"].to_numpy()
    out[REASONS_COLUMN] = reasons.reindex(rows).to_numpy()
    for column in QUARANTINE_COLUMNS:
        out[column] = out[column].astype("str")
    return out.sort_index()


def validate_split(
    df: pd.DataFrame,
    schema: SchemaType,
    *,
    source: str,
    prior_failures: pd.DataFrame | None = None,
    original: pd.DataFrame | None = None,
) -> ValidationResult:
    """Validate lazily; failing rows go to quarantine with the column and check that failed.

    Rows listed in ``prior_failures`` (e.g. coercion failures from
    :func:`cleansing.normalise.normalise`) are quarantined without further checks.
    Validation is repeated on the remaining rows when a check could not run on a column
    (e.g. a comparison on a column that failed to coerce), at most ``MAX_PASSES`` times.

    Args:
        df: the normalised frame; its index must be unique (labels name rows in reports).
        schema: the DataFrameSchema.
        source: file or batch named in errors.
        prior_failures: frame with columns ``row, column, check, failure_case``.
        original: the frame before normalisation (same index); quarantined rows are taken
            from it so people see the values as they arrived. Defaults to ``df``.

    Returns:
        A :class:`ValidationResult` with ``len(clean) + len(quarantined) == len(df)``.

    Raises:
        MissingColumnError: a required column is absent (whole batch).
        BatchValidationError: a check failed for the batch as a whole.
        ValueError: the index is not unique.
    """
    if not df.index.is_unique:
        raise ValueError(f"{source}: validate_split needs a unique index")
    require_columns(df, schema, source=source)
    collected: list[pd.DataFrame] = []
    pending = df
    if prior_failures is not None and not prior_failures.empty:
        collected.append(prior_failures[["row", "column", "check", "failure_case"]])
        pending = df.drop(index=pd.unique(prior_failures["row"]))
    clean: pd.DataFrame | None = None
    for _ in range(MAX_PASSES):
        try:
            clean = schema.validate(pending, lazy=True)
            break
        except pa.errors.SchemaErrors as exc:
            rows, batch_level = _row_failures(exc.failure_cases)
            if rows.empty:
                described = [
                    f"{r.column}: {r.check} ({r.failure_case})" for r in batch_level.itertuples()
                ]
                raise BatchValidationError(source, described) from exc
            collected.append(rows)
            pending = pending.drop(index=pd.unique(rows["row"]))
    if clean is None:
        raise BatchValidationError(source, [f"still failing after {MAX_PASSES} validation passes"])
    failures = (
        pd.concat(collected, ignore_index=True)
        if collected
        else pd.DataFrame(columns=["row", "column", "check", "failure_case"])
    )
    source_rows = df if original is None else original
    return ValidationResult(clean=clean, quarantined=_quarantine_frame(source_rows, failures))
