"""One batch (or chunk) through normalise -> validate -> hash -> dedup, with its report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cleansing.counting import check_counts
from cleansing.dedup import REASON_COLUMN, KnownIds, dedup
from cleansing.hashing import hex_ids, row_digests
from cleansing.normalise import NormaliseOptions, NormaliseReport, missing_by_column, normalise
from cleansing.schemas import SchemaType, id_columns, options_for_schema, schema_columns
from cleansing.validate import validate_split

ID_COLUMN = "item_id"
SOURCE_ROW_COLUMN = "source_row"


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


class BatchReport(BaseModel):
    """What happened to a batch: the figures of the cleanse artifact and event."""

    source: str = Field(description="File or batch the rows came from.")
    rows_in: int = 0
    clean: int = 0
    quarantined: int = 0
    duplicates: int = 0
    quarantined_by_check: dict[str, int] = Field(default_factory=dict)
    duplicates_by_reason: dict[str, int] = Field(default_factory=dict)
    missing_by_column: dict[str, int] = Field(default_factory=dict)
    normalise: NormaliseReport = Field(default_factory=NormaliseReport)

    def merge(self, other: BatchReport) -> BatchReport:
        """Sum two reports (chunks of one batch, or batches of one run).

        Args:
            other: another report.

        Returns:
            The summed report, keeping this report's ``source``.
        """
        return BatchReport(
            source=self.source,
            rows_in=self.rows_in + other.rows_in,
            clean=self.clean + other.clean,
            quarantined=self.quarantined + other.quarantined,
            duplicates=self.duplicates + other.duplicates,
            quarantined_by_check=_add_counts(self.quarantined_by_check, other.quarantined_by_check),
            duplicates_by_reason=_add_counts(self.duplicates_by_reason, other.duplicates_by_reason),
            missing_by_column=_add_counts(self.missing_by_column, other.missing_by_column),
            normalise=self.normalise.merge(other.normalise),
        )

    def check(self) -> None:
        """Assert the counting rule for this report.

        Raises:
            CountingRuleError: if rows_in != clean + quarantined + duplicates.
        """
        check_counts(
            raw=self.rows_in,
            clean=self.clean,
            quarantined=self.quarantined,
            duplicates=self.duplicates,
            batch=self.source,
        )


class CleanseResult(BaseModel):
    """Clean rows (with ``item_id``), quarantined rows, duplicates, and the report."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    clean: pd.DataFrame
    quarantined: pd.DataFrame
    duplicates: pd.DataFrame
    report: BatchReport


def cleanse_frame(
    df: pd.DataFrame,
    schema: SchemaType,
    *,
    source: str,
    options: NormaliseOptions | None = None,
    known: KnownIds | None = None,
    first_row: int = 0,
) -> CleanseResult:
    """Normalise, validate, hash and dedup one frame; assert the counting rule.

    Rows are numbered ``first_row, first_row + 1, ...`` (their row in the source file);
    the number is kept as ``source_row`` in quarantined and duplicate rows. Ids of the
    clean rows are added to ``known`` so the next chunk of the batch is deduplicated
    against this one.

    Args:
        df: raw rows (content columns plus any provenance columns).
        schema: the data set's DataFrameSchema.
        source: file or batch named in errors and the report.
        options: normalisation options (completed from the schema).
        known: ids already clean; updated in place with the new clean ids.
        first_row: the source row number of ``df``'s first row.

    Returns:
        A :class:`CleanseResult`.

    Raises:
        MissingColumnError: a required column is absent.
        BatchValidationError: a batch-level check failed.
        CountingRuleError: rows were lost or double counted (a bug).
    """
    raw = df.reset_index(drop=True)
    raw.index = pd.RangeIndex(first_row, first_row + len(raw))
    normalised = normalise(raw, options_for_schema(schema, options))
    validated = validate_split(
        normalised.frame, schema, source=source, prior_failures=normalised.failures, original=raw
    )
    clean = validated.clean
    raw_ids = row_digests(clean, id_columns(schema))
    ids = hex_ids(raw_ids)
    ids.index = clean.index
    clean.insert(0, ID_COLUMN, ids)
    known_ids = known if known is not None else KnownIds()
    split = dedup(clean, known_ids, id_column=ID_COLUMN, raw=raw_ids)
    known_ids.add_raw(raw_ids)
    quarantined = validated.quarantined
    quarantined.insert(0, SOURCE_ROW_COLUMN, quarantined.index.to_numpy())
    duplicates = split.duplicates
    duplicates.insert(0, SOURCE_ROW_COLUMN, duplicates.index.to_numpy())
    report = BatchReport(
        source=source,
        rows_in=len(raw),
        clean=len(split.unique),
        quarantined=len(quarantined),
        duplicates=len(duplicates),
        quarantined_by_check=validated.quarantined_by_check(),
        duplicates_by_reason={
            str(k): int(v) for k, v in duplicates[REASON_COLUMN].value_counts().items()
        },
        missing_by_column=missing_by_column(
            normalised.frame[[c for c in schema_columns(schema) if c in normalised.frame.columns]]
        ),
        normalise=normalised.report,
    )
    report.check()
    return CleanseResult(
        clean=split.unique.reset_index(drop=True),
        quarantined=quarantined.reset_index(drop=True),
        duplicates=duplicates.reset_index(drop=True),
        report=report,
    )


def cleanse_chunks(
    chunks: Iterable[pd.DataFrame],
    schema: SchemaType,
    *,
    source: str,
    options: NormaliseOptions | None = None,
    known: KnownIds | None = None,
) -> Iterator[CleanseResult]:
    """Cleanse a stream of chunks of one source, deduplicating across chunks.

    Memory stays bounded by the chunk size plus 16 bytes per clean id.

    Args:
        chunks: frames of one file/batch, in order.
        schema: the data set's DataFrameSchema.
        source: file or batch named in errors and reports.
        options: normalisation options.
        known: ids already clean; updated in place.

    Yields:
        One :class:`CleanseResult` per chunk.
    """
    known_ids = known if known is not None else KnownIds()
    first_row = 0
    for chunk in chunks:
        yield cleanse_frame(
            chunk, schema, source=source, options=options, known=known_ids, first_row=first_row
        )
        first_row += len(chunk)
