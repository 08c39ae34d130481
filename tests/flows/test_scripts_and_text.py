from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prefect.settings import get_current_settings

from blocks import DataStore
from collection.sources import LocalSource
from flows.cleanse import CleanseParams, cleanse
from flows.collect import CollectParams, collect
from tests.flows.helpers import IRIS_SCHEMA, iris_frame, read_all

ROOT = Path(__file__).parents[2]
TEXTS = [
    {"text": "  The cat sat on the mat. ", "lang": "EN", "label": "animals"},
    {"text": "Le chat est sur le tapis.", "lang": "fr"},
    {"text": "", "lang": "en"},
    {"text": "Der Hund bellt.", "lang": "klingon"},
    {"text": "The cat sat on the mat.", "lang": "en", "label": "pets"},
]


def test_flows_run_as_plain_scripts(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    iris_frame().to_csv(incoming / "iris.csv", index=False)
    # the harness's URL and auth string, as Prefect hands its settings to a subprocess
    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)}
    env.pop("PYTHONPATH", None)  # the scripts find the project themselves
    env.pop("LABELLOOP_HOME", None)  # no stack home: the default store is under the cwd
    common = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True, "timeout": 300}
    collected = subprocess.run(
        [
            sys.executable,
            str(ROOT / "flows/collect.py"),
            "--dataset",
            "iris",
            "--local",
            str(incoming),
        ],
        check=True,
        **common,
    )
    assert json.loads(collected.stdout[collected.stdout.index("{") :])["new_rows"] == 150
    cleansed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "flows/cleanse.py"),
            "--dataset",
            "iris",
            "--schema",
            IRIS_SCHEMA,
        ],
        check=True,
        **common,
    )
    total = json.loads(cleansed.stdout[cleansed.stdout.index("{") :])["total"]
    assert total["rows_in"] == 150 == total["clean"] + total["quarantined"] + total["duplicates"]
    local_default = DataStore(base_path=str(tmp_path / ".labelloop" / "data"))
    assert local_default.list_keys("clean/iris/")


def test_text_data_set_from_json_lines(tmp_path: Path) -> None:
    incoming = tmp_path / "texts"
    incoming.mkdir()
    (incoming / "a.jsonl").write_text("\n".join(json.dumps(t) for t in TEXTS) + "\n")
    (incoming / "broken.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    store = DataStore(base_path=str(tmp_path / "store"))
    params = CollectParams(dataset="texts", sources=[LocalSource(path=str(incoming))])
    collected = collect(params, store=store)
    assert collected.new_rows == 5
    (error,) = collected.failed.values()
    assert "broken.jsonl: line 2: invalid JSON" in error
    result = cleanse(
        CleanseParams(dataset="texts", schema_path="cleansing.schemas:TextSnippets"), store=store
    )
    clean = read_all(store, "clean/texts/")
    assert sorted(clean["text"]) == ["Le chat est sur le tapis.", "The cat sat on the mat."]
    assert result.total.quarantined == 2  # empty text, unknown language
    assert result.total.duplicates == 1  # same text once trimmed: same item_id, label aside
