"""Harm analyses against hand-computed cases."""

import numpy as np
import pytest

from bench.stats.detection import detection_before_harm, first_flag_times, recall_by_level
from bench.stats.intervals import wilson_share


def test_recall_by_level_hand_computed():
    level = np.array([-1, 0, 0, 1, 1, 1, 3, -1])
    score = np.array([0.9, 0.8, 0.1, 0.7, 0.7, 0.2, 0.1, 0.1])
    r = recall_by_level(level, score, threshold=0.7)
    assert (r["L0"].k, r["L0"].n, r["L0"].value) == (1, 2, 0.5)
    assert (r["L1"].k, r["L1"].n) == (2, 3)
    assert np.isnan(r["L2"].value) and r["L2"].n == 0
    assert r["L3"].value == 0.0 and r["L3"].ci_low == 0.0 and r["L3"].ci_high > 0


def test_wilson_interval_brackets_the_share():
    s = wilson_share(3, 10)
    assert s.ci_low < 0.3 < s.ci_high


def test_first_flag_times():
    cps = [10, 20, 30]
    scores = np.array([[0.1, 0.9, 0.1], [0.6, 0.9, 0.1], [0.6, 0.1, 0.2]])
    np.testing.assert_array_equal(first_flag_times(cps, scores, 0.5), [20, 10, np.inf])
    with pytest.raises(ValueError, match="strictly increasing"):
        first_flag_times([20, 10, 30], scores, 0.5)


def test_detection_before_harm_hand_computed():
    first = np.array([np.inf, 20.0, 5.0])  # account 0 never flagged, 1 at t=20, 2 at t=5
    # events: (offender, ts): (1, 15) before flag; (1, 25) after flag; (2, 10) after flag at 5; (0, 30) never
    tl = detection_before_harm([1, 1, 2, 0], [15, 25, 10, 30], first, checkpoints=[5, 20, 30])
    assert (tl.share.k, tl.share.n) == (2, 4)
    assert tl.harm_share_by == [0.0, 0.5, 1.0]
    # by 5: offender 2 flagged, its event at 10 not yet happened but will be prevented
    assert tl.flagged_before_harm_by == [0.25, 0.5, 0.5]
    lo, hi = tl.ci_by_offender
    assert lo <= 0.5 <= hi


def test_flag_at_the_moment_of_harm_is_not_before():
    tl = detection_before_harm([0], [10], np.array([10.0]), checkpoints=[10])
    assert tl.share.k == 0
