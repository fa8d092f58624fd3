"""Groomers: rare offenders of four sophistication levels, their targets and timelines.

Levels (paper 8.1.1 and docs/design.md "Harm actors"):
- L0 cartoon: a new account over Tor sends ~100 contact requests to apparent children,
  ~95% of which are rejected (the rejection emerges from the shared recipient model).
- L1 opportunist: an established adult account contacting tens of minors.
- L2 child persona: asserts a child's age, some peer-like history, targets a handful.
- L3 competent: a long-built child persona inside a child community, with mutual friends,
  one-to-few, on a child's schedule, moving victims off-platform once trust is built
  (paper 7.2.6: "convince a small number of neighbours that they are the same").

Each engaged target follows first contact -> rapport (message rate rises) -> image
exchange, a media message from victim to offender that is the harm event (paper 8.1.3)
-> escalation or a move off-platform, after which on-platform activity stops (8.1.4).
Harm comes before anything a report could reveal (paper 7.2.7): reports are rare and late.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.vocabulary import DAY, HOUR
from data_gen import events as ev
from data_gen.activity import (
    acceptance_probability,
    are_friends,
    closed_groups,
    draw_reports,
    member_share,
    mutual_friends,
)
from data_gen.actors.base import Actor
from data_gen.friendships import random_neighbour
from data_gen.population import ADULT_AGE, ESTABLISHED_COMPLETENESS_BETA, band_of
from data_gen.rhythm import same_day, sample_ts

CODE = 5
HARM_KINDS = ("image_exchange", "repeat_image")
# The per-level behaviour knobs (children contacted and where they come from, direct-first
# share, rapport length, moving off-platform, persona account ages) are scenario fields:
# config.HarmConfig. The constants below are the rest, with their units and reasons.

# Beta(a, a) shape of each offender's direct-message habit around the level's mean
# (harm.direct_first). Arbitrary: shape only, U-shaped so most habits are all or nothing.
DIRECT_HABIT_BETA = 0.5
# Offender age in years: MIN + Gamma(shape, scale) clipped at MAX, mean ~34 (Kloess et al.
# 2019: 27-52, mean 33.6, police cases; Wolak 2004).
OFFENDER_AGE_MIN, OFFENDER_AGE_MAX = 25, 55
OFFENDER_AGE_GAMMA = (2.0, 4.5)
# L0 cartoon: signs up between LEAD days before the window and MARGIN days before its end
# (paper 8.1.1: a new account); its profile completeness is Beta(a, b) (mean ~0.23, sparse);
# it asserts a young adult's age in [low, high). Arbitrary: shapes of "new and sparse".
CARTOON_SIGNUP_LEAD_DAYS, CARTOON_SIGNUP_MARGIN_DAYS = 14, 7
CARTOON_COMPLETENESS_BETA = (1.5, 5.0)
CARTOON_ASSERTED_AGE = (18, 30)
# L2/L3 persona: asserted age in [low, high), a teen's (paper 8.1.1: a child persona).
PERSONA_ASSERTED_AGE = (13, 18)
# Drift (period 2): an adaptive offender cold-contacts (1 - CUT x drift.adaptation) times
# as many children, and an adapted account is [low, high) days old. Arbitrary: at full
# adaptation half as many contacts, and an account age that looks established.
DRIFT_TARGETS_CUT = 0.5
ADAPTED_ACCOUNT_AGE_DAYS = (200, 1500)
# A cold approach by a persona (L2/L3) is reported this many times as often as an openly
# adult one: a child who took it for a peer rarely finds it creepy. Arbitrary.
PERSONA_COLD_REPORT_FACTOR = 0.3
COLD_REPORT_REASONS = {"child_safety": 0.6, "harassment": 0.3, "other": 0.1}  # arbitrary
# Reports come from parents (~44%) or the victims themselves (~31%) (Quayle & Newman 2016):
# a parent reports with probability 44 / (44 + 31) ~ 0.59 where a family tie exists.
PARENT_REPORTER_SHARE = 0.59
HARM_REPORT_REASONS = {"child_safety": 0.8, "harassment": 0.2}  # arbitrary
# Disclosure after harm: uniform in [low, high) days after the image (rare and late, YISS-2;
# the range is a choice).
DISCLOSURE_DAYS = (1, 21)
# Rapport phase: lognormal sigma of its length around harm.rapport_hours; the offender's
# share of its messages; media mix (text, image, video, link). Arbitrary: the offender
# drives the conversation, which is mostly text.
RAPPORT_SPREAD_SIGMA = 0.5
RAPPORT_FROM_OFFENDER = 0.55
RAPPORT_MEDIA_MIX = (0.9, 0.08, 0.01, 0.01)
# Escalation on the platform after the image: a Poisson number of messages (mean, plus one),
# each side writing half, starting DELAY seconds after the image and within DAYS days, with
# this media mix (the victim's images are further harm events). Arbitrary.
ESCALATION_MESSAGES = 6
ESCALATION_FROM_OFFENDER = 0.5
ESCALATION_DELAY_S = 60
ESCALATION_DAYS = 14
ESCALATION_MEDIA_MIX = (0.7, 0.25, 0.05, 0.0)
# Offender clusters: mean members per cluster; pairs befriend each other within the first
# BEFRIEND share of the time from the later signup to the window's end; media posts per
# member over a whole window (scaled by the share spent in the group), their mix and the
# share forwarded. Arbitrary: small, dense and media-heavy (the paper's section 2).
CLUSTER_SIZE = 4
CLUSTER_BEFRIEND_SHARE = 0.3
CLUSTER_MEDIA_POSTS = 5.0
CLUSTER_MEDIA_MIX = (0.1, 0.6, 0.2, 0.1)
CLUSTER_FORWARDED = 0.5


@dataclass
class HarmRows:
    offender: np.ndarray
    victim: np.ndarray
    ts: np.ndarray
    kind: np.ndarray  # int8 code into HARM_KINDS


class Groomer(Actor):
    code, task = CODE, "groomer"

    def rate(self, scn):
        return scn.harm.groomer_rate

    def adjust(self, pop, idx, rng, scn, p):
        level = rng.choice(4, size=len(idx), p=np.asarray(scn.harm.sophistication_mix)).astype(np.int8)
        later = pop.period[idx] == 2
        level[later] = rng.choice(4, size=int(later.sum()), p=np.asarray(scn.drift.sophistication_mix))
        pop.sophistication[idx] = level
        mean = np.asarray(scn.harm.direct_first)[level]
        habit = rng.beta(DIRECT_HABIT_BETA, DIRECT_HABIT_BETA, len(idx)) * 2 * mean
        pop.aux[idx] = np.where(mean > 0, habit, 0.0).clip(0, 1)
        age = rng.gamma(*OFFENDER_AGE_GAMMA, len(idx))
        age = np.clip(np.rint(OFFENDER_AGE_MIN + age), OFFENDER_AGE_MIN, OFFENDER_AGE_MAX).astype(np.int16)
        pop.true_age[idx] = age
        pop.school[idx] = -1
        for lvl, fn in enumerate((_cartoon, _opportunist, _persona, _persona)):
            sel = idx[level == lvl]
            if len(sel):
                fn(pop, sel, rng, scn, lvl)
        _mimicry(pop, idx, level, rng, scn.harm)
        # Personas make friends like the child they claim to be.
        pop.band[idx] = band_of(np.where(level >= 2, pop.asserted_age[idx], age))
        _adapt(pop, idx[later], rng, scn.drift.adaptation)

    def everyday(self, pop, idx, scn):
        return np.asarray(scn.harm.persona_everyday)[pop.sophistication[idx]]

    def act(self, st, members, rng, buf):
        if len(members) == 0:
            return
        level = st.pop.sophistication[members].astype(np.int64)
        g, v = _targets(st, members, level, rng)
        if len(g) == 0:
            return
        lvl = st.pop.sophistication[g].astype(np.int64)
        # First contact once both accounts exist, at an hour of the persona's rhythm.
        t0 = np.maximum(0, np.maximum(st.pop.signup_day[g], st.pop.signup_day[v]).astype(np.int64) * DAY)
        first = sample_ts(rng, st.pop.schedule_minor[g], t0, st.end)
        contact = _first_contact(st, g, v, first, rng, buf)
        engage_p = np.where(lvl >= 2, st.scn.harm.engage_persona, st.scn.harm.engage_cold)
        engaged = contact & (rng.random(len(g)) < engage_p)
        # A minority of cold approaches are reported by the child or a parent, later.
        cold = ~engaged
        buf.reports.append(
            draw_reports(
                rng,
                st,
                _reporter(st, v[cold], rng),
                g[cold],
                first[cold],
                st.scn.harm.report_cold_approach * np.where(lvl[cold] <= 1, 1.0, PERSONA_COLD_REPORT_FACTOR),
                COLD_REPORT_REASONS,
            )
        )
        _timelines(st, g[engaged], v[engaged], first[engaged], lvl[engaged], rng, buf)
        _clusters(st, members, rng, buf)


def _mimicry(pop, idx, level, rng, hc) -> None:
    """The per-level mimicry knobs (config.HarmConfig, persona_*): sociability, family ties
    and daily rhythm of the account the offender presents."""
    pop.sociability[idx] *= np.asarray(hc.persona_sociability, dtype=np.float32)[level]
    keep = rng.random(len(idx)) < np.asarray(hc.persona_family_ties)[level]
    pop.family[idx[~keep]] = -1
    pop.schedule_minor[idx] = rng.random(len(idx)) < np.asarray(hc.persona_minor_schedule)[level]


def _adapt(pop, idx, rng, adaptation: float) -> None:
    """Period-2 offenders move the features they control toward the benign distribution:
    each feature is replaced by a benign-looking draw with probability `adaptation`."""
    n = len(idx)
    swap = rng.random(n) < adaptation
    pop.completeness[idx[swap]] = np.round(rng.beta(*ESTABLISHED_COMPLETENESS_BETA, swap.sum()), 2)
    swap = rng.random(n) < adaptation
    pop.anonymizer[idx[swap]] = False
    swap = rng.random(n) < adaptation
    older = -rng.integers(*ADAPTED_ACCOUNT_AGE_DAYS, swap.sum())
    pop.signup_day[idx[swap]] = np.minimum(pop.signup_day[idx[swap]], older)


def _clusters(st, members, rng, buf) -> None:
    """Offender-to-offender: small dense clusters that befriend each other and share media in
    a closed group only they belong to (docs/design.md; the offender-to-offender image-sharing
    archetype of the paper's section 2). The group is founded, joined and posted to by the
    same rules as ordinary people's closed groups (activity.closed_groups); its members
    keep their personas' rhythm."""
    share, size = st.scn.harm.cluster_share, CLUSTER_SIZE
    joiners = members[rng.random(len(members)) < share]
    n_clusters = max(1, len(joiners) // size) if len(joiners) >= 2 else 0
    if n_clusters == 0:
        return
    joiners = rng.permutation(joiners)
    cid = np.arange(len(joiners)) % n_clusters
    order = np.argsort(cid, kind="stable")
    joiners, cid = joiners[order].astype(np.int64), cid[order].astype(np.int64)
    minor = st.pop.schedule_minor
    # Every pair inside a cluster: befriended early in the window (requests accepted).
    a, b = np.meshgrid(np.arange(len(joiners)), np.arange(len(joiners)), indexing="ij")
    pair = (cid[a] == cid[b]) & (a < b)
    src, dst = joiners[a[pair]], joiners[b[pair]]
    t0 = np.maximum(0, np.maximum(st.pop.signup_day[src], st.pop.signup_day[dst]).astype(np.int64) * DAY)
    ts = sample_ts(rng, minor[src], t0, t0 + ((st.end - t0) * CLUSTER_BEFRIEND_SHARE).astype(np.int64))
    fresh = ~are_friends(st, src, dst)
    buf.requests.append(ev.typed(ev.Requests, src=src[fresh], dst=dst[fresh], ts=ts[fresh], decision=ev.ACCEPT))
    # The closed group, then media posted to it after joining (inside the window).
    gid, joined = closed_groups(st, rng, buf, joiners, cid)
    k = rng.poisson(CLUSTER_MEDIA_POSTS * member_share(st, joined))
    row = np.repeat(np.arange(len(joiners)), k)
    ts = sample_ts(rng, minor[joiners[row]], np.maximum(joined[row], 0), st.end)
    media = ev.draw_media(rng, np.tile(CLUSTER_MEDIA_MIX, (len(row), 1)))
    buf.messages.append(
        ev.typed(
            ev.Messages,
            src=joiners[row],
            dst=ev.NO_DST,
            ts=ts,
            size_bytes=ev.message_sizes(rng, media),
            media=media,
            group_id=gid[row],
            forwarded=rng.random(len(row)) < CLUSTER_FORWARDED,
        )
    )


def _cartoon(pop, idx, rng, scn, lvl):
    """L0: a brand-new account over Tor with a sparse profile (paper 8.1.1)."""
    last = scn.activity.days - CARTOON_SIGNUP_MARGIN_DAYS
    pop.signup_day[idx] = rng.integers(-CARTOON_SIGNUP_LEAD_DAYS, last, len(idx))
    pop.anonymizer[idx] = rng.random(len(idx)) < scn.harm.cartoon_anonymizer
    pop.completeness[idx] = np.round(rng.beta(*CARTOON_COMPLETENESS_BETA, len(idx)), 2)
    pop.asserted_age[idx] = rng.integers(*CARTOON_ASSERTED_AGE, len(idx))
    pop.workplace[idx] = -1


def _opportunist(pop, idx, rng, scn, lvl):
    """L1: an ordinary established adult account; asserts its true age."""
    pop.asserted_age[idx] = pop.true_age[idx]


def _persona(pop, idx, rng, scn, lvl):
    """L2/L3: a child persona (asserted 13-17) living in a child community of the partition;
    L3 built it long ago. (Rhythm and sociability: `_mimicry`.)"""
    n = len(idx)
    pop.asserted_age[idx] = rng.integers(*PERSONA_ASSERTED_AGE, n)
    kids = np.flatnonzero((pop.true_age < ADULT_AGE) & (pop.school >= 0) & (pop.sophistication < 0))
    if len(kids):
        host = kids[rng.integers(0, len(kids), n)]
        pop.region[idx], pop.school[idx], pop.local[idx] = pop.region[host], pop.school[host], pop.local[host]
    pop.workplace[idx] = -1
    if lvl == 3:
        pop.signup_day[idx] = -rng.integers(*scn.harm.competent_account_age_days, n)
        pop.completeness[idx] = np.round(rng.beta(*ESTABLISHED_COMPLETENESS_BETA, n), 2)
    else:
        pop.signup_day[idx] = -rng.integers(*scn.harm.persona_account_age_days, n)


def _targets(st, members, level, rng):
    """(offender, target) pairs. Offenders see asserted ages, so targets are apparent
    children (asserted under 18), real or not; only a real child can be harmed
    (`_timelines`). (Reported victims are mostly
    12-15, mean ~13.5, Quayle & Newman 2016; here the age follows the platform's minors.)"""
    hc = st.scn.harm
    median = np.asarray(hc.targets_median)[level]
    # Adaptive offenders in period 2 cold-contact fewer children (they control that count).
    later = st.pop.period[members] == 2
    median = np.where(later, median * (1 - DRIFT_TARGETS_CUT * st.scn.drift.adaptation), median)
    k = np.maximum(1, np.rint(rng.lognormal(np.log(median), np.asarray(hc.targets_sigma)[level])))
    g = np.repeat(members, k.astype(np.int64))
    lvl = st.pop.sophistication[g]
    kids = st.extras["apparent_minors"]
    v = kids[rng.integers(0, max(len(kids), 1), len(g))] if len(kids) else np.full(len(g), -1)
    # Close to home: the offender's region (harm.local_targets), else platform-wide. Every
    # row draws, whatever its share (a share of 0 or 1 makes the draw moot).
    local = rng.random(len(g)) < np.asarray(hc.local_targets)[lvl]
    v[local] = _regional_minor(st, g[local], rng)
    # Inside its own circle (harm.circle_targets): a child it is already friends with, or one
    # of their friends; where the circle yields no real child, the target drawn above stays.
    circle = _in_circle(np.asarray(hc.circle_targets)[lvl], rng)
    fof = np.flatnonzero(circle)
    if len(fof):
        mid = random_neighbour(st.adj, g[fof], rng)
        hop = (mid >= 0) & (rng.random(len(fof)) < hc.circle_second_hop)
        cand = np.where(hop, random_neighbour(st.adj, np.maximum(mid, 0), rng), mid)
        ok = (
            (cand >= 0)
            & (st.pop.true_age[np.maximum(cand, 0)] < ADULT_AGE)
            & (st.pop.sophistication[np.maximum(cand, 0)] < 0)
        )
        v[fof[ok]] = cand[ok]
    keep = (v >= 0) & (v != g)
    g, v = g[keep], v[keep]
    # One pair per (offender, target).
    key = np.unique(g * st.n + v)
    return key // st.n, key % st.n


def _in_circle(share: np.ndarray, rng) -> np.ndarray:
    """Which target rows come from the offender's circle, at each row's `share`. Only rows
    with a share strictly between 0 and 1 draw, so shares of 0 and 1 (the defaults) take no
    random number and leave the rest of the stream where it was."""
    out = share >= 1
    part = np.flatnonzero((share > 0) & (share < 1))
    out[part] = rng.random(len(part)) < share[part]
    return out


def _regional_minor(st, g, rng):
    by_region = st.extras["apparent_minors_by_region"]
    first, last = st.extras["apparent_minors_region_first"], st.extras["apparent_minors_region_last"]
    r = st.pop.region[g]
    a, b = first[r], last[r]
    out = np.full(len(g), -1, dtype=np.int64)
    has = b > a
    out[has] = by_region[a[has] + np.floor(rng.random(has.sum()) * (b[has] - a[has])).astype(np.int64)]
    return out


def _first_contact(st, g, v, ts, rng, buf) -> np.ndarray:
    """A contact request, accepted by the shared recipient model, or a direct message that
    the child answers with the same probability; existing friends (L3 often) are simply
    messaged. Returns whether contact was made."""
    friends = are_friends(st, g, v)
    habit = st.pop.aux[g]  # per-offender direct-message share, drawn in adjust()
    cold = np.flatnonzero(~friends)
    p = acceptance_probability(st, g[cold], v[cold], mutual_friends(st.adj, g[cold], v[cold]))
    accepted = rng.random(len(cold)) < p
    ask = rng.random(len(cold)) >= habit[cold]
    req = cold[ask]
    decision = np.where(accepted[ask], ev.ACCEPT, ev.REJECT)
    buf.requests.append(ev.typed(ev.Requests, src=g[req], dst=v[req], ts=ts[req], decision=decision))
    dm = cold[~ask]
    buf.messages.append(ev.direct_messages(rng, g[dm], v[dm], ts[dm], np.zeros(len(dm), np.int8)))
    contact = friends.copy()
    contact[cold] = accepted
    return contact


def _reporter(st, victim, rng):
    """A parent (PARENT_REPORTER_SHARE, Quayle & Newman 2016) or the victim reports; a
    parent needs a family tie on the platform."""
    parent = st.pop.family[victim].astype(np.int64)
    use_parent = (parent >= 0) & (parent != victim) & (rng.random(len(victim)) < PARENT_REPORTER_SHARE)
    return np.where(use_parent, parent, victim)


def _timelines(st, g, v, t0, lvl, rng, buf):
    """Rapport with a rising message rate, then the image exchange (harm) or a move
    off-platform, then escalation or silence."""
    hc = st.scn.harm
    n = len(g)
    rapport_h = np.asarray(hc.rapport_hours)[lvl]
    dur = (rng.lognormal(0.0, RAPPORT_SPREAD_SIGMA, n) * rapport_h * HOUR).astype(np.int64)
    k = 1 + rng.poisson(np.asarray(hc.rapport_messages)[lvl])
    row = np.repeat(np.arange(n), k)
    # Density rising linearly over the rapport phase: position = sqrt(u).
    ts = t0[row] + (np.sqrt(rng.random(len(row))) * dur[row]).astype(np.int64)
    from_g = rng.random(len(row)) < RAPPORT_FROM_OFFENDER
    src, dst = np.where(from_g, g[row], v[row]), np.where(from_g, v[row], g[row])
    slow = dur[row] > DAY  # multi-day rapport follows the sender's daily rhythm
    ts[slow] = same_day(rng, st.pop.schedule_minor[src[slow]], ts[slow], t0[row][slow])
    media = ev.draw_media(rng, np.tile(RAPPORT_MEDIA_MIX, (len(row), 1)))
    live = ts < st.end
    buf.messages.append(ev.direct_messages(rng, src[live], dst[live], ts[live], media[live]))
    t_harm = t0 + dur
    # The image comes from the child: after a multi-day rapport, at an hour of its day.
    slow = dur > DAY
    t_harm[slow] = same_day(rng, st.pop.schedule_minor[v[slow]], t_harm[slow], t0[slow])
    off_first = rng.random(n) < np.asarray(hc.off_platform_before_image)[lvl]
    image = ~off_first & (rng.random(n) < hc.image_exchange) & (t_harm < st.end) & (st.pop.true_age[v] < ADULT_AGE)
    hits = np.flatnonzero(image)
    # The harm event: a media message from victim to offender.
    buf.messages.append(ev.direct_messages(rng, v[hits], g[hits], t_harm[hits], np.full(len(hits), ev.IMAGE, np.int8)))
    harm = [HarmRows(g[hits], v[hits], t_harm[hits], np.zeros(len(hits), np.int8))]
    # After rapport most pairs move off-platform (silence here); the rest escalate.
    escalate = hits[rng.random(len(hits)) >= hc.move_off_platform]
    m = rng.poisson(ESCALATION_MESSAGES, len(escalate)) + 1
    row = np.repeat(np.arange(len(escalate)), m)
    from_g = rng.random(len(row)) < ESCALATION_FROM_OFFENDER
    src = np.where(from_g, g[escalate][row], v[escalate][row])
    dst = np.where(from_g, v[escalate][row], g[escalate][row])
    # Within two weeks of the image, each message at an hour of its sender's rhythm.
    after = t_harm[escalate][row]
    ts = sample_ts(rng, st.pop.schedule_minor[src], after + ESCALATION_DELAY_S, after + ESCALATION_DAYS * DAY)
    media = ev.draw_media(rng, np.tile(ESCALATION_MEDIA_MIX, (len(row), 1)))
    live = ts < st.end
    src, dst, ts, media = src[live], dst[live], ts[live], media[live]
    buf.messages.append(ev.direct_messages(rng, src, dst, ts, media))
    again = (~from_g[live]) & (media == ev.IMAGE)  # further images from the victim
    harm.append(HarmRows(dst[again], src[again], ts[again], np.ones(again.sum(), np.int8)))
    buf.harm.extend(harm)
    # Disclosure after harm is rare and late (most victims tell no one: YISS-2).
    late = t_harm[hits] + rng.integers(DISCLOSURE_DAYS[0] * DAY, DISCLOSURE_DAYS[1] * DAY, len(hits))
    buf.reports.append(
        draw_reports(
            rng,
            st,
            _reporter(st, v[hits], rng),
            g[hits],
            late,
            hc.report_after_harm,
            HARM_REPORT_REASONS,
        )
    )
