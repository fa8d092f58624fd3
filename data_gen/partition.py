"""Seeding and the partition map: why output never depends on the number of workers.

The population is cut into fixed-size partitions (`Scenario.partition_size`). Every random
draw of a stage for a partition comes from a generator seeded by `(seed, partition, stage)`
through `numpy.random.SeedSequence`, and results are concatenated in partition order, so one
process, K processes or K Dask workers produce byte-identical datasets.
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import reduction
from types import ModuleType
from typing import Any, cast

import numpy as np

from common.memory import heap_reuse

# Stable stream ids: changing one changes every dataset, so they are append-only.
STAGES = {
    "population": 1,
    "communities": 2,
    "friendships": 3,
    "closure": 4,
    "groups": 5,
    "activity": 6,
    "labels": 7,
    "ids": 8,
    "layout": 9,
    "harm": 10,
    "order": 11,
    "roles": 12,
    "viral": 13,
    "propensity": 14,
    "group_ids": 15,
}
GLOBAL = 2**31 - 1  # partition slot used by streams that are not per partition


def rng_for(seed: int, partition: int, stage: str) -> np.random.Generator:
    """The generator for one stage of one partition (or GLOBAL)."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(partition, STAGES[stage]))
    rng = np.random.default_rng(ss)
    return rng if _DRAWS is None else cast(np.random.Generator, _CountingGenerator(rng, _DRAWS))  # a proxy


class _CountingGenerator:
    """Proxy that counts the random variates a Generator returns (perf floor only)."""

    def __init__(self, rng: np.random.Generator, counter: list[int]):
        self._rng, self._counter = rng, counter

    def __getattr__(self, name: str):
        method = getattr(self._rng, name)

        def counted(*args, **kwargs):
            out = method(*args, **kwargs)
            self._counter[0] += int(np.size(out))
            return out

        return counted


_DRAWS: list[int] | None = None


@contextmanager
def count_draws() -> Iterator[list[int]]:
    """Count every random variate drawn inside the block (single process only): the perf
    benchmark's floor draws exactly this many values."""
    global _DRAWS
    _DRAWS = [0]
    try:
        yield _DRAWS
    finally:
        _DRAWS = None


def partition_bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


_STATE: Any = None  # a pool worker's copy of the stage's read-only state (set by _receive)
_ALIGN = 64  # byte alignment of each array buffer in the shared file


def map_partitions(
    fn: Callable[[Any, int], Any], state: Any, n_partitions: int, workers: int = 1, executor: Any = None
) -> Iterator[Any]:
    """Yield `fn(state, p)` for every partition, in partition order.

    With `workers` > 1 the tasks run in a pool of worker processes started by a fork
    server (`multiprocessing`'s "forkserver" method), never forked from this process: the
    caller may have run torch, and a fork's child that enters OpenMP after its parent did
    hangs (as may one that inherits a lock another thread held). The server is started
    once per process, preloaded (`_forkserver_preload`); each stage's pool then starts in
    a fraction of a second. `state` reaches each worker once, as a `SharedState`: its
    arrays are shared by all workers through one in-memory file, not pickled per worker
    or task. Workers run each task under `heap_reuse`, as the generating process does. A
    worker that dies fails the map (BrokenProcessPool) instead of hanging it. An
    `executor` (an object with `map(fn, state, n_partitions)` yielding in partition
    order, e.g. dask_map.DaskExecutor) runs the very same tasks elsewhere instead;
    `workers` is then ignored.

    Because the workers are not forks, they rerun the caller's main script (as
    multiprocessing's spawned workers do): a script that generates with `workers` > 1
    needs the usual `if __name__ == "__main__":` guard.
    """
    if executor is not None:
        yield from executor.map(fn, state, n_partitions)
        return
    if workers <= 1 or n_partitions <= 1:
        for p in range(n_partitions):
            yield fn(state, p)
        return
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_forkserver_preload())
    with (
        SharedState(state) as shared,
        ProcessPoolExecutor(
            min(workers, n_partitions), mp_context=ctx, initializer=_receive, initargs=(shared,)
        ) as pool,
    ):
        yield from pool.map(_task, [fn] * n_partitions, range(n_partitions))


def _forkserver_preload() -> list[str]:
    """Modules the fork server imports once, before it forks any worker: the generator's,
    and those the caller's main script took its names from. multiprocessing reruns the
    main script in every worker it starts (as `__mp_main__`, so that functions defined
    there unpickle), and Python 3.11's fork server never preloads it itself, so without
    its imports in the server each worker of each stage would import them afresh (3 s for
    `lowbase`, whose imports include torch). The server only imports: it never runs a
    torch operation, so no OpenMP pool has worked when it forks."""
    names = {"data_gen.simulate"}
    main = sys.modules.get("__main__")
    for value in vars(main).values() if main is not None else ():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name in sys.modules and name not in ("__main__", "__mp_main__"):
            names.add(name)
    return sorted(names)


def _receive(state: Any) -> None:
    global _STATE
    _STATE = state


def _task(fn: Callable[[Any, int], Any], p: int) -> Any:
    with heap_reuse():  # a forkserver worker does not inherit the caller's (common/memory.py)
        return fn(_STATE, p)


class SharedState:
    """A read-only state for worker processes, its arrays shared rather than copied.

    The state is pickled (protocol 5) with the buffers of its contiguous arrays out of
    band, and those are laid out in one anonymous in-memory file (memfd). Pickled for a
    worker process at its start, a SharedState carries the small pickle and the file's
    descriptor (multiprocessing passes it on, as for its own shared arrays); unpickled
    there it is the state itself, its arrays views of a private copy-on-write mapping of
    the file: every worker reads the same physical pages, and one that writes to an array
    changes only its own copy, as after a fork. A context manager: the file is freed when
    the block ends and every worker has exited."""

    def __init__(self, state: Any):
        buffers: list[pickle.PickleBuffer] = []
        self.header = pickle.dumps(state, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
        self.spans: list[tuple[int, int]] = []
        size = 0
        for raw in raws:
            self.spans.append((size, raw.nbytes))
            size += -raw.nbytes % _ALIGN + raw.nbytes
        self.size = size
        self.fd = _anonymous_file(size)
        if size:
            with mmap.mmap(self.fd, size) as m, memoryview(m) as view:
                for (offset, n), raw in zip(self.spans, raws, strict=True):
                    view[offset : offset + n] = raw

    def __enter__(self) -> SharedState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __reduce__(self):
        return _attach, (self.header, self.spans, self.size, reduction.DupFd(self.fd))


def _anonymous_file(size: int) -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("lowbase-partition-state")
    else:  # not Linux: an unlinked temporary file
        fd, name = tempfile.mkstemp(prefix="lowbase-partition-state-")
        os.unlink(name)
    os.ftruncate(fd, size)
    return fd


def _attach(header: bytes, spans: list[tuple[int, int]], size: int, dupfd: Any) -> Any:
    fd = dupfd.detach()
    try:
        view = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_COPY)) if size else memoryview(b"")
    finally:
        os.close(fd)
    return pickle.loads(header, buffers=[view[offset : offset + n] for offset, n in spans])
