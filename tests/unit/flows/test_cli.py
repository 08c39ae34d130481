"""Every flow's command line is generated from its Params model: it parses into that
model, `--help` lists every field, and the shorter flags users know still work."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from flows.cli import Shortcut, flag_of, flat_fields, params_parser, parse_params

FLOWS_DIR = Path(__file__).resolve().parents[3] / "flows"
# flow module -> (its Params model, the fewest arguments it runs with, the same as data)
FLOWS: dict[str, tuple[str, list[str], dict[str, Any]]] = {
    "annotate": ("PushParams", [], {}),
    "cleanse": ("CleanseParams", ["--dataset", "iris"], {"dataset": "iris"}),
    "collect": (
        "CollectParams",
        ["--dataset", "iris", "--local", "in/*.csv"],
        {"dataset": "iris", "sources": [{"kind": "local", "path": "in/*.csv"}]},
    ),
    "monitor": ("MonitorParams", [], {}),
    "preannotate": ("RefreshParams", [], {}),
    "sync": ("SyncParams", [], {}),
    "sync_session": ("SyncSessionParams", [], {}),
    "train": ("TrainParams", [], {}),
}


def _flow(name: str) -> tuple[ModuleType, type[BaseModel], list[Shortcut]]:
    module = importlib.import_module(f"flows.{name}")
    return module, getattr(module, FLOWS[name][0]), list(getattr(module, "SHORTCUTS", []))


def _parse(name: str, argv: list[str]) -> Any:
    _, model, shortcuts = _flow(name)
    return parse_params(model, argv, None, shortcuts)


def test_every_flow_file_runs_its_cli_from_the_generator() -> None:
    files = {p.stem for p in FLOWS_DIR.glob("*.py")} - {"__init__", "cli"}
    assert files == set(FLOWS)
    for name in files:
        source = (FLOWS_DIR / f"{name}.py").read_text()
        assert "run_flow_script(" in source.split('if __name__ == "__main__":')[1], name
        assert "argparse" not in source, name


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_the_fewest_arguments_parse_into_the_params_model(name: str) -> None:
    _, model, _ = _flow(name)
    params = _parse(name, FLOWS[name][1])
    assert type(params) is model
    assert params == model.model_validate(FLOWS[name][2])


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_help_lists_every_field_with_its_description(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, model, shortcuts = _flow(name)
    with pytest.raises(SystemExit) as exit_:
        parse_params(model, ["--help"], "the flow", shortcuts)
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for path, field in flat_fields(model).items():
        assert flag_of(path) in text, path
        assert " ".join((field.description or "").split())[:40] in text, path


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_generated_flag_sets_its_field(name: str) -> None:
    """Each plain field's flag, given its default, parses to the same Params."""
    _, model, shortcuts = _flow(name)
    base = FLOWS[name][1]
    taken = {s.flag for s in shortcuts}
    expected = _parse(name, base)
    for path, field in flat_fields(model).items():
        default = field.get_default(call_default_factory=True)
        flag = flag_of(path)
        if field.is_required() or default is None or flag in taken:
            continue
        if isinstance(default, bool):
            argv = [flag, str(default).lower()]
        elif isinstance(default, (list, tuple)):
            argv = [arg for item in default for arg in (flag, str(item))]
        elif isinstance(default, (str, int, float)):
            argv = [flag, str(default)]
        else:
            data = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
            argv = [flag, json.dumps(data)]
        if not argv:
            continue
        assert _parse(name, [*base, *argv]) == expected, (flag, argv)


def test_nested_fields_and_bools_take_generated_flags() -> None:
    params = _parse(
        "train", ["--gate-min-improvement", "0.02", "--no-hold-disputed", "--only-new-labels"]
    )
    assert params.gate.min_improvement == 0.02
    assert params.hold_disputed is False
    assert params.only_new_labels is True
    cleanse = _parse("cleanse", ["--dataset", "iris", "--normalise-trim-whitespace", "false"])
    assert cleanse.normalise.trim_whitespace is False


def test_cleanse_keeps_its_shorter_flags() -> None:
    params = _parse(
        "cleanse",
        ["--dataset", "iris", "--schema", "cleansing.schemas:IrisMeasurements", "--no-trim",
         "--no-coerce", "--no-drift", "--drift-psi", "0.3", "--drift-alpha", "0.01"],
    )
    assert params.schema_path == "cleansing.schemas:IrisMeasurements"
    assert not params.normalise.trim_whitespace and not params.normalise.coerce_types
    assert params.drift.enabled is False
    assert (params.drift.thresholds.psi, params.drift.thresholds.alpha) == (0.3, 0.01)


