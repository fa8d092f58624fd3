"""Leakage check: how well does each single observable statistic separate a task alone?

DEC needs many features together to reach AUROC ~0.90 on prevalent abuse (Xu et al. 2021),
so if one per-account count or rate is near-perfect on its own, the simulation is leaking
a role and measures nothing. AUROC is orientation-free here (max(a, 1 - a)): a statistic
that is low for positives separates as well as one that is high.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
from sklearn.metrics import roc_auc_score

from common.arrays import category_codes
from common.observables import Interactions, account_stats
from common.vocabulary import MEDIA
from data_gen.reader import Dataset


def interactions(ds: Dataset) -> Interactions:
    acc = ds.table("accounts")
    f = ds.table("friendships", ["src", "dst"])
    r = ds.table("contact_requests", ["src", "dst", "accepted"])
    m = ds.table("messages", ["src", "dst", "ts", "media", "forwarded"])
    rep = ds.table("reports", ["reported", "reason"])
    return Interactions(
        n=acc.num_rows,
        days=int(ds.meta["scenario"]["activity"]["days"]),
        signup_day=acc["signup_day"].to_numpy(),
        completeness=acc["profile_completeness"].to_numpy(),
        asserted_age=acc["asserted_age"].to_numpy(),
        friend_src=f["src"].to_numpy(),
        friend_dst=f["dst"].to_numpy(),
        req_src=r["src"].to_numpy(),
        req_dst=r["dst"].to_numpy(),
        req_accepted=r["accepted"].to_numpy(zero_copy_only=False),
        msg_src=m["src"].to_numpy(),
        msg_dst=m["dst"].to_numpy(),
        msg_ts=m["ts"].to_numpy(),
        msg_media=category_codes(m["media"], MEDIA),
        msg_forwarded=m["forwarded"].to_numpy(zero_copy_only=False),
        reported=rep["reported"].to_numpy(),
        report_reason=np.asarray(pc.cast(rep["reason"], "string").to_pylist(), dtype=object),
        reason_names=tuple(pc.unique(pc.cast(rep["reason"], "string")).to_pylist()),
    )


def _ranked(stats: dict[str, np.ndarray], y: np.ndarray, keep: np.ndarray | None = None) -> list[tuple[str, float]]:
    if keep is not None:
        y = y[keep]
    if y.all() or not y.any():
        return []
    rows = []
    for name, x in stats.items():
        a = roc_auc_score(y, x if keep is None else x[keep])
        rows.append((name, float(max(a, 1 - a))))
    return sorted(rows, key=lambda r: -r[1])


def single_stat_auroc(ds: Dataset) -> dict[str, list[tuple[str, float]]]:
    """Per task: (statistic, AUROC) for every observable statistic, worst (highest) first.

    Groomers are also scored per sophistication level (`groomer/L0` .. `groomer/L3`: that
    level's groomers against every non-groomer). L0, the cartoon offender, is meant to be
    easy and may be nearly separable alone; for every other row a near-perfect statistic
    means the simulation leaks."""
    stats = account_stats(interactions(ds))
    truth = ds.table("truth")
    out: dict[str, list[tuple[str, float]]] = {}
    for task in ds.tasks:
        out[task] = _ranked(stats, truth[task].to_numpy(zero_copy_only=False))
    if "groomer" in ds.tasks:
        groomer = truth["groomer"].to_numpy(zero_copy_only=False)
        level = truth["sophistication"].to_numpy()
        for lvl in range(4):
            keep = ~groomer | (level == lvl)
            out[f"groomer/L{lvl}"] = _ranked(stats, groomer & (level == lvl), keep)
    return out
