"""`labelloop serve` starts each flow run's process from a warm forkserver.

Prefect's `run_flow_in_subprocess` is what the runner calls for the flows serve hands
it; under `warm_flow_processes` the run's process must be forked from the forkserver
(which imported the flows' modules once), not spawned from this process.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import cloudpickle
import psutil
from prefect import flow, flow_engine
from prefect.client.schemas.objects import FlowRun, State
from prefect.flow_engine import run_flow_in_subprocess
from prefect.states import Crashed, Pending, Running

from flows.deployments import (
    flow_modules,
    load_flow,
    module_name_of,
    read_deployments,
    warm_flow_processes,
    was_interrupted,
)
from stack.serving import PROJECT_ROOT


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
