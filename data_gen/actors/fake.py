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

# Behavioural constants of plain (P) and mimic (M) fakes, after DEC's description of fake
# accounts (batch-created, sparse, synchronised, befriending each other; Xu et al. 2021).
# Sizes are arbitrary: the shape of that description, not measurements.
BATCH = 30  # mean accounts per creation batch
ACTIVE_DAYS = 8  # days in the window on which a plain batch's script runs
_BATCH_IDS_PER_PARTITION = 100_000
# Plain batches sign up from this many days before the window, on the web client with
# BATCH_WEB; plain profiles are Beta(a, b) complete (mean ~0.19, sparse); sociability and
# everyday life are scaled by these factors (everyday: P, M); ANONYMIZER share on plain ones.
PLAIN_SIGNUP_LEAD_DAYS = 120
BATCH_WEB = 0.6
PLAIN_COMPLETENESS_BETA = (1.2, 5.0)
PLAIN_SOCIABILITY = 0.25
PLAIN_ANONYMIZER = 0.3
EVERYDAY = (0.3, 0.8)
# Mimics' signups spread from this many days before the window (no batch).
MIMIC_SIGNUP_LEAD_DAYS = 400
# Requests per member (P, M); a mimic's go to friends of friends and its community (shares,
# else the region). Each plain fake also requests RING_REQUESTS batch-mates within RING_DAYS
# of signing up, who accept (the ring).
REQUESTS = (20.0, 1.0)
MIMIC_REQUEST_FOF, MIMIC_REQUEST_COMMUNITY = 0.3, 0.4
RING_REQUESTS = 5
RING_DAYS = 3
# Messages per member (P, M) to anyone, their media mix (text, image, video, link), the
# forwarded share, the report-rate factor on abuse.report_rate (P, M) and the reasons.
MESSAGES = (15.0, 1.0)
MEDIA_MIX = (0.5, 0.1, 0.0, 0.4)
FORWARDED = 0.2
REPORT_FACTOR = (0.6, 0.3)
REPORT_REASONS = {"spam": 0.4, "scam": 0.05, "fake": 0.5, "other": 0.05}


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
        day = rng.integers(-PLAIN_SIGNUP_LEAD_DAYS, scn.activity.days, n_batches)
        client = (rng.random(n_batches) < BATCH_WEB).astype(np.int8)
        pop.signup_day[plain] = day[batch]
        pop.client[plain] = client[batch]
        pop.completeness[plain] = np.round(rng.beta(*PLAIN_COMPLETENESS_BETA, len(plain)), 2)
        pop.sociability[plain] *= PLAIN_SOCIABILITY
        pop.anonymizer[plain] |= rng.random(len(plain)) < PLAIN_ANONYMIZER
        # aux carries the batch id (unique across partitions); -1 marks unbatched mimics.
        pop.aux[plain] = p * _BATCH_IDS_PER_PARTITION + batch
        pop.aux[mimic] = -1
        pop.signup_day[mimic] = rng.integers(-MIMIC_SIGNUP_LEAD_DAYS, scn.activity.days, len(mimic))

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], EVERYDAY[1], EVERYDAY[0])

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        plain = members[~mimic]
        self._rings(st, plain, rng, buf)
        src = per_member(rng, members, *REQUESTS, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        fof, comm = MIMIC_REQUEST_FOF, MIMIC_REQUEST_COMMUNITY
        dst = np.where(m, request_targets(st, src, rng, fof=fof, comm=comm), uniform_others(rng, st.n, src))
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = self._times(st, src, t0, rng)
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE))
        src = per_member(rng, members, *MESSAGES, mimic, st.scn.abuse.intensity_sigma)
        dst = uniform_others(rng, st.n, src)
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = self._times(st, src, t0, rng)
        media = ev.draw_media(rng, np.tile(MEDIA_MIX, (len(src), 1)))
        buf.messages.append(ev.direct_messages(rng, src, dst, ts, media, rng.random(len(src)) < FORWARDED))
        p = st.scn.abuse.report_rate * np.where(pop.mimic[src], REPORT_FACTOR[1], REPORT_FACTOR[0])
        buf.reports.append(draw_reports(rng, st, dst, src, ts, p, REPORT_REASONS))

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
        """Each plain fake requests RING_REQUESTS batch-mates, who accept: the ring."""
        if len(plain) == 0:
            return
        order = plain[np.argsort(st.pop.aux[plain], kind="stable")]
        batch = st.pop.aux[order]
        first = np.searchsorted(batch, batch, side="left")
        last = np.searchsorted(batch, batch, side="right")
        src = np.repeat(order, RING_REQUESTS)
        lo, hi = np.repeat(first, RING_REQUESTS), np.repeat(last, RING_REQUESTS)
        dst = order[lo + np.floor(rng.random(len(src)) * (hi - lo)).astype(np.int64)]
        t0 = np.maximum(0, st.pop.signup_day[src].astype(np.int64) * DAY)
        ts = sample_ts(rng, st.pop.schedule_minor[src], t0, t0 + np.minimum(RING_DAYS * DAY, st.end - t0))
        buf.requests.append(ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.ACCEPT))
