"""Where a powered evaluation's worlds come from, and what each gives back: its counts
(docs/design.md "Scale").

`bench.rare.powered` plans its worlds (`WorldSpec`: scenario, seed, role) and reads them from
one `WorldSource`, which yields each world's counts in the plan's order (`tpr_counts` for an
enriched world, `fpr_counts` for a negative one: a few integers per model and threshold,
whatever the world's size):

- `LocalWorlds`: in this process, as `lowbase run` does: each world generated (enriched ones
  cached like a run's datasets), featurised, scored by every model, and a negative world
  dropped once counted.
- `ProcessWorlds`: in worker processes; `DaskWorlds`: on a Dask cluster. One task per
  world generates it (one process, `workers=1`: the bytes are the same for any worker
  count), builds its features, scores it and returns only counts; a negative world is then
  dropped, an enriched one kept in the run's dataset cache where the workers share the
  client's disk. Every task of a call is submitted at once, so the enriched worlds run
  beside the first negative ones, and results come back in plan order whatever order the
  tasks finish in: any number of processes gives the counts one process gives (tested).

The client of a remote source never holds a model or a world: the training world's side
runs in a child process (`bench.rare.powered.prepare`), which hands back the models as
pickled bytes (`models_blob`) and the thresholds; workers unpickle the bytes once each.

A negative world is scored once and never kept, so it never touches the disk, nor does an
enriched world no later step reads again (a remote worker's): each is made in memory
(`data_gen.generate.generate_in_memory`: the same tables, and the same fingerprint, hashed
from the parquet bytes a written world would hold, so results still pair and check worlds
by it), saving the write, sync, rename and read-back of every table.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import numpy as np

from bench.setup.cluster import executor as cluster_executor
from bench.setup.datasets import Step, cached_dataset, time_left
from bench.stats.accounts import scores_by_account
from bench.stats.rates import Tally, Thresholds
from common import kernels
from common.files import remove_dead_writers
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import Scenario
from data_gen.generate import generate_in_memory
from data_gen.reader import Dataset
from models.distributed import current_client
from models.inputs import ModelInput

Role = Literal["tpr", "fpr"]


@dataclass(frozen=True)
class WorldSpec:
    """One planned evaluation world: its scenario, its seed and its role, 'tpr' (an
    enriched world, counted by `tpr_counts`) or 'fpr' (a negative world, `fpr_counts`)."""

    scenario: Scenario
    seed: int
    role: Role


class WorldSource(Protocol):
    """Where a powered evaluation's worlds are made and scored. `counts` yields, for each
    world of `specs` and in their order, its counts at every model's `thresholds` (set on
    the training world's validation split, by model name); `remote` is True where worlds are
    made elsewhere (worker processes, a cluster), so that progress is each world's counts
    arriving, while an in-process source says each world as it makes it (to `step`)."""

    remote: ClassVar[bool]

    def counts(
        self, specs: Sequence[WorldSpec], visibility: str, task: str, thresholds: dict[str, Thresholds], step: Step
    ) -> Iterator[dict]: ...


def input_scores(models: dict, data: ModelInput, task: str) -> dict[str, np.ndarray]:
    return {name: scores_by_account(m.predict_scores(data), (task,), data.n)[task] for name, m in models.items()}


def _level_tallies(s: np.ndarray, y: np.ndarray, level: np.ndarray, values: np.ndarray) -> list[Tally]:
    return [Tally.of(s[y & (level == lvl)], values) for lvl in range(len(SOPHISTICATION_LEVELS))]


def tpr_counts(ds: Dataset, scores: dict[str, np.ndarray], task: str, values: dict[str, np.ndarray]) -> dict:
    """An enriched world's share of the TPR: per model, offenders at or above each
    threshold, per level."""
    truth = ds.truth_by_id(task, "sophistication")
    y = truth[task].astype(bool)
    return {
        "seed": int(ds.meta["seed"]),
        "fingerprint": ds.meta["fingerprint"],
        "accounts": len(y),
        "positives": int(y.sum()),
        "levels": {name: _level_tallies(s, y, truth["sophistication"], values[name]) for name, s in scores.items()},
    }


def fpr_counts(ds: Dataset, scores: dict[str, np.ndarray], task: str, values: dict[str, np.ndarray]) -> dict:
    """A negative world's share of the FPR: per model, negatives at or above each threshold."""
    y = ds.truth_by_id(task)[task].astype(bool)
    return {
        "seed": int(ds.meta["seed"]),
        "fingerprint": ds.meta["fingerprint"],
        "negatives": int((~y).sum()),
        "tallies": {name: Tally.of(s[~y], values[name]) for name, s in scores.items()},
    }


