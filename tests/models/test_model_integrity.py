"""A model directory proves what it holds: every file hashed in its card and checked before a
parser reads it, names confined to the directory, non-finite weights refused, and every
unreadable model a ModelError (exit 2) naming the file, never a crash or wrong figures."""

import json
import shutil

import numpy as np
import pytest
import torch

from common.files import sha256_file
from models import ModelError, ModelInput, load_card, load_model, make_model, save_model


@pytest.fixture(scope="module")
def data(small):
    return ModelInput(small.view("full"))


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """A DEC (network + boosters) saved once; each test edits a copy."""
    m = make_model("dec")
    m.fit(data, seed=1)
    return save_model(m, data, 1, tmp_path_factory.mktemp("integrity") / "dec")


@pytest.fixture
def model(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "m")


def _card(path):
    return json.loads((path / "model.json").read_text())


def _rehash(path, card=None):
    """What a careless editor (or a tool that knows the format) would do: hashes fixed up."""
    card = card or _card(path)
    card["files"] = {p.name: sha256_file(p) for p in path.iterdir() if p.name != "model.json"}
    (path / "model.json").write_text(json.dumps(card))


def test_every_file_is_listed_with_its_hash(model):
    card = _card(model)
    assert set(card["files"]) == {p.name for p in model.iterdir()} - {"model.json"}
    assert all(sha256_file(model / n) == h for n, h in card["files"].items())


def test_a_truncated_or_swapped_booster_is_refused_before_parsing(model):
    boosters = sorted(p for p in model.iterdir() if p.suffix == ".txt")
    text = boosters[0].read_text()
    boosters[0].write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match=rf"{boosters[0].name}: its SHA-256 differs"):
        load_card(model)
    boosters[0].write_text(text)
    a, b = boosters[0].read_bytes(), boosters[1].read_bytes()
    boosters[0].write_bytes(b)
    boosters[1].write_bytes(a)
    with pytest.raises(ModelError, match="SHA-256 differs"):
        load_card(model)


def test_extra_or_missing_files_are_refused(model):
    (model / "extra.txt").write_text("x")
    with pytest.raises(ModelError, match="extra.txt: not listed"):
        load_card(model)
    (model / "extra.txt").unlink()
    next(p for p in model.iterdir() if p.suffix == ".txt").unlink()
    with pytest.raises(ModelError, match="listed in model.json but missing"):
        load_card(model)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../other/model.json", ".hidden"])
def test_file_names_are_confined_to_the_directory(model, data, target):
    card = _card(model)
    task = next(t for t, f in card["state"]["boosters"].items() if f)
    card["state"]["boosters"][task] = target
    _rehash(model, card)
    with pytest.raises(ModelError, match="not a plain name"):
        load_model(model, data)


def test_non_finite_weights_are_refused(model, data):
    weights = torch.load(model / "dec_stage1.pt", weights_only=True)
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], float("nan"))
    torch.save(weights, model / "dec_stage1.pt")
    _rehash(model)
    with pytest.raises(ModelError, match="non-finite weights"):
        load_model(model, data)


def test_pickles_and_wrong_shapes_exit_as_model_errors(model, data):
    torch.save({"anything": np.arange(3)}, model / "dec_stage1.pt")  # a numpy object: pickled
    _rehash(model)
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(model, data)
    torch.save({"body.0.weight": torch.zeros(2, 2)}, model / "dec_stage1.pt")
    _rehash(model)
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(model, data)


def test_a_card_without_hashes_is_refused_with_the_way_out(model):
    card = _card(model)
    card["format"] = "lowbase-model/1"
    del card["files"]
    (model / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="train it again"):
        load_card(model)


def test_evaluate_on_a_tampered_model_exits_2(model, small_dir):
    from typer.testing import CliRunner

    from bench.cli.app import app

    booster = next(p for p in model.iterdir() if p.suffix == ".txt")
    booster.write_text(booster.read_text()[:100])
    r = CliRunner().invoke(app, ["evaluate", "--data", str(small_dir), "--model", str(model)])
    assert r.exit_code == 2 and "SHA-256 differs" in r.output
