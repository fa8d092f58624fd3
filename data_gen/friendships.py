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

from .arrays import unique_sorted
from .config import Scenario
from .partition import GLOBAL, rng_for
from .population import N_BANDS, Population

SCHOOL, WORK, LOCAL, FAMILY, ASSORT, REGION = range(6)
# Context mix per age band (rows: bands 10-14, 15-17, 18-22, 23-29, 30s, 40s, 50s, 60+),
# before the assortative share from the config is applied. Minors' friends come from school
# and family, which is what keeps minors' friends mostly minors (age homophily).
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


@dataclass(frozen=True)
class CommunityIndex:
    """Members sorted by community with cumulative weights, for weighted sampling."""

    order: np.ndarray
    cumw: np.ndarray
    first: np.ndarray  # first position of each community in `order`
    last: np.ndarray  # one past the last position

    @staticmethod
    def build(comm: np.ndarray, weight: np.ndarray, n_comm: int) -> CommunityIndex:
        member = np.flatnonzero(comm >= 0)
        order = member[np.argsort(comm[member], kind="stable")]
        counts = np.bincount(comm[member], minlength=n_comm)
        last = np.cumsum(counts)
        return CommunityIndex(order, np.cumsum(weight[order], dtype=np.float64), last - counts, last)

    def sample(self, comm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One weighted member per entry of `comm` (-1 where the community is empty)."""
        out = np.full(len(comm), -1, dtype=np.int64)
        ok = comm >= 0
        a, b = self.first[comm[ok]], self.last[comm[ok]]
        nonempty = b > a
        a, b = a[nonempty], b[nonempty]
        lo = np.where(a > 0, self.cumw[np.maximum(a - 1, 0)], 0.0)
        hi = self.cumw[b - 1]
        u = lo + rng.random(len(a)) * (hi - lo)
        pos = np.clip(np.searchsorted(self.cumw, u, side="right"), a, b - 1)
        idx = np.flatnonzero(ok)[nonempty]
        out[idx] = self.order[pos]
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


def graph_state(scn: Scenario, seed: int, bounds, pop: Population, n_comm: dict[int, int]) -> GraphState:
    w = pop.sociability.astype(np.float64)
    ones = np.ones(len(pop))
    indexes = {
        SCHOOL: CommunityIndex.build(pop.school, w, n_comm[SCHOOL]),
        WORK: CommunityIndex.build(pop.workplace, w, n_comm[WORK]),
        LOCAL: CommunityIndex.build(pop.local, w, n_comm[LOCAL]),
        FAMILY: CommunityIndex.build(pop.family, ones, len(pop)),
        REGION: CommunityIndex.build(pop.region, w, n_comm[REGION]),
    }
    order = np.lexsort((w, pop.band))
    pos = np.empty(len(pop), dtype=np.int64)
    pos[order] = np.arange(len(pop))
    counts = np.bincount(pop.band, minlength=N_BANDS)
    last = np.cumsum(counts)
    gc = scn.graph
    rate = w / w.mean() * gc.mean_degree / 2.0
    rate = np.minimum(rate, gc.max_degree / 2.0)
    return GraphState(scn, seed, bounds, pop, indexes, order, pos, last - counts, last, rate)


def _contexts(st: GraphState, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    probs = _CONTEXT.copy()
    share = st.scn.graph.assortative_share
    probs *= (1 - share) / probs.sum(axis=1, keepdims=True)
    probs[:, ASSORT] = share
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    # Per-band CDFs stacked with an offset of one per band: a single searchsorted call.
    flat = (cdf + np.arange(N_BANDS)[:, None]).ravel()
    band = st.pop.band[src].astype(np.int64)
    ctx = np.searchsorted(flat, rng.random(len(src)) * (1 - 1e-12) + band, side="right") - band * cdf.shape[1]
    return np.minimum(ctx, REGION)


def _assortative(st: GraphState, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A partner of similar sociability in the same age band (positive degree assortativity)."""
    band = st.pop.band[src]
    first, last = st.band_first[band], st.band_last[band]
    width = np.maximum(3.0, 0.003 * (last - first))
    pos = st.assort_pos[src] + np.rint(rng.normal(0.0, 1.0, len(src)) * width).astype(np.int64)
    pos = np.clip(pos, first, np.maximum(first, last - 1))
    return st.assort_order[pos]


def stubs_partition(st: GraphState, p: int) -> np.ndarray:
    """Round 1: community edges initiated by partition p, as an (m, 2) generation-index array."""
    lo, hi = st.bounds[p]
    rng = rng_for(st.seed, p, "friendships")
    share = 1.0 - st.scn.graph.triadic_share
    m = rng.poisson(st.stub_rate[lo:hi] * share)
    src = np.repeat(np.arange(lo, hi, dtype=np.int64), m)
    ctx = _contexts(st, src, rng)
    dst = np.full(len(src), -1, dtype=np.int64)
    pop = st.pop
    comm_of = {SCHOOL: pop.school, WORK: pop.workplace, FAMILY: pop.family, REGION: pop.region}
    for c, arr in comm_of.items():
        sel = np.flatnonzero(ctx == c)
        dst[sel] = st.indexes[c].sample(arr[src[sel]].astype(np.int64), rng)
    sel = np.flatnonzero(ctx == ASSORT)
    dst[sel] = _assortative(st, src[sel], rng)
    # Local group is the fallback for every context the account does not belong to.
    sel = np.flatnonzero((ctx == LOCAL) | (dst < 0))
    dst[sel] = st.indexes[LOCAL].sample(pop.local[src[sel]].astype(np.int64), rng)
    return np.stack([src, dst], axis=1)


def closure_partition(args: tuple[GraphState, sp.csr_matrix], p: int) -> np.ndarray:
    """Round 2: triadic closure, a friend of a random friend (the main source of clustering)."""
    st, adj = args
    lo, hi = st.bounds[p]
    rng = rng_for(st.seed, p, "closure")
    m = rng.poisson(st.stub_rate[lo:hi] * st.scn.graph.triadic_share)
    src = np.repeat(np.arange(lo, hi, dtype=np.int64), m)
    mid = random_neighbour(adj, src, rng)
    ok = mid >= 0
    dst = np.full(len(src), -1, dtype=np.int64)
    dst[ok] = random_neighbour(adj, mid[ok], rng)
    return np.stack([src, dst], axis=1)


def random_neighbour(adj: sp.csr_matrix, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random neighbour of each node (-1 for isolated nodes)."""
    start = adj.indptr[nodes]
    deg = adj.indptr[nodes + 1] - start
    out = np.full(len(nodes), -1, dtype=np.int64)
    has = deg > 0
    pick = start[has] + np.floor(rng.random(has.sum()) * deg[has]).astype(np.int64)
    out[has] = adj.indices[pick]
    return out


def canonical_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique undirected edge keys u*n+v (u<v), dropping self-loops and invalid ends."""
    u, v = pairs[:, 0], pairs[:, 1]
    ok = (u >= 0) & (v >= 0) & (u != v)
    lo, hi = np.minimum(u[ok], v[ok]), np.maximum(u[ok], v[ok])
    return unique_sorted(lo * n + hi)


def adjacency(keys: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric 0/1 CSR adjacency (int32 data, sorted indices) from canonical keys.

    Built from one sort of the directed keys, which is cheaper than scipy's COO->CSR."""
    directed = np.concatenate([keys, (keys % n) * n + keys // n])
    directed.sort()
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(directed // n, minlength=n), out=indptr[1:])
    indices = (directed % n).astype(np.int32 if n < 2**31 else np.int64)
    adj = sp.csr_matrix((np.ones(len(indices), dtype=np.int32), indices, indptr), shape=(n, n))
    adj.has_sorted_indices = True
    return adj


def edge_days(keys: np.ndarray, days: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Day each friendship (a, b) formed, looked up in the sorted canonical keys."""
    pos = np.searchsorted(keys, np.minimum(a, b) * n + np.maximum(a, b))
    return days[pos]


def background_days(keys: np.ndarray, n: int, pop: Population, scn: Scenario, seed: int) -> np.ndarray:
    """Day each background friendship formed: after both signed up, within the history horizon."""
    rng = rng_for(seed, GLOBAL, "friendships")
    u, v = keys // n, keys % n
    lo = np.maximum(np.maximum(pop.signup_day[u], pop.signup_day[v]), -scn.graph.friendship_history_days)
    hi = scn.activity.days
    return (lo + np.floor(rng.random(len(keys)) * (hi - lo))).astype(np.int32)