COUNTS = {"tpr": tpr_counts, "fpr": fpr_counts}

_MODELS: dict[str, dict] = {}  # per worker process: unpickled models by digest of their bytes


def models_blob(models: dict) -> bytes:
    """The models as bytes, with the kernel mode they score under: what crosses to workers,
    unpickled there only."""
    return pickle.dumps((kernels.mode(), models), protocol=pickle.HIGHEST_PROTOCOL)


def _models(blob: bytes) -> dict:
    """The models of `blob`; on a worker's first sight of them, its kernels made the
    driver's (a Dask worker started without the pin's environment takes it here, before it
    scores; one that already ran torch otherwise is refused, `common.kernels.check`)."""
    key = hashlib.sha256(blob).hexdigest()
    if key not in _MODELS:
        _MODELS.clear()  # one set of models per worker at a time
        mode, models = pickle.loads(blob)
        kernels.use(mode)
        _MODELS[key] = models
    return _MODELS[key]


def spawn_context():
    return get_context("spawn")  # torch and forked threads do not mix


def _counted(ds, count, visibility: str, task: str, thresholds: dict[str, np.ndarray], blob: bytes) -> dict:
    """`count` (`tpr_counts` or `fpr_counts`) of one world scored by every model."""
    return count(ds, input_scores(_models(blob), ModelInput(ds.view(visibility)), task), task, thresholds)


def score_enriched_world(
    scn: Scenario, seed: int, visibility: str, task: str, thresholds: dict[str, np.ndarray],
    cache: Path | None, scratch: Path, blob: bytes,
) -> dict:  # fmt: skip
    """One enriched world scored by every model: offenders at or above each threshold per
    level. Kept in `cache` (the run's dataset cache, where later steps read it again) when
    given, else generated in memory, scored and dropped (a remote worker's world: nothing
    reads it again, so it is never written)."""
    if cache is not None:
        ds = cached_dataset(scn, seed, Path(cache), 1, lambda _: None)
        return _counted(ds, tpr_counts, visibility, task, thresholds, blob)
    return _counted(generate_in_memory(scn, seed, workers=1), tpr_counts, visibility, task, thresholds, blob)


def score_negative_world(
    scn: Scenario, seed: int, visibility: str, task: str, thresholds: dict[str, np.ndarray],
    cache: Path | None, scratch: Path, blob: bytes,
) -> dict:  # fmt: skip
    """One negative world, generated in memory and scored by every model: its fingerprint,
    its negatives and, per model, the negatives at or above each threshold. (`cache` and
    `scratch` are unused: negative worlds are never kept, nor written.)"""
    ds = generate_in_memory(scn, seed, workers=1)
    return _counted(ds, fpr_counts, visibility, task, thresholds, blob)


_SCORE = {"tpr": score_enriched_world, "fpr": score_negative_world}


