"""Pure cleansing logic: normalise, validate (quarantine), hash (item_id), dedup, count.

Imports no prefect. See :func:`cleansing.pipeline.cleanse_frame` for the whole path.
"""

from cleansing.counting import check_counts
from cleansing.dedup import DedupResult, KnownIds, dedup
from cleansing.errors import (
    BatchValidationError,
    CleansingError,
    CountingRuleError,
    MissingColumnError,
    SchemaLoadError,
    SourceReadError,
)
from cleansing.hashing import content_hash
from cleansing.normalise import NormaliseOptions, NormaliseReport, NormaliseResult, normalise
from cleansing.pipeline import BatchReport, CleanseResult, cleanse_chunks, cleanse_frame
from cleansing.readers import detect_kind, image_record, iter_table_chunks
from cleansing.schemas import load_schema
from cleansing.validate import ValidationResult, validate_split

__all__ = [
    "BatchReport",
    "BatchValidationError",
    "CleanseResult",
    "CleansingError",
    "CountingRuleError",
    "DedupResult",
    "KnownIds",
    "MissingColumnError",
    "NormaliseOptions",
    "NormaliseReport",
    "NormaliseResult",
    "SchemaLoadError",
    "SourceReadError",
    "ValidationResult",
    "check_counts",
    "cleanse_chunks",
    "cleanse_frame",
    "content_hash",
    "dedup",
    "detect_kind",
    "image_record",
    "iter_table_chunks",
    "load_schema",
    "normalise",
    "validate_split",
]
