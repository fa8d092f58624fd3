"""Headline figures over training seeds: mean, spread and every seed's value.

One training world is one draw: its offenders, its human labels and its model's seed all
move a rare-harm figure. A sweep whose grid is the seed alone (`bench/sweeps/seeds.yaml`)
runs the same configuration on K seeds; this module reads each child's results.json and
reduces the powered groomer figures (TPR per level at a validation threshold, pooled FPR,
precision at base rates) and the prevalent tasks' validated figures to mean +- std, keeping
each seed's value. A precision that is a bound on any seed stays marked as one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.rare.label_budget import variant_order
from bench.results import RunResults, load_results
from bench.setup.config import RunConfig, resolve_scenario, run_name
from common.files import write_json_atomic

KEY = "fpr<=0.001"  # the operating threshold of the seed table (set on each seed's validation split)
PRECISION_RATES = (1e-4, 1e-5, 1e-6)


def child_results(cfgs: list[RunConfig], workdir: Path) -> list[RunResults]:
    """Each child's results.json (a sweep writes them under workdir/runs/NAME/)."""
    out = []
    for cfg in cfgs:
        path = Path(workdir) / "runs" / run_name(cfg, resolve_scenario(cfg)) / "results.json"
        out.append(load_results(path))
    return out


def _stat(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    return {
        "mean": float(v.mean()) if len(v) else None,
        "std": float(v.std(ddof=1)) if len(v) > 1 else None,
        "values": [None if x is None or not np.isfinite(x) else float(x) for x in values],
    }


def seed_summary(runs: list[RunResults], key: str = KEY) -> dict:
    """Per label variant: TPR per level and at the scenario's mix, pooled FPR and precision
    at PRECISION_RATES at threshold `key`; per prevalent task: TPR and FPR on the test split
    at the validation FPR-1e-3 threshold. JSON-ready; `seeds` lists the runs' seeds."""
    powered = [r.analysis.powered for r in runs if r.analysis.powered is not None]
    out: dict = {"seeds": [r.config.seed for r in runs], "threshold": key, "groomer": {}, "tasks": {}}
    names = {v for p in powered for v in p.models}
    for v in variant_order(names):  # a budget some training worlds cannot supply: over the seeds that can
        runs_v = [p for p in powered if v in p.models and key in p.models[v].by_threshold]
        pts = [p.models[v].by_threshold[key] for p in runs_v]
        if not pts:
            continue
        row = {lvl: _stat([pt.tpr_by_level[lvl].value for pt in pts]) for lvl in pts[0].tpr_by_level}
        row["n"] = {lvl: [pt.tpr_by_level[lvl].n for pt in pts] for lvl in pts[0].tpr_by_level}
        row["scenario mix"] = _stat([pt.tpr_at_scenario_mix.value for pt in pts])
        row["fpr"] = _stat([pt.fpr.value for pt in pts])
        row["labelled"] = [p.models[v].labels.total if p.models[v].labels is not None else None for p in runs_v]
        row["seeds"] = [p.worlds["train"]["seed"] for p in runs_v]
        for pi in PRECISION_RATES:
            bounds = [next(b for b in pt.precision if abs(b.base_rate - pi) < pi * 1e-9) for pt in pts]
            row[f"precision at {pi:g}"] = {**_stat([b.value for b in bounds]), "kinds": [b.kind for b in bounds]}
        out["groomer"][v] = row
    timely = [r.analysis.timely for r in runs if r.analysis.timely]
    tasks = [t for t in (timely[0] if timely else {}) if all(t in x for x in timely)]
    out["detection_before_harm"] = {t: _stat([tl[t].share.value for tl in timely]) for t in tasks}
    for task in runs[0].primary_entry.validated:
        if task == "groomer":
            continue
        pts = [r.primary_entry.validated.get(task, {}).get(KEY) for r in runs]
        if all(pts):
            out["tasks"][task] = {"tpr": _stat([p.tpr.value for p in pts]), "fpr": _stat([p.fpr.value for p in pts])}
    return out


def write_seed_summary(summary: dict, path: Path) -> Path:
    return write_json_atomic(path, summary, indent=1)


def seed_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """A table of the groomer figures: one row per level (and the mix, FPR and precision),
    one column per label variant, cells 'mean ± std'."""
    variants = list(summary["groomer"])
    if not variants:
        return [], []
    header = ["figure", *variants]
    first = summary["groomer"][variants[0]]
    names = [k for k in first if k not in ("n", "labelled", "seeds")]
    rows = [[f"TPR {n}" if n.startswith("L") or n == "scenario mix" else n, *(seed_cell(summary["groomer"][v][n])
             for v in variants)] for n in names]  # fmt: skip
    rows.append(["labelled offenders", *(_labelled(summary["groomer"][v]["labelled"]) for v in variants)])
    rows.append(["seeds", *(str(len(summary["groomer"][v]["seeds"])) for v in variants)])
    return header, rows


def seed_cell(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    mean, std = stat["mean"], stat["std"]
    small = abs(mean) < 0.01 and mean != 0
    body = f"{mean:.2g}" if small else f"{mean:.3f}"
    if std is not None:
        body += f" ± {std:.1g}" if small else f" ± {std:.3f}"
    if any(k == "lower bound" for k in stat.get("kinds", [])):
        body = f">= {body} (bound on {sum(k == 'lower bound' for k in stat['kinds'])} seed(s))"
    return body


def _labelled(values: list) -> str:
    v = [x for x in values if x is not None]
    return f"{min(v)}-{max(v)}" if v and min(v) != max(v) else (str(v[0]) if v else "—")
