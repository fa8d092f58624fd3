"""Harm throughput (bench/rare/throughput.py) against a slow, plain pandas count of the same
world, its intervals, empty levels and a knob that removes the harm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from bench.rare.throughput import (
    ALL_LEVELS,
    MIN_FOR_MEDIAN,
    RATE_DAYS,
    harm_rate,
    harm_throughput,
    median_days,
    poisson_interval,
)
from data_gen import generate
from data_gen.config import scenario_from_dict
from data_gen.generate import generate_in_memory

# 8K accounts at the top groomer rate: ~80 offenders, ~20 per level, a few dozen harm events
# (image exchange made likely so that medians exist per level).
WORLD = {
    "accounts": 8000,
    "partition_size": 2000,
    "harm": {"groomer_rate": 0.01, "sophistication_mix": [0.25] * 4, "image_exchange": 0.6},
}


def _world(harm: dict | None = None, seed: int = 3):
    data = {**WORLD, "harm": {**WORLD["harm"], **(harm or {})}}
    return generate_in_memory(scenario_from_dict(data, "test_throughput"), seed=seed)


@pytest.fixture(scope="module")
def world():
    return _world()


def _frame(ds, name: str) -> pd.DataFrame:
    t = ds.table(name)
    return pd.DataFrame(
        {c: (pc.cast(t[c], "string") if "dictionary" in str(t[c].type) else t[c]).to_pylist() for c in t.column_names}
    )


def expected(ds) -> pd.DataFrame:
    """One row per offender, counted the slow and obvious way: level, events, exposure
    days, days from the pair's first interaction to the first harm event."""
    days = ds.meta["scenario"]["activity"]["days"]
    truth = _frame(ds, "truth")
    off = truth[truth["groomer"]][["account_id", "sophistication"]]
    off = off.merge(_frame(ds, "accounts")[["account_id", "signup_day"]], on="account_id")
    off["exposure"] = days - off["signup_day"].clip(lower=0, upper=days)
    harm = _frame(ds, "harm_events")
    off["events"] = off["account_id"].map(harm.groupby("offender").size()).fillna(0).astype(int)
    first = harm.sort_values(["offender", "ts", "victim"]).groupby("offender").head(1)
    talk = pd.concat(
        [_frame(ds, "contact_requests")[["src", "dst", "ts"]], _frame(ds, "messages")[["src", "dst", "ts"]]]
    )
    talk = talk[(talk["src"] >= 0) & (talk["dst"] >= 0)]
    talk = talk.assign(a=talk[["src", "dst"]].min(axis=1), b=talk[["src", "dst"]].max(axis=1))
    start = talk.groupby(["a", "b"])["ts"].min()
    to_harm = {}
    for row in first.itertuples():
        a, b = min(row.offender, row.victim), max(row.offender, row.victim)
        to_harm[row.offender] = (row.ts - start.loc[(a, b)]) / 86_400
    off["to_harm"] = off["account_id"].map(to_harm)
    return off


def test_figures_equal_a_direct_count(world):
    got = harm_throughput(world)
    want = expected(world)
    assert set(got) == {0, 1, 2, 3, ALL_LEVELS}
    for level, th in got.items():
        mine = want if level == ALL_LEVELS else want[want["sophistication"] == level]
        assert th.level == level and th.offenders == len(mine) > 0
        assert th.rate.events == mine["events"].sum() and th.rate.exposure_days == mine["exposure"].sum()
        assert th.rate.value == pytest.approx(mine["events"].sum() / mine["exposure"].sum() * RATE_DAYS)
        assert (th.reached.k, th.reached.n) == ((mine["events"] > 0).sum(), len(mine))
        to_harm = mine["to_harm"].dropna()
        assert th.days_to_harm.n == len(to_harm) == th.reached.k
        if len(to_harm) >= MIN_FOR_MEDIAN:
            assert th.days_to_harm.value == pytest.approx(to_harm.median())
        else:
            assert th.days_to_harm.value is None
    assert got[ALL_LEVELS].days_to_harm.value is not None, "the world has enough harm to test the median"
    assert (want["to_harm"].dropna() > 0).all(), "a harm event comes after the pair's first interaction"
    # The cartoon signs up inside the window: less exposure than the window per offender.
    assert got[0].rate.exposure_days < got[0].offenders * world.meta["scenario"]["activity"]["days"]


