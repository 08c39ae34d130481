"""No run, and so no event that starts one, widens what the model loader trusts.

The trusted types are an administrator's setting on the DataStore block; every flow
that loads a model refuses a `trusted_types` parameter with a message saying where the
setting lives, and its form (the parameter schema) does not offer one.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import flows.monitor
import flows.preannotate
import flows.train
from blocks import DataStore
from flows.cleanse import CleanseParams
from flows.cli import parse_params
from flows.monitor import MonitorParams
from flows.preannotate import RefreshParams
from flows.train import TrainParams
from tasks.monitoring import DriftMonitoring

WIDENED = ["posix.system", "builtins.eval", "subprocess.Popen"]

CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (TrainParams, {"trusted_types": WIDENED}),
    (MonitorParams, {"trusted_types": WIDENED}),
    (RefreshParams, {"trusted_types": WIDENED}),
    (DriftMonitoring, {"trusted_types": WIDENED}),
    (CleanseParams, {"dataset": "digits", "drift": {"trusted_types": WIDENED}}),
]


@pytest.mark.parametrize(("params", "given"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_run_cannot_widen_the_trusted_types(params: type[BaseModel], given: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="trusted_types is not a run parameter.*DataStore block"):
        params.model_validate(given)
    # An empty list is refused as well: the parameter does not exist.
    with pytest.raises(ValidationError, match="not a run parameter"):
        params.model_validate({**given, **({"trusted_types": []} if "trusted_types" in given else {})})


@pytest.mark.parametrize("params", [TrainParams, MonitorParams, RefreshParams, CleanseParams])
def test_no_form_offers_trusted_types(params: type[BaseModel]) -> None:
    assert "trusted_types" not in str(params.model_json_schema())


@pytest.mark.parametrize(
    ("module", "params"),
    [(flows.train, TrainParams), (flows.monitor, MonitorParams), (flows.preannotate, RefreshParams)],
)
@pytest.mark.parametrize("flag", ["--trusted-type", "--trusted-types"])
def test_no_command_line_offers_trusted_types(
    module: Any, params: type[BaseModel], flag: str
) -> None:
    with pytest.raises(SystemExit):
        parse_params(params, [flag, "posix.system"], None, module.SHORTCUTS)


def test_the_data_store_block_holds_the_administrators_trust() -> None:
    assert DataStore().trusted_types == []
    store = DataStore(trusted_types=["mypkg.models.MyClassifier"])
    assert store.trusted_types == ["mypkg.models.MyClassifier"]
    assert "trusted_types" in DataStore.model_json_schema()["properties"]
