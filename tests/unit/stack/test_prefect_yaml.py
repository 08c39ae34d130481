"""The one reader of prefect.yaml and the renamed copy of it that tests and benchmarks serve."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stack.prefect_yaml import PROJECT_ROOT, read_deployments, served_document


def test_the_copy_serves_only_the_named_deployments_renamed_with_absolute_entrypoints(
    tmp_path: Path,
) -> None:
    document = served_document(PROJECT_ROOT / "prefect.yaml", ["sync", "retrain"], "abc123")
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(document))
    specs = {spec.name: spec for spec in read_deployments(path)}
    assert set(specs) == {"sync-abc123", "retrain-abc123"}
    for spec in specs.values():
        assert Path(spec.entrypoint.split(":")[0]).is_file()
        assert spec.schedules == []
        assert spec.triggers, "the triggers are what the served copy is for"


def test_extra_deployments_are_served_beside_and_schedules_kept_on_request() -> None:
    extra = {"name": "noop", "entrypoint": "benchmarks/noop_flow.py:noop"}
    document = served_document(
        PROJECT_ROOT / "prefect.yaml", ["sync"], "x1", extra=[extra], keep_schedules=True
    )
    names = [d["name"] for d in document["deployments"]]
    assert names == ["sync-x1", "noop-x1"]
    assert document["deployments"][0]["schedules"]
    assert (
        document["deployments"][1]["entrypoint"]
        == str(PROJECT_ROOT / "benchmarks/noop_flow.py") + ":noop"
    )


def test_an_unknown_deployment_name_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="nightly"):
        served_document(PROJECT_ROOT / "prefect.yaml", ["sync", "nightly"], "x1")


def test_changes_replace_a_deployments_own_keys() -> None:
    changes = {
        "sync": {"parameters": {"params": {"dataset": "texts"}}, "schedules": [{"interval": 15}]}
    }
    document = served_document(
        PROJECT_ROOT / "prefect.yaml", ["sync", "retrain"], "x1", changes=changes
    )
    sync, retrain = document["deployments"]
    assert sync["parameters"] == {"params": {"dataset": "texts"}}
    assert sync["schedules"] == [{"interval": 15}]
    assert retrain["schedules"] == []
