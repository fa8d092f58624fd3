"""Detection before harm on an enriched world: checkpoint thresholds from the training
world's validation split as of each day, harm events per task, and spam/scam controls."""

import numpy as np
import pytest

from bench.rare.before_harm import _timeline, checkpoint_days, harm_events, timely_detection
from common.vocabulary import DAY
from data_gen import generate
from data_gen.reader import open_dataset
from models import make_model
from models.inputs import ModelInput
from tests.conftest import small_scenario

SEED = 7


def test_checkpoints_end_on_the_last_day():
    assert checkpoint_days(56, 7) == [7, 14, 21, 28, 35, 42, 49, 56]
    assert checkpoint_days(50, 14) == [14, 28, 42, 50]


def test_spam_harm_is_every_message_a_spammer_sends(small):
    spam = small.truth_by_id("spam")["spam"].astype(bool)
    offender, ts = harm_events(small, "spam", spam)
    src = small.table("messages", ["src"])["src"].to_numpy()
    assert len(offender) == int(spam[src].sum()) and spam[offender].all()
    g_off, _ = harm_events(small, "groomer", None)
    assert len(g_off) == small.table("harm_events").num_rows


class _World:
    meta = {"fingerprint": "w"}

    def __init__(self, offender, ts):
        self._ev = (offender, ts)

    def table(self, name, cols):
        import pyarrow as pa

        return pa.table({"offender": self._ev[0], "ts": self._ev[1]})


def test_a_flag_counts_only_against_later_harm():
    """Account 1 crosses its checkpoint's threshold at day 14 (not at day 7): its harm at day
    10 came first, its harm at day 20 after. Account 2 never crosses."""
    positive = np.array([False, True, True])
    scores = [np.array([0.0, 0.5, 0.1]), np.array([0.0, 0.9, 0.1]), np.array([0.0, 0.9, 0.9])]
    thresholds = [0.6, 0.6, 0.95]  # a threshold per checkpoint
    world = _World(np.array([1, 1, 2]), np.array([10, 20, 25]) * DAY)
    tl = _timeline(world, "groomer", positive, [7, 14, 28], scores, thresholds, 1e-3, 0)
    assert (tl.share.k, tl.share.n) == (1, 3)
    assert tl.flagged_by_end == 1 and tl.offenders == 2 and tl.fpr_by == [0.0, 0.0, 0.0]
    level = np.array([-1, 0, 3])
    by = _timeline(world, "groomer", positive, [7, 14, 28], scores, thresholds, 1e-3, 0, level).by_level
    assert (by["L0"].k, by["L0"].n, by["L3"].k, by["L3"].n, by["L1"].n) == (1, 2, 0, 1, 0)


@pytest.mark.slow
def test_timely_detection_on_a_fresh_world(small, tmp_path):
    model = make_model("logreg")
    model.fit(ModelInput(small.view("full")), SEED)
    with pytest.raises(ValueError, match="training world"):
        timely_detection(model, small, small, "full", 28)
    generate(small_scenario(), 1234, tmp_path / "w")
    world = open_dataset(tmp_path / "w")
    out = timely_detection(model, small, world, "full", 28)
    assert set(out) == {"groomer", "spam", "scam"}
    for task, tl in out.items():
        assert tl.checkpoint_days == checkpoint_days(small.meta["scenario"]["activity"]["days"], 28)
        assert len(tl.thresholds) == len(tl.checkpoint_days) and np.isfinite(tl.thresholds).all()
        assert 0 <= tl.share.k <= tl.share.n == tl.harm_events, task
        assert tl.world == world.meta["fingerprint"]
        assert all(0 <= f <= 1 for f in tl.fpr_by)
