"""A negative world scored in memory gives the written world's features and counts, bit for
bit: nothing a powered evaluation records depends on where its worlds lived."""

import numpy as np
import pytest

from bench.rare.worlds import (
    fpr_counts,
    input_scores,
    models_blob,
    score_enriched_world,
    score_negative_world,
    tpr_counts,
)
from data_gen.generate import generate_in_memory
from models import make_model
from models.inputs import ModelInput
from tests.conftest import small_scenario

SEED = 7  # the `small` fixture's world, on disk
TASK = "groomer"


@pytest.fixture(scope="module")
def models(small):
    model = make_model("logreg")
    model.fit(ModelInput(small.view("full")), SEED)
    return {"logreg": model}


@pytest.fixture(scope="module")
def in_memory():
    return generate_in_memory(small_scenario(), SEED)


def _values(scores):
    return {name: np.quantile(s, [0.5, 0.9, 0.99, 0.999]) for name, s in scores.items()}


def _same_counts(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key in ("tallies", "levels"):
            assert np.array_equal(_flat(a[key]), _flat(b[key])), key
        else:
            assert a[key] == b[key], key


def _flat(tallies):
    out = []
    for name in sorted(tallies):
        ts = tallies[name] if isinstance(tallies[name], list) else [tallies[name]]
        out += [np.append(t.flagged, t.n) for t in ts]
    return np.concatenate(out)


def test_same_features_and_counts(small, in_memory, models):
    for level in ("full", "minimal"):
        x_disk = ModelInput(small.view(level)).features.X
        x_mem = ModelInput(in_memory.view(level)).features.X
        assert x_mem.dtype == x_disk.dtype and x_mem.tobytes() == x_disk.tobytes(), level
    disk = input_scores(models, ModelInput(small.view("full")), TASK)
    mem = input_scores(models, ModelInput(in_memory.view("full")), TASK)
    assert all(mem[n].tobytes() == disk[n].tobytes() for n in disk)
    values = _values(disk)
    for count in (fpr_counts, tpr_counts):
        _same_counts(count(in_memory, mem, TASK, values), count(small, disk, TASK, values))


def test_score_negative_world_counts_the_written_world(small, models, tmp_path):
    disk = input_scores(models, ModelInput(small.view("full")), TASK)
    values = _values(disk)
    blob = models_blob(models)
    got = score_negative_world(small_scenario(), SEED, "full", TASK, values, None, tmp_path, blob)
    _same_counts(got, fpr_counts(small, disk, TASK, values))
    assert got["fingerprint"] == small.meta["fingerprint"]
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_an_uncached_enriched_world_counts_the_written_world_and_writes_nothing(small, models, tmp_path):
    disk = input_scores(models, ModelInput(small.view("full")), TASK)
    values = _values(disk)
    got = score_enriched_world(small_scenario(), SEED, "full", TASK, values, None, tmp_path, models_blob(models))
    _same_counts(got, tpr_counts(small, disk, TASK, values))
    assert list(tmp_path.iterdir()) == [], "nothing written"
