"""The counting rule: raw rows = clean + quarantined + duplicates, for every batch."""

from __future__ import annotations

from cleansing.errors import CountingRuleError


def check_counts(*, raw: int, clean: int, quarantined: int, duplicates: int, batch: str) -> None:
    """Raise unless every raw row is accounted for exactly once.

    Args:
        raw: rows read from the raw batch.
        clean: rows written as clean.
        quarantined: rows written to quarantine.
        duplicates: rows recorded as duplicates.
        batch: the batch (or file) the counts belong to, named in the error.

    Raises:
        CountingRuleError: if raw != clean + quarantined + duplicates or a count is negative.
    """
    counts = {"raw": raw, "clean": clean, "quarantined": quarantined, "duplicates": duplicates}
    negative = [name for name, value in counts.items() if value < 0]
    if negative:
        raise CountingRuleError(
            f"batch {batch}: negative count for {', '.join(negative)}: {counts}"
        )
    accounted = clean + quarantined + duplicates
    if accounted != raw:
        raise CountingRuleError(
            f"batch {batch}: counting rule broken: raw {raw} != clean {clean} + quarantined "
            f"{quarantined} + duplicates {duplicates} (= {accounted})"
        )
