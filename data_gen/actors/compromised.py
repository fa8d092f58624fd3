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


class Compromised(Actor):
    code, task = 4, "compromised"

    def rate(self, scn):
        return scn.abuse.compromised

    def adjust(self, pop, idx, rng, scn, p):
        # Worth taking over only if established: at least a year old.
        pop.signup_day[idx] = np.minimum(pop.signup_day[idx], -365 - rng.integers(0, 1500, len(idx)))
        pop.aux[idx] = rng.integers(7, max(8, scn.activity.days - 4), len(idx))  # change-point day

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        deg = st.adj.indptr[members + 1] - st.adj.indptr[members]
        intensity = plain_intensity(rng, len(members), st.scn.abuse.intensity_sigma)
        k = rng.poisson(np.where(mimic, 2.0, np.minimum(deg, 40) * intensity) + 1)
        src = np.repeat(members, k)
        dst = random_neighbour(st.adj, src, rng)
        dst = np.where(dst >= 0, dst, uniform_others(rng, st.n, src))
        cp = pop.aux[src].astype(np.int64) * DAY
        ts = _attacker_hours(st, src, cp, cp + 2 * DAY, rng)
        m = pop.mimic[src]
        link = rng.random(len(src)) < np.where(m, 0.45, 0.8)
        media = np.where(link, ev.LINK, ev.TEXT).astype(np.int8)
        buf.messages.append(ev.direct_messages(rng, src, dst, ts, media, rng.random(len(src)) < np.where(m, 0.25, 0.6)))
        p = st.scn.abuse.report_rate * np.where(m, 0.4, 1.2)
        buf.reports.append(draw_reports(rng, st, dst, src, ts, p, {"spam": 0.4, "scam": 0.1, "hacked": 0.5}))
        src = np.repeat(members, rng.poisson(np.where(mimic, 1.0, 12.0 * intensity)))
        dst = uniform_others(rng, st.n, src)
        cp = pop.aux[src].astype(np.int64) * DAY
        ts = _attacker_hours(st, src, cp, cp + 3 * DAY, rng)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE))


def _attacker_hours(st, src, lo, hi, rng) -> np.ndarray:
    """Times in [lo, hi) on the owner's rhythm shifted by the attacker's time zone, inside
    the window."""
    shift = st.scn.abuse.attacker_hour_shift * HOUR
    ts = sample_ts(rng, st.pop.schedule_minor[src], lo, hi) + shift
    return np.clip(ts, lo, st.end - 1)
