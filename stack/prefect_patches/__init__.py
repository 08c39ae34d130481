"""Every place labelloop changes how Prefect itself behaves, each with a test that fails
the day a Prefect upgrade stops honouring it.

- `runner.warm_flow_processes`: a served flow run's process is forked from a warm
  forkserver instead of spawned (`prefect.flow_engine.multiprocessing`);
  `tests/flows/test_warm_processes.py`.
- `runner.resolve_annotations`: a served flow's string annotations are resolved before
  the flow is pickled into its run's process (`Flow.fn.__annotations__`);
  `tests/flows/test_warm_processes.py`.
- `server.use_immediate_transactions`: the local server's SQLite write transactions
  begin `IMMEDIATE` (`prefect.server.database.dependencies.MODELS_DEPENDENCIES`);
  `tests/unit/stack/test_prefect_patches_server.py`.

The runner's patches and the server's live in two modules so that the serve process
does not import Prefect's server, nor the server the runner. This package imports
neither.
"""
