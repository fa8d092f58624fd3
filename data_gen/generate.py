"""`generate()`: scenario + seed -> a dataset directory on disk (the data_gen entry point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import actors
from .config import Scenario
from .labels import WEAK_SOURCES
from .simulate import Progress, simulate
from .tables import make_labels, to_tables
from .writer import check_target, write_dataset

GENERATOR_VERSION = "0.1.0"
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
) -> dict:
    """Simulate and write a dataset; returns the metadata written to dataset.json."""
    check_target(Path(out), overwrite)  # fail before minutes of work, not after
    world = simulate(scn, seed, workers, progress)
    lab = make_labels(world, seed)
    if progress:
        progress("labels", 1)
    tables = to_tables(world, lab, seed)
    meta = {
        "format": FORMAT,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scenario": scn.model_dump(),
        "tasks": list(actors.TASKS),
        "rows": {name: t.num_rows for name, t in tables.items()},
        "base_rates": {t: float(np.mean(col)) for t, col in lab.truth.items()},
        "positives": {t: int(np.sum(col)) for t, col in lab.truth.items()},
        "label_quality": _label_quality(lab),
    }
    meta = write_dataset(tables, meta, Path(out), overwrite, threads=max(2, workers))
    if progress:
        progress("write", 1)
    return meta


def _label_quality(lab) -> dict:
    """Realised precision and coverage of each weak source and of human labels, so users
    can see how noisy the supervision is (evaluation information, computed from truth)."""
    out: dict[str, dict] = {"weak": {}, "human": {}}
    w = lab.weak
    for task in lab.truth:
        truth = lab.truth[task]
        for src in WEAK_SOURCES:
            sel = (w.task == task) & (w.source == src)
            if not sel.any():
                continue
            pos = sel & (w.label == 1)
            correct = truth[w.account[pos]].mean() if pos.any() else float("nan")
            out["weak"][f"{task}/{src}"] = {
                "rows": int(sel.sum()),
                "positives": int(pos.sum()),
                "precision": None if np.isnan(correct) else round(float(correct), 4),
            }
        h = lab.human
        sel = h.task == task
        out["human"][task] = {"rows": int(sel.sum()), "positives": int((sel & (h.label == 1)).sum())}
    return out
