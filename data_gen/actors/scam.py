"""Scam: conversations that build to a link, aimed at older adults (DEC's `scam` task).

Plain scammers approach strangers who assert an age of 50 or more; the mimic variant
spreads over its own region and sends fewer links.
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY
from data_gen import events as ev
from data_gen.activity import draw_reports
from data_gen.actors.base import Actor, per_member, uniform_others
from data_gen.rhythm import same_day, sample_ts


class Scam(Actor):
    code, task = 2, "scam"

    def rate(self, scn):
        return scn.abuse.scam

    def adjust(self, pop, idx, rng, scn, p):
        plain = idx[~pop.mimic[idx]]
        pop.signup_day[plain] = rng.integers(-200, scn.activity.days, len(plain))
        # Scammers invest in a convincing profile: completeness is not their tell.
        pop.completeness[plain] = np.round(rng.beta(4.0, 2.0, len(plain)), 2)
        pop.sociability[plain] *= 0.6

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], 1.0, 0.5)

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        src = per_member(rng, members, 18.0, 1.0, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        dst = uniform_others(rng, st.n, src)
        older = st.extras["older_adults"]
        pick_old = ((~m) | (rng.random(len(src)) < 0.5)) & (len(older) > 0)
        dst[pick_old] = older[rng.integers(0, max(len(older), 1), pick_old.sum())]
        src, dst = src[dst != src], dst[dst != src]
        m = pop.mimic[src]
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        minor = pop.schedule_minor[src]  # the rhythm of the persona the account presents
        start = sample_ts(rng, minor, t0, st.end)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=start, decision=ev.DECIDE))
        # A short scripted conversation per target; links come late in it.
        k = 1 + rng.poisson(3.0, len(src))
        row = np.repeat(np.arange(len(src)), k)
        step = _steps(k)
        ts = same_day(rng, minor[row], start[row] + step * rng.integers(600, DAY, len(row)), start[row])
        ts = np.minimum(ts, st.end - 1)
        late = step >= (k[row] - 1)
        link = late & (rng.random(len(row)) < np.where(m[row], 0.35, 0.7))
        media = np.where(link, ev.LINK, ev.TEXT).astype(np.int8)
        buf.messages.append(ev.direct_messages(rng, src[row], dst[row], ts, media, rng.random(len(row)) < 0.05))
        p = st.scn.abuse.report_rate * np.where(m, 0.5, 1.5)
        buf.reports.append(
            draw_reports(rng, st, dst, src, start, p, {"spam": 0.3, "scam": 0.6, "fake": 0.05, "other": 0.05})
        )


def _steps(k: np.ndarray) -> np.ndarray:
    """0, 1, ..., k_i - 1 for every i, concatenated (position of a message in its thread)."""
    total = int(k.sum())
    first = np.repeat(np.cumsum(k) - k, k)
    return np.arange(total) - first
