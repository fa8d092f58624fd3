"""Label variants of a model: the training-world truth and label budgets are built from truth on purpose,
exactly as many labelled offenders as asked, and DEC refits only its second stage."""

import numpy as np
import pytest

from bench.rare.label_budget import TruthInput, budget_keep, label_variants, realistic_supply, truth_input
from models import make_model
from models.inputs import ModelInput

SEED = 7


def test_budget_keeps_every_negative_and_exactly_k_offenders():
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.02
    split = rng.choice(np.array(["train", "val", "test"], dtype=object), size=5000, p=[0.6, 0.2, 0.2])
    keep = budget_keep(y, split, 30, SEED)
    pos = y & keep
    assert pos.sum() == 30 and not (pos & (split == "test")).any()
    assert (pos & (split == "val")).sum() >= 1 and (pos & (split == "train")).sum() >= 1
    assert keep[~y].all(), "every negative keeps its label"
    assert np.array_equal(keep, budget_keep(y, split, 30, SEED)), "seeded"
    assert not np.array_equal(keep, budget_keep(y, split, 30, SEED + 1))
    assert budget_keep(y, split, int(y.sum()) + 1, SEED) is None, "more than the world holds: not reachable"


def test_truth_input_relabels_without_rebuilding(small):
    data = ModelInput(small.view("full"))
    data.features  # noqa: B018
    truth = small.truth_by_id(*small.tasks)
    t = truth_input(data, truth)
    assert t.features is data.features and t.memo is data.memo, "the relabelled input shares the built features"
    acc, y = t.human("groomer", "train")
    assert len(acc) == int((data.split == "train").sum()) and y.sum() == truth["groomer"][acc].sum()
    keep = np.zeros(data.n, dtype=bool)
    keep[acc[:10]] = True
    acc2, _ = TruthInput(small.view("full"), truth=truth, keep=keep).human("groomer", "train")
    assert np.array_equal(acc2, acc[:10])
    with pytest.raises(ValueError, match="different worlds"):
        ModelInput(small.view("full"), as_of=86_400).sharing(data)


@pytest.mark.slow
def test_dec_refits_its_second_stage_only(small):
    """With the labels it was trained on, DEC's `with_labels` gives back the same scores (same
    network, same stage-2 input, same boosters); variants share the embedding."""
    data = ModelInput(small.view("full"))
    dec = make_model("dec")
    dec.fit(data, SEED)
    again = dec.with_labels(data, SEED, ("groomer",))
    assert again.net is dec.net
    a, b = dec.predict_scores(data), again.predict_scores(data)
    assert set(b["task"]) == {"groomer"}
    assert np.array_equal(a[a["task"] == "groomer"]["score"].to_numpy(), b["score"].to_numpy())
    assert len(data.memo) == 1, "one embedding for the model and its variant"
    truth = small.truth_by_id(*small.tasks)
    variants, supply = label_variants("dec", dec, data, truth, SEED, budgets=(2, 10_000))
    assert set(variants) == {"training-world truth", "2 labelled"}
    assert supply["2 labelled"]["total"] == 2 and not supply["10000 labelled"]["reachable"]
    assert supply["training-world truth"]["total"] == int(truth["groomer"][np.isin(data.split, ("train", "val"))].sum())
    assert realistic_supply(data)["total"] < supply["training-world truth"]["total"]
    assert len(data.memo) == 1
