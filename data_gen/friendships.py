"""Friendship graph: heavy-tailed degrees, age homophily, communities, triadic closure.

Each account draws a Poisson number of edge "stubs" proportional to its lognormal
sociability; each stub picks a context (school, workplace, local group, family, an
account of similar sociability in the same age band, or the wider region) and a partner
inside that context with probability proportional to sociability (a Chung-Lu graph per
community). A second round closes triangles over friends of friends. The targets are the
shape of Ugander et al. 2011 (The Anatomy of the Facebook Social Graph): heavy tail,
clustering far above a random graph, strong age assortativity, positive degree
assortativity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from common.arrays import argsort_keys, bits
from data_gen.config import Scenario
from data_gen.partition import GLOBAL, rng_for
from data_gen.population import N_BANDS, Population

SCHOOL, WORK, LOCAL, FAMILY, ASSORT, REGION = range(6)
# Context mix per age band (rows: bands 10-14, 15-17, 18-22, 23-29, 30s, 40s, 50s, 60+;
# columns: SCHOOL .. REGION, shares), before the assortative share from the config is
# applied. Minors' friends come from school and family, which is what keeps minors' friends
# mostly minors (age homophily). Calibration: chosen so that the graph has the shape of
# Ugander et al. 2011 (strong age assortativity, clustering far above a random graph).
_CONTEXT = np.array(
    [
        [0.62, 0.00, 0.22, 0.16, 0.0, 0.00],
        [0.62, 0.00, 0.24, 0.14, 0.0, 0.00],
        [0.40, 0.15, 0.25, 0.06, 0.0, 0.14],
        [0.00, 0.40, 0.32, 0.06, 0.0, 0.22],
        [0.00, 0.40, 0.32, 0.08, 0.0, 0.20],
        [0.00, 0.38, 0.32, 0.10, 0.0, 0.20],
        [0.00, 0.34, 0.34, 0.10, 0.0, 0.22],
        [0.00, 0.20, 0.42, 0.14, 0.0, 0.24],
    ]
)
assert _CONTEXT.shape[0] == N_BANDS
# An assortative partner is drawn within a normal step of its sociability rank in the band,
# of standard deviation max(MIN_WIDTH, WIDTH_SHARE x band size) ranks. Arbitrary: close
# enough for a positive degree assortativity (Ugander et al. 2011), wide enough to vary.
ASSORT_MIN_WIDTH = 3.0
ASSORT_WIDTH_SHARE = 0.003


@dataclass(frozen=True)
class CommunityIndex:
    """Members sorted by community with cumulative weights, for weighted sampling."""

    order: np.ndarray
    cumw: np.ndarray
    first: np.ndarray  # first position of each community in `order`
    last: np.ndarray  # one past the last position
    base: np.ndarray  # cumulative weight before each community's first member
    span: np.ndarray  # each community's total weight (0 when empty)
    unit: bool  # every weight is 1

    @staticmethod
    def build(comm: np.ndarray, weight: np.ndarray | None, n_comm: int) -> CommunityIndex:
        """Index of the members of each community; `weight` None means unit weights."""
        member = np.flatnonzero(comm >= 0)
        cm = comm[member]
        order = member[argsort_keys(cm, n_comm)]
        counts = np.bincount(cm, minlength=n_comm)
        last = np.cumsum(counts)
        first = last - counts
        if weight is None:
            cumw = np.arange(1, len(order) + 1, dtype=np.float64)
        else:
            cumw = np.cumsum(weight[order], dtype=np.float64)
        base = cumw[first - 1] if len(cumw) else np.zeros(n_comm)
        base[first == 0] = 0.0
        span = cumw[last - 1] - base if len(cumw) else np.zeros(n_comm)
        span[counts == 0] = 0.0
        unit = weight is None and len(cumw) < 2**52
        return CommunityIndex(order, cumw, first, last, base, span, unit)

    def sample(self, comm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One weighted member per entry of `comm` (-1 where the community is empty)."""
        out = np.full(len(comm), -1, dtype=np.int64)
        self.sample_into(out, None, comm, rng)
        return out

    def sample_into(self, out: np.ndarray, at: np.ndarray | None, comm: np.ndarray, rng: np.random.Generator) -> None:
        """`out[at] = sample(comm)`, leaving `out` as it is where the community is empty."""
        idx = np.flatnonzero(comm >= 0)
        c = comm[idx]
        last = self.last[c]
        nonempty = last > self.first[c]
        if not nonempty.all():
            c, last, idx = c[nonempty], last[nonempty], idx[nonempty]
        u = rng.random(len(c))
        u *= self.span[c]
        u += self.base[c]
        # With unit weights cumw[i] == i + 1 exactly, so the search is a floor.
        pos = u.astype(np.int64) if self.unit else search_right(self.cumw, u)
        last -= 1
        np.minimum(pos, last, out=pos)  # u rounded up to the community's end
        out[idx if at is None else at[idx]] = self.order[pos]


