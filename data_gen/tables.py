"""From a simulated World to the contract's Arrow tables: public ids, labels, row order.

Account ids are a seeded permutation of the generation index, and every table is sorted by
id or by time, so neither an id nor a row position says how or by which actor a row was
made (PaySim's frauds were findable by id prefix; this is the guard against that).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from common.arrays import BLOCK, argsort_keys, bits, time_order
from common.observables import Interactions, account_stats
from common.vocabulary import DAY, MEDIA, SPLITS
from data_gen import actors
from data_gen import events as ev
from data_gen.contract import schema_for
from data_gen.labels import (
    HUMAN_SOURCES,
    WEAK_SOURCES,
    LabelRows,
    human_labels,
    strata_of,
    stratified_splits,
    weak_labels,
)
from data_gen.partition import GLOBAL, rng_for
from data_gen.simulate import World


@dataclass
class Labelled:
    truth: dict[str, np.ndarray]
    weak: LabelRows
    human: LabelRows
    split: np.ndarray


def interactions(world: World) -> Interactions:
    pop, m, r = world.pop, world.messages, world.reports
    return Interactions(
        n=len(pop),
        days=world.scn.activity.days,
        signup_day=pop.signup_day,
        completeness=pop.completeness,
        asserted_age=pop.asserted_age,
        friend_src=world.friends[0],
        friend_dst=world.friends[1],
        req_src=world.requests.src,
        req_dst=world.requests.dst,
        req_accepted=world.accepted,
        msg_src=m.src,
        msg_dst=m.dst,
        msg_ts=m.ts,
        msg_media=m.media,
        msg_forwarded=m.forwarded,
        reported=r.reported,
        report_reason=np.asarray(ev.REASONS)[r.reason],
        reason_names=ev.REASONS,
    )


def make_labels(world: World, seed: int) -> Labelled:
    rng = rng_for(seed, GLOBAL, "labels")
    truth = actors.truth_columns(world.pop)
    truth["viral_sharer"] = world.viral_sharer
    stats = account_stats(interactions(world))
    weak = weak_labels(stats, actors.TASKS, world.scn, rng)
    n = len(world.pop)
    r = world.reports
    reported = np.bincount(r.reported, minlength=n) > 0
    child_safety = r.reason == ev.REASONS.index("child_safety")
    # Child-sexual-abuse material and grooming are confirmed only from reported content.
    seen = np.bincount(r.reported[child_safety], minlength=n) > 0
    evidence = {"groomer": seen, "viral_sharer": seen}
    human = human_labels(truth, reported, evidence, world.scn, rng)
    # Stratified within each period, so both periods have train/val/test shares.
    strata = strata_of(truth) * 2 + (world.pop.period - 1)
    split = stratified_splits(strata, world.scn, rng)
    return Labelled(truth, weak, human, split)


def _dict(values: np.ndarray, names: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(values.astype(np.int8)), pa.array(list(names)))


_GATHER: dict[int, ThreadPoolExecutor] = {}


def _gather_pool() -> ThreadPoolExecutor:
    """Two threads for column gathers (fancy indexing releases the GIL), one pool per
    process: a forked child must never reuse its parent's pool, whose threads it lacks."""
    pid = os.getpid()
    if pid not in _GATHER:
        _GATHER.clear()
        _GATHER[pid] = ThreadPoolExecutor(2)
    return _GATHER[pid]


def _table(name: str, cols: dict, order: np.ndarray | None = None) -> pa.Table:
    """Arrow table in contract column order; `order` permutes rows. A (codes, names) tuple
    is a dictionary column."""
    schema = schema_for(name, actors.TASKS)

    def build(field: pa.Field) -> pa.Array:
        col = cols[field.name]
        if isinstance(col, tuple):
            return _dict(col[0] if order is None else col[0][order], col[1])
        return pa.array(col if order is None else col[order], type=field.type)

    return pa.Table.from_arrays(list(_gather_pool().map(build, schema)), schema=schema)


def _label_table(name: str, rows: LabelRows, perm: np.ndarray, sources: tuple[str, ...]) -> pa.Table:
    aid = perm[rows.account]
    n_src = len(sources)
    key = (aid * len(actors.TASKS) + rows.task) * n_src + rows.source
    order = argsort_keys(key, (len(perm) * len(actors.TASKS) + 1) * n_src)
    cols = {"account_id": aid, "task": (rows.task, actors.TASKS), "label": rows.label, "source": (rows.source, sources)}
    return _table(name, cols, order)


@dataclass(frozen=True)
class Ids:
    """Public account ids: a seeded permutation of the generation index."""

    perm: np.ndarray  # generation index -> account id
    inv: np.ndarray  # account id -> generation index

    @staticmethod
    def make(n: int, seed: int) -> Ids:
        perm = rng_for(seed, GLOBAL, "ids").permutation(n).astype(np.int64)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        return Ids(perm, inv)


