"""Separability oracle (`lowbase inspect --separability`): how separable are the simulated
offenders from what they imitate, at best, for the benchmark's own model class?

Whether real competent groomers are separable in metadata is unknown, and the benchmark
must not decide it by accident. This oracle says how well one level can be ranked against
the benign accounts it imitates: an AUROC against a matched reference, not the share of a
level a platform-wide threshold catches at an FPR budget (that is the ceiling, `lowbase
ceiling`; `lowbase ceiling --reconcile` sets the two side by side on one world). It is
LightGBM (the benchmark's GBDT, models.baselines.LGB_PARAMS) on the benchmark's features
(models.features, visibility `full`) trained on **truth**, per comparison of
bench.stats.references (each groomer level against its matched reference, each task against
benign), scored **out of fold**: stratified k-fold (seeded), every account scored by the
one model that did not train on it. The AUROC of those scores comes with a 95% DeLong
interval and the counts it rests on, and the features carrying most of the gain say
*what* separates them.

A level the oracle separates near-perfectly is easy in this simulation, whatever the
real world holds; a benchmark figure near the oracle's means the labels, not the
features, were the limit. For speed on a 2-core machine the reference is subsampled
(seeded) to REFERENCE_CAP accounts, positives to POSITIVE_CAP, and boosting runs a fixed
ROUNDS at twice the benchmark's learning rate on coarser histograms, with no early
stopping (nothing is held out for it); the result states the counts used.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.audit.records import OracleComparison, OracleMethod, SeparabilityOracle
from bench.stats.rank_auroc import auroc_with_interval
from bench.stats.references import REFERENCES, Comparison, capped, comparisons
from data_gen.reader import Dataset
from models.baselines import LGB_PARAMS
from models.features import Features, build_features

FOLDS = 5
ROUNDS = 100
REFERENCE_CAP = 10_000
POSITIVE_CAP = 10_000
TOP_FEATURES = 5
WORKERS = min(2, os.cpu_count() or 1)  # folds trained at once
# The benchmark's GBDT, at twice its learning rate for a fixed, smaller number of rounds,
# with 63 histogram bins instead of 255 and column-wise histograms (a few thousand rows of
# ~900 features): 2-3x faster, the same out-of-fold AUROC within 0.003 on `quick`.
ORACLE_PARAMS = {
    **LGB_PARAMS,
    "learning_rate": 0.1,
    "max_bin": 63,
    "force_row_wise": False,
    "force_col_wise": True,
}


@dataclass(frozen=True)
class OutOfFold:
    """Scores from k-fold training: `scores[i]` comes from the model of fold `fold[i]`,
    which trained on `train[fold[i]]` (row indices), never on row i."""

    scores: np.ndarray
    fold: np.ndarray
    train: tuple[np.ndarray, ...]
    gain: np.ndarray  # total split gain per feature, summed over the folds


def out_of_fold(x: np.ndarray, y: np.ndarray, seed: int, folds: int = FOLDS, rounds: int = ROUNDS) -> OutOfFold:
    """Stratified k-fold LightGBM scores for every row of `x`, each from a model that did not
    see it. The binned dataset is built once and each fold trains on a subset of it."""
    y = np.asarray(y, dtype=np.int8)
    params = {
        **ORACLE_PARAMS,
        "seed": seed,
        "num_threads": 1,
        "scale_pos_weight": max(1.0, float((y == 0).sum()) / max(int(y.sum()), 1)),
    }
    full = lgb.Dataset(x, y, params=params, free_raw_data=False).construct()
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    plan = [(tr, te, full.subset(np.sort(tr).tolist()).construct()) for tr, te in split.split(np.zeros(len(y)), y)]
    # Folds train side by side, one single-threaded booster each (LightGBM releases the
    # GIL): on a few thousand rows that beats one booster's OpenMP threads, which wait on
    # each other at every split (models.baselines.lgb_threads).
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        boosters = list(pool.map(lambda p: lgb.train(params, p[2], num_boost_round=rounds), plan))
    scores = np.zeros(len(y))
    fold = np.full(len(y), -1, dtype=np.int64)
    gain = np.zeros(x.shape[1])
    for k, ((_, te, _), booster) in enumerate(zip(plan, boosters, strict=True)):
        scores[te] = booster.predict(x[te])
        fold[te] = k
        gain += booster.feature_importance(importance_type="gain")
    train = tuple(tr for tr, _, _ in plan)
    return OutOfFold(scores, fold, train, gain)


def _top(gain: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, float]]:
    total = gain.sum()
    order = np.argsort(-gain, kind="stable")[:TOP_FEATURES]
    return [(names[i], float(gain[i] / total) if total > 0 else 0.0) for i in order if gain[i] > 0]


def oracle(ds: Dataset, seed: int = 0) -> SeparabilityOracle:
    """Out-of-fold AUROC of a truth-trained LightGBM per comparison (`lowbase inspect --json`
    writes it)."""
    features = build_features(ds.view("full"))
    method = OracleMethod(
        model="LightGBM (models.baselines.LGB_PARAMS), learning rate 0.1, 63 bins, fixed rounds",
        rounds=ROUNDS,
        folds=FOLDS,
        features=f"{len(features.names)} (models.features, visibility full)",
        trained_on="truth",
        interval="95% DeLong on the out-of-fold scores",
        reference_cap=REFERENCE_CAP,
        positive_cap=POSITIVE_CAP,
        seed=seed,
    )
    scored = {c.name: _compare(c, features, seed) for c in comparisons(ds)}
    return SeparabilityOracle(references=dict(REFERENCES), method=method, comparisons=scored)


def _compare(c: Comparison, features: Features, seed: int) -> OracleComparison:
    """One comparison, positives and reference capped (seeded), scored out of fold."""
    pos = capped(c.positive, POSITIVE_CAP, seed)
    ref = capped(c.reference, REFERENCE_CAP, seed + 1)
    entry = {
        "reference": c.reference_name,
        "n_positive": int(c.positive.sum()),
        "n_reference": int(c.reference.sum()),
        "positives_used": int(pos.sum()),
        "reference_used": int(ref.sum()),
    }
    if pos.sum() < 2 * FOLDS or ref.sum() < 2 * FOLDS:
        return OracleComparison(**entry, auroc=None, note=f"fewer than {2 * FOLDS} accounts a side")
    rows = np.flatnonzero(pos | ref)
    y = pos[rows]
    oof = out_of_fold(features.X[rows], y, seed)
    sep = auroc_with_interval(oof.scores[y], oof.scores[~y], orientation_free=False)
    assert sep is not None  # both sides hold at least 2 * FOLDS accounts (checked above)
    return OracleComparison(
        **entry,
        auroc=sep.auroc,
        ci_low=sep.ci_low,
        ci_high=sep.ci_high,
        top_features=_top(oof.gain, features.names),
    )
