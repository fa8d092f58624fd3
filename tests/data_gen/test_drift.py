"""The drift period: a second cohort with a shifted, adaptive groomer mix."""

import numpy as np
import pyarrow.compute as pc
import pytest
from scipy.stats import binom

from data_gen import generate, load_scenario
from data_gen.reader import open_dataset
from data_gen.simulate import population


def _scenario(accounts=30_000, **drift):
    scn = load_scenario("quick", accounts=accounts)
    harm = scn.harm.model_copy(update={"groomer_rate": 0.01})
    return scn.model_copy(update={"harm": harm, "drift": scn.drift.model_copy(update={"enabled": True, **drift})})


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    out = tmp_path_factory.mktemp("drift") / "ds"
    generate(_scenario(), seed=4, out=out)
    return open_dataset(out)


def test_period_two_share_and_splits(drifted):
    sp = drifted.table("splits")
    period = sp["period"].to_numpy()
    n = len(period)
    k = int((period == 2).sum())
    assert binom.ppf(1e-6, n, 0.5) <= k <= binom.isf(1e-6, n, 0.5)
    split = np.asarray(pc.cast(sp["split"], "string").to_pylist())
    for p in (1, 2):
        assert set(split[period == p]) == {"train", "val", "test"}


def test_mix_shifts_toward_personas(drifted):
    truth = drifted.table("truth")
    period = drifted.table("splits")["period"].to_numpy()
    level = truth["sophistication"].to_numpy()
    g = level >= 0
    for p, mix in (
        (1, drifted.meta["scenario"]["harm"]["sophistication_mix"]),
        (2, drifted.meta["scenario"]["drift"]["sophistication_mix"]),
    ):
        lv = level[g & (period == p)]
        for i, share in enumerate(mix):
            c = int((lv == i).sum())
            assert binom.ppf(1e-6, len(lv), share) <= c <= binom.isf(1e-6, len(lv), share), (p, i, c)


def test_full_adaptation_hides_what_offenders_control():
    pop, _ = population(_scenario(accounts=50_000, adaptation=1.0), 9)
    later = (pop.role == 5) & (pop.period == 2)
    assert later.sum() > 100
    assert not pop.anonymizer[later].any()
    assert (pop.signup_day[later] <= -200).all()
    early_cartoon = (pop.role == 5) & (pop.period == 1) & (pop.sophistication == 0)
    assert pop.anonymizer[early_cartoon].mean() > 0.6


def test_no_drift_means_one_period(small):
    assert (small.table("splits")["period"].to_numpy() == 1).all()
