"""The separability oracle's mechanics: out of fold, deterministic, perfect when a feature
is the label, at chance when the labels are noise."""

import numpy as np
import pytest

from bench.audit.records import SeparabilityOracle
from bench.audit.separability import FOLDS, oracle, out_of_fold
from bench.stats.rank_auroc import auroc_with_interval


def _data(seed: int, n: int = 800, pos: int = 80, width: int = 6):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=bool)
    y[rng.choice(n, pos, replace=False)] = True
    return rng.normal(size=(n, width)).astype(np.float32), y


def _auroc(oof, y) -> float:
    return auroc_with_interval(oof.scores[y], oof.scores[~y], orientation_free=False).auroc


def test_every_row_is_scored_by_a_model_that_never_trained_on_it():
    x, y = _data(0)
    oof = out_of_fold(x, y, seed=0, rounds=20)
    assert len(oof.train) == FOLDS
    assert (oof.fold >= 0).all()
    rows = np.arange(len(y))
    for k, train in enumerate(oof.train):
        scored = rows[oof.fold == k]
        assert not np.isin(scored, train).any(), f"fold {k} scored rows it trained on"
        assert np.union1d(scored, train).tolist() == rows.tolist()
        assert y[scored].sum() in (len(np.flatnonzero(y)) // FOLDS, -(-y.sum() // FOLDS)), "stratified"


def test_deterministic_for_a_seed():
    x, y = _data(1)
    a, b = out_of_fold(x, y, seed=3, rounds=20), out_of_fold(x, y, seed=3, rounds=20)
    assert np.array_equal(a.scores, b.scores) and np.array_equal(a.fold, b.fold)
    c = out_of_fold(x, y, seed=4, rounds=20)
    assert not np.array_equal(a.fold, c.fold)


def test_perfect_when_a_feature_is_the_label():
    x, y = _data(2)
    x[:, 3] = y
    oof = out_of_fold(x, y, seed=0, rounds=20)
    assert _auroc(oof, y) == 1.0
    assert np.argmax(oof.gain) == 3


def test_chance_on_noise_labels():
    """Noise features and labels: a model scoring its own training rows would look
    separable (it memorises them); out of fold it sits at chance."""
    x, y = _data(3, n=2000, pos=200)
    oof = out_of_fold(x, y, seed=0)
    assert abs(_auroc(oof, y) - 0.5) < 0.06


@pytest.mark.slow
def test_oracle_on_a_small_dataset(small):
    r = oracle(small)
    comp = r.comparisons
    assert set(small.tasks) <= set(comp)
    scored = {k: v for k, v in comp.items() if v.auroc is not None}
    assert {"spam", "fake"} <= set(scored)
    for name, c in scored.items():
        assert 0.0 <= c.ci_low <= c.auroc <= c.ci_high <= 1.0, name
        assert c.positives_used <= c.n_positive and c.reference_used <= c.n_reference
        assert c.top_features and c.note is None, name
    for c in comp.values():
        if c.auroc is None:
            assert "fewer than" in c.note
            # Not scored: no interval and no features, left out of the JSON rather than null.
            assert not {"ci_low", "ci_high", "top_features"} & set(c.model_dump(exclude_unset=True))
    assert scored["fake"].auroc > 0.8, "prevalent abuse is separable when trained on truth"
    dumped = r.model_dump(exclude_unset=True)
    assert SeparabilityOracle.model_validate(dumped).model_dump(exclude_unset=True) == dumped, "the dump reads back"
