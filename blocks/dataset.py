"""A data set registered on the Prefect server, by name, where every worker finds it."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from collection.sources import Source
from specs import DatasetSpec


class DatasetRegistration(Block):
    """A data set's spec, where its files land and its Label Studio project and webhook.

    Saved under the data set's name by `labelloop dataset add FILE`; every flow run and
    every event names the data set and resolves it here (`tasks.datasets`), so the
    shipped `prefect.yaml` serves it with no edit. Editable in the Prefect UI (Blocks).

    Example:
        ```python
        from blocks import DatasetRegistration

        wine = DatasetRegistration.load("wine")
        wine.spec.labels.labels
        ```
    """

    _block_type_name = "labelloop Data Set"
    _block_type_slug = "labelloop-dataset"
    _description = "A data set of labelloop: its spec, landing sources and Label Studio project."

    spec: DatasetSpec = Field(description="What the data set is: schema, labels, features.")
    landing: list[Source] = Field(
        default_factory=list,
        description="Where its files land; the scheduled collect run reads every source.",
    )
    project_id: int | None = Field(
        default=None, description="Id of its Label Studio project (created or adopted)."
    )
    webhook_id: int | None = Field(
        default=None, description="Id of the project's webhook to the receiver, if registered."
    )
