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

# Behavioural constants of plain (P) and mimic (M) scammers, after DEC's description of
# scam (conversations building to a link, aimed at older adults; Xu et al. 2021). Sizes are
# arbitrary: the shape of that description, not measurements.

# Plain accounts sign up from this many days before the window; their profile is
# convincing, Beta(a, b) completeness (mean ~0.67: completeness is not their tell); their
# sociability and everyday life are scaled by these factors.
PLAIN_SIGNUP_LEAD_DAYS = 200
PLAIN_COMPLETENESS_BETA = (4.0, 2.0)
PLAIN_SOCIABILITY = 0.6
PLAIN_EVERYDAY = 0.5
# Targets per member (P, M); a mimic picks an older adult (actors.OLDER_ADULT_AGE) with this
# share, a plain scammer always when there is one.
TARGETS = (18.0, 1.0)
MIMIC_OLDER_SHARE = 0.5
# A thread is 1 + Poisson(THREAD_MESSAGES) messages, each a uniform [low, high) seconds after
# the one before (at an hour of the sender's day); its last message is a link with LINK_SHARE
# (P, M); FORWARDED of messages are forwards.
THREAD_MESSAGES = 3.0
MESSAGE_GAP_S = (600, DAY)
LINK_SHARE = (0.7, 0.35)
FORWARDED = 0.05
# Report-rate factor on abuse.report_rate (P, M). Arbitrary: a scam draws more reports than spam.
REPORT_FACTOR = (1.5, 0.5)
REPORT_REASONS = {"spam": 0.3, "scam": 0.6, "fake": 0.05, "other": 0.05}


class Scam(Actor):
    code, task = 2, "scam"

    def rate(self, scn):
        return scn.abuse.scam

    def adjust(self, pop, idx, rng, scn, p):
        plain = idx[~pop.mimic[idx]]
        pop.signup_day[plain] = rng.integers(-PLAIN_SIGNUP_LEAD_DAYS, scn.activity.days, len(plain))
        pop.completeness[plain] = np.round(rng.beta(*PLAIN_COMPLETENESS_BETA, len(plain)), 2)
        pop.sociability[plain] *= PLAIN_SOCIABILITY

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], 1.0, PLAIN_EVERYDAY)

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        src = per_member(rng, members, *TARGETS, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        dst = uniform_others(rng, st.n, src)
        older = st.extras["older_adults"]
        pick_old = ((~m) | (rng.random(len(src)) < MIMIC_OLDER_SHARE)) & (len(older) > 0)
        dst[pick_old] = older[rng.integers(0, max(len(older), 1), pick_old.sum())]
        src, dst = src[dst != src], dst[dst != src]
        m = pop.mimic[src]
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        minor = pop.schedule_minor[src]  # the rhythm of the persona the account presents
        start = sample_ts(rng, minor, t0, st.end)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=start, decision=ev.DECIDE))
        # A short scripted conversation per target; links come late in it.
        k = 1 + rng.poisson(THREAD_MESSAGES, len(src))
        row = np.repeat(np.arange(len(src)), k)
        step = _steps(k)
        ts = same_day(rng, minor[row], start[row] + step * rng.integers(*MESSAGE_GAP_S, len(row)), start[row])
        ts = np.minimum(ts, st.end - 1)
        late = step >= (k[row] - 1)
        link = late & (rng.random(len(row)) < np.where(m[row], LINK_SHARE[1], LINK_SHARE[0]))
        media = np.where(link, ev.LINK, ev.TEXT).astype(np.int8)
        buf.messages.append(ev.direct_messages(rng, src[row], dst[row], ts, media, rng.random(len(row)) < FORWARDED))
        p = st.scn.abuse.report_rate * np.where(m, REPORT_FACTOR[1], REPORT_FACTOR[0])
        buf.reports.append(draw_reports(rng, st, dst, src, start, p, REPORT_REASONS))


def _steps(k: np.ndarray) -> np.ndarray:
    """0, 1, ..., k_i - 1 for every i, concatenated (position of a message in its thread)."""
    total = int(k.sum())
    first = np.repeat(np.cumsum(k) - k, k)
    return np.arange(total) - first
