"""Contract: the block's client talks to a real Label Studio server."""

from __future__ import annotations

import pytest
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from tests.conftest import Stack

pytestmark = pytest.mark.integration

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text"><Choice value="pos"/><Choice value="neg"/></Choices>
</View>"""


def test_create_project_import_tasks_and_read_them_back(ls: LabelStudio, unique: str) -> None:
    project = ls.projects.create(title=f"contract-{unique}", label_config=CONFIG)
    try:
        rows = [{"text": f"item {i}", "item_id": f"{unique}-{i}"} for i in range(25)]
        ls.projects.import_tasks(id=project.id, request=rows)
        tasks = list(ls.tasks.list(project=project.id, fields="all"))
        assert sorted(t.data["item_id"] for t in tasks) == sorted(r["item_id"] for r in rows)
        assert {t.data["text"] for t in tasks} == {r["text"] for r in rows}
        assert ls.projects.get(id=project.id).title == f"contract-{unique}"
    finally:
        ls.projects.delete(id=project.id)


def test_wrong_token_is_rejected(stack: Stack, unique: str) -> None:
    bad = LabelStudio(base_url=stack.settings.label_studio_url, api_key="0" * 40, max_retries=0)
    with pytest.raises(ApiError) as caught:
        bad.projects.create(title=f"never-{unique}", label_config=CONFIG)
    assert caught.value.status_code == 401
