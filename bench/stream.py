"""Negative worlds streamed through worker processes: the pooled FPR of the powered
evaluation at the scale of many independent worlds (DESIGN.md "Scale").

Each task generates one world (one process, `workers=1`: the bytes are the same for any
worker count), builds its features, scores it with every model, counts the negatives at or
above each threshold and deletes the world; only those counts come back (`Tally`: a few
integers per model), so the parent's memory does not grow with the number of negatives.
Results are pooled in seed order whatever order the tasks finish in, so any number of
processes gives the counts one process gives (tested).

Models reach each worker once (its initializer), not once per world.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from data_gen import Scenario, generate
from data_gen.reader import open_dataset
from models.inputs import ModelInput

from .analyses import truth_columns
from .casecontrol import Tally

_MODELS: dict = {}  # set in each worker by _init


def _init(models: dict, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _MODELS.clear()
    _MODELS.update(models)


def score_negative_world(
    scn: Scenario, seed: int, visibility: str, task: str, thresholds: dict[str, np.ndarray], scratch: Path, models=None
) -> dict:
    """One negative world, generated under `scratch`, scored by every model and deleted:
    its fingerprint, its negatives and, per model, the negatives at or above each threshold."""
    from .powered import input_scores

    models = _MODELS if models is None else models
    path = Path(scratch) / f"{scn.name}-s{seed}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        generate(scn, seed, path, workers=1, overwrite=True)
        ds = open_dataset(path, verify_hashes=False)
        y = truth_columns(ds, task)[task].astype(bool)
        scores = input_scores(models, ModelInput(ds.view(visibility)), task)
        tallies = {name: Tally.of(s[~y], thresholds[name]) for name, s in scores.items()}
        return {"seed": seed, "fingerprint": ds.meta["fingerprint"], "negatives": int((~y).sum()), "tallies": tallies}
    finally:
        shutil.rmtree(path, ignore_errors=True)


def process_stream(jobs: int, scratch: Path) -> Callable[..., Iterator[dict]]:
    """An `fpr_stream` for `bench.powered.powered_evaluation`: negative worlds scored in
    `jobs` worker processes, results yielded in seed order."""

    def stream(models: dict, scn: Scenario, seeds: list[int], visibility: str, task: str, thresholds) -> Iterator[dict]:
        threads = max(1, len(os.sched_getaffinity(0)) // jobs)
        ctx = get_context("spawn")  # torch and forked threads do not mix
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init, initargs=(models, threads)) as pool:
            futures = [
                pool.submit(score_negative_world, scn, sd, visibility, task, thresholds, Path(scratch)) for sd in seeds
            ]
            for fut in futures:  # in seed order: the pooled counts do not depend on `jobs`
                yield fut.result()

    return stream


def _on_worker(scn, seed, visibility, task, thresholds, scratch, models) -> dict:
    from data_gen.dask_map import die_if_armed

    die_if_armed()  # a lost machine, in tests
    scratch = Path(tempfile.gettempdir()) / "lowbase-negative-worlds" if scratch is None else scratch
    return score_negative_world(scn, seed, visibility, task, thresholds, scratch, models)


def dask_stream(client, scratch: Path | None = None) -> Callable[..., Iterator[dict]]:
    """An `fpr_stream` on a Dask cluster: one task per negative world, the models scattered
    to every worker once; results yielded in seed order and released as they are pooled.
    A worker lost mid-world is retried by the scheduler and the world is still counted once:
    each seed has one future, read once. `scratch`: where workers write worlds (None: their
    own temporary directory, right for remote workers)."""

    def stream(models: dict, scn: Scenario, seeds: list[int], visibility: str, task: str, thresholds) -> Iterator[dict]:
        shared = client.scatter(models, broadcast=True)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                _on_worker, scn, sd, visibility, task, thresholds, scratch, shared,
                key=f"negative-world-{run}-{sd}", pure=False,
            )  # fmt: skip
            for sd in seeds
        ]
        try:
            for fut in futures:
                yield fut.result()
                fut.release()
        finally:
            client.cancel(futures)

    return stream
