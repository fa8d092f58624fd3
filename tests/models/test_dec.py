"""DEC's scoring path gives the figures of the plain pipeline bit for bit: the standardised
features, the stage-2 input (embedding and raw columns) and the scores are compared with
`_plain_standardise`/`_plain_stage2_input`, the straightforward full-matrix form the
blocked path must equal (full-size cast and ufuncs, one forward per `MLP_ROWS` rows on one
thread, stacked)."""

from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest
import torch

from models import ModelInput, make_model
from models.dec import MLP_ROWS, DecModel, MultiTaskNet, _standardise, _standardiser
from models.protocol import scores_frame

TASKS = ("spam", "scam", "groomer")


def _plain_standardise(x, mean=None, scale=None):
    out = x.astype(np.float32)
    np.maximum(out, 0, out=out)
    out = torch.log1p(torch.from_numpy(out)).numpy()  # torch's log1p: it follows the kernel pin
    if mean is None:
        mean, scale = out.mean(axis=0), out.std(axis=0)
        scale[scale == 0] = 1.0
    mean, scale = np.asarray(mean, dtype=np.float32), np.asarray(scale, dtype=np.float32)
    return (out - mean) / scale, mean, scale


def _plain_stage2_input(net, x_std, x_raw, n_raw):
    net.eval()
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the pinned kernels' one thread per operation (common.kernels)
    try:
        with torch.no_grad():
            blocks = [net(torch.from_numpy(x_std[i : i + MLP_ROWS]))[0].numpy() for i in range(0, len(x_std), MLP_ROWS)]
    finally:
        torch.set_num_threads(before)
    return np.hstack([np.vstack(blocks), x_raw[:, :n_raw]]).astype(np.float32)


