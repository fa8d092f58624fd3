"""Viral media cascades: the `viral_sharer` task (paper 2.3.2 and 8.2).

An image starts from a random account and is forwarded along friendships: each sharer
forwards it to a few friends, some of whom forward it on. Most sharers have no sexual
interest in the content (shock, outrage, misguided attempts to help), which is why this
is the one archetype where metadata may work: it is one-to-many and draws reports
(paper 8.2.4). Run once over the whole graph after the activity stage, from its own
seeded stream, so it does not depend on partitions or workers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from common.vocabulary import DAY, HOUR
from data_gen import events as ev
from data_gen.config import Scenario
from data_gen.friendships import random_neighbour
from data_gen.partition import GLOBAL, rng_for
from data_gen.population import Population

MAX_ROUNDS = 10  # a cascade's reach is bounded: content gets removed, interest fades
# Behavioural constants (the rates are config.HarmConfig's viral_* fields). Arbitrary: shape
# only, not measurements.
# A cascade starts at least this many days before the window's end (room to spread).
START_MARGIN_DAYS = 7
# Each sharer's fanout is Poisson(mean x a lognormal (mu, sigma) of mean one): many pass it
# to one friend, a few to many.
FANOUT_SPREAD = (-0.5, 1.0)
# Mean delay of a forward, in hours (exponential), and of a report, in days.
FORWARD_DELAY_HOURS = 3
REPORT_DELAY_DAYS = 1
# Share of cascades' media that are images (the rest video).
IMAGE_SHARE = 0.8


def viral_cascades(
    scn: Scenario, seed: int, pop: Population, adj: sp.csr_matrix
) -> tuple[ev.Messages, ev.Reports, np.ndarray]:
    """(forward messages, reports, mask of accounts that forwarded the media)."""
    hc = scn.harm
    rng = rng_for(seed, GLOBAL, "viral")
    n, end = len(pop), scn.activity.days * DAY
    reached = np.zeros(n, dtype=bool)  # already holds the media: does not forward it again
    k = rng.poisson(hc.viral_cascades_per_account * n)
    frontier = rng.integers(0, n, k).astype(np.int64)
    margin = START_MARGIN_DAYS * DAY
    t = rng.integers(0, end - margin, k).astype(np.int64) if end > margin else np.zeros(k, np.int64)
    t = np.maximum(t, pop.signup_day[frontier].astype(np.int64) * DAY)
    reached[frontier] = True
    src_all, dst_all, ts_all = [], [], []
    first_round = True  # the original poster sends it to many at once
    for _ in range(MAX_ROUNDS):
        if len(frontier) == 0:
            break
        mean = hc.viral_seed_fanout if first_round else hc.viral_fanout
        fan = rng.poisson(mean * rng.lognormal(*FANOUT_SPREAD, len(frontier)))
        first_round = False
        src = np.repeat(frontier, fan)
        ts = np.repeat(t, fan) + rng.exponential(FORWARD_DELAY_HOURS * HOUR, len(src)).astype(np.int64)
        dst = random_neighbour(adj, src, rng)
        ok = (dst >= 0) & (ts < end)
        ok[ok] &= pop.signup_day[dst[ok]].astype(np.int64) * DAY <= ts[ok]
        src, dst, ts = src[ok], dst[ok], ts[ok]
        src_all.append(src)
        dst_all.append(dst)
        ts_all.append(ts)
        # Recipients who had not shared yet forward it on with probability viral_forward.
        on = ~reached[dst] & (rng.random(len(dst)) < hc.viral_forward)
        nxt, first = np.unique(dst[on], return_index=True)
        reached[nxt] = True
        frontier, t = nxt, ts[on][first]
    src = np.concatenate(src_all) if src_all else np.zeros(0, np.int64)
    dst = np.concatenate(dst_all) if dst_all else np.zeros(0, np.int64)
    ts = np.concatenate(ts_all) if ts_all else np.zeros(0, np.int64)
    media = np.where(rng.random(len(src)) < IMAGE_SHARE, ev.IMAGE, ev.VIDEO).astype(np.int8)
    msgs = ev.direct_messages(rng, src, dst, ts, media, True)
    # Some recipients report what they were sent (reports come later).
    hit = rng.random(len(src)) < hc.viral_report
    when = ts[hit] + rng.exponential(REPORT_DELAY_DAYS * DAY, hit.sum()).astype(np.int64)
    keep = when < end
    reports = ev.typed(
        ev.Reports,
        reporter=dst[hit][keep],
        reported=src[hit][keep],
        ts=when[keep],
        reason=ev.REASONS.index("child_safety"),
    )
    forwarded_any = np.zeros(n, dtype=bool)
    forwarded_any[src] = True  # a sharer is whoever actually passed it on
    return msgs, reports, forwarded_any
