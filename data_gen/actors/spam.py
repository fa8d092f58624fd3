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

# Behavioural constants of plain (P) and mimic (M) spammers. Shapes from DEC's description
# of spam (young accounts, sparse profiles, one-to-many links, high rejection; Xu et al.
# 2021); the sizes are arbitrary unless marked as calibration. Volumes are per member over
# the window and scaled by abuse.intensity_sigma's lognormal for plain spammers.

# Plain accounts sign up from this many days before the window (young accounts); their
# profile completeness is Beta(a, b) (mean ~0.31, sparse); sociability and everyday life are
# scaled by these factors; WEB and ANONYMIZER are their web-client and anonymiser shares.
PLAIN_SIGNUP_LEAD_DAYS = 45
PLAIN_COMPLETENESS_BETA = (1.6, 3.5)
PLAIN_SOCIABILITY = 0.3
PLAIN_EVERYDAY = 0.3
PLAIN_WEB = 0.5
PLAIN_ANONYMIZER = 0.15
# Contact requests per member (P, M); a mimic's go to friends of friends and its community
# (shares, else the region), a plain one's to anyone.
REQUESTS = (45.0, 1.0)
MIMIC_REQUEST_FOF, MIMIC_REQUEST_COMMUNITY = 0.4, 0.3
# Recipients report a request this many times abuse.report_rate (a request draws fewer
# reports than a message).
REQUEST_REPORT_FACTOR = 0.3
REQUEST_REPORT_REASONS = {"spam": 0.7, "scam": 0.1, "fake": 0.15, "other": 0.05}
# Messages per member (P, M); a mimic writes to a friend with MIMIC_TO_FRIEND (else anyone).
MESSAGES = (60.0, 2.0)
MIMIC_TO_FRIEND = 0.7
# Media mix: text = TEXT_OR_LINK - link share, image, video, then the link share (P, M).
TEXT_OR_LINK, IMAGE, VIDEO = 0.9, 0.08, 0.02
LINK_SHARE = (0.6, 0.3)
# Share of messages that are forwards (P, M), and the report-rate factor (P, M).
FORWARDED = (0.35, 0.12)
MESSAGE_REPORT_FACTOR = (1.0, 0.4)
MESSAGE_REPORT_REASONS = {"spam": 0.8, "scam": 0.08, "fake": 0.07, "other": 0.05}


class Spam(Actor):
    code, task = 1, "spam"

    def rate(self, scn):
        return scn.abuse.spam

    def adjust(self, pop, idx, rng, scn, p):
        plain = idx[~pop.mimic[idx]]
        pop.signup_day[plain] = rng.integers(-PLAIN_SIGNUP_LEAD_DAYS, scn.activity.days, len(plain))
        pop.completeness[plain] = np.round(rng.beta(*PLAIN_COMPLETENESS_BETA, len(plain)), 2)
        pop.sociability[plain] *= PLAIN_SOCIABILITY
        pop.client[plain] = (rng.random(len(plain)) < PLAIN_WEB).astype(np.int8)
        pop.anonymizer[plain] |= rng.random(len(plain)) < PLAIN_ANONYMIZER

    def everyday(self, pop, idx, scn):
        return np.where(pop.mimic[idx], 1.0, PLAIN_EVERYDAY)

    def act(self, st, members, rng, buf):
        pop = st.pop
        mimic = pop.mimic[members]
        src = per_member(rng, members, *REQUESTS, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        fof, comm = MIMIC_REQUEST_FOF, MIMIC_REQUEST_COMMUNITY
        dst = np.where(m, request_targets(st, src, rng, fof=fof, comm=comm), uniform_others(rng, st.n, src))
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
                st.scn.abuse.report_rate * REQUEST_REPORT_FACTOR,
                REQUEST_REPORT_REASONS,
            )
        )
        # Message requests to strangers (plain) or mostly to friends (mimic).
        src = per_member(rng, members, *MESSAGES, mimic, st.scn.abuse.intensity_sigma)
        m = pop.mimic[src]
        friend = random_neighbour(st.adj, src, rng)
        to_friend = m & (friend >= 0) & (rng.random(len(src)) < MIMIC_TO_FRIEND)
        dst = np.where(to_friend, friend, uniform_others(rng, st.n, src))
        t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
        ts = sample_ts(rng, pop.schedule_minor[src], t0, st.end)
        link = np.where(m, LINK_SHARE[1], LINK_SHARE[0])
        n = len(src)
        media = ev.draw_media(rng, np.stack([TEXT_OR_LINK - link, np.full(n, IMAGE), np.full(n, VIDEO), link], axis=1))
        fwd = rng.random(n) < np.where(m, FORWARDED[1], FORWARDED[0])
        buf.messages.append(ev.direct_messages(rng, src, dst, ts, media, fwd))
        p = st.scn.abuse.report_rate * np.where(m, MESSAGE_REPORT_FACTOR[1], MESSAGE_REPORT_FACTOR[0])
        buf.reports.append(draw_reports(rng, st, dst, src, ts, p, MESSAGE_REPORT_REASONS))