def _features(n, d, seed, dtype=np.float32):
    """Fractions, counts (the log1p table's integers, and some above its top), zeros,
    negatives clipped to zero, and a -0.0."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(3.0, (n, d)).astype(dtype)
    x[:, 10:20] = np.floor(x[:, 10:20] * 10)
    x[:, 20] = np.floor(x[:, 20] * 30000)
    x[::7, ::5], x[:, 3], x[1, 1] = -1.0, 0.0, -0.0
    return x


def _world(x):
    """What DEC reads of a ModelInput when it scores."""
    return SimpleNamespace(memo={}, features=SimpleNamespace(X=x), tasks=TASKS)


def _model(x, n_raw=10, seed=0):
    """A DEC with a seeded (untrained) network and small boosters fitted to its own
    stage-2 input: enough to compare scoring paths exactly."""
    torch.manual_seed(seed)
    _, mean, scale = _plain_standardise(x)
    net = MultiTaskNet(x.shape[1], len(TASKS))
    z = _plain_stage2_input(net, _plain_standardise(x, mean, scale)[0], x, n_raw)
    y = np.random.default_rng(seed).random((len(x), len(TASKS))) < 0.2
    params = {"objective": "binary", "num_leaves": 7, "num_threads": 1, "verbose": -1, "seed": seed}
    boosters = {t: lgb.train(params, lgb.Dataset(z, y[:, k]), num_boost_round=5) for k, t in enumerate(TASKS)}
    return DecModel(net, (mean, scale), boosters, n_raw), z


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_standardisation_is_the_plain_one(dtype):
    """Values, mean and scale: the same float32 bits as the full-matrix expression."""
    x = _features(3000, 40, 0, dtype)
    got, mean, scale = _standardise(x)
    want, want_mean, want_scale = _plain_standardise(x)
    assert mean.dtype == scale.dtype == np.float32 and scale[3] == 1.0
    np.testing.assert_array_equal(mean, want_mean)
    np.testing.assert_array_equal(scale, want_scale)
    np.testing.assert_array_equal(got, want)


def test_pinned_log1p_is_torchs_bit_for_bit():
    """The table of small integers and the rest through torch: torch's log1p of every
    value, over several chunks, signed zeros, NaN, infinities and the table's edges."""
    from models.dec import LOG1P_CHUNK, LOG1P_TABLE_TOP, _log1p_pinned

    rng = np.random.default_rng(3)
    special = [-0.0, 0.0, np.nan, np.inf, 1e-45, 1e-30, 0.5, 1.0, LOG1P_TABLE_TOP, LOG1P_TABLE_TOP + 1, 1e30]
    x = np.concatenate(
        [
            np.arange(LOG1P_TABLE_TOP + 2),
            np.arange(LOG1P_TABLE_TOP + 2) + 0.5,
            rng.exponential(100.0, LOG1P_CHUNK // 3),
            special,
        ]
    ).astype(np.float32)
    rng.shuffle(x)
    want = torch.log1p(torch.from_numpy(x.copy())).numpy()
    got = x.copy()
    _log1p_pinned(got)
    assert len(x) > 2 * LOG1P_CHUNK
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_native_kernels_keep_numpys_log1p(monkeypatch):
    """Native mode is the arithmetic every native figure was made with: NumPy's log1p."""
    from common import kernels

    for key in kernels.PIN_ENV:
        monkeypatch.delenv(key)
    x = _features(3000, 40, 5)
    got, _, _ = _standardise(x)
    logged = np.log1p(np.maximum(x, np.float32(0)))
    scale = logged.std(axis=0)
    scale[scale == 0] = 1.0
    np.testing.assert_array_equal(got, (logged - logged.mean(axis=0)) / scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scoring_standardisation_is_the_plain_one(dtype, monkeypatch):
    """Block by block into one reused buffer (several blocks, a short last one), with the
    statistics as a saved model's JSON gives them back: the values the model was fit on."""
    x = _features(2500, 40, 1, dtype)
    fitted, mean, scale = _standardise(x)
    block_at = _standardiser(x, mean.tolist(), scale.tolist(), 1000)
    got = np.vstack([block_at(i).copy() for i in range(0, len(x), 1000)])
    np.testing.assert_array_equal(got, fitted)
    logged = torch.log1p(torch.from_numpy(np.maximum(x.astype(np.float32), np.float32(0)))).numpy()
    np.testing.assert_array_equal(got, (logged - mean) / scale)


def _check_scoring_is_the_plain_one(x):
    model, z = _model(x)
    data = _world(x)
    pred = model.predict_scores(data)
    stage2 = next(iter(data.memo.values()))
    assert stage2.dtype == np.float32 and stage2.flags.c_contiguous
    np.testing.assert_array_equal(stage2, z)
    want = scores_frame(TASKS, {t: model.boosters[t].predict(z) for t in TASKS})
    assert pred.equals(want)
    for t in TASKS:
        one = model.restricted((t,)).predict_scores(_world(x))
        assert one.equals(pred[pred["task"] == t].reset_index(drop=True)), "one task is its column of all"


def test_scoring_is_the_plain_pipeline():
    """Several MLP blocks and a short last one."""
    _check_scoring_is_the_plain_one(_features(3 * MLP_ROWS + 100, 30, 2))


@pytest.mark.parametrize("threads", [1, 3])
def test_the_embedding_does_not_depend_on_the_threads(threads):
    """Pinned, row blocks are embedded side by side on the process's threads, each on one:
    any number of them gives the one-thread bits (the plain pipeline's)."""
    x = _features(5 * MLP_ROWS + 7, 30, 4)
    model, z = _model(x)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = _world(x)
        model.predict_scores(data)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(next(iter(data.memo.values())), z)


@pytest.mark.slow
def test_scoring_is_the_plain_pipeline_at_world_size():
    """A quick world's shape: 100K accounts by 979 feature columns."""
    _check_scoring_is_the_plain_one(_features(100_000, 979, 3))


@pytest.mark.slow
def test_fit_and_score_on_a_world_are_the_plain_pipeline(small):
    """A trained DEC: the stage-2 input it fits its boosters on and the one it scores with
    are the plain pipeline's, and one task's scores are that task's column of all."""
    data = ModelInput(small.view("full"))
    m = make_model("dec")
    m.fit(data, seed=3)
    x = data.features.X
    want = _plain_stage2_input(m.net, _plain_standardise(x, *m.norm)[0], x, m.n_raw)
    np.testing.assert_array_equal(next(iter(data.memo.values())), want)
    np.testing.assert_array_equal(m.norm[0], _plain_standardise(x)[1])
    fresh = ModelInput(small.view("full"))
    pred = m.predict_scores(fresh)
    np.testing.assert_array_equal(next(iter(fresh.memo.values())), want)
    task = data.tasks[-1]
    one = m.restricted((task,)).predict_scores(ModelInput(small.view("full")))
    np.testing.assert_array_equal(one["score"].to_numpy(), pred[pred["task"] == task]["score"].to_numpy())
