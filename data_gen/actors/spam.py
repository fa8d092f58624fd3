"""Spam: one-to-many links from young accounts, with high request rejection (DEC, Xu et al. 2021).

The mimic variant is an older, better-connected account sending far fewer, more targeted
messages; it overlaps benign link sharers and heavy requesters.
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY
from data_gen import events as ev
from data_gen.activity import draw_reports, request_targets
from data_gen.actors.base import Actor, per_member, uniform_others
from data_gen.friendships import random_neighbour
from data_gen.rhythm import sample_ts


class Spam(Actor):
    code, task = 1, "spam"

    def rate(self, scn):
        return scn.abuse.spam

    def adjust(self, pop, idx, rng, scn, p):
        plain = idx[~pop.mimic[idx]]
        pop.signup_day[plain] = rng.integers(-45, scn.activity.days, len(plain))
        pop.completeness[plain] = np.round(rng.beta(1.6, 3.5, len(plain)), 2)
        pop.sociability[plain] *= 0.3
        pop.client[plain] = (rng.random(len(plain)) < 0.5).astype(np.int8)
        pop.anonymizer[plain] |= rng.random(len(plain)) < 0.15

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], 1.0, 0.3)

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        src = per_member(rng, members, 45.0, 1.0, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        dst = np.where(m, request_targets(st, src, rng, fof=0.4, comm=0.3), uniform_others(rng, st.n, src))
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = sample_ts(rng, pop.schedule_minor[src], t0, st.end)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE))
        buf.reports.append(
            draw_reports(
                rng,
                st,
                dst,
                src,
                ts,
                st.scn.abuse.report_rate * 0.3,
                {"spam": 0.7, "scam": 0.1, "fake": 0.15, "other": 0.05},
            )
        )
        # Message requests to strangers (plain) or mostly to friends (mimic).
        src = per_member(rng, members, 60.0, 2.0, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        friend = random_neighbour(st.adj, src, rng)
        dst = np.where(m & (friend >= 0) & (rng.random(len(src)) < 0.7), friend, uniform_others(rng, st.n, src))
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = sample_ts(rng, pop.schedule_minor[src], t0, st.end)
        link = np.where(m, 0.3, 0.6)
        media = ev.draw_media(
            rng, np.stack([0.9 - link, np.full(len(src), 0.08), np.full(len(src), 0.02), link], axis=1)
        )
        buf.messages.append(
            ev.direct_messages(rng, src, dst, ts, media, rng.random(len(src)) < np.where(m, 0.12, 0.35))
        )
        p = st.scn.abuse.report_rate * np.where(m, 0.4, 1.0)
        buf.reports.append(
            draw_reports(rng, st, dst, src, ts, p, {"spam": 0.8, "scam": 0.08, "fake": 0.07, "other": 0.05})
        )
