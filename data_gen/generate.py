"""`generate()`: scenario + seed -> a dataset directory on disk (the data_gen entry point);
`generate_in_memory()`: the same world kept in memory, for one scored once and dropped."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common.memory import heap_reuse
from data_gen import actors
from data_gen.config import Scenario
from data_gen.labels import WEAK_SOURCES
from data_gen.memory import MemoryWriter
from data_gen.reader import Dataset
from data_gen.simulate import Progress, simulate
from data_gen.tables import Ids, label_tables, make_labels, observable_tables
from data_gen.writer import DatasetWriter, check_dataset_target

GENERATOR_VERSION = "0.2.0"
FORMAT = "lowbase-dataset/1"


def stage_plan(scn: Scenario) -> list[tuple[str, int]]:
    """(stage, steps) in the order `generate` reports progress."""
    k = scn.n_partitions
    return [("population", k), ("friendships", k), ("closure", k), ("activity", k), ("labels", 1), ("write", 1)]


def generate(
    scn: Scenario,
    seed: int,
    out: Path,
    workers: int = 1,
    overwrite: bool = False,
    progress: Progress | None = None,
    executor=None,
) -> dict:
    """Simulate and write a dataset; returns the metadata written to dataset.json.

    `executor` runs the partition tasks elsewhere (data_gen.dask_map.DaskExecutor for a
    Dask cluster); the bytes are the same as with any number of `workers`."""
    check_dataset_target(Path(out), overwrite)  # fail before minutes of work, not after
    with heap_reuse():  # hundreds of big temporaries: reuse their pages (see common/memory.py)
        return _generate(scn, seed, lambda: DatasetWriter(Path(out), overwrite, threads=2), workers, progress, executor)


def generate_in_memory(
    scn: Scenario, seed: int, workers: int = 1, progress: Progress | None = None, executor=None
) -> Dataset:
    """The world `generate` would write, kept in memory (data_gen.memory): the same tables
    and the same metadata, fingerprint included (its parquet bytes are encoded and hashed,
    not written). For a world scored once and dropped."""
    writer = MemoryWriter(threads=2)
    with heap_reuse():
        meta = _generate(scn, seed, lambda: writer, workers, progress, executor)
    return writer.dataset(meta)


def _generate(scn: Scenario, seed: int, make_writer, workers: int, progress, executor) -> dict:
    """Simulate and hand every table to the writer `make_writer` gives (a `DatasetWriter`,
    opened only once the world is simulated, or a `MemoryWriter`); returns the committed
    metadata."""
    world = simulate(scn, seed, workers, progress, executor)
    ids = Ids.make(scn.accounts, seed)
    with make_writer() as writer, ThreadPoolExecutor(1) as labeller:
        # Labels are computed in a thread while observable tables are laid out and encoded
        # (numpy and parquet release the GIL); each has its own seeded stream, so thread
        # timing cannot change a byte.
        pending = labeller.submit(make_labels, world, seed)
        for name, table in observable_tables(world, ids, seed):
            writer.submit(name, table)
        lab = pending.result()
        if progress:
            progress("labels", 1)
        for name, table in label_tables(world, lab, ids, seed):
            writer.submit(name, table)
        meta = writer.commit(
            {
                "format": FORMAT,
                "generator_version": GENERATOR_VERSION,
                "seed": seed,
                "scenario": scn.model_dump(),
                "tasks": list(actors.TASKS),
                "rows": dict(sorted(writer.rows.items())),
                "base_rates": {t: float(np.mean(col)) for t, col in lab.truth.items()},
                "positives": {t: int(np.sum(col)) for t, col in lab.truth.items()},
                "label_quality": _label_quality(lab),
            }
        )
    if progress:
        progress("write", 1)
    return meta


def _label_quality(lab) -> dict:
    """Realised precision and coverage of each weak source and of human labels, so users
    can see how noisy the supervision is (evaluation information, computed from truth)."""
    out: dict[str, dict] = {"weak": {}, "human": {}}
    w, h = lab.weak, lab.human
    for t, task in enumerate(lab.truth):
        truth = lab.truth[task]
        for code, src in enumerate(WEAK_SOURCES):
            sel = (w.task == t) & (w.source == code)
            if not sel.any():
                continue
            pos = sel & (w.label == 1)
            out["weak"][f"{task}/{src}"] = {
                "rows": int(sel.sum()),
                "positives": int(pos.sum()),
                "precision": round(float(truth[w.account[pos]].mean()), 4) if pos.any() else None,
            }
        sel = h.task == t
        out["human"][task] = {"rows": int(sel.sum()), "positives": int((sel & (h.label == 1)).sum())}
    return out
