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
from data_gen.population import band_of
from data_gen.rhythm import same_day, sample_ts

CODE = 5
# Children contacted per offender (median of a lognormal): ~100 for L0 (paper 8.1.1), tens
# for L1, ~4 (1-12) for L2/L3 (Kloess et al. 2019: 1-12, mean 4.6, police cases, n=5).
TARGETS_MEDIAN = np.array([100.0, 12.0, 4.0, 4.0])
TARGETS_SIGMA = np.array([0.3, 0.8, 0.6, 0.6])
# Mean share of first contacts made by a direct message instead of a contact request. Each
# offender has a habit (a U-shaped Beta around this mean): some only message, some only
# send requests. The cartoon offender only sends requests (paper 8.1.1).
DIRECT_FIRST = np.array([0.0, 0.5, 0.5, 0.5])
# Time from engagement to sexual content: minutes for direct, hyper-sexual offenders
# (L0/L1), days to weeks for intimacy seekers (L2/L3) (Webster et al. 2012; Kloess 2019).
RAPPORT_HOURS = np.array([1.0, 6.0, 10 * 24.0, 18 * 24.0])
# Messages exchanged before the ask, on the scale of this platform's close friendships.
RAPPORT_MESSAGES = np.array([6.0, 8.0, 15.0, 20.0])
# L3 moves the child off-platform once trust is built, often before any image is sent on
# the platform (paper 8.1.2): that harm is invisible to the platform.
OFF_BEFORE_IMAGE = np.array([0.0, 0.05, 0.2, 0.5])
HARM_KINDS = ("image_exchange", "repeat_image")


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
        mean = DIRECT_FIRST[level]
        pop.aux[idx] = np.where(mean > 0, rng.beta(0.5, 0.5, len(idx)) * 2 * mean, 0.0).clip(0, 1)
        # Offender age 25-55, mean ~34 (Kloess et al. 2019: 27-52, mean 33.6; Wolak 2004).
        age = np.clip(np.rint(25 + rng.gamma(2.0, 4.5, len(idx))), 25, 55).astype(np.int16)
        pop.true_age[idx] = age
        pop.school[idx] = -1
        days = scn.activity.days
        for lvl, fn in enumerate((_cartoon, _opportunist, _persona, _persona)):
            sel = idx[level == lvl]
            if len(sel):
                fn(pop, sel, rng, days, lvl)
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
                st.scn.harm.report_cold_approach * np.where(lvl[cold] <= 1, 1.0, 0.3),
                {"child_safety": 0.6, "harassment": 0.3, "other": 0.1},
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
    pop.completeness[idx[swap]] = np.round(rng.beta(5.0, 2.0, swap.sum()), 2)
    swap = rng.random(n) < adaptation
    pop.anonymizer[idx[swap]] = False
    swap = rng.random(n) < adaptation
    pop.signup_day[idx[swap]] = np.minimum(pop.signup_day[idx[swap]], -rng.integers(200, 1500, swap.sum()))


def _clusters(st, members, rng, buf) -> None:
    """Offender-to-offender: small dense clusters that befriend each other and share media in
    a closed group only they belong to (docs/design.md; the offender-to-offender image-sharing
    archetype of the paper's section 2). The group is founded, joined and posted to by the
    same rules as ordinary people's closed groups (activity.closed_groups); its members
    keep their personas' rhythm."""
    share, size = st.scn.harm.cluster_share, 4
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
    ts = sample_ts(rng, minor[src], t0, t0 + ((st.end - t0) * 0.3).astype(np.int64))
    fresh = ~are_friends(st, src, dst)
    buf.requests.append(ev.typed(ev.Requests, src=src[fresh], dst=dst[fresh], ts=ts[fresh], decision=ev.ACCEPT))
    # The closed group, then media posted to it after joining (inside the window).
    gid, joined = closed_groups(st, rng, buf, joiners, cid)
    k = rng.poisson(5.0 * member_share(st, joined))
    row = np.repeat(np.arange(len(joiners)), k)
    ts = sample_ts(rng, minor[joiners[row]], np.maximum(joined[row], 0), st.end)
    media = ev.draw_media(rng, np.tile([0.1, 0.6, 0.2, 0.1], (len(row), 1)))
    buf.messages.append(
        ev.typed(
            ev.Messages,
            src=joiners[row],
            dst=ev.NO_DST,
            ts=ts,
            size_bytes=ev.message_sizes(rng, media),
            media=media,
            group_id=gid[row],
            forwarded=rng.random(len(row)) < 0.5,
        )
    )


