"""Seeding and the partition map: why output never depends on the number of workers.

The population is cut into fixed-size partitions (`Scenario.partition_size`). Every random
draw of a stage for a partition comes from a generator seeded by `(seed, partition, stage)`
through `numpy.random.SeedSequence`, and results are concatenated in partition order, so one
process, K processes or K Dask workers produce byte-identical datasets.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

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
    return rng if _DRAWS is None else _CountingGenerator(rng, _DRAWS)


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


_STATE: Any = None  # read-only state inherited by forked workers


def _call(args: tuple[Callable[[Any, int], Any], int]) -> Any:
    fn, p = args
    return fn(_STATE, p)


def map_partitions(
    fn: Callable[[Any, int], Any], state: Any, n_partitions: int, workers: int = 1, executor: Any = None
) -> Iterator[Any]:
    """Yield `fn(state, p)` for every partition, in partition order.

    Workers are forked after `state` is set, so large read-only arrays are shared
    copy-on-write instead of being pickled per task. An `executor` (an object with
    `map(fn, state, n_partitions)` yielding in partition order, e.g. dask_map.DaskExecutor)
    runs the very same tasks elsewhere instead; `workers` is then ignored.
    """
    global _STATE
    if executor is not None:
        yield from executor.map(fn, state, n_partitions)
        return
    if workers <= 1 or n_partitions <= 1:
        for p in range(n_partitions):
            yield fn(state, p)
        return
    _STATE = state
    try:
        ctx = mp.get_context("fork")
        with ctx.Pool(min(workers, n_partitions)) as pool:
            yield from pool.imap(_call, [(fn, p) for p in range(n_partitions)], chunksize=1)
    finally:
        _STATE = None
