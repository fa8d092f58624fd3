"""Leaderboard entries: figures that are nothing but what their stored predictions give.

An entry is `NAME.json` (metadata, figures, hashes of the submitted files, of the stored
predictions and of the suite, and the command that reproduces it) beside `NAME.parquet`,
the predictions stored compactly: per seed, scenario and task, the dense rank of each
test account's score in the scenario's sorted test-id order (ids are implied). Every metric
here depends on scores only through their order and ties, so ranks re-score to exactly the
same figures at a fraction of the size.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import rankdata

from bench.errors import EntryError
from bench.metrics import METRICS, all_metrics
from common.files import sha256_file, write_text_atomic

from .suite import Suite, scored_ids, split_ids, truth_for

ENTRY_FORMAT = "lowbase-entry/1"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def figures(scores: dict, suite: Suite, datasets: dict, split: str = "test") -> dict:
    """{scenario: {task: {metric: value}}} from scores aligned with the split's sorted ids,
    for the scenarios the scores enter (a predictions file may score only some)."""
    out: dict = {}
    for name, sc in suite.scenarios.items():
        if split == "test" and (name, sc.tasks[0]) not in scores:
            continue
        ds = datasets[sc.dataset]
        ids = scored_ids(ds, sc) if split == "test" else split_ids(ds, sc, split)
        truth = truth_for(ds, sc.tasks, ids)
        out[name] = {}
        for task in sc.tasks:
            s = scores[(name, task)] if split == "test" else scores[name][task]
            out[name][task] = dict(zip(METRICS, (_clean(v) for v in all_metrics(truth[task], s)), strict=True))
    return out


def _clean(v: float) -> float | None:
    return None if v != v else float(v)


def aggregate(per_seed: list[dict]) -> dict:
    """Mean and sample std over seeds of each figure, with the per-seed values."""
    out: dict = {}
    for sc, tasks in per_seed[0].items():
        out[sc] = {}
        for task, mets in tasks.items():
            out[sc][task] = {}
            for m in mets:
                vals = [f[sc][task][m] for f in per_seed]
                arr = np.array([np.nan if v is None else v for v in vals])
                ok = arr[np.isfinite(arr)]
                out[sc][task][m] = {
                    "mean": float(ok.mean()) if len(ok) else None,
                    "std": float(ok.std(ddof=1)) if len(ok) > 1 else 0.0 if len(ok) else None,
                    "per_seed": vals,
                }
    return out


def _ranks_table(per_seed: list[dict], seeds, suite: Suite) -> pa.Table:
    cols: dict[str, list] = {"seed": [], "scenario": [], "task": [], "rank": []}
    for seed, scores in zip(seeds, per_seed, strict=True):
        for name, sc in suite.scenarios.items():
            for task in (t for t in sc.tasks if (name, t) in scores):
                r = rankdata(scores[(name, task)], method="dense").astype(np.uint32)
                cols["rank"].append(r)
                n = len(r)
                cols["seed"].append(np.full(n, seed, np.int32))
                cols["scenario"].append(np.full(n, name, object))
                cols["task"].append(np.full(n, task, object))
    return pa.table(
        {
            "seed": pa.array(np.concatenate(cols["seed"])),
            "scenario": pa.array(np.concatenate(cols["scenario"])).dictionary_encode(),
            "task": pa.array(np.concatenate(cols["task"])).dictionary_encode(),
            "rank": pa.array(np.concatenate(cols["rank"])),
        }
    )


def load_ranks(path: Path, entry: dict, suite: Suite, datasets: dict) -> list[dict]:
    """The stored ranks back as per-seed score dicts aligned with each scenario's test ids."""
    t = pq.read_table(path)
    seed_col = t["seed"].to_numpy()
    sc_col = np.asarray(t["scenario"].cast(pa.string()))
    task_col = np.asarray(t["task"].cast(pa.string()))
    rank = t["rank"].to_numpy()
    out = []
    for seed in entry["seeds"]:
        scores = {}
        for name, sc in suite.scenarios.items():
            if name not in entry["figures"]:  # a scenario the submission did not enter
                continue
            n = len(scored_ids(datasets[sc.dataset], sc))
            for task in sc.tasks:
                r = rank[(seed_col == seed) & (sc_col == name) & (task_col == task)]
                if len(r) != n:
                    raise EntryError(f"{path}: seed {seed}, {name}/{task}: {len(r)} stored scores, expected {n}")
                scores[(name, task)] = r.astype(np.float64)
        out.append(scores)
    return out