def test_intervals_contain_the_point(world):
    for th in harm_throughput(world).values():
        assert th.rate.ci_low <= th.rate.value <= th.rate.ci_high
        assert th.rate.ci_high > th.rate.ci_low
        assert th.reached.ci_low <= th.reached.value <= th.reached.ci_high
        d = th.days_to_harm
        if d.value is not None:
            assert d.ci_low is not None and d.ci_high is not None
            assert d.ci_low <= d.value <= d.ci_high


def test_same_seed_same_intervals_and_a_directory_reads_like_memory(world, tmp_path):
    data = {**WORLD, "harm": {**WORLD["harm"]}}
    out = tmp_path / "ds"
    generate(scenario_from_dict(data, "test_throughput"), seed=3, out=out)
    assert harm_throughput(out) == harm_throughput(world)


def test_a_level_without_offenders_is_a_row_of_nan():
    ds = _world({"sophistication_mix": [0.5, 0.5, 0.0, 0.0]})
    got = harm_throughput(ds)
    for level in (2, 3):
        th = got[level]
        assert th.offenders == 0 and th.rate.events == 0 and th.rate.exposure_days == 0
        assert math.isnan(th.rate.value) and math.isnan(th.rate.ci_low) and math.isnan(th.reached.value)
        assert th.days_to_harm.value is None and th.days_to_harm.n == 0
    assert got[ALL_LEVELS].offenders == got[0].offenders + got[1].offenders > 0


def test_no_harm_on_the_platform_gives_zero_share_and_a_poisson_bound():
    """Every pair moves off-platform before any image: no harm event, at any level. The
    rate is 0 with an upper bound from the exact Poisson interval (3.69 events over the
    exposure), not a bootstrap collapsed to 0."""
    got = harm_throughput(_world({"off_platform_before_image": [1.0] * 4}))
    for th in got.values():
        assert th.offenders > 0
        assert th.reached.k == 0 and th.reached.value == 0 and th.reached.ci_high > 0
        assert th.rate.value == 0 and th.rate.ci_low == 0
        assert th.rate.ci_high == pytest.approx(poisson_interval(0)[1] / th.rate.exposure_days * RATE_DAYS)
        assert th.days_to_harm.value is None and th.days_to_harm.n == 0


def test_poisson_interval_matches_the_tables():
    # Garwood 95% limits (e.g. Ulm 1990's table): 0 -> [0, 3.689], 1 -> [0.0253, 5.572],
    # 10 -> [4.795, 18.39].
    assert poisson_interval(0) == pytest.approx((0.0, 3.689), abs=1e-3)
    assert poisson_interval(1) == pytest.approx((0.0253, 5.572), abs=1e-3)
    assert poisson_interval(10) == pytest.approx((4.795, 18.39), abs=1e-2)


def test_overdispersed_counts_widen_the_rate_interval():
    """The same total over the same exposure: spread evenly, or all on two offenders. The
    bootstrap over offenders sees the second as less certain; the Poisson interval alone
    could not tell them apart."""
    exposure = np.full(40, 30)
    even = harm_rate(np.full(40, 2), exposure)
    lumpy = harm_rate(np.r_[np.full(2, 40), np.zeros(38, int)], exposure)
    assert even.value == lumpy.value == pytest.approx(2.0)
    assert lumpy.ci_high - lumpy.ci_low > 2 * (even.ci_high - even.ci_low)


def test_median_needs_enough_offenders():
    assert median_days(np.arange(MIN_FOR_MEDIAN - 1, dtype=float)).value is None
    d = median_days(np.arange(10, dtype=float))
    assert d.value == 4.5 and d.ci_low is not None and d.ci_high is not None
    assert d.ci_low <= 4.5 <= d.ci_high and d.n == 10
