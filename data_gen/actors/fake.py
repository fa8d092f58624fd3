"""Fake accounts: batch-created, sparse profiles, synchronised, befriending each other.

Plain fakes are made in batches that share a signup day and client, act on the batch's
few scripted days and form rings; the mimic variant has a filled profile, a spread signup and
human hours, which is where it meets benign new accounts.
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY
from data_gen import events as ev
from data_gen.activity import draw_reports, request_targets
from data_gen.actors.base import Actor, per_member, uniform_others
from data_gen.rhythm import sample_ts

BATCH = 30  # mean accounts per creation batch
ACTIVE_DAYS = 8  # days in the window on which a plain batch's script runs
_BATCH_IDS_PER_PARTITION = 100_000


class Fake(Actor):
    code, task = 3, "fake"
    accepts_all = True

    def rate(self, scn):
        return scn.abuse.fake

    def adjust(self, pop, idx, rng, scn, p):
        plain = idx[~pop.mimic[idx]]
        mimic = idx[pop.mimic[idx]]
        n_batches = max(1, round(len(plain) / BATCH))
        batch = rng.integers(0, n_batches, len(plain))
        day = rng.integers(-120, scn.activity.days, n_batches)
        client = (rng.random(n_batches) < 0.6).astype(np.int8)
        pop.signup_day[plain] = day[batch]
        pop.client[plain] = client[batch]
        pop.completeness[plain] = np.round(rng.beta(1.2, 5.0, len(plain)), 2)
        pop.sociability[plain] *= 0.25
        pop.anonymizer[plain] |= rng.random(len(plain)) < 0.3
        # aux carries the batch id (unique across partitions); -1 marks unbatched mimics.
        pop.aux[plain] = p * _BATCH_IDS_PER_PARTITION + batch
        pop.aux[mimic] = -1
        pop.signup_day[mimic] = rng.integers(-400, scn.activity.days, len(mimic))

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], 0.8, 0.3)

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        plain = members[~mimic]
        self._rings(st, plain, rng, buf)
        src = per_member(rng, members, 20.0, 1.0, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        dst = np.where(m, request_targets(st, src, rng, fof=0.3, comm=0.4), uniform_others(rng, st.n, src))
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = self._times(st, src, t0, rng)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE))
        src = per_member(rng, members, 15.0, 1.0, mimic, st.scn.abuse.intensity_sigma)
        dst = uniform_others(rng, st.n, src)
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = self._times(st, src, t0, rng)
        media = ev.draw_media(rng, np.tile([0.5, 0.1, 0.0, 0.4], (len(src), 1)))
        buf.messages.append(ev.direct_messages(rng, src, dst, ts, media, rng.random(len(src)) < 0.2))
        p = st.scn.abuse.report_rate * np.where(pop.mimic[src], 0.3, 0.6)
        buf.reports.append(
            draw_reports(rng, st, dst, src, ts, p, {"spam": 0.4, "scam": 0.05, "fake": 0.5, "other": 0.05})
        )

    @staticmethod
    def _times(st, src, t0, rng):
        """Plain fakes act together: every event of a batch falls on one of the batch's few
        active days (its script's runs, the synchronisation fake detection reads), at an
        hour of the rhythm, like everyone's; mimics keep their own days. A scripted hour
        or minute would make the hour alone a tell; acting on the same days as the
        batch-mates is the behaviour, and only the batch together shows it."""
        pop = st.pop
        ts = sample_ts(rng, pop.schedule_minor[src], t0, st.end)
        plain = np.flatnonzero(~pop.mimic[src])
        batch = pop.aux[src[plain]].astype(np.int64)
        run = rng.integers(0, ACTIVE_DAYS, len(plain))
        # The batch's run-th active day: a fixed hash of (batch, run), uniform over the
        # days the batch exists (all its members share t0: one signup day).
        u = ((batch * 7919 + run * 104729) % 10007 + 0.5) / 10007
        lo = t0[plain]
        day = (lo + (u * (st.end - lo)).astype(np.int64)) // DAY * DAY
        ts[plain] = sample_ts(rng, pop.schedule_minor[src[plain]], np.maximum(day, lo), day + DAY)
        return ts

    @staticmethod
    def _rings(st, plain, rng, buf):
        """Each plain fake requests ~5 batch-mates, who accept: the ring."""
        if len(plain) == 0:
            return
        order = plain[np.argsort(st.pop.aux[plain], kind="stable")]
        batch = st.pop.aux[order]
        first = np.searchsorted(batch, batch, side="left")
        last = np.searchsorted(batch, batch, side="right")
        src = np.repeat(order, 5)
        lo, hi = np.repeat(first, 5), np.repeat(last, 5)
        dst = order[lo + np.floor(rng.random(len(src)) * (hi - lo)).astype(np.int64)]
        t0 = np.maximum(0, st.pop.signup_day[src].astype(np.int64) * DAY)
        ts = sample_ts(rng, st.pop.schedule_minor[src], t0, t0 + np.minimum(3 * DAY, st.end - t0))
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.ACCEPT))
