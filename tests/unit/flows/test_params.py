"""Flow parameters as triggers fill them: long reasons are cut, names are the loop's."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flows.annotate import PushParams
from flows.cleanse import CleanseParams
from collection.sources import LocalSource
from flows.collect import CollectParams
from flows.monitor import MonitorParams
from flows.sync import SyncParams
from flows.train import TrainParams
from specs import REASON_MAX_LENGTH
from storage.layout import RegistryError, check_model_name, check_version_id


@pytest.mark.parametrize("model", [PushParams, SyncParams, TrainParams, MonitorParams])
def test_a_long_trigger_reason_is_cut_not_refused(model: type[BaseModel]) -> None:
    """A trigger fills `reason` from an event's message (a gate summary with one clause per
    regressed class); a long one must still create the run, so the deployment's schema
    has no max length and the flow cuts it."""
    long = "no new champion: " + "class 3 recall 0.91 -> 0.70; " * 40
    params = model(dataset="digits", reason=long)
    assert len(params.reason) == REASON_MAX_LENGTH
    assert params.reason.startswith("no new champion: class 3")
    assert "maxLength" not in str(model.model_json_schema()["properties"]["reason"])
    assert model(dataset="digits", reason="short").reason == "short"


@pytest.mark.parametrize("name", ["my_data", "Digits", "a" * 61, "digits\n"])
def test_collect_and_cleanse_take_only_names_the_loop_takes(name: str) -> None:
    """A data set the downstream flows would refuse is refused at collect already."""
    sources = [LocalSource(path="landing")]
    with pytest.raises(ValueError, match="dataset"):
        CollectParams(dataset=name, sources=sources)
    with pytest.raises(ValueError, match="dataset"):
        CleanseParams(dataset=name)
    assert CollectParams(dataset="my-data", sources=sources).dataset == "my-data"


def test_store_names_and_versions_allow_no_trailing_newline() -> None:
    with pytest.raises(RegistryError):
        check_model_name("digits\n")
    with pytest.raises(RegistryError):
        check_version_id("20261122T065900123456Z-1a2b3c\n")
    check_model_name("digits")
    check_version_id("20261122T065900123456Z-1a2b3c")
