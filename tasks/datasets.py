"""Data sets registered on the Prefect server: resolve a name, list them, wire one.

A flow names its data set; `resolve_dataset` finds a shipped spec by that name, else the
`DatasetRegistration` block saved under it (`labelloop dataset add FILE`). It reads the
server, never imports. `wire_dataset` registers a spec file's data set with its Label Studio
project (created, or an existing one adopted) and the project's webhook; re-running it
changes nothing that is already right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from label_studio_sdk import LabelStudio
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from annotation.config import adoption_problems, build_label_config
from annotation.errors import LabelConfigError
from blocks.dataset import DatasetRegistration
from collection.sources import Source
from specs import SHIPPED, DatasetSpec, SpecError, is_dataset_name
from specs.files import DatasetFile, landing_problems
from tasks.concurrency import delete_slot_limits
from tasks.label_studio import ProjectConfig, ensure_project, ensure_webhook, find_project

DATASET_BLOCK_SLUG = "labelloop-dataset"
PAGE = 200  # block documents read per request (the server's largest page)

P = TypeVar("P", bound=BaseModel)


class WebhookTarget(BaseModel):
    """Where Label Studio sends a project's annotation changes, and how it proves itself."""

    model_config = ConfigDict(frozen=True)

    url: str
    header: str
    secret: SecretStr

    def url_for(self, dataset: str) -> str:
        """The receiver's URL naming the data set (`?dataset=`): events carry that name,
        whatever the project's title."""
        return f"{self.url}?{urlencode({'dataset': dataset})}"


def load_registration(name: str) -> DatasetRegistration | None:
    """The data set registered under `name`, or None.

    Raises:
        SpecError: a registration exists but no longer validates (edited by hand).
    """
    if not is_dataset_name(name):
        return None
    try:
        return DatasetRegistration.load(name, _sync=True)  # type: ignore[call-arg]
    except ValueError as error:
        if isinstance(error.__cause__, ObjectNotFound):
            return None
        raise
    except RuntimeError as error:  # Prefect wraps a document that no longer validates
        if not isinstance(error.__cause__, ValidationError):
            raise
        problems = error.__cause__.errors()[:3]
        where = ", ".join(".".join(map(str, e["loc"])) for e in problems)
        raise SpecError(f"registered data set {name!r} does not validate (at {where})") from None


def registered_names() -> list[str]:
    """The names of every registered data set, sorted."""
    names: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            try:
                page = client.read_block_documents_by_type(
                    DATASET_BLOCK_SLUG, offset=len(names), limit=PAGE, include_secrets=False
                )
            except (ObjectNotFound, PrefectHTTPStatusError) as error:
                if isinstance(error, PrefectHTTPStatusError) and error.response.status_code != 404:
                    raise
                return []  # no data set was ever registered on this server
            names.extend(str(document.name) for document in page)
            if len(page) < PAGE:
                return sorted(names)


def resolve_dataset(value: str | DatasetSpec) -> DatasetSpec:
    """A flow's `dataset`: a spec given whole, a shipped data set, or a registered one (a
    shipped name cannot be registered with another spec, so it needs no lookup).

    Raises:
        SpecError: the name is neither registered nor shipped.
    """
    if isinstance(value, DatasetSpec):
        return value
    if value in SHIPPED:  # registered too, once wired, with this very spec
        return SHIPPED[value]
    if not is_dataset_name(value):  # never a lookup: `slug/name` would load another block
        raise SpecError(f"{value!r} is not a data set name (lower-case letters, digits, '-')")
    registration = load_registration(value)
    if registration is not None:
        return registration.spec
    raise SpecError(
        f"data set {value!r} is not registered on this Prefect server: register it with "
        f"`labelloop dataset add FILE` (registered: {registered_names()}, shipped: {sorted(SHIPPED)})"
    )


def registered_landing(name: str) -> list[Source]:
    """The landing sources registered for a data set.

    Raises:
        SpecError: the data set is not registered, or has no landing source.
    """
    registration = load_registration(name)
    if registration is None or not registration.landing:
        raise SpecError(
            f"data set {name!r} has no registered landing source: give `sources`, or register "
            "it with a `landing:` list (`labelloop dataset add FILE`)"
        )
    return list(registration.landing)


class DatasetsFailedError(RuntimeError):
    """Some data sets' runs failed (every other data set's run completed)."""


class DatasetRuns(BaseModel):
    """What a run that names no data set did: each registered data set's own run."""

    states: dict[str, str] = Field(description="Data set -> final state of its run.")


def run_for_each_registered(
    flow: Callable[..., Any], params: P, **overrides: Any
) -> DatasetRuns:
    """The flow once per registered data set, each its own subflow run: a scheduled run
    whose `dataset` is None covers every data set, and one data set's failure is its own
    failed run, never another's.

    Args:
        flow: the flow, called with `params` naming one data set.
        params: the run's parameters.
        **overrides: passed on to each call (a store or credentials given in code).

    Returns:
        Each data set's final state name.

    Raises:
        DatasetsFailedError: after every data set ran, naming those that failed.
    """
    states: dict[str, str] = {}
    for name in _registered_or_said():
        one = params.model_copy(update={"dataset": name})
        states[name] = str(flow(one, **overrides, return_state=True).name)
    return _all_completed(states)


