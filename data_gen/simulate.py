"""The generator pipeline: population -> friendships -> activity, partition by partition.

Each stage maps over fixed-size partitions (partition.py) with read-only global state from
the stages before it; the cheap global steps in between (deduplicating edges, building the
adjacency) run in the parent. The result is a `World` in generation-index space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.arrays import bits
from common.vocabulary import DAY
from data_gen import actors
from data_gen import events as ev
from data_gen.activity import (
    ActivityState,
    Groups,
    benign_closed_groups,
    benign_requests,
    conversations,
    decide,
    draw_reports,
    exists_at,
    friend_conversations,
    group_messages,
    make_groups,
    memberships,
    stranger_conversations,
)
from data_gen.cascade import viral_cascades
from data_gen.config import Scenario
from data_gen.friendships import (
    LOCAL,
    REGION,
    SCHOOL,
    WORK,
    CommunityIndex,
    adjacency,
    background_days,
    closure_partition,
    edge_ends,
    edge_key,
    graph_state,
    merge_keys,
    stubs_partition,
)
from data_gen.partition import GLOBAL, map_partitions, partition_bounds, rng_for
from data_gen.population import Layout, Population, make_layout, population_partition

Progress = Callable[[str, int], None]  # (stage name, partitions done in that stage)
# How much each person forwards: a lognormal (mu, sigma) of mean one, heavy-tailed as
# forwarding habits are. Arbitrary: shape only.
FORWARDING_SPREAD = (-0.5, 1.0)
# Share of accepted requests followed by a conversation (people start talking to new
# friends). Arbitrary.
NEW_FRIEND_TALK = 0.6
# Reasons given in the rare false or petty reports on ordinary interactions (mostly
# harassment and "other"). Arbitrary.
BENIGN_REPORT_REASONS = {
    "spam": 0.2,
    "scam": 0.05,
    "fake": 0.05,
    "hacked": 0.02,
    "harassment": 0.36,
    "other": 0.3,
    "child_safety": 0.02,
}


@dataclass
class World:
    scn: Scenario
    pop: Population
    friends: tuple[np.ndarray, np.ndarray, np.ndarray]  # u < v, day
    requests: ev.Requests
    accepted: np.ndarray
    messages: ev.Messages
    reports: ev.Reports
    groups: Groups
    members: tuple[np.ndarray, np.ndarray, np.ndarray]  # account, group, joined_ts
    harm: actors.HarmRows  # harm events (evaluation only)
    viral_sharer: np.ndarray  # bool per account: forwarded a viral cascade's media


def _pop_part(args: tuple[Scenario, Layout, int, list], p: int) -> Population:
    scn, layout, seed, bounds = args
    lo, hi = bounds[p]
    pop = population_partition(scn, layout, seed, p, lo, hi)
    actors.assign_roles(pop, rng_for(seed, p, "roles"), scn, p)
    return pop


def _collect(fn, state, n_parts: int, workers: int, stage: str, progress: Progress | None, executor=None) -> list:
    out = []
    for i, part in enumerate(map_partitions(fn, state, n_parts, workers, executor)):
        out.append(part)
        if progress:
            progress(stage, i + 1)
    return out


def community_counts(layout: Layout) -> dict[int, int]:
    return {
        SCHOOL: int(layout.school_count.sum()),
        WORK: int(layout.work_count.sum()),
        LOCAL: int(layout.local_count.sum()),
        REGION: layout.n_regions,
    }


def population(
    scn: Scenario, seed: int, workers: int = 1, progress: Progress | None = None, executor=None
) -> tuple[Population, Layout]:
    layout = make_layout(scn, seed)
    bounds = partition_bounds(scn.accounts, scn.partition_size)
    parts = _collect(_pop_part, (scn, layout, seed, bounds), len(bounds), workers, "population", progress, executor)
    return Population.concat(parts), layout


def friendships(
    scn: Scenario,
    seed: int,
    pop: Population,
    layout: Layout,
    workers: int = 1,
    progress: Progress | None = None,
    executor=None,
) -> tuple[np.ndarray, dict[int, CommunityIndex]]:
    """Background friendship keys (`friendships.edge_key`, sorted) and the community indexes used."""
    n = scn.accounts
    bounds = partition_bounds(n, scn.partition_size)
    k = len(bounds)
    gst = graph_state(scn, seed, bounds, pop, community_counts(layout))
    # Partitions return edge keys; the parent sorts and deduplicates them once per round.
    keys1 = merge_keys(_collect(stubs_partition, gst, k, workers, "friendships", progress, executor))
    adj1 = adjacency(keys1, n)
    closed = _collect(closure_partition, (gst, adj1), k, workers, "closure", progress, executor)
    del adj1
    return merge_keys([keys1, *closed]), gst.indexes


def simulate(scn: Scenario, seed: int, workers: int = 1, progress: Progress | None = None, executor=None) -> World:
    """The whole simulation. `executor` (e.g. dask_map.DaskExecutor) runs the partition
    tasks instead of the local process pool; the global steps between stages stay here."""
    n = scn.accounts
    bounds = partition_bounds(n, scn.partition_size)
    pop, layout = population(scn, seed, workers, progress, executor)
    keys, indexes = friendships(scn, seed, pop, layout, workers, progress, executor)
    days = background_days(keys, n, pop, scn, seed)
    adj = adjacency(keys, n)
    n_comm = community_counts(layout)
    groups = make_groups(scn, seed, n_comm[SCHOOL], n_comm[WORK], n_comm[LOCAL])
    w = pop.sociability.astype(np.float64)
    ast = ActivityState(
        scn=scn,
        seed=seed,
        bounds=bounds,
        pop=pop,
        adj=adj,
        days=days,
        keys=keys,
        indexes=indexes,
        groups=groups,
        activity=np.sqrt(w / w.mean()),
        everyday=actors.everyday(pop, scn),
        forwarding=rng_for(seed, GLOBAL, "propensity").lognormal(*FORWARDING_SPREAD, n),
        accepts_all=actors.accepts_all(pop),
        extras=actors.extras(pop),
    )
    parts = _collect(_activity_part, ast, len(bounds), workers, "activity", progress, executor)
    viral = viral_cascades(scn, seed, pop, adj)
    return _assemble(scn, seed, pop, keys, days, groups, parts, viral)


def _activity_part(st: ActivityState, p: int) -> dict:
    lo, hi = st.bounds[p]
    rng = rng_for(st.seed, p, "activity")
    buf = ev.EventBuffer()
    buf.requests.append(benign_requests(st, lo, hi, rng))
    for actor in actors.ACTORS:
        members = lo + np.flatnonzero(st.pop.role[lo:hi] == actor.code)
        actor.act(st, members.astype(np.int64), rng, buf)
    requests, messages, reports = buf.build()
    requests, accepted = decide(st, requests, rng)
    # People start talking to new friends: a conversation on most accepted requests.
    talk = np.flatnonzero(accepted & (rng.random(len(accepted)) < NEW_FRIEND_TALK) & (st.everyday[requests.src] >= 1.0))
    new_conv = conversations(
        st, requests.src[talk], requests.dst[talk], requests.ts[talk], rng, st.scn.activity.messages_per_conversation
    )
    acc, grp, joined = memberships(st, lo, hi, rng)
    closed = benign_closed_groups(st, lo, hi, rng, buf)  # their memberships go to buf.members
    msgs = ev.Messages.concat(
        [
            messages,
            new_conv,
            friend_conversations(st, lo, hi, rng),
            stranger_conversations(st, lo, hi, rng),
            group_messages(st, *(np.concatenate(pair) for pair in zip((acc, grp, joined), closed, strict=True)), rng),
        ]
    )
    one = msgs.dst >= 0
    valid = ~one
    valid[one] = exists_at(st, msgs.dst[one], msgs.ts[one])
    msgs = msgs.take(np.flatnonzero(valid))
    reports = reports.take(np.flatnonzero(exists_at(st, reports.reporter, reports.ts)))
    # Rare false or petty reports on ordinary interactions.
    one = msgs.dst >= 0
    benign_reports = draw_reports(
        rng,
        st,
        msgs.dst[one],
        msgs.src[one],
        msgs.ts[one],
        st.scn.activity.benign_report_rate,
        BENIGN_REPORT_REASONS,
    )
    return {
        "harm": _concat_harm(buf.harm),
        "requests": requests,
        "accepted": accepted,
        "messages": msgs,
        "reports": ev.Reports.concat([reports, benign_reports]),
        "members": tuple(np.concatenate([m[i] for m in [(acc, grp, joined), *buf.members]]) for i in range(3)),
    }


def _number_closed_groups(groups: Groups, parts: list, seed: int) -> Groups:
    """Give closed groups (partition-local ids CLOSED_GROUP - k) global ids, then shuffle
    every group id by one seeded permutation, so an id says nothing about a group's kind
    or who founded it (numbered after the built-in groups, offender clusters' ids alone
    would give them away). A closed group is created when its founder joins."""
    created = [groups.created_ts]
    next_id = groups.n
    for p in parts:
        acc, grp, joined = p["members"]
        local = grp <= ev.CLOSED_GROUP
        k = int(ev.CLOSED_GROUP - grp[local].min() + 1) if local.any() else 0
        if k == 0:
            continue
        first = np.full(k, np.iinfo(np.int64).max)
        np.minimum.at(first, ev.CLOSED_GROUP - grp[local], joined[local])
        created.append(first)
        p["members"] = (acc, _remap_closed(grp, next_id), joined)
        m = p["messages"]
        m.group_id = _remap_closed(m.group_id, next_id).astype(m.group_id.dtype)
        next_id += k
    ct = np.concatenate(created)
    perm = rng_for(seed, GLOBAL, "group_ids").permutation(next_id).astype(np.int64)
    shuffled = np.empty_like(ct)
    shuffled[perm] = ct
    for p in parts:
        acc, grp, joined = p["members"]
        p["members"] = (acc, perm[grp], joined)
        m = p["messages"]
        in_group = m.group_id >= 0
        m.group_id[in_group] = perm[m.group_id[in_group]]
    # The bases locate the built-in kinds before the shuffle; nothing reads them after it.
    return Groups(shuffled, groups.school_base, groups.work_base, groups.local_base, groups.interest_base, next_id)


def _remap_closed(gid: np.ndarray, base: int) -> np.ndarray:
    return np.where(gid <= ev.CLOSED_GROUP, base + ev.CLOSED_GROUP - gid, gid)


def _concat_harm(rows: list[actors.HarmRows]) -> actors.HarmRows:
    if not rows:
        e = np.zeros(0, dtype=np.int64)
        return actors.HarmRows(e, e, e, np.zeros(0, dtype=np.int8))
    return actors.HarmRows(
        *(np.concatenate([getattr(r, f) for r in rows]) for f in ("offender", "victim", "ts", "kind"))
    )


def _union_earliest(keys: np.ndarray, days: np.ndarray, new_keys: np.ndarray, new_days: np.ndarray):
    """Merge a few new (key, day) edges into sorted unique `keys`, keeping the earliest day.

    The new edges are sorted and merged by position (np.insert), so the big background
    array is never re-sorted."""
    day_bits = bits(max(int(new_days.max()) + 1, 1)) if len(new_days) else 1
    if len(new_keys) and new_days.min() >= 0 and bits(int(new_keys.max())) + day_bits <= 63:
        # One packed sort instead of a lexsort: (key, day) ordered as (key << day_bits) | day.
        packed = np.sort((new_keys.astype(np.int64) << day_bits) | new_days.astype(np.int64))
        nk, nd = packed >> day_bits, (packed & ((1 << day_bits) - 1)).astype(np.int32)
    else:
        order = np.lexsort((new_days, new_keys))
        nk, nd = new_keys[order], new_days[order].astype(np.int32)
    first = np.ones(len(nk), dtype=bool)
    first[1:] = nk[1:] != nk[:-1]
    nk, nd = nk[first], nd[first]
    pos = np.searchsorted(keys, nk)
    hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == nk) if len(keys) else np.zeros(len(nk), bool)
    days = days.copy()
    days[pos[hit]] = np.minimum(days[pos[hit]], nd[hit])
    return np.insert(keys, pos[~hit], nk[~hit]), np.insert(days, pos[~hit], nd[~hit])


def _assemble(
    scn: Scenario, seed: int, pop: Population, keys: np.ndarray, days: np.ndarray, groups: Groups, parts: list, viral
) -> World:
    n = scn.accounts
    requests = ev.Requests.concat([p["requests"] for p in parts])
    accepted = np.concatenate([p["accepted"] for p in parts])
    # Friendships made inside the window come from accepted requests; keep the earliest day.
    new_u, new_v = requests.src[accepted], requests.dst[accepted]
    new_keys = edge_key(new_u, new_v, n)
    fk, fd = _union_earliest(keys, days, new_keys, requests.ts[accepted] // DAY)
    groups = _number_closed_groups(groups, parts, seed)
    return World(
        scn=scn,
        pop=pop,
        friends=(*edge_ends(fk, n), fd),
        requests=requests,
        accepted=accepted,
        messages=ev.Messages.concat([p["messages"] for p in parts] + [viral[0]]),
        reports=ev.Reports.concat([p["reports"] for p in parts] + [viral[1]]),
        groups=groups,
        members=tuple(np.concatenate([p["members"][i] for p in parts]) for i in range(3)),
        harm=_concat_harm([p["harm"] for p in parts]),
        viral_sharer=viral[2],
    )
