"""A name that came from an event or a Label Studio title is never imported or evaluated.

Every name-like parameter a trigger can fill (data set, model, project title, labels
version) has a pattern, so a bad one fails validation before a run exists; `resolve_spec`
only looks names up; the receiver passes on a title only when it is a data set name; a
sync session leaves a project it does not know alone and syncs the others.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from annotation.models import parse_webhook
from annotation.session import split_known
from flows.annotate import PushParams
from flows.monitor import MonitorParams
from flows.preannotate import RefreshParams
from flows.sync import SyncParams
from flows.sync_session import SyncSessionParams
from flows.train import TrainParams
from specs import SHIPPED, SpecError, load_spec, resolve_spec
from tasks.datasets import load_registration, resolve_dataset
from tests.hostile.names import HOSTILE_NAMES, TRIPWIRE, forget_imports, imported
from webhooks.events import event_for

PARAMS: list[type[BaseModel]] = [
    SyncParams, SyncSessionParams, PushParams, TrainParams, MonitorParams, RefreshParams
]
# Every name-like field a trigger template of prefect.yaml fills, per flow.
NAME_FIELDS: list[tuple[type[BaseModel], str]] = [
    *[(params, "dataset") for params in PARAMS],
    (PushParams, "model_name"),
    (TrainParams, "model_name"),
    (MonitorParams, "model_name"),
    (RefreshParams, "model_name"),
    (RefreshParams, "project_title"),
]


@pytest.fixture(autouse=True)
def _fresh_imports() -> Any:
    forget_imports()
    yield
    assert imported() == [], "a hostile name was imported"


@pytest.mark.parametrize(("params", "field"), NAME_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_fails_validation_before_any_run(
    params: type[BaseModel], field: str, name: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        params.model_validate({field: name})
    assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("params", [TrainParams, MonitorParams])
@pytest.mark.parametrize("version", ["../latest", "v1:x", "latest/..", "20261122T065900123456Z-1a2b3c/x"])
def test_a_hostile_labels_version_fails_validation(params: type[BaseModel], version: str) -> None:
    with pytest.raises(ValidationError):
        params.model_validate({"labels_version": version})


@pytest.mark.parametrize("params", PARAMS)
def test_good_names_still_pass(params: type[BaseModel]) -> None:
    for name in SHIPPED:
        assert params.model_validate({"dataset": name}).dataset == name  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_resolve_spec_never_imports(name: str) -> None:
    with pytest.raises(SpecError, match="unknown data set"):
        resolve_spec(name)


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "secret/labelloop-webhook-secret"])
def test_a_flows_lookup_of_a_hostile_name_reads_no_block(name: str) -> None:
    # `slug/name` is how Block.load names another type's block: never looked up
    with pytest.raises(SpecError, match="is not a data set name"):
        resolve_dataset(name)
    assert load_registration(name) is None
    assert imported() == []


def test_an_administrators_import_path_still_loads_on_the_command_line() -> None:
    with pytest.raises(SpecError, match="is a NoneType, not a DatasetSpec"):
        load_spec(f"{TRIPWIRE}:SPEC")
    assert imported() == [TRIPWIRE]  # load_spec imports: the command line's, never a run's
    forget_imports()


@pytest.mark.parametrize("title", HOSTILE_NAMES)
def test_the_receiver_passes_on_no_hostile_title(title: str) -> None:
    call = parse_webhook(
        {"action": "ANNOTATION_CREATED", "project": {"id": 41, "title": title}, "annotation": {"id": 5}}
    )
    event = event_for(call)
    assert event is not None
    assert event.resource["prefect.resource.id"] == "labelloop.project.41"
    assert event.resource["prefect.resource.name"] == "41"
    assert title not in str(event.model_dump()) or title == ""


def test_a_session_syncs_known_projects_and_reports_the_others() -> None:
    known = {"digits", "texts"}
    syncable, unknown = split_known(["digits", "this:s", f"{TRIPWIRE}:SPEC", "digits", "41"], known)
    assert syncable == ["digits"]
    assert unknown == sorted(["this:s", f"{TRIPWIRE}:SPEC", "41"])
