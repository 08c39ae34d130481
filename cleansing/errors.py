"""Errors raised by the cleansing package. Each names the file, column or row at fault."""

from __future__ import annotations


class CleansingError(ValueError):
    """Base class of every error raised by :mod:`cleansing`."""


class MissingColumnError(CleansingError):
    """A column the schema requires is absent: the whole batch fails.

    Args:
        column: the missing column.
        source: the file, URL or batch the frame came from.
    """

    def __init__(self, column: str, source: str) -> None:
        self.column = column
        self.source = source
        super().__init__(f"{source}: required column {column!r} is missing")


class BatchValidationError(CleansingError):
    """A check failed for the batch as a whole (not for particular rows).

    Args:
        source: the file, URL or batch the frame came from.
        failures: human readable ``column: check`` descriptions.
    """

    def __init__(self, source: str, failures: list[str]) -> None:
        self.source = source
        self.failures = failures
        super().__init__(f"{source}: batch-level validation failed: {'; '.join(failures)}")


class CountingRuleError(CleansingError):
    """raw rows != clean + quarantined + duplicates for a batch."""


class SourceReadError(CleansingError):
    """A source file could not be read.

    Args:
        source: the file, URL or key that could not be read.
        reason: what is wrong with it.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class SchemaLoadError(CleansingError):
    """An import path does not name a pandera DataFrameModel."""


class BatchesFailedError(CleansingError):
    """Some batches of a run failed as a whole; the others were cleansed and recorded.

    Args:
        dataset: the data set.
        failures: ``{batch id: error message}``.
    """

    def __init__(self, dataset: str, failures: dict[str, str]) -> None:
        self.dataset = dataset
        self.failures = failures
        details = "; ".join(failures.values())
        super().__init__(
            f"{dataset}: {len(failures)} batch(es) failed (the others were cleansed): {details}"
        )
