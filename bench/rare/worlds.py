"""Evaluation worlds streamed through worker processes or a Dask cluster: the powered
evaluation at the scale of many independent worlds (docs/design.md "Scale").

Each task generates one world (one process, `workers=1`: the bytes are the same for any
worker count), builds its features, scores it with every model and returns only counts
(`Tally`: a few integers per model and threshold); a negative world is then deleted, an
enriched one kept in the run's dataset cache where the workers share the client's disk.
Results are pooled in seed order whatever order the tasks finish in, so any number of
processes gives the counts one process gives (tested). Every task of a call is submitted at
once, so the enriched worlds run beside the first negative ones.

The client never holds a model or a world: the training world's side (the model loaded on
its features, the oracle trained, the validation thresholds) runs in a child process
(`prepare`), which hands back the models as pickled bytes and the thresholds; workers
unpickle the bytes once each. The client's memory is then the CLI's imports and a few
counts per world, whatever the number of negatives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench.rare.powered import Calibrated, fpr_counts, input_scores, tpr_counts, trained_and_calibrated
from bench.setup.cluster import executor as cluster_executor
from bench.setup.datasets import Step, cached_dataset
from data_gen import Scenario, generate
from data_gen.reader import open_dataset
from models.distributed import current_client
from models.inputs import ModelInput

_MODELS: dict[str, dict] = {}  # per worker process: unpickled models by digest of their bytes


def models_blob(models: dict) -> bytes:
    """The models as bytes: what crosses to workers, unpickled there only."""
    return pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)


def _models(blob: bytes) -> dict:
    key = hashlib.sha256(blob).hexdigest()
    if key not in _MODELS:
        _MODELS.clear()  # one set of models per worker at a time
        _MODELS[key] = pickle.loads(blob)
    return _MODELS[key]


def _spawn():
    return get_context("spawn")  # torch and forked threads do not mix


def _prepare(model: Path, data: Path, with_oracle: bool) -> tuple[bytes, Calibrated]:
    models, calibrated = trained_and_calibrated(model, data, with_oracle)
    return models_blob(models), calibrated


def prepare(model: Path, data: Path, with_oracle: bool) -> tuple[bytes, Calibrated]:
    """The saved model (and its oracle) with thresholds from the training world's
    validation split, computed in a child process so the caller never holds the training
    world's features nor imports a model's state."""
    with ProcessPoolExecutor(1, mp_context=_spawn()) as pool:
        return pool.submit(_prepare, Path(model), Path(data), with_oracle).result()


def _counted(ds, count, visibility: str, task: str, thresholds: dict[str, np.ndarray], blob: bytes) -> dict:
    """`count` (`tpr_counts` or `fpr_counts`) of one world scored by every model."""
    return count(ds, input_scores(_models(blob), ModelInput(ds.view(visibility)), task), task, thresholds)


def score_enriched_world(
    scn: Scenario, seed: int, visibility: str, task: str, thresholds: dict[str, np.ndarray],
    cache: Path | None, scratch: Path, blob: bytes,
) -> dict:  # fmt: skip
    """One enriched world scored by every model: offenders at or above each threshold per
    level. Kept in `cache` (the run's dataset cache) when given, else generated under
    `scratch` and deleted."""
    if cache is not None:

        ds = cached_dataset(scn, seed, Path(cache), 1, lambda _: None)
        return _counted(ds, tpr_counts, visibility, task, thresholds, blob)
    with _world(scn, seed, scratch) as ds:
        return _counted(ds, tpr_counts, visibility, task, thresholds, blob)


def score_negative_world(
    scn: Scenario, seed: int, visibility: str, task: str, thresholds: dict[str, np.ndarray],
    cache: Path | None, scratch: Path, blob: bytes,
) -> dict:  # fmt: skip
    """One negative world, generated under `scratch`, scored by every model and deleted:
    its fingerprint, its negatives and, per model, the negatives at or above each threshold.
    (`cache` is unused: negative worlds are never kept.)"""
    with _world(scn, seed, scratch) as ds:
        return _counted(ds, fpr_counts, visibility, task, thresholds, blob)


@contextmanager
def _world(scn: Scenario, seed: int, scratch: Path | None) -> Iterator:
    """A world generated in a directory of its own under `scratch`, deleted on exit."""
    root = Path(tempfile.gettempdir()) / "lowbase-worlds" if scratch is None else Path(scratch)
    path = root / f"{scn.name}-s{seed}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        generate(scn, seed, path, workers=1, overwrite=True)
        yield open_dataset(path, verify_hashes=False)
    finally:
        shutil.rmtree(path, ignore_errors=True)


class _Worlds:
    """One task per world, all of a call submitted at once, yielded in seed order."""

    cache: Path | None
    scratch: Path | None

    def enriched(self, scn: Scenario, seeds: list[int], visibility: str, task: str, thresholds) -> Iterator[dict]:
        return self._ordered([self._submit(score_enriched_world, scn, s, visibility, task, thresholds) for s in seeds])

    def negatives(self, scn: Scenario, seeds: list[int], visibility: str, task: str, thresholds) -> Iterator[dict]:
        return self._ordered([self._submit(score_negative_world, scn, s, visibility, task, thresholds) for s in seeds])

    def _submit(self, fn, scn, seed, visibility, task, thresholds):
        raise NotImplementedError

    def _ordered(self, futures) -> Iterator[dict]:
        for fut in futures:  # in seed order: the pooled counts do not depend on the workers
            yield fut.result()


_BLOB: bytes = b""  # per pool worker: set by _init


def _init(blob: bytes, threads: int) -> None:
    import torch

    global _BLOB
    torch.set_num_threads(threads)
    _BLOB = blob


def _in_pool(fn, *args):
    return fn(*args, _BLOB)


class ProcessWorlds(_Worlds):
    """Worlds in `jobs` spawned worker processes; the models (`models_blob` bytes) reach
    each worker once, through its initializer. A context manager."""

    def __init__(self, jobs: int, models: bytes, scratch: Path, cache: Path | None = None):
        threads = max(1, len(os.sched_getaffinity(0)) // jobs)
        self.cache, self.scratch = cache, Path(scratch)
        self.pool = ProcessPoolExecutor(jobs, mp_context=_spawn(), initializer=_init, initargs=(models, threads))

    def __enter__(self) -> ProcessWorlds:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _submit(self, fn, *args):
        return self.pool.submit(_in_pool, fn, *args, self.cache, self.scratch)


def _on_dask_worker(fn, *args):
    from data_gen.dask_map import die_if_armed

    die_if_armed()  # a lost machine, in tests
    return fn(*args)


class DaskWorlds(_Worlds):
    """Worlds on a Dask cluster, one task per world; the models (`models_blob` bytes)
    scattered to every worker once. A worker lost mid-world is retried by the
    scheduler and the world still counted once: each seed has one future, read once and
    released. `scratch`/`cache`: directories on the workers' disk (None for a remote
    cluster: worlds go to each worker's temporary directory, enriched ones too)."""

    def __init__(self, client, models: bytes, scratch: Path | None = None, cache: Path | None = None):
        self.client, self.cache, self.scratch = client, cache, scratch
        self.models = client.scatter(models, broadcast=True)
        self.run = uuid.uuid4().hex[:8]

    def _submit(self, fn, scn, seed, *args):
        return self.client.submit(
            _on_dask_worker, fn, scn, seed, *args, self.cache, self.scratch, self.models,
            key=f"{fn.__name__}-{self.run}-{seed}", pure=False,
        )  # fmt: skip

    def _ordered(self, futures) -> Iterator[dict]:
        try:
            for fut in futures:
                yield fut.result()
                fut.release()
        finally:
            self.client.cancel(futures)


# ---------------------------------------------------------------- in this process


def evaluation_worlds(cache: Path, scratch: Path, workers: int, step: Step):
    """(world, done) for `bench.rare.powered.powered_evaluation`: enriched (TPR) worlds are few and
    cached like a run's datasets; each negative (FPR) world is generated under `scratch`,
    scored, counted and deleted, so the disk holds one at a time whatever the count. Each
    call writes in a directory of its own under `scratch`: runs sharing a work directory
    (a sweep's parallel jobs) may draw the same world seeds, and one must never delete a
    world another is reading."""
    own = Path(scratch) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def world(scn: Scenario, seed: int, role: str):
        if role == "tpr":
            return cached_dataset(scn, seed, cache, workers, step)
        path = own / f"{scn.name}-s{seed}"
        path.parent.mkdir(parents=True, exist_ok=True)
        generate(scn, seed, path, workers=workers, overwrite=True, executor=cluster_executor(current_client()))
        return open_dataset(path, verify_hashes=False)

    def done(ds, role: str) -> None:
        if role == "fpr":
            shutil.rmtree(ds.path)
            with contextlib.suppress(OSError):
                own.rmdir()  # empty once its world is gone

    return world, done