def search_right(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`np.searchsorted(cum, u, side="right")` for non-negative floats `u` (ordered_search)."""
    return ordered_search(cum, u, "right")


def ordered_search(a: np.ndarray, q: np.ndarray, side: str = "left") -> np.ndarray:
    """`np.searchsorted(a, q, side)` for non-negative float64 or integer `q`, answered in
    ascending order of `q`: the same positions, several times faster on large arrays
    (random queries defeat branch prediction and cache; ordered ones do not). The order
    comes from one integer sort of the values' bit patterns (monotone for q >= 0), high
    bits only, with the row index packed into the low bits; the search itself uses the
    exact values."""
    n = len(q)
    if n < 1 << 14:
        return np.searchsorted(a, q, side=side)
    b = bits(n - 1)
    key = q.view(np.int64) if q.dtype == np.float64 else q.astype(np.int64, copy=False)
    key = key >> b
    key <<= b
    for lo in range(0, n, 1 << 20):
        hi = min(lo + (1 << 20), n)
        key[lo:hi] |= np.arange(lo, hi, dtype=np.int64)
    key.sort()
    key &= (1 << b) - 1
    out = np.empty(n, dtype=np.int64)
    out[key] = np.searchsorted(a, q[key], side=side)
    return out


@dataclass(frozen=True)
class GraphState:
    scn: Scenario
    seed: int
    bounds: list[tuple[int, int]]
    pop: Population
    indexes: dict[int, CommunityIndex]
    assort_order: np.ndarray
    assort_pos: np.ndarray
    band_first: np.ndarray
    band_last: np.ndarray
    stub_rate: np.ndarray

    @property
    def n(self) -> int:
        return len(self.pop)


def graph_state(scn: Scenario, seed: int, bounds, pop: Population, n_comm: dict[int, int]) -> GraphState:
    w = pop.sociability.astype(np.float64)
    indexes = {
        SCHOOL: CommunityIndex.build(pop.school, w, n_comm[SCHOOL]),
        WORK: CommunityIndex.build(pop.workplace, w, n_comm[WORK]),
        LOCAL: CommunityIndex.build(pop.local, w, n_comm[LOCAL]),
        FAMILY: CommunityIndex.build(pop.family, None, len(pop)),
        REGION: CommunityIndex.build(pop.region, w, n_comm[REGION]),
    }
    order = _band_sociability_order(pop)
    pos = np.empty(len(pop), dtype=np.int64)
    pos[order] = np.arange(len(pop))
    counts = np.bincount(pop.band, minlength=N_BANDS)
    last = np.cumsum(counts)
    gc = scn.graph
    rate = w / w.mean() * gc.mean_degree / 2.0
    rate = np.minimum(rate, gc.max_degree / 2.0)
    return GraphState(scn, seed, bounds, pop, indexes, order, pos, last - counts, last, rate)


def _band_sociability_order(pop: Population) -> np.ndarray:
    """`np.lexsort((sociability, band))` by one integer sort: band, the float32 bit pattern
    of the (positive) sociability and the row index packed into one int64."""
    n = len(pop)
    soc = pop.sociability
    ib = bits(max(n - 1, 1))
    if soc.dtype != np.float32 or 3 + 31 + ib > 63 or n == 0 or soc.min() <= 0:
        return np.lexsort((soc.astype(np.float64), pop.band))
    key = pop.band.astype(np.int64) << (31 + ib)
    key |= soc.view(np.int32).astype(np.int64) << ib
    key |= np.arange(n, dtype=np.int64)
    key.sort()
    key &= (1 << ib) - 1
    return key


def _contexts(st: GraphState, band: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Context of each stub, drawn from its initiator's band's mix."""
    probs = _CONTEXT.copy()
    share = st.scn.graph.assortative_share
    probs *= (1 - share) / probs.sum(axis=1, keepdims=True)
    probs[:, ASSORT] = share
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    # The context is the number of the band's CDF steps at or below u. Both sides carry an
    # offset of one per band (as in one searchsorted over the stacked CDFs), so the float
    # comparisons are exactly those of that search; the last step (1 + band) is never
    # reached since u < 1.
    step = cdf + np.arange(N_BANDS)[:, None]
    x = rng.random(len(band))
    x *= 1 - 1e-12
    x += band
    band = band.astype(np.intp)
    ctx = np.zeros(len(band), dtype=np.int8)
    for j in range(cdf.shape[1] - 1):
        ctx += x >= np.ascontiguousarray(step[:, j]).take(band)
    return ctx


def _assortative(st: GraphState, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A partner of similar sociability in the same age band (positive degree assortativity)."""
    first, last = st.band_first, st.band_last
    # Per-band tables hold the same floats the per-stub expressions would.
    width = np.maximum(ASSORT_MIN_WIDTH, ASSORT_WIDTH_SHARE * (last - first))
    top = np.maximum(first, last - 1)
    band = st.pop.band[src].astype(np.intp)
    step = rng.normal(0.0, 1.0, len(src))
    step *= width.take(band)
    pos = np.rint(step).astype(np.int64)
    pos += st.assort_pos[src]
    np.clip(pos, first.take(band), top.take(band), out=pos)
    return st.assort_order[pos]


def stubs_partition(st: GraphState, p: int) -> np.ndarray:
    """Round 1: community edges initiated by partition p, as edge keys (-1 for none; the
    parent sorts and deduplicates all partitions' keys in one go)."""
    lo, hi = st.bounds[p]
    rng = rng_for(st.seed, p, "friendships")
    share = 1.0 - st.scn.graph.triadic_share
    m = rng.poisson(st.stub_rate[lo:hi] * share)
    itype = np.int32 if st.n < 2**31 else np.int64
    src = np.repeat(np.arange(lo, hi, dtype=itype), m)
    ctx = _contexts(st, np.repeat(st.pop.band[lo:hi], m), rng)
    dst = np.full(len(src), -1, dtype=itype)
    pop = st.pop
    comm_of = {SCHOOL: pop.school, WORK: pop.workplace, FAMILY: pop.family, REGION: pop.region}
    for c, arr in comm_of.items():
        sel = np.flatnonzero(ctx == c)
        st.indexes[c].sample_into(dst, sel, arr[src[sel]], rng)
    sel = np.flatnonzero(ctx == ASSORT)
    dst[sel] = _assortative(st, src[sel], rng)
    # Local group is the fallback for every context the account does not belong to.
    miss = ctx == LOCAL
    miss |= dst < 0
    sel = np.flatnonzero(miss)
    st.indexes[LOCAL].sample_into(dst, sel, pop.local[src[sel]], rng)
    return raw_keys(src, dst, st.n)


def closure_partition(args: tuple[GraphState, sp.csr_matrix], p: int) -> np.ndarray:
    """Round 2: triadic closure, a friend of a random friend (the main source of clustering),
    as edge keys (-1 for none)."""
    st, adj = args
    lo, hi = st.bounds[p]
    rng = rng_for(st.seed, p, "closure")
    m = rng.poisson(st.stub_rate[lo:hi] * st.scn.graph.triadic_share)
    src = np.repeat(np.arange(lo, hi, dtype=np.int64), m)
    mid = random_neighbour(adj, src, rng)
    ok = mid >= 0
    dst = np.full(len(src), -1, dtype=np.int64)
    dst[ok] = random_neighbour(adj, mid[ok], rng)
    return raw_keys(src, dst, st.n)


def random_neighbour(adj: sp.csr_matrix, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random neighbour of each node (-1 for isolated nodes)."""
    start = adj.indptr[nodes]
    deg = adj.indptr[nodes + 1]
    deg -= start
    has = deg > 0
    if has.all():
        r = rng.random(len(nodes))
        r *= deg
        pick = r.astype(np.int64)
        pick += start
        return adj.indices[pick].astype(np.int64)
    out = np.full(len(nodes), -1, dtype=np.int64)
    pick = start[has] + np.floor(rng.random(has.sum()) * deg[has]).astype(np.int64)
    out[has] = adj.indices[pick]
    return out


def key_shift(n: int) -> int:
    """Bits of the low end of an edge key: key = (u << key_shift(n)) | v, ordered like (u, v)."""
    return bits(max(n - 1, 1))


def edge_key(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Canonical key of each undirected pair (a, b): (min << s) | max."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return (np.minimum(a, b) << key_shift(n)) | np.maximum(a, b)


def edge_ends(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of each edge key, u < v."""
    s = key_shift(n)
    return keys >> s, keys & ((1 << s) - 1)


def raw_keys(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Edge key (int64) of each pair (src, dst), -1 for self-loops and pairs with a
    negative end (see `unique_keys`)."""
    s = key_shift(n)
    key = np.empty(len(src), dtype=np.int64)
    np.minimum(src, dst, out=key)
    bad = key < 0
    bad |= src == dst
    key <<= s
    key |= np.maximum(src, dst)
    key[bad] = -1
    return key


def unique_keys(key: np.ndarray) -> np.ndarray:
    """Sorted unique non-negative keys; sorts `key` in place. Invalid keys (-1) sort first
    and are cut off, so no masked copy of the input is made."""
    key.sort()
    keep = np.empty(len(key), dtype=bool)
    if len(key):
        keep[0] = key[0] >= 0
        np.not_equal(key[1:], key[:-1], out=keep[1:])
    return key[keep]


def edge_keys(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique edge keys of int64 pairs (src, dst), without self-loops or pairs with
    a negative end."""
    return unique_keys(raw_keys(src, dst, n))


def canonical_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique undirected edge keys (see `edge_key`) of an (m, 2) pair array, dropping
    self-loops and invalid ends."""
    pairs = np.asarray(pairs, dtype=np.int64)
    return edge_keys(np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]), n)


def merge_keys(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted unique edge keys of several arrays of keys (any order, -1 for none)."""
    return unique_keys(np.concatenate(parts) if len(parts) != 1 else parts[0].copy())


def adjacency(keys: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric 0/1 CSR adjacency (int32 data, sorted indices) from sorted edge keys.

    Row r holds its lower neighbours (edges (u, r), u < r) then its upper ones ((r, v),
    v > r). Over the whole index array, the upper ones appear in key order and the lower
    ones in the order of the sorted swapped keys, so each half is written with one boolean
    mask of the slots: one sort of E keys instead of 2E, and no scattered writes."""
    s = key_shift(n)
    u, v = edge_ends(keys, n)
    out_deg = np.bincount(u, minlength=n)
    in_deg = np.bincount(v, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(out_deg, out=indptr[1:])
    indptr[1:] += np.cumsum(in_deg)
    runs = np.empty(2 * n, dtype=np.int64)  # per row: in_deg lower slots, then out_deg upper
    runs[0::2] = in_deg
    runs[1::2] = out_deg
    lower = np.repeat(np.tile(np.array([True, False]), n), runs)
    indices = np.empty(2 * len(keys), dtype=np.int32 if n < 2**31 else np.int64)
    indices[~lower] = v
    v <<= s  # the swapped keys (v, u), sorted: lower neighbours grouped by row
    v |= u
    del u
    v.sort()
    v &= (1 << s) - 1
    indices[lower] = v
    adj = sp.csr_matrix((np.ones(len(indices), dtype=np.int32), indices, indptr), shape=(n, n))
    adj.has_sorted_indices = True
    return adj


def edge_days(keys: np.ndarray, days: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Day each friendship (a, b) formed, looked up in the sorted canonical keys."""
    pos = ordered_search(keys, edge_key(a, b, n))
    return days[pos]


def background_days(keys: np.ndarray, n: int, pop: Population, scn: Scenario, seed: int) -> np.ndarray:
    """Day each background friendship formed: after both signed up, within the history horizon."""
    rng = rng_for(seed, GLOBAL, "friendships")
    u, v = edge_ends(keys, n)
    lo = pop.signup_day[u]
    np.maximum(lo, pop.signup_day[v], out=lo)
    np.maximum(lo, -scn.graph.friendship_history_days, out=lo)
    del u, v
    hi = scn.activity.days
    day = rng.random(len(keys))  # lo + floor(u * (hi - lo)), in place
    day *= hi - lo
    np.floor(day, out=day)
    day += lo
    return day.astype(np.int32)
