"""Generation on a Dask LocalCluster: the same bytes as one process, and a killed worker
is retried (or the run fails clearly), never a partial dataset."""

from __future__ import annotations

import json

import pytest

from data_gen import generate
from data_gen.dask_map import DaskExecutor, PartitionLost
from data_gen.partition import map_partitions
from tests.conftest import small_scenario
from tests.faults import worker_killed_once

pytestmark = pytest.mark.slow  # starts a Dask cluster


@pytest.fixture
def client(dask_client):
    return dask_client


def _fingerprint(path) -> str:
    return json.loads((path / "dataset.json").read_text())["fingerprint"]


def _square(state, p):
    return state[p] ** 2


def test_map_in_partition_order(client):
    assert list(map_partitions(_square, tuple(range(7)), 7, executor=DaskExecutor(client))) == [p * p for p in range(7)]


def _heap_probe(state, p):
    """mmapped blocks before and after a 48 MB allocation: above glibc's largest dynamic
    mmap threshold (32 MB), below the size of a thread arena's heap (64 MB; Dask runs tasks
    in a thread, and bigger blocks are always mmapped there)."""
    import numpy as np

    from common.memory import mmapped_blocks

    before = mmapped_blocks()
    if before is None:
        return None
    a = np.ones(6 << 20)
    after = mmapped_blocks()
    del a
    return before, after


def test_tasks_run_with_heap_reuse_on_the_workers(client):
    """Workers are not forks of the generating process: each task must set heap reuse up
    itself, so a 48 MB temporary comes from the heap instead of a fresh mmap."""
    probes = list(map_partitions(_heap_probe, (0,), 2, executor=DaskExecutor(client)))
    if probes[0] is None:
        pytest.skip("glibc >= 2.33 only")
    assert all(before == after for before, after in probes), probes
    # and outside a task, the worker is back on glibc's defaults
    outside = client.run(_heap_probe, None, 0)
    assert all(before + 1 == after for before, after in outside.values()), outside


def test_dask_generation_is_byte_identical(client, small_dir, tmp_path):
    """--dask local:2 gives the fingerprint of --workers 1 (the session's `small` dataset)."""
    generate(small_scenario(), seed=7, out=tmp_path / "ds", executor=DaskExecutor(client))
    assert _fingerprint(tmp_path / "ds") == _fingerprint(small_dir)


def test_killed_worker_is_retried(client, small_dir, tmp_path):
    """A worker process dies mid-run (as its first task starts): Dask reruns the lost
    task elsewhere, and the dataset is still byte-identical."""
    with worker_killed_once(client, tmp_path / "killed") as marker:
        generate(small_scenario(), seed=7, out=tmp_path / "ds", executor=DaskExecutor(client))
    assert marker.exists()  # a worker really died
    assert _fingerprint(tmp_path / "ds") == _fingerprint(small_dir)


def test_worker_lost_too_often_fails_clearly(client, tmp_path):
    """When the scheduler gives up on a task (here after its first lost worker), generation
    raises PartitionLost and leaves no dataset behind."""
    before = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    out = tmp_path / "ds"
    try:
        with (
            worker_killed_once(client, tmp_path / "killed") as marker,
            pytest.raises(PartitionLost, match="no dataset was written"),
        ):
            generate(small_scenario(), seed=7, out=out, executor=DaskExecutor(client))
    finally:
        client.run_on_scheduler(lambda dask_scheduler, n=before: setattr(dask_scheduler, "allowed_failures", n))
    assert marker.exists()
    assert not out.exists() or not any(out.iterdir())