def write_entry(directory: Path, entry: dict, per_seed: list[dict], suite: Suite) -> Path:
    """Ranks parquet first, then the JSON (the entry's existence), each via a temp rename."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = slug(entry["name"])
    pq_path, js_path = directory / f"{stem}.parquet", directory / f"{stem}.json"
    if js_path.exists():
        raise FileExistsError(f"{js_path}: an entry named '{entry['name']}' exists")
    tmp = directory / f".{stem}.parquet.tmp-{os.getpid()}"
    pq.write_table(_ranks_table(per_seed, entry["seeds"], suite), tmp, compression="zstd", compression_level=19)
    os.replace(tmp, pq_path)
    entry = {**entry, "predictions": {"file": pq_path.name, "sha256": sha256_file(pq_path)}}
    return write_text_atomic(js_path, json.dumps(entry, indent=1, sort_keys=True) + "\n")


def make_entry(meta: dict, suite: Suite, datasets: dict, per_seed: list[dict], seeds, **extra) -> dict:
    per_seed_figs = [figures(s, suite, datasets) for s in per_seed]
    return {
        "format": ENTRY_FORMAT,
        **meta,
        "suite": suite.suite,
        "suite_sha256": suite.digest(),
        "seeds": list(seeds),
        "figures": aggregate(per_seed_figs),
        **extra,
    }


def load_entries(directory: Path) -> list[tuple[Path, dict]]:
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            out.append((p, json.loads(p.read_text())))
        except json.JSONDecodeError as e:
            raise EntryError(f"{p}: not valid JSON ({e})") from None
    return out


def verify_entry(path: Path, entry: dict, suite: Suite, datasets: dict) -> None:
    """Raise EntryError naming the entry when its suite, stored predictions or figures do
    not check out."""
    if entry.get("format") != ENTRY_FORMAT:
        raise EntryError(f"{path.name}: format {entry.get('format')!r}, expected {ENTRY_FORMAT}")
    if entry.get("suite_sha256") != suite.digest():
        raise EntryError(f"{path.name}: made for another version of suite {suite.suite} (suite hash differs)")
    pq_path = path.with_name(entry["predictions"]["file"])
    if not pq_path.is_file():
        raise EntryError(f"{path.name}: stored predictions {pq_path.name} missing")
    if sha256_file(pq_path) != entry["predictions"]["sha256"]:
        raise EntryError(f"{path.name}: stored predictions {pq_path.name} do not match their hash")
    again = aggregate([figures(s, suite, datasets) for s in load_ranks(pq_path, entry, suite, datasets)])
    if not _same(again, entry["figures"]):
        raise EntryError(f"{path.name}: figures differ from what its stored predictions give")


def _same(a, b, tol: float = 1e-12) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) <= tol
    return a == b


def _mean(f: dict | None, std: bool = False) -> str:
    if not f or f.get("mean") is None:
        return "n/a"
    return f"{f['mean']:.3f} ± {f['std']:.3f}" if std and f.get("std") else f"{f['mean']:.3f}"


def table_rows(entries: list[dict], suite: Suite) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per entry, one column per scenario (its first task) with
    AUROC (mean ± std over seeds) / recall@P0.95 (mean); sorted by the groomer scenario's
    recall@P0.95, then AUROC, then name."""
    cols = [(sc, spec.tasks[0]) for sc, spec in suite.scenarios.items()]
    header = ["entry", "seeds", *(f"{sc}: {task}" for sc, task in cols)]
    first = next((c for c in cols if c[1] == "groomer"), cols[0])

    def fig(e, sc, task, m):
        return e["figures"].get(sc, {}).get(task, {}).get(m)

    def key(e):
        r, a = (fig(e, *first, m) or {} for m in ("recall_at_p95", "auroc"))
        return (-(r.get("mean") or 0.0), -(a.get("mean") or 0.0), e["name"])

    def cell(e, sc, t):
        if sc not in e["figures"]:
            return "not entered"
        return f"{_mean(fig(e, sc, t, 'auroc'), std=True)} / {_mean(fig(e, sc, t, 'recall_at_p95'))}"

    rows = []
    for e in sorted(entries, key=key):
        cells = [cell(e, sc, t) for sc, t in cols]
        rows.append([e["name"], str(len(e["seeds"])), *cells])
    return header, rows


LEGEND = (
    "Cells: AUROC (mean ± std over seeds) / recall at precision 0.95 (mean), on each scenario's test split; "
    "'not entered': the submission scores none of that scenario's tasks."
)


def markdown(entries: list[dict], suite: Suite) -> str:
    header, rows = table_rows(entries, suite)
    lines = [LEGEND, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def html_table(entries: list[dict], suite: Suite) -> str:
    header, rows = table_rows(entries, suite)
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(suite.suite)} leaderboard</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child{text-align:left}table{border-collapse:collapse}</style>"
        f"<h1>{html.escape(suite.suite)}</h1><p>{html.escape(LEGEND)}</p>"
        f"<table><tr>{th}</tr>{body}</table>\n"
    )


def entry_digest(entry: dict) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
