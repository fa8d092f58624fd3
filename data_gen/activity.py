"""Benign activity over the window, and the shared machinery actors use.

One partition at a time: contact requests to non-friends (acceptance by age gap, mutual
friends and asserted age), 1:1 conversations along friendships, group memberships and
group messages, and rare false reports. Actors (actors/) add their own events to the same
buffer before acceptance is decided, so every request meets the same recipient model:
spam's high rejection emerges from it rather than being written in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from common.arrays import unique_sorted
from common.vocabulary import DAY
from data_gen import events as ev
from data_gen.config import Scenario
from data_gen.friendships import (
    LOCAL,
    REGION,
    SCHOOL,
    WORK,
    CommunityIndex,
    edge_days,
    edge_key,
    ordered_search,
    random_neighbour,
)
from data_gen.partition import rng_for
from data_gen.population import Population
from data_gen.rhythm import sample_ts

# Behavioural constants. Scenario knobs (rates per account, shares) are in config.py's
# `activity` section; these fix the shapes around them.

# The recipient model (`acceptance_probability`): the logit of accepting a request is
# INTERCEPT + MUTUAL x ln(1 + mutual friends) - AGE_GAP x |asserted age gap in years|
# + SAME_REGION + COMPLETENESS x (requester's profile completeness - COMPLETENESS_REF)
# - MINOR_SEES_ADULT where a minor (or a persona) sees a requester asserting ADULT_STRANGER_AGE
# or more. Calibration: chosen so that requests with mutual friends are accepted more often
# than not and strangers' requests mostly not, so spam's high rejection (DEC, Xu et al.
# 2021) emerges from this model rather than being written into an actor.
ACCEPT_INTERCEPT = -0.6
ACCEPT_MUTUAL = 1.3
ACCEPT_AGE_GAP = 0.09
ACCEPT_SAME_REGION = 0.4
ACCEPT_COMPLETENESS = 1.5
ACCEPT_COMPLETENESS_REF = 0.7
ACCEPT_MINOR_SEES_ADULT = 1.2
ADULT_STRANGER_AGE = 21  # years: a requester clearly adult to a teen (arbitrary)
FAKE_ACCEPT = 0.9  # probability a fake (ring) account accepts any request (arbitrary: nearly all)
# Benign requests: rate multipliers for new accounts and for teens (bands 10-17) ("teens add
# contacts far more than adults", arbitrary sizes), and everyone's appetite, a lognormal
# (mu, sigma) with mean one (mu = -sigma^2 / 2), so counts are overdispersed.
NEW_REQUEST_BOOST = 3.0
TEEN_REQUEST_BOOST = 2.0
REQUEST_APPETITE = (-0.5, 1.0)
# Heavy requesters: FACTOR x a lognormal (mu, sigma) of mean ~1 with a long tail reaching
# spam-like volumes. Calibration: the benign overlap that keeps request counts from
# separating spam (config.AbuseConfig, paper 7.2.2).
HEAVY_REQUEST_FACTOR = 12.0
HEAVY_REQUEST_SPREAD = (-0.25, 0.7)
# Where benign requests go: friends of friends, community members, else the region (shares).
# Arbitrary: triadic closure dominates friend suggestions on real platforms.
REQUEST_FOF, REQUEST_COMMUNITY = 0.45, 0.35
# Interest groups: one per this many accounts. Arbitrary.
ACCOUNTS_PER_INTEREST_GROUP = 200
# Ordinary people's closed groups: [low, high) members, founder included (config.py: 3-8);
# a member is a friend (u < FRIEND), the family's parent (u < FAMILY) or a community member.
CLOSED_GROUP_SIZE = (3, 9)
CLOSED_MEMBER_FRIEND, CLOSED_MEMBER_FAMILY = 0.7, 0.85
# Forwarding probability by media type (text, image, video, link); link sharers forward
# LINK_SHARER_FORWARD_BOOST times as much; group messages GROUP_FORWARD_SCALE times. Text is
# rarely forwarded; memes, clips and links are (messaging apps cap forwards for a reason).
# Arbitrary sizes.
FORWARD_BY_MEDIA = np.array([0.01, 0.15, 0.2, 0.25])
LINK_SHARER_FORWARD_BOOST = 3.0
GROUP_FORWARD_SCALE = 1.5
# Conversations: a burst of 1 + Geometric(mean CONVERSATION_DAYS) days; messages per
# conversation negative binomial with this dispersion (overdispersed: a few long threads);
# the initiator writes this share. Arbitrary: shape only.
CONVERSATION_DAYS = 5.0
MESSAGES_DISPERSION = 1.2
INITIATOR_SHARE = 0.55
# Stranger conversations per account (x activity), how much more heavy requesters and link
# sharers have, the share with a community member (else the region), messages per one.
# Calibration: enough that a message to a non-friend alone does not single out an abuser.
STRANGER_CONVERSATIONS = 0.6
STRANGER_BOOST = 3.0
STRANGER_LOCAL_SHARE = 0.5
STRANGER_MESSAGES = 2.5
# Group memberships: cumulative shares of school, workplace and local groups (the rest are
# interest groups). Arbitrary.
MEMBER_SCHOOL, MEMBER_WORK, MEMBER_LOCAL = 0.3, 0.55, 0.75
# Group messages carry more media than 1:1 ones: weights on MEDIA_MIX (text, image, video,
# link). Arbitrary.
GROUP_MEDIA_WEIGHT = (1.0, 1.6, 1.6, 1.6)
# Mean delay of a report after the interaction, in days (exponential: reports are late).
REPORT_DELAY_DAYS = 1.5


@dataclass(frozen=True)
class Groups:
    created_ts: np.ndarray  # int64 per group id
    school_base: int
    work_base: int
    local_base: int
    interest_base: int
    n: int


@dataclass(frozen=True)
class ActivityState:
    scn: Scenario
    seed: int
    bounds: list[tuple[int, int]]
    pop: Population
    adj: sp.csr_matrix  # 0/1, sorted indices
    keys: np.ndarray  # sorted canonical friendship keys (background graph)
    days: np.ndarray  # day each of those friendships formed
    indexes: dict[int, CommunityIndex]
    groups: Groups
    activity: np.ndarray  # per-account activity multiplier (float64)
    # Scale of each account's everyday (benign-looking) behaviour: 1 for people, lower for
    # scripted actors that exist to abuse. Set by the actors, read here.
    everyday: np.ndarray
    accepts_all: np.ndarray  # bool: accounts that accept any request (fake rings)
    forwarding: np.ndarray  # per-account forwarding propensity (mean-one lognormal)
    extras: dict  # global indexes prepared by actors (actors.extras)

    @property
    def n(self) -> int:
        return len(self.pop)

    @property
    def end(self) -> int:
        return self.scn.activity.days * DAY


# How far back a group's creation (and anyone's joining) reaches: the friendship history.
GROUP_HISTORY_DAYS = 1500


def group_created(rng: np.random.Generator, lo: np.ndarray, end: int) -> np.ndarray:
    """Creation times, uniform to the second between the earliest moment each group could
    exist (`lo`, no earlier than the history) and the window's end.

    Every kind of group is drawn by this one rule: built-in communities (lo = the history's
    start, so ~96% predate the window), ordinary people's closed groups and offender
    clusters (lo = the latest founding member's signup). A creation time then says when a
    group could exist, never who founded it (no day-aligned kind beside an unaligned one)."""
    lo = np.maximum(np.asarray(lo, dtype=np.int64), -GROUP_HISTORY_DAYS * DAY)
    return lo + np.floor(rng.random(len(lo)) * (end - lo)).astype(np.int64)


def make_groups(scn: Scenario, seed: int, n_school: int, n_work: int, n_local: int) -> Groups:
    """One group per school, workplace and local community, plus interest groups."""
    rng = rng_for(seed, 2**31 - 1, "groups")
    n_interest = max(1, scn.accounts // ACCOUNTS_PER_INTEREST_GROUP)
    n = n_school + n_work + n_local + n_interest
    created = group_created(rng, np.full(n, -GROUP_HISTORY_DAYS * DAY), scn.activity.days * DAY)
    return Groups(created, 0, n_school, n_school + n_work, n_school + n_work + n_local, n)


def closed_groups(
    st: ActivityState, rng: np.random.Generator, buf: ev.EventBuffer, acc: np.ndarray, cid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Found closed groups: `acc[i]` belongs to new group `cid[i]` (0..k-1), the first row
    of each group being its founder. Appends the memberships to `buf` and returns each
    row's (partition-local) group id and joining time.

    Used alike by ordinary people (friends, families, teams) and offender clusters: the
    same creation rule (`group_created`, after every founding member signed up), the
    founder joining at creation and the others uniformly after it, as in community groups."""
    k = int(cid.max()) + 1 if len(cid) else 0
    ids = buf.new_closed_groups(k)
    lo = np.full(k, -GROUP_HISTORY_DAYS * DAY, dtype=np.int64)
    np.maximum.at(lo, cid, st.pop.signup_day[acc].astype(np.int64) * DAY)
    created = group_created(rng, lo, st.end)
    t0 = created[cid]
    joined = t0 + np.floor(rng.random(len(acc)) * (st.end - t0)).astype(np.int64)
    founder = np.ones(len(cid), dtype=bool)
    founder[1:] = cid[1:] != cid[:-1]
    joined[founder] = t0[founder]
    gid = ids[cid]
    buf.members.append((acc.astype(np.int64), gid, joined))
    return gid, joined


def benign_closed_groups(st: ActivityState, lo: int, hi: int, rng: np.random.Generator, buf: ev.EventBuffer):
    """Small closed groups ordinary people found: friends, a family, a team (3-8 members:
    mostly friends, sometimes the family's parent or community members). Returns the
    memberships (account, local group id, joined) for their group messages."""
    idx = np.arange(lo, hi)
    rate = st.scn.activity.closed_groups_per_account * st.everyday[idx]
    founders = idx[rng.random(len(idx)) < rate]
    size = rng.integers(*CLOSED_GROUP_SIZE, len(founders))
    cid = np.repeat(np.arange(len(founders)), size)
    acc = founders[cid].astype(np.int64)
    later = np.ones(len(cid), dtype=bool)
    later[np.searchsorted(cid, np.arange(len(founders)))] = False  # the founders' own rows
    who = np.flatnonzero(later)
    u = rng.random(len(who))
    pick = random_neighbour(st.adj, acc[who], rng)
    fam = st.pop.family[acc[who]].astype(np.int64)
    pick = np.where((u >= CLOSED_MEMBER_FRIEND) & (u < CLOSED_MEMBER_FAMILY) & (fam >= 0), fam, pick)
    other = np.flatnonzero((u >= CLOSED_MEMBER_FAMILY) | (pick < 0))
    pick[other] = community_targets(st, acc[who][other], rng)
    acc[who] = pick
    # One row per (group, member): duplicates and failed picks dropped, founders first.
    keep = acc >= 0
    keep[who] &= acc[who] != founders[cid[who]]
    cid, acc = cid[keep], acc[keep]
    _, first = np.unique(cid * st.n + acc, return_index=True)
    order = np.sort(first)
    cid, acc = cid[order], acc[order]
    sizes = np.bincount(cid, minlength=len(founders))
    ok = sizes[cid] >= 2  # a group of one is no group
    cid = np.unique(cid[ok], return_inverse=True)[1].astype(np.int64) if ok.any() else cid[ok]
    acc = acc[ok]
    gid, joined = closed_groups(st, rng, buf, acc, cid)
    return acc, gid, joined


def are_friends(st: ActivityState, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    key = edge_key(a, b, st.n)
    pos = np.minimum(ordered_search(st.keys, key), max(len(st.keys) - 1, 0))
    return (st.keys[pos] == key) if len(st.keys) else np.zeros(len(a), bool)


def mutual_friends(adj: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|N(a) ∩ N(b)| per pair, via a row-wise product of sparse rows."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64)
    # The product of 0/1 rows stores only the common neighbours: count them per row.
    both = adj[a].multiply(adj[b]).tocsr()
    return np.diff(both.indptr).astype(np.int64)


def community_targets(st: ActivityState, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A member of the account's school, else workplace, else local group."""
    pop = st.pop
    out = np.full(len(src), -1, dtype=np.int64)
    for kind, arr in ((SCHOOL, pop.school), (WORK, pop.workplace), (LOCAL, pop.local)):
        todo = np.flatnonzero(out < 0)
        comm = arr[src[todo]].astype(np.int64)
        out[todo] = st.indexes[kind].sample(comm, rng)
    return out


def request_targets(
    st: ActivityState, src: np.ndarray, rng: np.random.Generator, fof: float, comm: float
) -> np.ndarray:
    """Targets for friend requests: friends of friends, community members, or the region."""
    u = rng.random(len(src))
    dst = np.full(len(src), -1, dtype=np.int64)
    a = np.flatnonzero(u < fof)
    mid = random_neighbour(st.adj, src[a], rng)
    ok = mid >= 0
    dst[a[ok]] = random_neighbour(st.adj, mid[ok], rng)
    b = np.flatnonzero((u >= fof) & (u < fof + comm))
    dst[b] = community_targets(st, src[b], rng)
    c = np.flatnonzero(dst < 0)
    dst[c] = st.indexes[REGION].sample(st.pop.region[src[c]].astype(np.int64), rng)
    return dst


def acceptance_probability(st: ActivityState, src: np.ndarray, dst: np.ndarray, mutual: np.ndarray) -> np.ndarray:
    """The recipient model: what a person sees is the requester's asserted age, profile and
    the mutual friends count. Minors are wary of adult strangers, and so is an offender
    living a child persona's life (`schedule_minor`: a child's hours and a child's answers;
    deciding as the adult behind it would give the persona away); fake accounts accept all."""
    pop = st.pop
    gap = np.abs(pop.asserted_age[src].astype(float) - pop.asserted_age[dst])
    minor_sees_adult = pop.schedule_minor[dst] & (pop.asserted_age[src] >= ADULT_STRANGER_AGE)
    logit = (
        ACCEPT_INTERCEPT
        + ACCEPT_MUTUAL * np.log1p(mutual)
        - ACCEPT_AGE_GAP * gap
        + ACCEPT_SAME_REGION * (pop.region[src] == pop.region[dst])
        + ACCEPT_COMPLETENESS * (pop.completeness[src] - ACCEPT_COMPLETENESS_REF)
        - ACCEPT_MINOR_SEES_ADULT * minor_sees_adult
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    return np.where(st.accepts_all[dst], FAKE_ACCEPT, p)


def benign_requests(st: ActivityState, lo: int, hi: int, rng: np.random.Generator) -> ev.Requests:
    pop, ac = st.pop, st.scn.activity
    idx = np.arange(lo, hi)
    new = pop.signup_day[idx] >= 0
    # Teens add contacts far more than adults; everyone's appetite varies a lot (a
    # mean-one lognormal), so request counts are overdispersed as on real platforms.
    teen = pop.band[idx] <= 1
    rate = ac.requests_per_account * np.where(new, NEW_REQUEST_BOOST, 1.0) * np.where(teen, TEEN_REQUEST_BOOST, 1.0)
    rate = rate * rng.lognormal(*REQUEST_APPETITE, len(idx))
    # Heavy requesters (new students, networkers) spread over a long tail that reaches
    # spam-like volumes: the benign overlap that keeps request counts from separating spam.
    heavy = HEAVY_REQUEST_FACTOR * rng.lognormal(*HEAVY_REQUEST_SPREAD, len(idx))
    heavy = np.where(pop.heavy_requester[idx], heavy, 1.0)
    rate = rate * heavy * st.everyday[idx]
    src = np.repeat(idx, rng.poisson(rate))
    dst = request_targets(st, src, rng, fof=REQUEST_FOF, comm=REQUEST_COMMUNITY)
    t0 = np.maximum(0, pop.signup_day[src].astype(np.int64) * DAY)
    ts = sample_ts(rng, pop.schedule_minor[src], t0, st.end)
    return ev.typed(ev.Requests, src=src, dst=dst, ts=ts, decision=ev.DECIDE)


def exists_at(st: ActivityState, acc: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Whether each account had signed up by `ts` (nobody interacts with an account that
    does not exist yet; targets drawn at random must pass this)."""
    return st.pop.signup_day[acc].astype(np.int64) * DAY <= ts


def decide(st: ActivityState, req: ev.Requests, rng: np.random.Generator) -> tuple[ev.Requests, np.ndarray]:
    """Drop invalid, not-yet-existing and already-friend targets; return requests and the
    accepted mask."""
    ok = (req.dst >= 0) & (req.dst != req.src)
    ok[ok] = exists_at(st, req.dst[ok], req.ts[ok])
    req = req.take(np.flatnonzero(ok))
    req = req.take(np.flatnonzero(~are_friends(st, req.src, req.dst)))
    p = acceptance_probability(st, req.src, req.dst, mutual_friends(st.adj, req.src, req.dst))
    accepted = rng.random(len(req)) < p
    accepted = np.where(req.decision == ev.DECIDE, accepted, req.decision == ev.ACCEPT)
    return req, accepted


# Media mix (text, image, video, link) per sender category (media_category): minors, adults,
# meme and link sharers. Arbitrary: shape only (minors send more images, sharers links).
MEDIA_MIX = np.array([[0.74, 0.17, 0.04, 0.05], [0.80, 0.10, 0.03, 0.07], [0.55, 0.07, 0.03, 0.35]])


def media_category(pop: Population, sender: np.ndarray) -> np.ndarray:
    """Row of MEDIA_MIX for each sender."""
    return np.where(pop.link_sharer[sender], 2, np.where(pop.schedule_minor[sender], 0, 1))


def forwarded(rng: np.random.Generator, media: np.ndarray, scale=1.0) -> np.ndarray:
    """Whether each message is a forward (FORWARD_BY_MEDIA x scale)."""
    return rng.random(len(media)) < FORWARD_BY_MEDIA[media] * scale


def conversations(
    st: ActivityState, a: np.ndarray, b: np.ndarray, t0: np.ndarray, rng: np.random.Generator, mean_msgs: float
) -> ev.Messages:
    """Back-and-forth messages between a and b, in a burst of days starting after t0."""
    keep = t0 < st.end
    a, b, t0 = a[keep], b[keep], t0[keep]
    start = t0 + np.floor(rng.random(len(a)) * (st.end - t0)).astype(np.int64)
    start = start // DAY * DAY
    span = (1 + rng.geometric(1 / CONVERSATION_DAYS, len(a))) * DAY
    stop = np.minimum(start + span, st.end)
    start = np.maximum(start, t0)
    r = MESSAGES_DISPERSION
    k = 1 + rng.negative_binomial(r, r / (r + mean_msgs - 1), len(a))
    conv = np.repeat(np.arange(len(a)), k)
    from_a = rng.random(len(conv)) < INITIATOR_SHARE
    src = np.where(from_a, a[conv], b[conv])
    dst = np.where(from_a, b[conv], a[conv])
    media = ev.draw_media_by(rng, MEDIA_MIX, media_category(st.pop, src))
    # Meme and news sharers forward far more than others.
    scale = st.forwarding[src] * np.where(st.pop.link_sharer[src], LINK_SHARER_FORWARD_BOOST, 1.0)
    return ev.typed(
        ev.Messages,
        src=src,
        dst=dst,
        ts=sample_ts(rng, st.pop.schedule_minor[src], start[conv], stop[conv]),
        size_bytes=ev.message_sizes(rng, media),
        media=media,
        group_id=ev.NO_GROUP,
        forwarded=forwarded(rng, media, scale),
    )


def friend_conversations(st: ActivityState, lo: int, hi: int, rng: np.random.Generator) -> ev.Messages:
    ac = st.scn.activity
    idx = np.arange(lo, hi)
    rate = ac.conversations_per_account * st.activity[idx] * st.everyday[idx]
    a = np.repeat(idx, rng.poisson(rate))
    start = st.adj.indptr[a]
    deg = st.adj.indptr[a + 1] - start
    has = deg > 0
    a, start, deg = a[has], start[has], deg[has]
    pick = start + np.floor(rng.random(len(a)) * deg).astype(np.int64)
    b = st.adj.indices[pick].astype(np.int64)
    t0 = np.maximum(0, edge_days(st.keys, st.days, a, b, st.n).astype(np.int64) * DAY)
    return conversations(st, a, b, t0, rng, ac.messages_per_conversation)


def stranger_conversations(st: ActivityState, lo: int, hi: int, rng: np.random.Generator) -> ev.Messages:
    """Short exchanges with non-friends: marketplace, group co-members, friends-to-be.

    Ordinary people do message strangers; without this, any message to a non-friend would
    single out an abuser on its own (the leakage check catches exactly that)."""
    pop = st.pop
    idx = np.arange(lo, hi)
    boost = np.where(pop.heavy_requester[idx] | pop.link_sharer[idx], STRANGER_BOOST, 1.0)
    a = np.repeat(idx, rng.poisson(STRANGER_CONVERSATIONS * st.activity[idx] * boost * st.everyday[idx]))
    local = rng.random(len(a)) < STRANGER_LOCAL_SHARE
    b = np.where(local, community_targets(st, a, rng), st.indexes[REGION].sample(pop.region[a].astype(np.int64), rng))
    ok = (b >= 0) & (b != a)
    a, b = a[ok], b[ok]
    t0 = np.maximum(0, np.maximum(pop.signup_day[a], pop.signup_day[b]).astype(np.int64) * DAY)
    return conversations(st, a, b, t0, rng, STRANGER_MESSAGES)


def memberships(st: ActivityState, lo: int, hi: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(account, group, joined_ts) for partition accounts: their communities' groups and
    interest groups, joined after both the group and the account existed."""
    pop, g, ac = st.pop, st.groups, st.scn.activity
    idx = np.arange(lo, hi)
    acc = np.repeat(idx, rng.poisson(ac.groups_per_account * np.sqrt(st.activity[idx])))
    u = rng.random(len(acc))
    grp = g.interest_base + rng.integers(0, g.n - g.interest_base, len(acc))
    sch, wrk = pop.school[acc], pop.workplace[acc]
    grp = np.where((u < MEMBER_SCHOOL) & (sch >= 0), g.school_base + sch, grp)
    grp = np.where((u >= MEMBER_SCHOOL) & (u < MEMBER_WORK) & (wrk >= 0), g.work_base + wrk, grp)
    grp = np.where((u >= MEMBER_WORK) & (u < MEMBER_LOCAL), g.local_base + pop.local[acc], grp)
    key = unique_sorted(acc * g.n + grp)
    acc, grp = key // g.n, key % g.n
    t0 = np.maximum(g.created_ts[grp], pop.signup_day[acc].astype(np.int64) * DAY)
    t0 = np.maximum(t0, -GROUP_HISTORY_DAYS * DAY)
    joined = t0 + np.floor(rng.random(len(acc)) * (st.end - t0)).astype(np.int64)
    return acc, grp, joined


def member_share(st: ActivityState, joined: np.ndarray) -> np.ndarray:
    """Share of the window a member spends in the group: members post at a steady rate
    while they belong, so a late joiner posts less (a fixed count crammed into the days
    left would pile a late group's messages onto the window's last days)."""
    return (st.end - np.maximum(joined, 0)) / st.end


def group_messages(st: ActivityState, acc, grp, joined, rng: np.random.Generator) -> ev.Messages:
    ac = st.scn.activity
    per = ac.group_messages_per_account / max(ac.groups_per_account, 1e-9)
    k = rng.poisson(per * st.activity[acc] * st.everyday[acc] * member_share(st, joined))
    row = np.repeat(np.arange(len(acc)), k)
    src = acc[row]
    media = ev.draw_media_by(rng, MEDIA_MIX * GROUP_MEDIA_WEIGHT, media_category(st.pop, src))
    t0 = np.maximum(joined[row], 0)
    return ev.typed(
        ev.Messages,
        src=src,
        dst=ev.NO_DST,
        ts=sample_ts(rng, st.pop.schedule_minor[src], t0, st.end),
        size_bytes=ev.message_sizes(rng, media),
        media=media,
        group_id=grp[row],
        forwarded=forwarded(rng, media, GROUP_FORWARD_SCALE),
    )


def draw_reports(
    rng: np.random.Generator,
    st: ActivityState,
    reporter: np.ndarray,
    reported: np.ndarray,
    ts: np.ndarray,
    p: np.ndarray | float,
    reasons: dict[str, float],
) -> ev.Reports:
    """Each interaction is reported with probability p, after a delay (reports are late)."""
    hit = np.flatnonzero(rng.random(len(reporter)) < p)
    when = ts[hit] + rng.exponential(REPORT_DELAY_DAYS * DAY, len(hit)).astype(np.int64)
    keep = hit[when < st.end]
    when = when[when < st.end]
    probs = np.array([reasons.get(r, 0.0) for r in ev.REASONS])
    reason = rng.choice(len(ev.REASONS), size=len(keep), p=probs / probs.sum()).astype(np.int8)
    return ev.typed(ev.Reports, reporter=reporter[keep], reported=reported[keep], ts=when, reason=reason)
