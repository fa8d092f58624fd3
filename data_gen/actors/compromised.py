"""Compromised accounts: an established, benign account that changes hands at a change point.

Before the change point it is indistinguishable from its benign self; after it, the
attacker bursts links to the account's friends at the attacker's hours: the owner's daily
rhythm shifted by `abuse.attacker_hour_shift` (another time zone; 0 by default, so the hour
alone is no tell and the burst is what a model has to find). The mimic variant
sends a small burst, which hides inside ordinary link sharing.
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY, HOUR
from data_gen import events as ev
from data_gen.activity import draw_reports
from data_gen.actors.base import Actor, uniform_others
from data_gen.actors.base import intensity as plain_intensity
from data_gen.friendships import random_neighbour
from data_gen.rhythm import sample_ts

# Behavioural constants of plain (P) and mimic (M) takeovers, after DEC's description of
# compromised accounts (an established account bursting links to its friends; Xu et al.
# 2021). Sizes are arbitrary: the shape of that description, not measurements.

# Worth taking over only if established: signed up at least MIN days before the window, plus
# a uniform [0, EXTRA) days. The change point falls on a day in [FIRST, days - LAST_MARGIN).
MIN_ACCOUNT_AGE_DAYS = 365
EXTRA_ACCOUNT_AGE_DAYS = 1500
CHANGE_POINT_FIRST_DAY = 7
CHANGE_POINT_LAST_MARGIN = 4
# The burst to friends: Poisson(MIMIC_BURST, or min(degree, FRIEND_CAP) x intensity) + 1
# messages within BURST_DAYS of the change point; LINK_SHARE and FORWARDED (P, M).
MIMIC_BURST = 2.0
FRIEND_CAP = 40
BURST_DAYS = 2
LINK_SHARE = (0.8, 0.45)
FORWARDED = (0.6, 0.25)
# Report-rate factor on abuse.report_rate (P, M), and the reasons given.
REPORT_FACTOR = (1.2, 0.4)
REPORT_REASONS = {"spam": 0.4, "scam": 0.1, "hacked": 0.5}
# Requests to strangers within REQUEST_DAYS of the change point: Poisson mean (P x
# intensity, M).
REQUESTS = (12.0, 1.0)
REQUEST_DAYS = 3


class Compromised(Actor):
    code, task = 4, "compromised"

    def rate(self, scn):
        return scn.abuse.compromised

    def adjust(self, pop, idx, rng, scn, p):
        # Worth taking over only if established: at least a year old.
        extra = rng.integers(0, EXTRA_ACCOUNT_AGE_DAYS, len(idx))
        pop.signup_day[idx] = np.minimum(pop.signup_day[idx], -MIN_ACCOUNT_AGE_DAYS - extra)
        last = max(CHANGE_POINT_FIRST_DAY + 1, scn.activity.days - CHANGE_POINT_LAST_MARGIN)
        pop.aux[idx] = rng.integers(CHANGE_POINT_FIRST_DAY, last, len(idx))  # change-point day

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        deg = st.adj.indptr[members + 1] - st.adj.indptr[members]
        intensity = plain_intensity(rng, len(members), st.scn.abuse.intensity_sigma)
        k = rng.poisson(np.where(mimic, MIMIC_BURST, np.minimum(deg, FRIEND_CAP) * intensity) + 1)
        src = np.repeat(members, k)
        dst = random_neighbour(st.adj, src, rng)
        dst = np.where(dst >= 0, dst, uniform_others(rng, st.n, src))
        cp = pop.aux[src].astype(np.int64) * DAY
        ts = _attacker_hours(st, src, cp, cp + BURST_DAYS * DAY, rng)
        m = pop.mimic[src]
        link = rng.random(len(src)) < np.where(m, LINK_SHARE[1], LINK_SHARE[0])
        media = np.where(link, ev.LINK, ev.TEXT).astype(np.int8)
        fwd = rng.random(len(src)) < np.where(m, FORWARDED[1], FORWARDED[0])
        buf.messages.append(ev.direct_messages(rng, src, dst, ts, media, fwd))
        p = st.scn.abuse.report_rate * np.where(m, REPORT_FACTOR[1], REPORT_FACTOR[0])
        buf.reports.append(draw_reports(rng, st, dst, src, ts, p, REPORT_REASONS))
        src = np.repeat(members, rng.poisson(np.where(mimic, REQUESTS[1], REQUESTS[0] * intensity)))
        dst = uniform_others(rng, st.n, src)
        cp = pop.aux[src].astype(np.int64) * DAY
        ts = _attacker_hours(st, src, cp, cp + REQUEST_DAYS * DAY, rng)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE))


def _attacker_hours(st, src, lo, hi, rng) -> np.ndarray:
    """Times in [lo, hi) on the owner's rhythm shifted by the attacker's time zone, inside
    the window."""
    shift = st.scn.abuse.attacker_hour_shift * HOUR
    ts = sample_ts(rng, st.pop.schedule_minor[src], lo, hi) + shift
    return np.clip(ts, lo, st.end - 1)