def observable_tables(world: World, ids: Ids, seed: int) -> Iterator[tuple[str, pa.Table]]:
    """The tables a model may read, biggest first so their encoding starts early."""
    pop, n = world.pop, len(world.pop)
    perm, inv = ids.perm, ids.inv
    # Ties in time are broken at random, never by generation order (see arrays.time_order).
    order_rng = rng_for(seed, GLOBAL, "order")
    end = world.scn.activity.days * DAY
    yield "messages", _messages_table(world.messages, perm, end, order_rng)
    yield "friendships", _friendships_table(world.friends, perm, n)
    rq = world.requests
    rcols = {"src": perm[rq.src], "dst": perm[rq.dst], "ts": rq.ts, "accepted": world.accepted}
    yield "contact_requests", _table("contact_requests", rcols, time_order(rq.ts, end, order_rng))
    acc, grp, joined = world.members
    macc = perm[acc]
    g = world.groups
    mcols = {"group_id": grp, "account_id": macc, "joined_ts": joined}
    yield "group_members", _table("group_members", mcols, argsort_keys(grp * n + macc, g.n * n))
    yield "groups", _table("groups", {"group_id": np.arange(g.n, dtype=np.int64), "created_ts": g.created_ts})
    r = world.reports
    pcols = {"reporter": perm[r.reporter], "reported": perm[r.reported], "ts": r.ts, "reason": (r.reason, ev.REASONS)}
    yield "reports", _table("reports", pcols, time_order(r.ts, end, order_rng))
    acols = {
        "account_id": np.arange(n, dtype=np.int64),
        "signup_day": pop.signup_day[inv],
        "asserted_age": pop.asserted_age[inv],
        "region": pop.region[inv],
        "client": (pop.client[inv], ("app", "web")),
        "anonymizer": pop.anonymizer[inv],
        "profile_completeness": pop.completeness[inv],
    }
    yield "accounts", _table("accounts", acols)


def label_tables(world: World, lab: Labelled, ids: Ids, seed: int) -> Iterator[tuple[str, pa.Table]]:
    """Labels, splits and the evaluation-only tables (truth, harm events)."""
    pop, n = world.pop, len(world.pop)
    aid = np.arange(n, dtype=np.int64)
    yield "weak_labels", _label_table("weak_labels", lab.weak, ids.perm, WEAK_SOURCES)
    yield "human_labels", _label_table("human_labels", lab.human, ids.perm, HUMAN_SOURCES)
    scols = {"account_id": aid, "split": (lab.split[ids.inv], SPLITS), "period": pop.period[ids.inv]}
    yield "splits", _table("splits", scols)
    harm = world.harm
    victim = np.zeros(n, dtype=bool)
    victim[harm.victim] = True  # a victim is a minor with at least one harm event
    truth = {
        "account_id": aid,
        "true_age": pop.true_age[ids.inv],
        "sophistication": pop.sophistication[ids.inv],
        "is_victim": victim[ids.inv],
    }
    truth.update({task: col[ids.inv] for task, col in lab.truth.items()})
    yield "truth", _table("truth", truth)
    hcols = {
        "offender": ids.perm[harm.offender],
        "victim": ids.perm[harm.victim],
        "ts": harm.ts,
        "kind": (harm.kind, actors.HARM_KINDS),
    }
    order = time_order(harm.ts, world.scn.activity.days * DAY, rng_for(seed, GLOBAL, "harm"))
    yield "harm_events", _table("harm_events", hcols, order)


def _friendships_table(friends, perm: np.ndarray, n: int) -> pa.Table:
    """Edges as (src < dst) in public ids, sorted by (src, dst). Keys are unique, so the day
    rides in the low bits of one packed sort key instead of an argsort. In-place arithmetic
    on two buffers: fresh temporaries of this size cost more in page faults than in work."""
    u, v, day = perm[friends[0]], perm[friends[1]], friends[2]
    s = bits(max(n - 1, 1))  # key = (min << s) | max: ordered like (min, max)
    key = np.minimum(u, v)
    np.maximum(u, v, out=v)
    del u
    key <<= s
    key |= v
    day_bits, offset = 14, 1 << 13  # days in [-8192, 8192), see config limits
    if 2 * s + day_bits <= 63:
        key <<= day_bits
        np.add(day, offset, out=v)
        key |= v
        key.sort()
        np.bitwise_and(key, (1 << day_bits) - 1, out=v)
        v -= offset
        day = v.astype(np.int32)
        key >>= day_bits
    else:
        order = argsort_keys(key, 1 << (2 * s))
        key, day = key[order], day[order]
    np.bitwise_and(key, (1 << s) - 1, out=v)
    key >>= s
    return _table("friendships", {"src": key, "dst": v, "day": day})


def _messages_table(m: ev.Messages, perm: np.ndarray, end: int, rng: np.random.Generator) -> pa.Table:
    """Messages in time order. The biggest table: its columns are gathered block by block
    into preallocated arrays (a block of the order stays in cache across the columns), ids
    through an int32 copy of `perm`, and the timestamps come sorted out of the sort itself."""
    n = len(m)
    order, ts = time_order(m.ts, end, rng, sorted_ts=True)
    perm32 = perm.astype(np.int32) if len(perm) < 2**31 else perm
    src = np.empty(n, dtype=perm32.dtype)
    dst = np.empty(n, dtype=perm32.dtype)
    size = np.empty(n, dtype=m.size_bytes.dtype)
    group = np.empty(n, dtype=m.group_id.dtype)
    media = np.empty(n, dtype=m.media.dtype)
    forwarded = np.empty(n, dtype=bool)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        o = order[lo:hi]
        np.take(perm32, m.src[o], out=src[lo:hi])
        d = m.dst[o]
        group_msg = d < 0
        d[group_msg] = 0
        np.take(perm32, d, out=dst[lo:hi])
        dst[lo:hi][group_msg] = ev.NO_DST
        np.take(m.size_bytes, o, out=size[lo:hi])
        np.take(m.group_id, o, out=group[lo:hi])
        np.take(m.media, o, out=media[lo:hi])
        np.take(m.forwarded, o, out=forwarded[lo:hi])
    del order
    cols = {
        "src": src,
        "dst": dst,
        "ts": ts,
        "size_bytes": size,
        "media": (media, MEDIA),
        "group_id": group,
        "forwarded": forwarded,
    }
    return _table("messages", cols)
