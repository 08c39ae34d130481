"""A team of annotator bots that label through the Label Studio API as people would.

Each bot is a real Label Studio user; annotations are created on its behalf
(`completed_by`), with a configurable accuracy, skips (cancelled annotations) and,
with several annotators per task, honest disagreements.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Mapping, Sequence

from label_studio_sdk import LabelStudio
from pydantic import BaseModel, Field, model_validator

from annotation.config import ClassificationConfig
from annotation.labels import ItemLabel
from annotation.predictions import choice_result


class TeamConfig(BaseModel):
    """How the bot team behaves."""

    annotators: int = Field(default=2, ge=1, le=20, description="Bots in the team.")
    per_task: int = Field(default=1, ge=1, description="Bots that label each task (at most).")
    min_per_task: int | None = Field(
        default=None,
        ge=1,
        description="Fewest bots per task; each task draws between this and per_task "
        "(None: always per_task).",
    )
    accuracy: float = Field(
        default=0.95, ge=0, le=1, description="Chance a bot picks the true label."
    )
    accuracies: list[float] = Field(
        default_factory=list,
        description="One accuracy per bot, in team order (empty: `accuracy` for every bot).",
    )
    skip_rate: float = Field(default=0.05, ge=0, le=1, description="Chance a bot skips a task.")
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> TeamConfig:
        if self.accuracies and len(self.accuracies) != self.annotators:
            raise ValueError(
                f"accuracies has {len(self.accuracies)} values for {self.annotators} annotators"
            )
        if any(not 0 <= a <= 1 for a in self.accuracies):
            raise ValueError(f"accuracies must be within 0-1, got {self.accuracies}")
        if self.min_per_task is not None and self.min_per_task > self.per_task:
            raise ValueError(f"min_per_task {self.min_per_task} exceeds per_task {self.per_task}")
        return self

    def accuracy_of(self, position: int) -> float:
        """The accuracy of the bot at `position` in the team."""
        return self.accuracies[position] if self.accuracies else self.accuracy


class Vote(BaseModel):
    """One annotation the team made."""

    task_id: int
    annotation_id: int
    annotator: int
    label: str | None  # None: skipped (cancelled)


def ensure_team(client: LabelStudio, size: int, prefix: str = "bot") -> list[int]:
    """User ids of `size` bot annotators, created on first use."""
    wanted = [f"{prefix}-{i + 1}@labelloop.local" for i in range(size)]
    existing = {user.email: int(user.id) for user in client.users.list() if user.email in wanted}
    for email in wanted:
        if email not in existing:
            user = client.users.create(
                email=email, username=email.split("@")[0], password=secrets.token_hex(16)
            )
            existing[email] = int(user.id)
    return [existing[email] for email in wanted]


def annotate(
    client: LabelStudio,
    config: ClassificationConfig,
    task_truth: Mapping[int, str],
    team: Sequence[int],
    behaviour: TeamConfig,
) -> list[Vote]:
    """Label each task as `behaviour.per_task` bots of the team would.

    Args:
        client: a Label Studio client with rights to annotate for the team.
        config: the project's config (choices and names come from it).
        task_truth: task id -> the true label.
        team: the bots' user ids.
        behaviour: accuracy, skips, annotators per task.

    Returns:
        Every annotation made.
    """
    rng = random.Random(behaviour.seed)
    labels = list(config.labels)
    votes: list[Vote] = []
    position = {annotator: n for n, annotator in enumerate(team)}
    for task_id, truth in task_truth.items():
        count = behaviour.per_task
        if behaviour.min_per_task is not None:
            count = rng.randint(behaviour.min_per_task, behaviour.per_task)
        for annotator in rng.sample(list(team), k=min(count, len(team))):
            if rng.random() < behaviour.skip_rate:
                made = client.annotations.create(
                    id=task_id, result=[], was_cancelled=True, completed_by=annotator
                )
                votes.append(
                    Vote(
                        task_id=task_id, annotation_id=int(made.id), annotator=annotator, label=None
                    )
                )
                continue
            label = (
                truth
                if rng.random() < behaviour.accuracy_of(position[annotator])
                else rng.choice([x for x in labels if x != truth] or labels)
            )
            votes.append(vote(client, config, task_id, annotator, label))
    return votes


def vote(
    client: LabelStudio, config: ClassificationConfig, task_id: int, annotator: int, label: str
) -> Vote:
    """One annotation choosing `label` on the task, made for `annotator`."""
    made = client.annotations.create(
        id=task_id, result=choice_result(config, label), completed_by=annotator, lead_time=2.0
    )
    return Vote(task_id=task_id, annotation_id=int(made.id), annotator=annotator, label=label)


def relabel(
    client: LabelStudio, config: ClassificationConfig, annotation_id: int, label: str
) -> None:
    """Edit an annotation's choice, as a person changing their mind."""
    client.annotations.update(id=annotation_id, result=choice_result(config, label))


def oracle_labels(truth: Mapping[str, str], now: dt.datetime) -> list[ItemLabel]:
    """Labels as a perfect annotator would have given them (for benchmarks and tests).

    Args:
        truth: item_id -> true label.
        now: the annotation time recorded.

    Returns:
        One unanimous `ItemLabel` per item (task ids 1..n).
    """
    return [
        ItemLabel(
            item_id=item_id,
            task_id=n,
            label=label,
            agreement=1.0,
            annotators=(1,),
            annotation_ids=(n,),
            votes={label: 1},
            first_annotated_at=now,
            last_annotated_at=now,
            model_version=None,
        )
        for n, (item_id, label) in enumerate(truth.items(), start=1)
    ]
