"""Every model through the one protocol: fit, score, save without pickle, reload."""

import numpy as np
import pytest

from models import MODELS, ModelError, ModelInput, load_card, load_model, make_model, save_model


@pytest.fixture(scope="module")
def data(small):
    return ModelInput(small.view("full"))


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m == "dec" else m for m in sorted(MODELS)])
def test_fit_score_save_reload(name, data, tmp_path):
    m = make_model(name)
    m.fit(data, seed=3)
    pred = m.predict_scores(data)
    assert list(pred.columns) == ["account_id", "task", "score"]
    assert len(pred) == data.n * len(data.tasks)
    assert np.isfinite(pred["score"]).all()
    path = save_model(m, data, 3, tmp_path / "m")
    suffixes = {p.suffix for p in path.iterdir()}
    assert suffixes <= {".json", ".txt", ".pt"}, "no pickles"
    again, card = load_model(path, data)
    assert card["model"] == name and card["dataset_fingerprint"] == data.view.fingerprint
    # the same scores, not merely close: a reloaded model is the model that was trained
    np.testing.assert_array_equal(again.predict_scores(data)["score"], pred["score"])


# The first DEC fit of a session also pays for torch warming up.
@pytest.mark.parametrize("name", [pytest.param("dec", marks=pytest.mark.slow), "gbdt-raw"])
def test_same_seed_same_scores(name, data):
    a, b = make_model(name), make_model(name)
    a.fit(data, seed=5)
    b.fit(data, seed=5)
    np.testing.assert_array_equal(a.predict_scores(data)["score"], b.predict_scores(data)["score"])


def test_weak_matrix_is_masked(data):
    target, mask = data.weak_matrix
    assert target.shape == mask.shape == (data.n, len(data.tasks))
    assert ((target >= 0) & (target <= 1)).all()
    assert (target[~mask] == 0).all()


def test_unknown_model():
    with pytest.raises(ModelError, match="expected one of"):
        make_model("svm")


def test_incompatible_model_is_refused(data, small, tmp_path):
    m = make_model("random")
    m.fit(data, 0)
    path = save_model(m, data, 0, tmp_path / "m")
    with pytest.raises(ModelError, match="visibility"):
        load_model(path, ModelInput(small.view("minimal")))
    card = (path / "model.json").read_text().replace('"account_age_days"', '"renamed_feature"')
    (path / "model.json").write_text(card)
    with pytest.raises(ModelError, match="feature schema"):
        load_model(path, data)


def test_refuses_non_empty_out(data, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("x")
    m = make_model("random")
    with pytest.raises(ModelError, match="not empty"):
        save_model(m, data, 0, tmp_path / "m")
    with pytest.raises(ModelError, match="also holds x, which it did not write"):
        save_model(m, data, 0, tmp_path / "m", overwrite=True)
    assert (tmp_path / "m" / "x").read_text() == "x"


def test_overwrite_replaces_a_saved_model(data, tmp_path):
    m = make_model("random")
    save_model(m, data, 0, tmp_path / "m")
    with pytest.raises(ModelError, match="not empty"):
        save_model(m, data, 1, tmp_path / "m")
    save_model(m, data, 1, tmp_path / "m", overwrite=True)
    assert load_card(tmp_path / "m")["seed"] == 1
