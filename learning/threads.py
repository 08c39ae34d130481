"""How many threads the BLAS library uses for a small prediction.

OpenBLAS runs a product as large as the kernel map's (300 rows x 300 landmarks) on all
its threads, and each helper thread then keeps spinning on its core for about 0.1 s
before it sleeps. On this machine one ``predict_proba`` of the default image model on
300 digits took 4-6 ms of CPU on one thread and 100-140 ms of process CPU on two (the
spin), time taken from the flow run and the Prefect server sharing the cores. A
prediction that small is as fast on one thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

# The limit is process-wide: two threads nesting limits could restore them out of order.
_LIMIT_LOCK = threading.Lock()


@functools.cache
def _controller() -> ThreadpoolController:
    # Finding the loaded BLAS libraries takes 1.5 ms; changing their limit 20 us.
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with the BLAS libraries on one thread, then restore their threads.

    Other threads of the process computing at the same time get one BLAS thread too
    while the block runs; two blocks in two threads run one after the other.

    Returns:
        A context manager.
    """
    with _LIMIT_LOCK, _controller().limit(limits=1, user_api="blas"):
        yield
