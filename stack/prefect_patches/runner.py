"""Patches of Prefect's runner for `labelloop serve` (see the package docstring)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, get_type_hints

from prefect import Flow, flow_engine


class _ForkserverForSpawn(ModuleType):
    """`multiprocessing` as Prefect's flow engine sees it under `warm_flow_processes`:
    the same module, except that asking for the `spawn` context gives the forkserver's."""

    def __init__(self, context: multiprocessing.context.ForkServerContext) -> None:
        super().__init__("multiprocessing")
        self._context = context

    def __getattr__(self, name: str) -> object:
        return getattr(multiprocessing, name)

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return self._context if method == "spawn" else multiprocessing.get_context(method)


@contextmanager
def warm_flow_processes(modules: Sequence[str]) -> Iterator[None]:
    """Start the runner's flow-run processes from a forkserver that imported `modules`.

    Patches `prefect.flow_engine.multiprocessing` for the duration of the block. Why: a
    spawned run's process imports Prefect and the flow's module tree (scikit-learn,
    pandas) before the run is Running, seconds per run; a process forked from a server
    that imported them once starts in a fraction of a second, still one process per run.

    Prefect's `run_flow_in_subprocess` (what a runner serving flow objects calls) takes
    the `spawn` context of `multiprocessing`; inside this block it gets the
    `forkserver` context instead, with the same process API (start, pid, join,
    exitcode, terminate). The forkserver is a single-threaded process started now,
    which imports `modules` (an import that fails is skipped, as `multiprocessing`
    does) and then forks one child per run on request. A child re-runs the usual
    spawn preparation (sys.path, main module) and unpickles the run as before.

    Args:
        modules: module names to import once in the forkserver (the flows' modules).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *modules])
    multiprocessing.forkserver.ensure_running()  # imports in the background from now
    engine_multiprocessing = flow_engine.multiprocessing
    flow_engine.multiprocessing = _ForkserverForSpawn(context)  # type: ignore[assignment]
    try:
        yield
    finally:
        flow_engine.multiprocessing = engine_multiprocessing


def resolve_annotations(flow: Flow[..., Any]) -> Flow[..., Any]:
    """Replace the flow function's string annotations by the types they name.

    Patches `flow.fn.__annotations__`. Why: the runner hands each run's process the
    flow pickled, by value when its module is not importable there, and a function
    pickled by value keeps only the globals its code uses; annotations kept as strings
    (`from __future__ import annotations`) then name nothing, and Prefect's parameter
    validation, which reads `__annotations__`, fails every run.

    Returns:
        The same flow.
    """
    flow.fn.__annotations__ = get_type_hints(flow.fn)
    return flow
