"""Annotations -> labels: which annotations count, majority, agreement, skips.

An annotation counts as a vote when it is not cancelled (a skip in the UI), has a
region for the config's Choices control, and names exactly one label the config
knows. Cancelled and empty annotations (no region, or no choice) are ignored; an
annotation with an unknown label, several choices, or regions that do not fit the
config (another control's name, `choices` that are not a list of strings) is a
recorded skip with its reason. One person has one vote per task (their
newest annotation). A tie, too few voters, or agreement under the threshold leaves
the item unresolved and reported, never guessed.

Which item a task labels is the push ledger's answer, not the task's editable data: a
pushed task whose `data.item_id` no longer names the item it was pushed for labels
nothing (its annotations are skips naming the task); a task made outside the push (no
ledger entry) labels its `data.item_id` only if no pushed task owns that item.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from annotation.config import ClassificationConfig
from annotation.errors import LabelConfigError
from annotation.models import ITEM_ID_KEY, LSAnnotation, LSTask

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


class LabelPolicy(BaseModel):
    """How several annotators' votes become one label.

    Attributes:
        method: ``crowdlab`` weighs each annotator and the champion's out-of-sample
            probabilities (``annotation.consensus``; without a champion it is the
            majority); ``majority`` counts every vote the same.
        min_agreement: the share of votes the majority label needs (0-1; majority).
        min_quality: the consensus quality a label needs (0-1; crowdlab).
        min_annotators: how many people must have voted.
    """

    model_config = ConfigDict(frozen=True)

    method: Literal["crowdlab", "majority"] = "crowdlab"
    min_agreement: float = Field(default=0.5, ge=0.0, le=1.0)
    min_quality: float = Field(default=0.5, ge=0.0, le=1.0)
    min_annotators: int = Field(default=1, ge=1)


class IgnoreReason(StrEnum):
    """Why an annotation is not a vote, without being a problem."""

    CANCELLED = "cancelled"
    EMPTY = "empty"
    SUPERSEDED = "superseded"


class SkipReason(StrEnum):
    """Why an annotation is not a vote and needs someone's attention."""

    UNKNOWN_LABEL = "unknown_label"
    SEVERAL_CHOICES = "several_choices"
    NO_ITEM_ID = "no_item_id"
    ITEM_ID_CHANGED = "item_id_changed"
    ITEM_CLAIMED = "item_claimed"
    MALFORMED_RESULT = "malformed_result"


class UnresolvedReason(StrEnum):
    """Why an item with votes has no label."""

    TIE = "tie"
    LOW_AGREEMENT = "low_agreement"
    TOO_FEW_ANNOTATORS = "too_few_annotators"
    LOW_QUALITY = "low_quality"  # the consensus of votes and champion is too unsure


class ItemLabel(BaseModel):
    """The resolved label of one item, with its lineage.

    Attributes:
        item_id: the item.
        task_id: the Label Studio task.
        label: the majority label.
        agreement: votes for ``label`` / all votes.
        annotators: user ids of the people who voted.
        annotation_ids: the annotations that voted.
        votes: label -> number of votes.
        first_annotated_at: the earliest vote's creation time.
        last_annotated_at: the latest vote's last change.
        model_version: the model version whose prediction the task showed, if any.
        annotator_votes: who voted what (annotator id as text -> label); empty when
            read from a labels version written before it was recorded.
    """

    model_config = ConfigDict(frozen=True)

    item_id: str
    task_id: int
    label: str
    agreement: float
    annotators: tuple[int, ...]
    annotation_ids: tuple[int, ...]
    votes: dict[str, int]
    first_annotated_at: dt.datetime | None
    last_annotated_at: dt.datetime | None
    model_version: str | None
    annotator_votes: dict[str, str] = Field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """A flat dict for a labels parquet row (lists for the tuples, ``annotator_votes``
        as the aligned lists ``vote_annotators`` / ``vote_labels``)."""
        record = self.model_dump(exclude={"annotator_votes"})
        record["annotators"] = list(self.annotators)
        record["annotation_ids"] = list(self.annotation_ids)
        record["votes"] = [f"{label}:{count}" for label, count in sorted(self.votes.items())]
        record.update(vote_lists(self.annotator_votes))
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ItemLabel:
        """Rebuild a label from :meth:`to_record`'s dict (as read back from parquet).

        Args:
            record: one row.

        Returns:
            The label.
        """
        votes: dict[str, int] = {}
        for entry in record["votes"]:
            label, _, count = str(entry).rpartition(":")
            votes[label] = int(count)
        data = {key: value for key, value in record.items() if key in cls.model_fields}
        data["votes"] = votes
        data["annotator_votes"] = votes_of_lists(
            record.get("vote_annotators"), record.get("vote_labels")
        )
        data["annotators"] = tuple(int(a) for a in record["annotators"])
        data["annotation_ids"] = tuple(int(a) for a in record["annotation_ids"])
        for key in ("first_annotated_at", "last_annotated_at", "model_version"):
            if data.get(key) is not None and data[key] != data[key]:  # NaN / NaT from a frame
                data[key] = None
        return cls.model_validate(data)


