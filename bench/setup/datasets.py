"""Datasets cached by (generator, scenario, seed): the same three give the same bytes, so
they name the cache entry that `lowbase run`, sweeps, certify and the evaluation worlds share."""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from bench.setup.cluster import executor as cluster_executor
from common.files import remove_dead_writers
from data_gen import GENERATOR_VERSION, generate
from data_gen.config import Scenario
from data_gen.reader import DatasetError, open_dataset
from models.distributed import current_client

Step = Callable[[str], None]  # progress: called with a description at each step


def dataset_key(scn: Scenario, seed: int) -> str:
    """Same generator, scenario and seed give the same bytes, so they name the cache entry."""
    blob = json.dumps({"generator": GENERATOR_VERSION, "scenario": scn.model_dump(), "seed": seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_dataset(scn: Scenario, seed: int, cache: Path, workers: int, step: Step, executor=None):
    """Open the cached dataset for (scenario, seed), generating it when missing or invalid.
    A cached directory is reused only if its contract and hashes check out. Generation runs
    on `executor`, else on the Dask client of the run (`--dask`), else on `workers` processes:
    the bytes, hence the cache key, are the same either way."""
    path = Path(cache) / f"{scn.name}-s{seed}-{dataset_key(scn, seed)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers(path.parent)  # half-written worlds of killed runs, any entry's
    # One generator per cache entry at a time: parallel sweep jobs wanting the same
    # dataset wait for the first instead of racing it.
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "dataset.json").is_file():
            try:
                step(f"reusing dataset {path.name}")
                return open_dataset(path)
            except DatasetError:
                pass  # regenerated below: replaced only if it is wholly a dataset this tool wrote
        step(f"generating {scn.name} ({scn.accounts:,} accounts)")
        if executor is None:
            executor = cluster_executor(current_client())
        generate(scn, seed, path, workers=workers, overwrite=True, executor=executor)
        return open_dataset(path, verify_hashes=False)


def time_left(done: int, total: int, elapsed: float) -> str:
    """The horizon of a long loop after `done` of `total` equal units took `elapsed` seconds:
    the units left times the time per unit so far, as a reader wants it (", about 3 h 20 min
    left"); empty before the first unit is done and after the last."""
    if done <= 0 or done >= total:
        return ""
    left = (total - done) * elapsed / done
    if left >= 86_400:
        text = f"{left / 86_400:.1f} days"
    elif left >= 3_600:
        text = f"{int(left // 3_600)} h {int(left % 3_600 // 60)} min"
    elif left >= 60:
        text = f"{int(left // 60)} min {int(left % 60)} s"
    else:
        text = f"{left:.0f} s"
    return f", about {text} left"