def test_collect_builds_its_sources_from_the_shorter_flags() -> None:
    params = _parse(
        "collect",
        ["--dataset", "d", "--local", "a", "--local", "b/*.csv", "--url", "https://x.org/f.csv",
         "--s3", "s3://bucket/in/", "--endpoint-url", "http://127.0.0.1:9000", "--schema", "m:M"],
    )
    kinds = [(s.kind, getattr(s, "path", None)) for s in params.sources]
    assert kinds == [("local", "a"), ("local", "b/*.csv"), ("http", None), ("s3", None)]
    s3 = params.sources[3]
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == ("bucket", "in/", "http://127.0.0.1:9000")
    assert params.schema_path == "m:M"
    whole = _parse("collect", ["--dataset", "d", "--sources", '[{"kind": "local", "path": "a"}]'])
    assert whole.sources[0].path == "a"


def test_train_keeps_its_shorter_flags() -> None:
    params = _parse(
        "train",
        ["--estimator", "sklearn.linear_model.LogisticRegression", "--estimator-params",
         '{"C": 2.0}', "--metric", "accuracy", "--min-improvement", "0.01",
         "--class-tolerance", "0.1", "--max-regression", "0.02", "--confidence", "0.9"],
    )
    assert params.estimator.import_path == "sklearn.linear_model.LogisticRegression"
    assert params.estimator.params == {"C": 2.0}
    assert (params.gate.metric, params.gate.min_improvement) == ("accuracy", 0.01)
    assert params.gate.class_tolerance == 0.1
    assert (params.gate.max_regression, params.gate.confidence) == (0.02, 0.9)


def test_flags_that_took_a_value_still_do() -> None:
    assert _parse("annotate", ["--with-predictions", "false"]).with_predictions is False
    sync = _parse("sync", ["--reconcile-deleted", "true", "--ready-threshold", "5"])
    assert sync.reconcile_deleted is True and sync.ready_threshold == 5
    monitor = _parse("monitor", ["--request-review"])
    assert monitor.request_review is True


@pytest.mark.parametrize(
    "name", ["annotate", "monitor", "preannotate", "sync", "sync_session", "train"]
)
def test_the_command_line_may_name_an_own_specs_import_path(name: str) -> None:
    """Only the command line: a run parameter never makes a worker import anything."""
    params = _parse(name, ["--dataset", "specs:TEXTS"])
    assert params.dataset.name == "texts"
    assert _parse(name, ["--dataset", "digits"]).dataset.name == "digits"


@pytest.mark.parametrize(
    "argv", [["--batch-size", "0"], ["--strategy", "best"], ["--with-predictions", "maybe"]]
)
def test_a_bad_value_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parse("annotate", argv)
    assert exit_.value.code == 2
    assert argv[0].removeprefix("--").replace("-", "_").split("_")[0] in capsys.readouterr().err


def test_a_shortcut_to_a_missing_field_names_its_flag() -> None:
    _, model, _ = _flow("sync")
    with pytest.raises(ValueError, match="--old"):
        params_parser(model, None, [Shortcut("--old", "no_such_field", "gone")])


def test_no_flow_file_shadows_a_module_when_run_as_a_script() -> None:
    """`python flows/train.py` puts flows/ first on sys.path: a flow file named like a
    package or library (`monitoring`, `prefect`) would be imported in its place."""
    shadowing = [
        p.stem
        for p in FLOWS_DIR.glob("*.py")
        if p.stem != "__init__" and importlib.util.find_spec(p.stem) is not None
    ]
    assert shadowing == []


class _Inner(BaseModel):
    a: int = 1
    b: int = 2


class _Outer(BaseModel):
    inner: _Inner = _Inner(a=10, b=20)


def test_a_nested_flag_changes_one_field_of_the_params_own_default() -> None:
    assert parse_params(_Outer, ["--inner-b", "3"]).inner == _Inner(a=10, b=3)
    assert parse_params(_Outer, []).inner == _Inner(a=10, b=20)


@pytest.mark.parametrize(
    ("argv", "named"),
    [(["--dataset", "nosuch"], "nosuch"), (["--dataset", "{not json"], "Expecting")],
)
def test_a_bad_dataset_is_a_usage_error_not_a_traceback(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parse("sync", argv)
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err
