"""From a simulated World to the contract's Arrow tables: public ids, labels, row order.

Account ids are a seeded permutation of the generation index, and every table is sorted by
id or by time, so neither an id nor a row position says how or by which actor a row was
made (PaySim's frauds were findable by id prefix; this is the guard against that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import actors
from . import events as ev
from .contract import SPLITS, schema_for
from .labels import (
    HUMAN_SOURCES,
    WEAK_SOURCES,
    LabelRows,
    human_labels,
    strata_of,
    stratified_splits,
    weak_labels,
)
from .observables import Interactions, account_stats
from .partition import GLOBAL, rng_for
from .simulate import World


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
        reported=r.reported,
        report_reason=np.asarray(ev.REASONS)[r.reason],
        reason_names=ev.REASONS,
    )


def make_labels(world: World, seed: int) -> Labelled:
    rng = rng_for(seed, GLOBAL, "labels")
    truth = actors.truth_columns(world.pop)
    stats = account_stats(interactions(world))
    weak = weak_labels(stats, actors.TASKS, world.scn, rng)
    reported = np.bincount(world.reports.reported, minlength=len(world.pop)) > 0
    human = human_labels(truth, reported, world.scn, rng)
    split = stratified_splits(strata_of(truth), world.scn, rng)
    return Labelled(truth, weak, human, split)


def _dict(values: np.ndarray, names: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(values.astype(np.int8)), pa.array(list(names)))


def _codes(strings: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    lookup = {s: i for i, s in enumerate(names)}
    uniq, inv = np.unique(strings.astype(str), return_inverse=True)
    return np.array([lookup[u] for u in uniq], dtype=np.int8)[inv]


def _table(name: str, cols: dict, order: np.ndarray | None = None) -> pa.Table:
    schema = schema_for(name, actors.TASKS)
    arrays = []
    for field in schema:
        col = cols[field.name]
        if order is not None:
            col = col.take(pa.array(order)) if isinstance(col, pa.Array) else col[order]
        arrays.append(col if isinstance(col, pa.Array) else pa.array(col, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _time_order(ts: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Order by (ts, src) through one int64 key: ts < 2**32 s and ids < 2**31."""
    return np.argsort((ts.astype(np.int64) << 31) | src, kind="stable")


def _label_table(name: str, rows: LabelRows, perm: np.ndarray, sources: tuple[str, ...]) -> pa.Table:
    aid = perm[rows.account]
    task = _codes(rows.task, actors.TASKS)
    src = _codes(rows.source, sources)
    order = np.lexsort((src, task, aid))
    cols = {"account_id": aid, "task": _dict(task, actors.TASKS), "label": rows.label, "source": _dict(src, sources)}
    return _table(name, cols, order)


def to_tables(world: World, lab: Labelled, seed: int) -> dict[str, pa.Table]:
    pop, n = world.pop, len(world.pop)
    perm = rng_for(seed, GLOBAL, "ids").permutation(n).astype(np.int64)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    aid = np.arange(n, dtype=np.int64)
    t: dict[str, pa.Table] = {}
    t["accounts"] = _table(
        "accounts",
        {
            "account_id": aid,
            "signup_day": pop.signup_day[inv],
            "asserted_age": pop.asserted_age[inv],
            "region": pop.region[inv],
            "client": _dict(pop.client[inv], ("app", "web")),
            "anonymizer": pop.anonymizer[inv],
            "profile_completeness": pop.completeness[inv],
        },
    )
    u, v = perm[world.friends[0]], perm[world.friends[1]]
    src, dst = np.minimum(u, v), np.maximum(u, v)
    t["friendships"] = _table(
        "friendships", {"src": src, "dst": dst, "day": world.friends[2]}, np.argsort(src * n + dst)
    )
    rq = world.requests
    src, dst = perm[rq.src], perm[rq.dst]
    t["contact_requests"] = _table(
        "contact_requests", {"src": src, "dst": dst, "ts": rq.ts, "accepted": world.accepted}, _time_order(rq.ts, src)
    )
    m = world.messages
    src = perm[m.src]
    dst = np.where(m.dst >= 0, perm[np.maximum(m.dst, 0)], ev.NO_DST)
    t["messages"] = _table(
        "messages",
        {
            "src": src,
            "dst": dst,
            "ts": m.ts,
            "size_bytes": m.size_bytes,
            "media": _dict(m.media, ev.MEDIA),
            "group_id": m.group_id,
            "forwarded": m.forwarded,
        },
        _time_order(m.ts, src),
    )
    g = world.groups
    t["groups"] = _table("groups", {"group_id": np.arange(g.n, dtype=np.int64), "created_ts": g.created_ts})
    acc, grp, joined = world.members
    macc = perm[acc]
    t["group_members"] = _table(
        "group_members", {"group_id": grp, "account_id": macc, "joined_ts": joined}, np.argsort(grp * n + macc)
    )
    r = world.reports
    rep = perm[r.reporter]
    t["reports"] = _table(
        "reports",
        {"reporter": rep, "reported": perm[r.reported], "ts": r.ts, "reason": _dict(r.reason, ev.REASONS)},
        _time_order(r.ts, rep),
    )
    truth = {
        "account_id": aid,
        "true_age": pop.true_age[inv],
        "sophistication": np.full(n, -1, np.int8),
        "is_victim": np.zeros(n, dtype=bool),
    }
    truth.update({task: col[inv] for task, col in lab.truth.items()})
    t["truth"] = _table("truth", truth)
    empty = np.zeros(0, dtype=np.int64)
    t["harm_events"] = _table(
        "harm_events",
        {"offender": empty, "victim": empty, "ts": empty, "kind": _dict(np.zeros(0, np.int8), ("image_exchange",))},
    )
    t["weak_labels"] = _label_table("weak_labels", lab.weak, perm, WEAK_SOURCES)
    t["human_labels"] = _label_table("human_labels", lab.human, perm, HUMAN_SOURCES)
    t["splits"] = _table(
        "splits", {"account_id": aid, "split": _dict(lab.split[inv], SPLITS), "period": np.ones(n, dtype=np.int8)}
    )
    return t
