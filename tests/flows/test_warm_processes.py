"""`labelloop serve`'s patches of Prefect's runner, and how serve loads and stops.

Prefect's `run_flow_in_subprocess` is what the runner calls for the flows serve hands
it; under `warm_flow_processes` the run's process must be forked from the forkserver
(which imported the flows' modules once), not spawned from this process. A flow pickled
by value into that process must still validate its parameters (`resolve_annotations`).
"""

from __future__ import annotations

import importlib.util
import sys
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import cloudpickle
import psutil
import pytest
from prefect import Flow, flow, flow_engine
from prefect.client.schemas.objects import FlowRun, State
from prefect.flow_engine import run_flow_in_subprocess
from prefect.states import Crashed, Pending, Running
from pydantic import BaseModel, PydanticUserError

from stack.prefect_patches.runner import resolve_annotations, warm_flow_processes
from stack.prefect_yaml import PROJECT_ROOT, read_deployments
from stack.serving import flow_modules, load_flow, module_name_of, was_interrupted


@flow(name="where-am-i")
def where_am_i(out: str) -> None:
    """Write this run's process id and its parent's."""
    Path(out).write_text(f"{os.getpid()} {os.getppid()}")


def _run(out: Path) -> tuple[int, int, int | None]:
    """Run `where_am_i` as the runner would; (its pid, its parent's pid, exit code)."""
    process = run_flow_in_subprocess(where_am_i, parameters={"out": str(out)})
    process.join(timeout=120)
    pid, parent = (int(n) for n in out.read_text().split())
    return pid, parent, process.exitcode


def test_a_run_in_warm_processes_is_forked_from_the_forkserver(tmp_path: Path) -> None:
    with warm_flow_processes(["tests.flows.test_warm_processes"]):
        pid, parent, code = _run(tmp_path / "warm.txt")
    assert code == 0
    assert parent != os.getpid(), "the run's process was started by this process, not forked"
    assert "forkserver" in " ".join(psutil.Process(parent).cmdline())
    assert pid != parent


def test_outside_the_block_prefect_spawns_as_before(tmp_path: Path) -> None:
    with warm_flow_processes([]):
        pass
    assert flow_engine.multiprocessing.get_context("spawn").get_start_method() == "spawn"
    _, parent, code = _run(tmp_path / "cold.txt")
    assert code == 0
    assert parent == os.getpid()


def test_the_forkserver_preloads_every_flow_module_of_prefect_yaml() -> None:
    specs = read_deployments(PROJECT_ROOT / "prefect.yaml")
    files = {(PROJECT_ROOT / s.entrypoint.split(":")[0]).resolve() for s in specs}
    modules = flow_modules(specs, PROJECT_ROOT)
    found = [importlib.util.find_spec(m) for m in modules]
    assert {Path(str(spec.origin)).resolve() for spec in found if spec} == files


def test_a_file_that_is_not_importable_has_no_module_name(tmp_path: Path) -> None:
    script = tmp_path / "not-a-module.py"
    script.write_text("x = 1\n")
    assert module_name_of(script, [str(tmp_path)]) is None
    assert module_name_of(PROJECT_ROOT / "flows" / "train.py", [str(tmp_path)]) is None


def test_the_package_qualified_name_wins_over_a_folder_on_the_path() -> None:
    search = [str(PROJECT_ROOT / "benchmarks"), str(PROJECT_ROOT)]
    assert module_name_of(PROJECT_ROOT / "benchmarks" / "noop_flow.py", search) == (
        "benchmarks.noop_flow"
    )


def test_every_served_flow_validates_its_parameters_after_the_trip_to_its_process() -> None:
    """The runner pickles the flow into the run's process; its parameters must still
    validate there (string annotations left unresolved made every run fail)."""
    for spec in read_deployments(PROJECT_ROOT / "prefect.yaml"):
        arrived = cloudpickle.loads(cloudpickle.dumps(load_flow(spec, PROJECT_ROOT)))
        parameters = spec.parameters or {"params": {"dataset": "digits"}}
        validated = arrived.validate_parameters(parameters)
        assert type(validated["params"]).__name__.endswith("Params"), spec.name


FLOW_FILE = """
from __future__ import annotations

from prefect import flow
from pydantic import BaseModel, PydanticUserError


class AddParams(BaseModel):
    a: int


@flow(name="add-one")
def add_one(params: AddParams) -> int:
    return params.a + 1
"""


def _flow_pickled_by_value(tmp_path: Path, resolve: bool) -> Flow[..., Any]:
    """A flow from a module the run's process cannot import, after the runner's pickle trip."""
    path = tmp_path / f"flow_by_value_{uuid4().hex[:8]}.py"
    path.write_text(FLOW_FILE)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not in sys.modules: cloudpickle pickles it by value
    assert path.stem not in sys.modules
    loaded: Flow[..., Any] = module.add_one
    if resolve:
        resolve_annotations(loaded)
    return cloudpickle.loads(cloudpickle.dumps(loaded))


def test_resolved_annotations_validate_parameters_in_the_runs_process(tmp_path: Path) -> None:
    """Fails the day Prefect stops validating a flow's parameters from `fn.__annotations__`."""
    arrived = _flow_pickled_by_value(tmp_path, resolve=True)
    validated = arrived.validate_parameters({"params": {"a": "41"}})
    assert isinstance(validated["params"], BaseModel)
    assert type(validated["params"]).__name__ == "AddParams"
    assert validated["params"].a == 41


def test_string_annotations_fail_in_the_runs_process_without_the_patch(tmp_path: Path) -> None:
    """Why serve resolves them: the annotation names a class the pickled globals lack."""
    arrived = _flow_pickled_by_value(tmp_path, resolve=False)
    with pytest.raises(PydanticUserError, match="AddParams"):
        arrived.validate_parameters({"params": {"a": "41"}})


def _run_in(state: State) -> FlowRun:
    return FlowRun(flow_id=uuid4(), state=state)


def test_a_stop_reschedules_runs_in_flight_and_those_it_crashed_not_earlier_crashes() -> None:
    stopped_at = datetime.now(UTC)
    before, after = stopped_at - timedelta(minutes=5), stopped_at + timedelta(seconds=1)
    assert was_interrupted(_run_in(Running()), None)
    assert was_interrupted(_run_in(Pending()), stopped_at)
    assert was_interrupted(_run_in(Crashed(timestamp=after)), stopped_at)
    assert not was_interrupted(_run_in(Crashed(timestamp=before)), stopped_at)
    assert not was_interrupted(_run_in(Crashed(timestamp=after)), None)
