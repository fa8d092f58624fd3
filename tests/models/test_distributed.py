"""Features and LightGBM on Dask: identical feature bits, metrics within the stated tolerance."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp

from bench.stats.metrics import evaluate_task
from models import ModelInput
from models.baselines import LGB_PARAMS, fit_lgb
from models.distributed import (
    aligned,
    deep_features_dask,
    early_stop_iteration,
    logloss_per_iteration,
    use_client,
)
from models.features import build_features, deep_features, feature_inputs

# Largest AUROC difference allowed between Dask-trained and single-process LightGBM
# (README, "Running on a cluster").
AUROC_TOLERANCE = 0.05


def _unaligned(values: np.ndarray) -> np.ndarray:
    """values viewed at an odd byte offset, as Dask can hand received arrays to a task."""
    buf = np.zeros(values.nbytes + 1, dtype=np.uint8)
    view = buf[1:].view(values.dtype).reshape(values.shape)
    view[...] = values
    return view


def test_received_arrays_are_aligned_once():
    x = _unaligned(np.arange(60, dtype=np.float32).reshape(20, 3))
    assert not x.flags.aligned
    got = aligned(x)
    assert got.flags.aligned and np.array_equal(got, x)
    assert aligned(x) is got  # one copy per received array, reused by later tasks
    assert aligned(got) is got
    m = sp.random(30, 40, density=0.2, format="csr", dtype=np.float32, random_state=0)
    ref = m.toarray()
    m.data, m.indices = _unaligned(m.data), _unaligned(m.indices)
    m = aligned(m)
    assert m.data.flags.aligned and m.indices.flags.aligned and np.array_equal(m.toarray(), ref)


@pytest.mark.slow
@pytest.mark.parametrize("level", ["full", "sealed_sender"])
def test_dask_features_are_bit_identical(dask_client, small, level):
    view = small.view(level)
    raw, mats = feature_inputs(view)
    ref = deep_features(raw, dict(mats))
    got = deep_features_dask(raw, dict(mats), dask_client, rows_per_block=700)  # several blocks, ragged end
    assert got.names == ref.names
    assert np.array_equal(got.X.view(np.uint32), ref.X.view(np.uint32))
    with use_client(dask_client):  # the path ModelInput takes under --dask
        assert np.array_equal(build_features(view).X, ref.X)


def test_early_stopping_rule_matches_lightgbm():
    """The rule applied after Dask training keeps the iteration lgb.early_stopping keeps,
    from a log loss that matches LightGBM's own per iteration."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=2.0, size=3000) > 1.5).astype(int)
    tr, va = slice(0, 2000), slice(2000, None)
    evals: dict = {}
    params = {**LGB_PARAMS, "num_threads": 1, "seed": 0, "learning_rate": 0.1}
    dtrain = lgb.Dataset(x[tr], y[tr])
    stopped = lgb.train(
        params,
        dtrain,
        400,
        valid_sets=[lgb.Dataset(x[va], y[va], reference=dtrain)],
        callbacks=[lgb.early_stopping(30, verbose=False), lgb.record_evaluation(evals)],
        keep_training_booster=True,  # all trees, so every iteration's loss can be checked
    )
    loss = np.asarray(evals["valid_0"]["binary_logloss"])
    assert stopped.best_iteration < 370  # it did stop early
    assert early_stop_iteration(loss, 30) == stopped.best_iteration
    assert np.allclose(logloss_per_iteration(stopped, x[va], y[va]), loss, atol=1e-6)
    # continuing from trees already predicted gives the same losses
    first = lgb.train(params, lgb.Dataset(x[tr], y[tr]), 50)
    trees: list = []
    logloss_per_iteration(first, x[va], y[va], trees)
    more = lgb.train(params, lgb.Dataset(x[tr], y[tr]), 40, init_model=first)
    assert len(trees) == 50
    assert np.allclose(logloss_per_iteration(more, x[va], y[va], trees), logloss_per_iteration(more, x[va], y[va]))
    assert len(trees) == 90


@pytest.mark.slow
def test_dask_lightgbm_within_tolerance(dask_client, medium):
    """DEC stage 2 / gbdt-raw trees trained through lightgbm.dask: test AUROC within
    AUROC_TOLERANCE of single-process training (spam and fake: enough test positives)."""
    td = ModelInput(medium.view("full"))
    x = td.features.X
    test = td.split == "test"
    truth = medium.table("truth")
    for task in ("spam", "fake"):
        y = np.zeros(td.n, dtype=np.int8)
        y[truth["account_id"].to_numpy()] = truth[task].to_numpy()
        local = fit_lgb(x, td, task, 0)
        with use_client(dask_client):
            dist = fit_lgb(x, td, task, 0)
        assert dist.best_iteration >= 1
        a = evaluate_task(y[test], local.predict(x[test], num_iteration=local.best_iteration), n_resamples=10)
        b = evaluate_task(y[test], dist.predict(x[test], num_iteration=dist.best_iteration), n_resamples=10)
        assert abs(a["auroc"]["value"] - b["auroc"]["value"]) <= AUROC_TOLERANCE, (task, a["auroc"], b["auroc"])
