"""Partitions on a Dask cluster: the same `fn(state, p)` tasks as the process pool.

Why this is enough for identical output: every partition task is a pure function of the
shared read-only `state` and its partition id (its random streams are seeded by
`(seed, partition, stage)`, partition.py), and results are taken back in partition order.
So which worker ran a task, how many there were, or whether a task ran twice cannot change
a byte.

Why it is safe when a worker dies: a task that was running on a lost worker is simply
rescheduled by the scheduler (pure, so a rerun gives the same result); after
`distributed.scheduler.allowed-failures` losses of the same task the scheduler gives up
with `KilledWorker`, which becomes a `PartitionLost` error here. Nothing is written before
every partition is back (and the writer commits by renaming a temporary directory), so a
failed run leaves no partial dataset. (tests/faults.py kills a worker mid-run to check both.)

Why each task runs under `memory.heap_reuse`: a Dask worker is a fresh process, not a fork
of the generating one, so it does not inherit the heap settings `generate` makes; without
them every big temporary of a partition task is mmapped and faulted in afresh, and the
activity stage runs markedly slower on a worker than the same tasks in-process
(`bench/perf/scale.py` shows it). The policy ends after each task (common/memory.py says
what glibc is left with), so a shared worker keeps big-block reuse only inside lowbase
tasks.

Dask is imported lazily: without an executor, generation never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from common.memory import heap_reuse


class PartitionLost(RuntimeError):
    """A partition task could not be completed on the cluster (workers kept dying)."""


def _run(fn: Callable[[Any, int], Any], state: Any, p: int) -> Any:
    with heap_reuse():
        return fn(state, p)


class DaskExecutor:
    """Maps partition tasks over a `distributed.Client`'s workers.

    The shared state is scattered once to every worker (broadcast), not shipped with each
    task: it holds the population and graph arrays, hundreds of MB at a million accounts.
    Broadcasting also means a surviving worker still holds it when another one dies."""

    def __init__(self, client):
        self.client = client

    def map(self, fn: Callable[[Any, int], Any], state: Any, n_partitions: int) -> Iterator[Any]:
        from distributed import KilledWorker

        client = self.client
        # In a list so a tuple state is one object to Dask, not a collection of them.
        [shared] = client.scatter([state], broadcast=True, hash=False)
        futures = client.map(_run, [fn] * n_partitions, [shared] * n_partitions, range(n_partitions), pure=False)
        try:
            for p in range(n_partitions):
                try:
                    result = futures[p].result()
                except KilledWorker as e:
                    raise PartitionLost(
                        f"partition {p} of {n_partitions} ({getattr(fn, '__name__', fn)}): Dask workers died "
                        f"running it too many times ({e}); no dataset was written"
                    ) from None
                futures[p].release()  # results stream back in order; free worker memory as we go
                futures[p] = None
                yield result
        finally:
            client.cancel([f for f in futures if f is not None])
            shared.release()