def _cartoon(pop, idx, rng, days, lvl):
    """L0: a brand-new account over Tor with a sparse profile (paper 8.1.1)."""
    pop.signup_day[idx] = rng.integers(-14, days - 7, len(idx))
    pop.anonymizer[idx] = rng.random(len(idx)) < 0.85
    pop.completeness[idx] = np.round(rng.beta(1.5, 5.0, len(idx)), 2)
    pop.asserted_age[idx] = rng.integers(18, 30, len(idx))
    pop.workplace[idx] = -1


def _opportunist(pop, idx, rng, days, lvl):
    """L1: an ordinary established adult account; asserts its true age."""
    pop.asserted_age[idx] = pop.true_age[idx]


def _persona(pop, idx, rng, days, lvl):
    """L2/L3: a child persona (asserted 13-17) living in a child community of the partition;
    L3 built it long ago. (Rhythm and sociability: `_mimicry`.)"""
    n = len(idx)
    pop.asserted_age[idx] = rng.integers(13, 18, n)
    kids = np.flatnonzero((pop.true_age < 18) & (pop.school >= 0) & (pop.sophistication < 0))
    if len(kids):
        host = kids[rng.integers(0, len(kids), n)]
        pop.region[idx], pop.school[idx], pop.local[idx] = pop.region[host], pop.school[host], pop.local[host]
    pop.workplace[idx] = -1
    if lvl == 3:
        pop.signup_day[idx] = -rng.integers(365, 1500, n)
        pop.completeness[idx] = np.round(rng.beta(5.0, 2.0, n), 2)
    else:
        pop.signup_day[idx] = -rng.integers(30, 300, n)


def _targets(st, members, level, rng):
    """(offender, target) pairs. Offenders see asserted ages, so targets are apparent
    children (asserted under 18), real or not; only a real child can be harmed
    (`_timelines`). (Reported victims are mostly
    12-15, mean ~13.5, Quayle & Newman 2016; here the age follows the platform's minors.)"""
    median = TARGETS_MEDIAN[level]
    # Adaptive offenders in period 2 cold-contact fewer children (they control that count).
    later = st.pop.period[members] == 2
    median = np.where(later, median * (1 - 0.5 * st.scn.drift.adaptation), median)
    k = np.maximum(1, np.rint(rng.lognormal(np.log(median), TARGETS_SIGMA[level])))
    g = np.repeat(members, k.astype(np.int64))
    lvl = st.pop.sophistication[g]
    kids = st.extras["apparent_minors"]
    v = kids[rng.integers(0, max(len(kids), 1), len(g))] if len(kids) else np.full(len(g), -1)
    # L1-L3 look close to home: their region (L1 half the time) or, for L3, friends of friends.
    local = (lvl == 1) & (rng.random(len(g)) < 0.5) | (lvl >= 2)
    v[local] = _regional_minor(st, g[local], rng)
    # L3 grooms inside its own circle: children it is already friends with, or their friends.
    fof = np.flatnonzero(lvl == 3)
    if len(fof):
        mid = random_neighbour(st.adj, g[fof], rng)
        hop = (mid >= 0) & (rng.random(len(fof)) < 0.5)
        cand = np.where(hop, random_neighbour(st.adj, np.maximum(mid, 0), rng), mid)
        ok = (
            (cand >= 0) & (st.pop.true_age[np.maximum(cand, 0)] < 18) & (st.pop.sophistication[np.maximum(cand, 0)] < 0)
        )
        v[fof[ok]] = cand[ok]
    keep = (v >= 0) & (v != g)
    g, v = g[keep], v[keep]
    # One pair per (offender, target).
    key = np.unique(g * st.n + v)
    return key // st.n, key % st.n


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
    """Reports come from parents (~44%) or the victims themselves (~31%) (Quayle & Newman
    2016); a parent needs a family tie on the platform."""
    parent = st.pop.family[victim].astype(np.int64)
    use_parent = (parent >= 0) & (parent != victim) & (rng.random(len(victim)) < 0.59)
    return np.where(use_parent, parent, victim)


