"""Long loops say how long is left: the units left times the time per unit so far."""


def test_time_left_reads_like_a_horizon():
    from bench.setup.datasets import time_left

    assert time_left(0, 10, 5.0) == "" and time_left(10, 10, 50.0) == ""
    assert time_left(1, 10, 5.0) == ", about 45 s left"
    assert time_left(3, 10, 400.0) == ", about 15 min 33 s left"
    assert time_left(1, 100_000, 5.3) == ", about 6.1 days left"
