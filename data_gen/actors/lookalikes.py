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
from data_gen.population import ADULT_AGE, band_of
from data_gen.rhythm import sample_ts

# Behavioural constants. Arbitrary: the shapes of the roles described above, not
# measurements (none exists for how such people use a platform).

# Adults who talk with children: age [low, high); children contacted per adult, Poisson of
# MEAN x a lognormal (mu, sigma) of mean ~1; share who also send a contact request; messages
# per conversation. Parents report them with REPORT_FACTOR x harm.report_cold_approach.
ADULT_AGES = (24, 62)
CHILDREN_MEAN = 18
CHILDREN_SPREAD = (-0.32, 0.8)
ADULT_REQUEST_SHARE = 0.5
ADULT_MESSAGES = 4.0
ADULT_REPORT_FACTOR = 0.3
ADULT_REPORT_REASONS = {"child_safety": 0.7, "harassment": 0.3}
# Teen couples: a partner outside their friends is a friend of a friend or a community
# member (shares); CONVERSATIONS long conversations of MESSAGES messages each over the window,
# IMAGE_SHARE of the messages images, both ways.
COUPLE_FOF, COUPLE_COMMUNITY = 0.5, 0.5
COUPLE_CONVERSATIONS = 4
COUPLE_MESSAGES = 25.0
COUPLE_IMAGE_SHARE = 0.2


class ChildContactAdult(Actor):
    """Coaches, teachers, relatives: an adult who talks with many children of the area."""

    code, task = 6, None

    def rate(self, scn):
        return scn.harm.lookalike_adults

    def adjust(self, pop, idx, rng, scn, p):
        age = rng.integers(*ADULT_AGES, len(idx)).astype(np.int16)
        pop.true_age[idx] = age
        pop.asserted_age[idx] = age
        pop.schedule_minor[idx] = False
        pop.school[idx] = -1
        pop.band[idx] = band_of(age)

    def act(self, st, members, rng, buf):
        k = np.maximum(1, rng.poisson(CHILDREN_MEAN * rng.lognormal(*CHILDREN_SPREAD, len(members))))
        a = np.repeat(members, k)
        by_region = st.extras["apparent_minors_by_region"]
        first = st.extras["apparent_minors_region_first"][st.pop.region[a]]
        last = st.extras["apparent_minors_region_last"][st.pop.region[a]]
        has = last > first
        a, first, last = a[has], first[has], last[has]
        b = by_region[first + np.floor(rng.random(len(a)) * (last - first)).astype(np.int64)]
        # Some ask the children (or their parents' friends) to connect, like anyone would.
        ask = rng.random(len(a)) < ADULT_REQUEST_SHARE
        t0 = np.maximum(0, np.maximum(st.pop.signup_day[a], st.pop.signup_day[b]).astype(np.int64) * DAY)
        ts = sample_ts(rng, st.pop.schedule_minor[a], t0, st.end)
        buf.requests.append(ev.typed(ev.Requests, src=a[ask], dst=b[ask], ts=ts[ask], decision=ev.DECIDE))
        buf.messages.append(conversations(st, a, b, ts, rng, ADULT_MESSAGES))
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
                st.scn.harm.report_cold_approach * ADULT_REPORT_FACTOR,
                ADULT_REPORT_REASONS,
            )
        )


class TeenCouple(Actor):
    """Two minors in a relationship, exchanging many messages and images."""

    code, task = 7, None

    def rate(self, scn):
        return scn.harm.lookalike_teen_couples

    def adjust(self, pop, idx, rng, scn, p):
        minor = pop.true_age[idx] < ADULT_AGE
        # Only minors can be a teen couple; adults drawn for the role stay ordinary.
        pop.role[idx[~minor]] = 0
        pop.mimic[idx[~minor]] = False

    def act(self, st, members, rng, buf):
        partner = random_neighbour(st.adj, members, rng)
        ok = (partner >= 0) & (st.pop.true_age[np.maximum(partner, 0)] < ADULT_AGE)
        fallback = request_targets(st, members, rng, fof=COUPLE_FOF, comm=COUPLE_COMMUNITY)
        partner = np.where(ok, partner, fallback)
        keep = (partner >= 0) & (partner != members)
        a, b = members[keep], partner[keep]
        t0 = np.maximum(0, np.maximum(st.pop.signup_day[a], st.pop.signup_day[b]).astype(np.int64) * DAY)
        reps = COUPLE_CONVERSATIONS
        a, b, t0 = np.repeat(a, reps), np.repeat(b, reps), np.repeat(t0, reps)
        msgs = conversations(st, a, b, t0, rng, COUPLE_MESSAGES)
        # A share of their messages are images, both ways.
        img = rng.random(len(msgs)) < COUPLE_IMAGE_SHARE
        msgs.media[img] = ev.IMAGE
        msgs.size_bytes[img] = ev.message_sizes(rng, msgs.media[img])
        buf.messages.append(msgs)