class UnresolvedItem(BaseModel):
    """An item whose votes do not settle a label; reported for review."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    task_id: int
    reason: UnresolvedReason
    votes: dict[str, int]
    agreement: float
    annotators: tuple[int, ...]
    annotator_votes: dict[str, str] = Field(default_factory=dict)


def vote_lists(annotator_votes: Mapping[str, str]) -> dict[str, list[str]]:
    """``annotator_votes`` as the two aligned parquet columns, sorted by annotator."""
    ordered = sorted(annotator_votes.items())
    return {
        "vote_annotators": [annotator for annotator, _ in ordered],
        "vote_labels": [label for _, label in ordered],
    }


def votes_of_lists(annotators: Any, labels: Any) -> dict[str, str]:
    """The inverse of :func:`vote_lists` (missing or null columns: no votes recorded)."""
    if annotators is None or labels is None:
        return {}
    if isinstance(annotators, float) or isinstance(labels, float):  # NaN from an old frame
        return {}
    return {str(a): str(label) for a, label in zip(annotators, labels, strict=True)}


class SkippedAnnotation(BaseModel):
    """An annotation that could not be used, kept so it can be reported."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    item_id: str | None
    annotation_id: int | None
    annotator: int | None
    reason: SkipReason
    detail: str


class LabelResolution(BaseModel):
    """The outcome of resolving a set of tasks.

    Attributes:
        seen_items: every item_id among the tasks, labelled or not (a delta merge
            withdraws the label of a seen item that has none now).
        labels: resolved items.
        unresolved: items with votes but no decision.
        skipped: annotations that could not be used.
        ignored: counts of annotations ignored by reason (cancelled, empty, superseded).
        skips_by_annotator: annotator id (text) -> annotations of theirs that were not a
            vote (cancelled in the UI, or skipped for a reason), among these tasks.
    """

    model_config = ConfigDict(frozen=True)

    seen_items: tuple[str, ...]
    labels: tuple[ItemLabel, ...]
    unresolved: tuple[UnresolvedItem, ...]
    skipped: tuple[SkippedAnnotation, ...]
    ignored: dict[str, int]
    skips_by_annotator: dict[str, int] = Field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Flat counts for a report or an event payload.

        Returns:
            ``items``, ``labelled``, ``unresolved``, ``skipped``, and one
            ``unresolved_<reason>`` / ``skipped_<reason>`` / ``ignored_<reason>`` per reason seen.
        """
        counts = {
            "items": len(self.seen_items),
            "labelled": len(self.labels),
            "unresolved": len(self.unresolved),
            "skipped": len(self.skipped),
        }
        for item in self.unresolved:
            counts[f"unresolved_{item.reason.value}"] = (
                counts.get(f"unresolved_{item.reason.value}", 0) + 1
            )
        for skip in self.skipped:
            counts[f"skipped_{skip.reason.value}"] = (
                counts.get(f"skipped_{skip.reason.value}", 0) + 1
            )
        for reason, count in self.ignored.items():
            counts[f"ignored_{reason}"] = count
        return counts


class _Vote(BaseModel):
    model_config = ConfigDict(frozen=True)

    voter: int | str
    label: str
    annotation: LSAnnotation


def _shown(value: object, limit: int = 80) -> str:
    """A value of task data as a report may show it: repr, cut short, no table breaks."""
    text = repr(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def item_of_task(
    task: LSTask,
    pushed: Mapping[int, str] | None,
    owners: Mapping[str, int] | None = None,
) -> str | tuple[SkipReason, str]:
    """The item a task labels, or why it labels none.

    Args:
        task: the task as Label Studio has it now.
        pushed: task id -> item id from the push ledger (None: no ledger, the task's
            data is taken at its word, as for tasks read outside a project's sync).
        owners: item id -> task id, the inverse of ``pushed`` (computed when None; pass
            it when resolving many tasks).

    Returns:
        The item id, or (reason, detail naming the task).
    """
    if pushed is not None and task.id in pushed:
        item_id = pushed[task.id]
        shown = task.data.get(ITEM_ID_KEY)
        if shown is None or str(shown) != item_id:
            return (
                SkipReason.ITEM_ID_CHANGED,
                f"task {task.id} was pushed for item {_shown(item_id)} but its data now says "
                f"item_id {_shown(shown)}: it labels no item until it is "
                "set back",
            )
        return item_id
    if not task.has_item_id:
        return SkipReason.NO_ITEM_ID, f"task {task.id} has no item_id in its data"
    item_id = task.item_id
    if pushed is not None:
        owner = (owners if owners is not None else _owners(pushed)).get(item_id)
        if owner is not None:
            return (
                SkipReason.ITEM_CLAIMED,
                f"task {task.id} is not in the push ledger and names item {_shown(item_id)}, "
                f"which was pushed as task {owner}",
            )
    return item_id


def _owners(pushed: Mapping[int, str]) -> dict[str, int]:
    """Item id -> the (first) task pushed for it."""
    owners: dict[str, int] = {}
    for task_id, item_id in sorted(pushed.items()):
        owners.setdefault(item_id, task_id)
    return owners


def _vote_of(
    annotation: LSAnnotation, task: LSTask, item_id: str, config: ClassificationConfig
) -> IgnoreReason | SkippedAnnotation | str:
    """The label an annotation votes for, or why it does not vote."""
    if annotation.was_cancelled:
        return IgnoreReason.CANCELLED

    def skip(reason: SkipReason, detail: str) -> SkippedAnnotation:
        return SkippedAnnotation(
            task_id=task.id,
            item_id=item_id,
            annotation_id=annotation.id,
            annotator=annotation.completed_by,
            reason=reason,
            detail=detail,
        )

    choices: list[str] = []
    problems: list[str] = []
    for region in annotation.result:
        if region.problem is not None:
            problems.append(region.problem)
        elif region.from_name != config.from_name or region.type.lower() != "choices":
            problems.append(
                f"a {_shown(region.type)} region of {_shown(region.from_name)}, not of the "
                f"config's Choices {config.from_name!r}"
            )
        elif (values := region.choice_list()) is None:
            problems.append(f"the {config.from_name!r} region: {region.choices_problem()}")
        else:
            choices += values
    if not choices:
        if problems:
            return skip(
                SkipReason.MALFORMED_RESULT,
                f"annotation {annotation.id} has no usable choice: " + "; ".join(problems[:3]),
            )
        return IgnoreReason.EMPTY
    if len(set(choices)) > 1:
        return skip(
            SkipReason.SEVERAL_CHOICES, f"annotation {annotation.id} chose {sorted(set(choices))}"
        )
    label = choices[0]
    if label not in config.labels:
        return skip(
            SkipReason.UNKNOWN_LABEL,
            f"annotation {annotation.id} chose '{label}', not in the label config {list(config.labels)}",
        )
    return label


def _decide(
    task: LSTask, item_id: str, votes: list[_Vote], policy: LabelPolicy
) -> ItemLabel | UnresolvedItem:
    counts = Counter(vote.label for vote in votes)
    ranked = counts.most_common()
    top_label, top_count = ranked[0]
    agreement = top_count / len(votes)
    annotators = tuple(sorted(vote.voter for vote in votes if isinstance(vote.voter, int)))
    annotator_votes = {str(vote.voter): vote.label for vote in votes}
    reason: UnresolvedReason | None = None
    if len(votes) < policy.min_annotators:
        reason = UnresolvedReason.TOO_FEW_ANNOTATORS
    elif len(ranked) > 1 and ranked[1][1] == top_count:
        reason = UnresolvedReason.TIE
    elif agreement < policy.min_agreement:
        reason = UnresolvedReason.LOW_AGREEMENT
    if reason is not None:
        return UnresolvedItem(
            item_id=item_id,
            task_id=task.id,
            reason=reason,
            votes=dict(counts),
            agreement=agreement,
            annotators=annotators,
            annotator_votes=annotator_votes,
        )
    created = [vote.annotation.created_at for vote in votes if vote.annotation.created_at]
    changed = [vote.annotation.last_changed_at for vote in votes if vote.annotation.last_changed_at]
    return ItemLabel(
        annotator_votes=annotator_votes,
        item_id=item_id,
        task_id=task.id,
        label=top_label,
        agreement=agreement,
        annotators=annotators,
        annotation_ids=tuple(sorted(vote.annotation.id for vote in votes)),
        votes=dict(counts),
        first_annotated_at=min(created) if created else None,
        last_annotated_at=max(changed) if changed else None,
        model_version=task.shown_model_version,
    )


def resolve_labels(
    tasks: Iterable[LSTask],
    config: ClassificationConfig,
    policy: LabelPolicy | None = None,
    pushed: Mapping[int, str] | None = None,
) -> LabelResolution:
    """Turn tasks with their annotations into labels, unresolved items and skips.

    Args:
        tasks: parsed tasks with full annotations (``result``, ``completed_by``,
            ``was_cancelled``, times).
        config: the project's classification config.
        policy: agreement rules; defaults to a simple majority of at least one person.
        pushed: task id -> item id from the project's push ledger (see
            :func:`item_of_task`); None trusts each task's ``data.item_id``.

    Returns:
        The resolution; ``seen_items`` lists every item among the tasks.

    Raises:
        LabelConfigError: the config allows several choices (multi-label is not
            supported).
    """
    if config.multiple:
        raise LabelConfigError(
            f"Choices '{config.from_name}' allows several choices: multi-label is not supported"
        )
    rules = policy or LabelPolicy()
    seen: list[str] = []
    labels: list[ItemLabel] = []
    unresolved: list[UnresolvedItem] = []
    skipped: list[SkippedAnnotation] = []
    ignored: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    owners = _owners(pushed) if pushed is not None else None
    for task in tasks:
        item = item_of_task(task, pushed, owners)
        if isinstance(item, tuple):
            reason, detail = item
            pushed_for = pushed.get(task.id) if pushed is not None else None
            skipped.extend(
                SkippedAnnotation(
                    task_id=task.id,
                    item_id=pushed_for,
                    annotation_id=annotation.id,
                    annotator=annotation.completed_by,
                    reason=reason,
                    detail=detail,
                )
                for annotation in task.annotations
            )
            if not task.annotations and reason is SkipReason.ITEM_ID_CHANGED:
                skipped.append(
                    SkippedAnnotation(
                        task_id=task.id,
                        item_id=pushed_for,
                        annotation_id=None,
                        annotator=None,
                        reason=reason,
                        detail=detail,
                    )
                )
            continue
        item_id = item
        seen.append(item_id)
        newest: dict[int | str, _Vote] = {}
        ordered = sorted(task.annotations, key=lambda a: (a.last_changed_at or _EPOCH, a.id))
        for annotation in ordered:
            outcome = _vote_of(annotation, task, item_id, config)
            if isinstance(outcome, IgnoreReason):
                ignored[outcome.value] += 1
                if outcome is IgnoreReason.CANCELLED and annotation.completed_by is not None:
                    skips[str(annotation.completed_by)] += 1
                continue
            if isinstance(outcome, SkippedAnnotation):
                skipped.append(outcome)
                if annotation.completed_by is not None:
                    skips[str(annotation.completed_by)] += 1
                continue
            voter: int | str = (
                annotation.completed_by
                if annotation.completed_by is not None
                else f"annotation:{annotation.id}"
            )
            if voter in newest:
                ignored[IgnoreReason.SUPERSEDED.value] += 1
            newest[voter] = _Vote(voter=voter, label=outcome, annotation=annotation)
        if not newest:
            continue
        decision = _decide(task, item_id, list(newest.values()), rules)
        if isinstance(decision, ItemLabel):
            labels.append(decision)
        else:
            unresolved.append(decision)
    return LabelResolution(
        seen_items=tuple(seen),
        labels=tuple(labels),
        unresolved=tuple(unresolved),
        skipped=tuple(skipped),
        ignored=dict(ignored),
        skips_by_annotator=dict(skips),
    )
