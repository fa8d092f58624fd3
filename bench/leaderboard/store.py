"""An entry's stored predictions: per seed, scenario, task and part (scoring.py), the dense
rank of each score among all the scores of that seed, scenario and task.

Every figure depends on scores only through their order and ties within one (seed,
scenario, task), across its parts (a threshold set on `val` is compared with `test`, `pos/`
and `neg/` scores), so ranks over the union re-score exactly, at a fraction of the size of
float64 scores and without the rounding of float32. One parquet row per part, its ranks a
list column; account ids are implied by each part's fixed order (scoring.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import rankdata

from bench.errors import EntryError

Parts = dict[tuple[str, str], dict[str, np.ndarray]]  # (scenario, task) -> part -> scores


def ranked(parts: Parts) -> Parts:
    """Dense ranks (as float64) over the union of each (scenario, task)'s parts."""
    out: Parts = {}
    for key, by_part in parts.items():
        names = list(by_part)
        lengths = [len(by_part[n]) for n in names]
        r = rankdata(np.concatenate([np.asarray(by_part[n], dtype=np.float64) for n in names]), method="dense")
        out[key] = dict(zip(names, np.split(r.astype(np.float64), np.cumsum(lengths)[:-1]), strict=True))
    return out


def ranks_table(per_seed: list[Parts], seeds) -> pa.Table:
    cols: dict[str, list] = {"seed": [], "scenario": [], "task": [], "part": []}
    chunks = []
    for seed, parts in zip(seeds, per_seed, strict=True):
        for (scenario, task), by_part in parts.items():
            for part, r in by_part.items():
                cols["seed"].append(seed)
                cols["scenario"].append(scenario)
                cols["task"].append(task)
                cols["part"].append(part)
                chunks.append(np.asarray(r, dtype=np.uint32))
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int32)
    values = np.concatenate(chunks) if chunks else np.empty(0, np.uint32)
    return pa.table(
        {
            "seed": pa.array(cols["seed"], pa.int32()),
            "scenario": pa.array(cols["scenario"], pa.string()),
            "task": pa.array(cols["task"], pa.string()),
            "part": pa.array(cols["part"], pa.string()),
            "rank": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
        }
    )


def write_ranks(path: Path, per_seed: list[Parts], seeds) -> None:
    """Via a hidden temporary sibling and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(ranks_table(per_seed, seeds), tmp, compression="zstd", compression_level=19)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_ranks(path: Path, seeds) -> list[Parts]:
    """The stored ranks back, per seed in the order of `seeds`."""
    try:
        t = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise EntryError(f"{path.name}: unreadable stored predictions ({e})") from None
    need = {"seed", "scenario", "task", "part", "rank"}
    if not need <= set(t.column_names):
        raise EntryError(f"{path.name}: stored predictions lack column(s) {sorted(need - set(t.column_names))}")
    ranks = t["rank"].combine_chunks()
    offsets, values = ranks.offsets.to_numpy(), ranks.values.to_numpy().astype(np.float64)
    out: dict[int, Parts] = {int(s): {} for s in seeds}
    rows = zip(*(t[c].to_pylist() for c in ("seed", "scenario", "task", "part")), strict=True)
    for i, (seed, scenario, task, part) in enumerate(rows):
        if seed not in out:
            raise EntryError(f"{path.name}: stored predictions of seed {seed}, which the entry does not list")
        by_part = out[seed].setdefault((scenario, task), {})
        if part in by_part:
            raise EntryError(f"{path.name}: seed {seed}, {scenario}/{task}: part '{part}' stored twice")
        by_part[part] = values[offsets[i] : offsets[i + 1]]
    return [out[int(s)] for s in seeds]