async def arun_for_each_registered(
    flow: Callable[..., Any], params: P, **overrides: Any
) -> DatasetRuns:
    """`run_for_each_registered` for an async flow."""
    states: dict[str, str] = {}
    for name in _registered_or_said():
        one = params.model_copy(update={"dataset": name})
        states[name] = str((await flow(one, **overrides, return_state=True)).name)
    return _all_completed(states)


def _registered_or_said() -> list[str]:
    names = registered_names()
    if not names:
        get_run_logger().info(
            "No data set is registered: `labelloop dataset add FILE` registers one"
        )
    return names


def _all_completed(states: dict[str, str]) -> DatasetRuns:
    failed = {name: state for name, state in states.items() if state != "Completed"}
    if failed:
        raise DatasetsFailedError(
            f"{len(failed)} of {len(states)} data sets did not complete: "
            + ", ".join(f"{name} ({state})" for name, state in failed.items())
        )
    return DatasetRuns(states=states)


def wire_dataset(
    declared: DatasetFile, client: LabelStudio, webhook: WebhookTarget | None
) -> DatasetRegistration:
    """Register a data set: its Label Studio project, the project's webhook, the block.

    The project titled `spec.project` is adopted when it exists (its config must fit the
    spec: control, data key, label set) and created otherwise.

    Raises:
        SpecError: a landing folder does not exist, the project's config does not fit,
            or another registered data set already has the project.
    """
    spec = declared.spec
    if spec.name in SHIPPED and spec != SHIPPED[spec.name]:
        raise SpecError(
            f"{spec.name!r} is a shipped data set's name: give your data set another name"
        )
    problems = landing_problems(declared.landing)
    if problems:
        raise SpecError(f"data set {spec.name!r}: " + "; ".join(problems))
    try:
        existing = _project_to_adopt(client, spec)
    except (LabelConfigError, LookupError) as error:
        raise SpecError(f"data set {spec.name!r}: Label Studio project {spec.project!r}: {error}") from None
    if existing is None:
        project_id = ensure_project(client, spec.project, build_label_config(spec.labels)).id
    else:
        problems = adoption_problems(spec.labels, existing.config)
        if problems:
            raise SpecError(
                f"data set {spec.name!r} cannot adopt Label Studio project {existing.id} "
                f"({existing.title!r}): " + "; ".join(problems)
            )
        project_id = existing.id
    for other in registered_names():
        registration = load_registration(other) if other != spec.name else None
        if registration is not None and registration.project_id == project_id:
            raise SpecError(
                f"Label Studio project {project_id} ({spec.project!r}) already belongs to data "
                f"set {other!r}: give this data set its own project (project_title)"
            )
    webhook_id = None
    if webhook is not None:
        _drop_other_hooks_to(client, project_id, webhook.url, keep=webhook.url_for(spec.name))
        webhook_id = ensure_webhook(
            client,
            project_id,
            webhook.url_for(spec.name),
            webhook.header,
            webhook.secret.get_secret_value(),
        )
    registration = DatasetRegistration(
        spec=spec, landing=declared.landing, project_id=project_id, webhook_id=webhook_id
    )
    registration.save(spec.name, overwrite=True, _sync=True)  # type: ignore[call-arg]
    return registration


def _project_to_adopt(client: LabelStudio, spec: DatasetSpec) -> ProjectConfig | None:
    """The project titled `spec.project`, its config read at the spec's Choices control,
    else at its only one (whose names `adoption_problems` then compares with the spec's).
    Read once, without the task's retries: a config that does not fit stays so."""
    try:
        return find_project.fn(client, spec.project, spec.labels.control_name)
    except LabelConfigError:
        return find_project.fn(client, spec.project, None)


def _drop_other_hooks_to(client: LabelStudio, project_id: int, receiver: str, keep: str) -> None:
    """Delete the project's webhooks to this receiver under another URL (one from before
    the data set was named in it, or under another name): each would send every
    annotation's event a second time."""
    for hook in client.webhooks.list(project=str(project_id)):
        if hook.project == project_id and hook.url != keep and hook.url.split("?")[0] == receiver:
            client.webhooks.delete(id=hook.id)


def unwire_dataset(name: str, client: LabelStudio) -> DatasetRegistration | None:
    """Remove a data set's registration, its webhook and its concurrency limits; its
    project, files, labels and models stay (a later `add` picks them up again).

    Returns:
        The registration removed, or None when `name` was not registered.
    """
    registration = load_registration(name)
    if registration is None:
        return None
    if registration.webhook_id is not None:
        try:
            client.webhooks.delete(id=registration.webhook_id)
        except Exception as error:  # already gone in Label Studio: nothing left to remove
            if getattr(error, "status_code", None) != 404:
                raise
    delete_slot_limits(name)
    DatasetRegistration.delete(name, _sync=True)  # type: ignore[call-arg]
    return registration
