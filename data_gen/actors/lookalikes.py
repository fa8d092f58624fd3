"""Benign look-alikes: people whose metadata resembles grooming and who are never positive.

They are why precision is hard (docs/design.md "Harm actors"): coaches, teachers and relatives
who message many children; teen couples exchanging images. (New students sending many
requests are the benign heavy requesters; spam that happens to hit children is ordinary
spam, which targets accounts at random.)
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY
from data_gen import events as ev
from data_gen.activity import conversations, draw_reports, request_targets
from data_gen.actors.base import Actor
from data_gen.friendships import random_neighbour
from data_gen.population import band_of
from data_gen.rhythm import sample_ts


class ChildContactAdult(Actor):
    """Coaches, teachers, relatives: an adult who talks with many children of the area."""

    code, task = 6, None

    def rate(self, scn):
        return scn.harm.lookalike_adults

    def adjust(self, pop, idx, rng, scn, p):
        age = rng.integers(24, 62, len(idx)).astype(np.int16)
        pop.true_age[idx] = age
        pop.asserted_age[idx] = age
        pop.schedule_minor[idx] = False
        pop.school[idx] = -1
        pop.band[idx] = band_of(age)

    def act(self, st, members, rng, buf):
        k = np.maximum(1, rng.poisson(18 * rng.lognormal(-0.32, 0.8, len(members))))
        a = np.repeat(members, k)
        by_region = st.extras["apparent_minors_by_region"]
        first = st.extras["apparent_minors_region_first"][st.pop.region[a]]
        last = st.extras["apparent_minors_region_last"][st.pop.region[a]]
        has = last > first
        a, first, last = a[has], first[has], last[has]
        b = by_region[first + np.floor(rng.random(len(a)) * (last - first)).astype(np.int64)]
        # Some ask the children (or their parents' friends) to connect, like anyone would.
        ask = rng.random(len(a)) < 0.5
        t0 = np.maximum(0, np.maximum(st.pop.signup_day[a], st.pop.signup_day[b]).astype(np.int64) * DAY)
        ts = sample_ts(rng, st.pop.schedule_minor[a], t0, st.end)
        buf.requests.append(ev.typed(ev.Requests, src=a[ask], dst=b[ask], ts=ts[ask], decision=ev.DECIDE))
        buf.messages.append(conversations(st, a, b, ts, rng, 4.0))
        # Worried parents sometimes report an adult who messages their child: the false
        # child-safety reports that make report-based labels imprecise.
        parent = st.pop.family[b].astype(np.int64)
        reporter = np.where(parent >= 0, parent, b)
        buf.reports.append(
            draw_reports(
                rng,
                st,
                reporter,
                a,
                ts,
                st.scn.harm.report_cold_approach * 0.3,
                {"child_safety": 0.7, "harassment": 0.3},
            )
        )


class TeenCouple(Actor):
    """Two minors in a relationship, exchanging many messages and images."""

    code, task = 7, None

    def rate(self, scn):
        return scn.harm.lookalike_teen_couples

    def adjust(self, pop, idx, rng, scn, p):
        minor = pop.true_age[idx] < 18
        # Only minors can be a teen couple; adults drawn for the role stay ordinary.
        pop.role[idx[~minor]] = 0
        pop.mimic[idx[~minor]] = False

    def act(self, st, members, rng, buf):
        partner = random_neighbour(st.adj, members, rng)
        ok = (partner >= 0) & (st.pop.true_age[np.maximum(partner, 0)] < 18)
        fallback = request_targets(st, members, rng, fof=0.5, comm=0.5)
        partner = np.where(ok, partner, fallback)
        keep = (partner >= 0) & (partner != members)
        a, b = members[keep], partner[keep]
        t0 = np.maximum(0, np.maximum(st.pop.signup_day[a], st.pop.signup_day[b]).astype(np.int64) * DAY)
        reps = 4  # several long conversations over the window
        a, b, t0 = np.repeat(a, reps), np.repeat(b, reps), np.repeat(t0, reps)
        msgs = conversations(st, a, b, t0, rng, 25.0)
        # A share of their messages are images, both ways.
        img = rng.random(len(msgs)) < 0.2
        msgs.media[img] = ev.IMAGE
        msgs.size_bytes[img] = ev.message_sizes(rng, msgs.media[img])
        buf.messages.append(msgs)