class _Worlds:
    """A remote `WorldSource`: one task per world, all of a call submitted at once (the
    enriched worlds first), yielded in plan order."""

    remote: ClassVar[bool] = True
    cache: Path | None
    scratch: Path | None

    def counts(
        self, specs: Sequence[WorldSpec], visibility: str, task: str, thresholds: dict[str, Thresholds], step: Step
    ) -> Iterator[dict]:
        if not specs:
            return iter(())
        n, accounts = Counter(s.role for s in specs), specs[0].scenario.accounts
        step(f"{n['tpr']} enriched and {n['fpr']} negative world(s) of {accounts:,} accounts, streamed")
        values = {name: t.values for name, t in thresholds.items()}
        futures = [self._submit(_SCORE[s.role], s.scenario, s.seed, visibility, task, values) for s in specs]
        return self._ordered(futures)

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
        remove_dead_writers(self.scratch, scratch=True)  # what a killed run left
        self.pool = ProcessPoolExecutor(jobs, mp_context=spawn_context(), initializer=_init, initargs=(models, threads))

    def __enter__(self) -> ProcessWorlds:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _submit(self, fn, *args):
        return self.pool.submit(_in_pool, fn, *args, self.cache, self.scratch)


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
            fn, scn, seed, *args, self.cache, self.scratch, self.models,
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


def _quiet(_: str) -> None:
    pass


@dataclass
class LocalWorlds:
    """Worlds made and scored in this process by `models` (a `WorldSource`). Enriched (TPR)
    worlds are few and cached like a run's datasets (`cache`); each negative (FPR) world is
    generated in memory, scored, counted and dropped (`release`), so one is held at a time
    whatever the count. A world written under `scratch` (a subclass's) goes in a directory of
    this source's own: runs sharing a work directory (a sweep's parallel jobs) may draw the
    same world seeds, and one must never delete a world another is reading. A world whose
    ModelInput is in `prebuilt` (by fingerprint) reuses its features; `step` hears the
    generation's progress."""

    models: dict
    cache: Path
    scratch: Path
    workers: int = 1
    step: Step = _quiet
    prebuilt: dict[str, ModelInput] = field(default_factory=dict)
    own: Path = field(init=False)
    remote: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.own = Path(self.scratch) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        remove_dead_writers(Path(self.scratch), scratch=True)  # what a killed run left

    def world(self, spec: WorldSpec) -> Dataset:
        """The world of `spec`, made (or, for an enriched one, reused from the cache)."""
        scn, seed = spec.scenario, spec.seed
        if spec.role == "tpr":
            return cached_dataset(scn, seed, self.cache, self.workers, self.step)
        return generate_in_memory(scn, seed, workers=self.workers, executor=cluster_executor(current_client()))

    def release(self, ds: Dataset, role: Role) -> None:
        """Called once a world is counted: a negative world written to disk is deleted (one
        in memory is dropped with its last reference)."""
        if role == "fpr" and ds.path is not None:
            shutil.rmtree(ds.path)
            with contextlib.suppress(OSError):
                self.own.rmdir()  # empty once its world is gone

    def counts(
        self, specs: Sequence[WorldSpec], visibility: str, task: str, thresholds: dict[str, Thresholds], step: Step
    ) -> Iterator[dict]:
        values = {name: t.values for name, t in thresholds.items()}
        total, seen = Counter(s.role for s in specs), Counter[str]()
        start = time.perf_counter()
        for i, spec in enumerate(specs):
            seen[spec.role] += 1
            scn, tpr = spec.scenario, spec.role == "tpr"
            what = f"groomer rate {scn.harm.groomer_rate:g}, uniform mix" if tpr else "at the scenario's rate"
            left = time_left(i, len(specs), time.perf_counter() - start)
            where = f"{seen[spec.role]}/{total[spec.role]} ({scn.accounts:,} accounts, {what}){left}"
            step(f"{spec.role.upper()} world {where}")
            ds = self.world(spec)
            data = self.prebuilt.get(ds.meta["fingerprint"]) or ModelInput(ds.view(visibility))
            got = COUNTS[spec.role](ds, input_scores(self.models, data, task), task, values)
            for t in thresholds.values():  # before `release`, which may delete the world
                t.check_disjoint(got["fingerprint"])
            self.release(ds, spec.role)
            del ds, data  # an in-memory world's tables: freed before the next world is made
            yield got
