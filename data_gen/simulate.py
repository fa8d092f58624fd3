"""The generator pipeline: population -> friendships -> activity, partition by partition.

Each stage maps over fixed-size partitions (partition.py) with read-only global state from
the stages before it; the cheap global steps in between (deduplicating edges, building the
adjacency) run in the parent. The result is a `World` in generation-index space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import actors
from . import events as ev
from .activity import (
    ActivityState,
    Groups,
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
from .arrays import unique_sorted
from .config import Scenario
from .friendships import (
    LOCAL,
    REGION,
    SCHOOL,
    WORK,
    CommunityIndex,
    adjacency,
    background_days,
    canonical_keys,
    closure_partition,
    graph_state,
    stubs_partition,
)
from .partition import map_partitions, partition_bounds, rng_for
from .population import Layout, Population, make_layout, population_partition
from .rhythm import DAY

Progress = Callable[[str, int], None]  # (stage name, partitions done in that stage)


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


def _pop_part(args: tuple[Scenario, Layout, int, list], p: int) -> Population:
    scn, layout, seed, bounds = args
    lo, hi = bounds[p]
    pop = population_partition(scn, layout, seed, p, lo, hi)
    actors.assign_roles(pop, rng_for(seed, p, "population"), scn, p)
    return pop


def _collect(fn, state, n_parts: int, workers: int, stage: str, progress: Progress | None) -> list:
    out = []
    for i, part in enumerate(map_partitions(fn, state, n_parts, workers)):
        out.append(part)
        if progress:
            progress(stage, i + 1)
    return out


def simulate(scn: Scenario, seed: int, workers: int = 1, progress: Progress | None = None) -> World:
    n = scn.accounts
    bounds = partition_bounds(n, scn.partition_size)
    k = len(bounds)
    layout = make_layout(scn, seed)
    pop = Population.concat(_collect(_pop_part, (scn, layout, seed, bounds), k, workers, "population", progress))

    n_comm = {
        SCHOOL: int(layout.school_count.sum()),
        WORK: int(layout.work_count.sum()),
        LOCAL: int(layout.local_count.sum()),
        REGION: layout.n_regions,
    }
    gst = graph_state(scn, seed, bounds, pop, n_comm)
    stubs = _collect(stubs_partition, gst, k, workers, "friendships", progress)
    keys1 = canonical_keys(np.concatenate(stubs), n)
    adj1 = adjacency(keys1, n)
    closed = _collect(closure_partition, (gst, adj1), k, workers, "closure", progress)
    keys = unique_sorted(np.concatenate([keys1, canonical_keys(np.concatenate(closed), n)]))
    del stubs, closed, adj1, gst
    days = background_days(keys, n, pop, scn, seed)
    adj, edge_day = _adjacency_with_days(keys, days, n)

    groups = make_groups(scn, seed, n_comm[SCHOOL], n_comm[WORK], n_comm[LOCAL])
    w = pop.sociability.astype(np.float64)
    indexes = {
        SCHOOL: CommunityIndex.build(pop.school, w, n_comm[SCHOOL]),
        WORK: CommunityIndex.build(pop.workplace, w, n_comm[WORK]),
        LOCAL: CommunityIndex.build(pop.local, w, n_comm[LOCAL]),
        REGION: CommunityIndex.build(pop.region, w, n_comm[REGION]),
    }
    ast = ActivityState(
        scn=scn,
        seed=seed,
        bounds=bounds,
        pop=pop,
        adj=adj,
        edge_day=edge_day,
        keys=keys,
        indexes=indexes,
        groups=groups,
        activity=np.sqrt(w / w.mean()),
        everyday=actors.everyday(pop),
        accepts_all=actors.accepts_all(pop),
        extras=actors.extras(pop),
    )
    parts = _collect(_activity_part, ast, k, workers, "activity", progress)
    return _assemble(scn, pop, keys, days, groups, parts)


def _adjacency_with_days(keys: np.ndarray, days: np.ndarray, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """0/1 adjacency plus each stored entry's friendship day, aligned with `indices`."""
    u, v = keys // n, keys % n
    eid = np.arange(1, len(keys) + 1, dtype=np.int64)
    m = sp.csr_matrix((np.concatenate([eid, eid]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    m.sort_indices()
    edge_day = days[m.data - 1]
    ones = sp.csr_matrix((np.ones(len(m.data), dtype=np.int32), m.indices, m.indptr), shape=(n, n))
    ones.has_sorted_indices = True
    return ones, edge_day


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
    talk = np.flatnonzero(accepted & (rng.random(len(accepted)) < 0.6) & (st.everyday[requests.src] >= 1.0))
    new_conv = conversations(
        st, requests.src[talk], requests.dst[talk], requests.ts[talk], rng, st.scn.activity.messages_per_conversation
    )
    acc, grp, joined = memberships(st, lo, hi, rng)
    msgs = ev.Messages.concat(
        [
            messages,
            new_conv,
            friend_conversations(st, lo, hi, rng),
            stranger_conversations(st, lo, hi, rng),
            group_messages(st, acc, grp, joined, rng),
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
        [0.2, 0.05, 0.05, 0.02, 0.38, 0.3],
    )
    return {
        "requests": requests,
        "accepted": accepted,
        "messages": msgs,
        "reports": ev.Reports.concat([reports, benign_reports]),
        "members": (acc, grp, joined),
    }


def _assemble(scn: Scenario, pop: Population, keys: np.ndarray, days: np.ndarray, groups: Groups, parts: list) -> World:
    n = scn.accounts
    requests = ev.Requests.concat([p["requests"] for p in parts])
    accepted = np.concatenate([p["accepted"] for p in parts])
    # Friendships made inside the window come from accepted requests; keep the earliest day.
    new_u, new_v = requests.src[accepted], requests.dst[accepted]
    new_keys = np.minimum(new_u, new_v) * n + np.maximum(new_u, new_v)
    all_keys = np.concatenate([keys, new_keys])
    all_days = np.concatenate([days, (requests.ts[accepted] // DAY).astype(np.int32)])
    order = np.lexsort((all_days, all_keys))
    all_keys, all_days = all_keys[order], all_days[order]
    first = np.ones(len(all_keys), dtype=bool)
    first[1:] = all_keys[1:] != all_keys[:-1]
    fk, fd = all_keys[first], all_days[first]
    return World(
        scn=scn,
        pop=pop,
        friends=(fk // n, fk % n, fd),
        requests=requests,
        accepted=accepted,
        messages=ev.Messages.concat([p["messages"] for p in parts]),
        reports=ev.Reports.concat([p["reports"] for p in parts]),
        groups=groups,
        members=tuple(np.concatenate([p["members"][i] for p in parts]) for i in range(3)),
    )
