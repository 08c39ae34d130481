"""`labelloop dataset add` against the real Label Studio and Prefect servers: adopting a
project a team already has, refusing what does not fit, and re-running harmlessly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound
import yaml
from label_studio_sdk import LabelStudio

from annotation.config import build_label_config, parse_label_config, plan_label_config_update
from specs import SpecError
from specs.files import DatasetFile, read_dataset_file
from stack import control
from tasks.concurrency import slot_name
from tasks.datasets import load_registration, registered_names, resolve_dataset, unwire_dataset, wire_dataset
from tests.conftest import Stack

pytestmark = pytest.mark.integration

TEAM_CONFIG = """<View>
  <Text name="review" value="$body"/>
  <Choices name="sentiment" toName="review" choice="single">
    <Choice value="pos"/><Choice value="neg"/>
  </Choices>
</View>"""


def _spec_file(folder: Path, name: str, **fields: object) -> DatasetFile:
    document = {
        "name": name,
        "labels": {
            "kind": "text",
            "labels": ["pos", "neg"],
            "control_name": "sentiment",
            "object_name": "review",
            "data_key": "body",
        },
        "features": {"modality": "text", "text_column": "body"},
        "value_column": "body",
        "schema": {"columns": {"body": {"dtype": "str"}}, "coerce": True},
        **fields,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return read_dataset_file(path)


@pytest.fixture
def team_project(ls: LabelStudio) -> Iterator[tuple[int, str]]:
    """A project the team made by hand, with its own config and title."""
    title = f"Reviews of the team {uuid4().hex[:6]}"
    project = ls.projects.create(title=title, label_config=TEAM_CONFIG)
    assert project.id is not None
    yield int(project.id), title
    ls.projects.delete(id=project.id)


def test_an_existing_project_is_adopted_with_its_own_names(
    stack: Stack, prefect_server: str, ls: LabelStudio, tmp_path: Path, team_project: tuple[int, str]
) -> None:
    project_id, title = team_project
    name = f"reviews-{uuid4().hex[:6]}"
    declared = _spec_file(tmp_path, name, project_title=title)
    webhook = control.webhook_target(stack.settings)
    # a hook to the receiver from before the data set was named in its URL
    ls.webhooks.create(url=webhook.url, project=project_id, send_payload=True, actions=["ANNOTATION_CREATED"])
    try:
        registration = wire_dataset(declared, ls, webhook)
        assert registration.project_id == project_id, "adopted, not created"
        assert [p.id for p in ls.projects.list(title=name) if p.title == name] == []
        assert name in registered_names()
        assert resolve_dataset(name) == declared.spec
        hooks = ls.webhooks.list(project=str(project_id))
        assert [h.url for h in hooks] == [f"{control.receiver_url(stack.settings)}?dataset={name}"]
        assert ls.projects.get(id=project_id).label_config == TEAM_CONFIG, "the config is left as it was"
        # the push's own check of the project's config accepts it as it is
        current = parse_label_config(TEAM_CONFIG, "sentiment")
        assert not plan_label_config_update(current, build_label_config(declared.spec.labels)).needs_update

        again = wire_dataset(declared, ls, webhook)  # harmless
        assert (again.project_id, again.webhook_id) == (registration.project_id, registration.webhook_id)
        assert len(ls.webhooks.list(project=str(project_id))) == 1

        other = _spec_file(tmp_path, f"{name}-b", project_title=title)
        with pytest.raises(SpecError, match=f"already belongs to data set '{name}'"):
            wire_dataset(other, ls, webhook)
        assert load_registration(other.spec.name) is None
        with get_client(sync_client=True) as client:  # as a first cleanse leaves it
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=slot_name("cleanse", name), limit=1)
            )
    finally:
        unwire_dataset(name, ls)
    assert load_registration(name) is None
    assert ls.webhooks.list(project=str(project_id)) == []
    with get_client(sync_client=True) as client, pytest.raises(ObjectNotFound):
        client.read_global_concurrency_limit_by_name(slot_name("cleanse", name))


def test_a_spec_that_does_not_fit_the_project_is_refused_with_each_difference(
    stack: Stack, prefect_server: str, ls: LabelStudio, tmp_path: Path, team_project: tuple[int, str]
) -> None:
    _, title = team_project
    name = f"reviews-{uuid4().hex[:6]}"
    declared = _spec_file(
        tmp_path,
        name,
        project_title=title,
        labels={"kind": "text", "labels": ["pos", "neg", "meh"]},
    )
    with pytest.raises(SpecError) as refused:
        wire_dataset(declared, ls, control.webhook_target(stack.settings))
    message = str(refused.value)
    assert "set labels.control_name: sentiment" in message
    assert "set labels.data_key: body" in message
    assert "only in the spec: ['meh']" in message
    assert load_registration(name) is None


def test_a_landing_folder_that_does_not_exist_is_refused(
    stack: Stack, prefect_server: str, ls: LabelStudio, tmp_path: Path
) -> None:
    name = f"reviews-{uuid4().hex[:6]}"
    declared = _spec_file(tmp_path, name, landing=[{"kind": "local", "path": "nowhere/*.jsonl"}])
    with pytest.raises(SpecError, match="folder .*nowhere.* does not exist"):
        wire_dataset(declared, ls, None)
    assert load_registration(name) is None
    assert [p for p in ls.projects.list(title=name) if p.title == name] == [], "nothing created"