def _timelines(st, g, v, t0, lvl, rng, buf):
    """Rapport with a rising message rate, then the image exchange (harm) or a move
    off-platform, then escalation or silence."""
    hc = st.scn.harm
    n = len(g)
    dur = (rng.lognormal(0.0, 0.5, n) * RAPPORT_HOURS[lvl] * HOUR).astype(np.int64)
    k = 1 + rng.poisson(RAPPORT_MESSAGES[lvl])
    row = np.repeat(np.arange(n), k)
    # Density rising linearly over the rapport phase: position = sqrt(u).
    ts = t0[row] + (np.sqrt(rng.random(len(row))) * dur[row]).astype(np.int64)
    from_g = rng.random(len(row)) < 0.55
    src, dst = np.where(from_g, g[row], v[row]), np.where(from_g, v[row], g[row])
    slow = dur[row] > DAY  # multi-day rapport follows the sender's daily rhythm
    ts[slow] = same_day(rng, st.pop.schedule_minor[src[slow]], ts[slow], t0[row][slow])
    media = ev.draw_media(rng, np.tile([0.9, 0.08, 0.01, 0.01], (len(row), 1)))
    live = ts < st.end
    buf.messages.append(ev.direct_messages(rng, src[live], dst[live], ts[live], media[live]))
    t_harm = t0 + dur
    # The image comes from the child: after a multi-day rapport, at an hour of its day.
    slow = dur > DAY
    t_harm[slow] = same_day(rng, st.pop.schedule_minor[v[slow]], t_harm[slow], t0[slow])
    off_first = rng.random(n) < OFF_BEFORE_IMAGE[lvl]
    image = ~off_first & (rng.random(n) < hc.image_exchange) & (t_harm < st.end) & (st.pop.true_age[v] < 18)
    hits = np.flatnonzero(image)
    # The harm event: a media message from victim to offender.
    buf.messages.append(ev.direct_messages(rng, v[hits], g[hits], t_harm[hits], np.full(len(hits), ev.IMAGE, np.int8)))
    harm = [HarmRows(g[hits], v[hits], t_harm[hits], np.zeros(len(hits), np.int8))]
    # After rapport most pairs move off-platform (silence here); the rest escalate.
    escalate = hits[rng.random(len(hits)) >= hc.move_off_platform]
    m = rng.poisson(6, len(escalate)) + 1
    row = np.repeat(np.arange(len(escalate)), m)
    from_g = rng.random(len(row)) < 0.5
    src = np.where(from_g, g[escalate][row], v[escalate][row])
    dst = np.where(from_g, v[escalate][row], g[escalate][row])
    # Within two weeks of the image, each message at an hour of its sender's rhythm.
    after = t_harm[escalate][row]
    ts = sample_ts(rng, st.pop.schedule_minor[src], after + 60, after + 14 * DAY)
    media = ev.draw_media(rng, np.tile([0.7, 0.25, 0.05, 0.0], (len(row), 1)))
    live = ts < st.end
    src, dst, ts, media = src[live], dst[live], ts[live], media[live]
    buf.messages.append(ev.direct_messages(rng, src, dst, ts, media))
    again = (~from_g[live]) & (media == ev.IMAGE)  # further images from the victim
    harm.append(HarmRows(dst[again], src[again], ts[again], np.ones(again.sum(), np.int8)))
    buf.harm.extend(harm)
    # Disclosure after harm is rare and late (most victims tell no one: YISS-2).
    late = t_harm[hits] + rng.integers(DAY, 21 * DAY, len(hits))
    buf.reports.append(
        draw_reports(
            rng,
            st,
            _reporter(st, v[hits], rng),
            g[hits],
            late,
            hc.report_after_harm,
            {"child_safety": 0.8, "harassment": 0.2},
        )
    )
