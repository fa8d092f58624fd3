"""Realism and base-rate summary of a dataset (`lowbase inspect`).

The graph statistics are the ones Ugander et al. 2011 report for Facebook, so a dataset can
be compared with a real social graph: degree distribution, average local clustering (on a
sample of nodes), degree and age assortativity (Newman's Pearson coefficient over edge
ends), and the share of minors' friends who are minors.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from bench.audit.records import ClusteringSummary, DegreeSummary, GroomerCounts, MessageCounts, RealismSummary
from data_gen.reader import Dataset

CLUSTERING_SAMPLE = 3000


def adjacency(ds: Dataset) -> sp.csr_matrix:
    f = ds.table("friendships", ["src", "dst"])
    n = ds.meta["rows"]["accounts"]
    u = f["src"].to_numpy()
    v = f["dst"].to_numpy()
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n, n))


def average_clustering(adj: sp.csr_matrix, sample: int, seed: int = 0) -> tuple[float, int]:
    """Mean local clustering coefficient over a uniform node sample (nodes of degree < 2
    count as 0, as in networkx.average_clustering)."""
    n = adj.shape[0]
    rng = np.random.default_rng(seed)
    nodes = rng.choice(n, size=min(sample, n), replace=False)
    a_s = adj[nodes]
    deg = np.asarray(a_s.sum(axis=1)).ravel()
    # Triangles through node i: (A_S A) ∘ A_S summed over the row, halved.
    tri = np.asarray((a_s @ adj).multiply(a_s).sum(axis=1)).ravel() / 2.0
    denom = deg * (deg - 1) / 2.0
    local = np.divide(tri, denom, out=np.zeros_like(tri), where=denom > 0)
    return float(local.mean()), len(nodes)


def edge_assortativity(adj: sp.csr_matrix, value: np.ndarray) -> float:
    """Pearson correlation of `value` at the two ends of every edge (both directions)."""
    coo = adj.tocoo()
    x, y = value[coo.row].astype(float), value[coo.col].astype(float)
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def summary(ds: Dataset, clustering_sample: int = CLUSTERING_SAMPLE) -> RealismSummary:
    """The dataset's identity, row counts, realised base rates (truth) and the graph
    statistics above (`lowbase inspect`)."""
    meta = ds.meta
    adj = adjacency(ds)
    n = adj.shape[0]
    deg = np.asarray(adj.sum(axis=1)).ravel()
    truth = ds.table("truth", ["true_age"])
    age = truth["true_age"].to_numpy()
    minor = age < 18
    coo = adj.tocoo()
    from_minor = minor[coo.row]
    clustering, sampled = average_clustering(adj, clustering_sample)
    msgs = ds.table("messages", ["dst"])
    one_to_one = int(pc.sum(pc.greater_equal(msgs["dst"], 0)).as_py() or 0)
    return RealismSummary(
        path=str(ds.path),
        generator_version=meta["generator_version"],
        scenario=meta["scenario"].get("name"),
        seed=meta["seed"],
        fingerprint=meta["fingerprint"],
        rows=meta["rows"],
        base_rates=meta.get("base_rates", {}),
        positives=meta.get("positives", {}),
        degree=DegreeSummary(
            mean=float(deg.mean()),
            median=float(np.median(deg)),
            p99=float(np.percentile(deg, 99)),
            max=int(deg.max()) if n else 0,
            isolated_share=float((deg == 0).mean()),
        ),
        clustering=ClusteringSummary(
            average_local=clustering,
            sampled_nodes=sampled,
            random_graph_reference=float(deg.mean() / max(n - 1, 1)),
        ),
        degree_assortativity=edge_assortativity(adj, deg),
        age_assortativity=edge_assortativity(adj, age),
        minor_share=float(minor.mean()),
        minors_friends_minor_share=float(minor[coo.col][from_minor].mean()) if from_minor.any() else float("nan"),
        messages=MessageCounts(one_to_one=one_to_one, group=int(msgs.num_rows - one_to_one)),
        groomers=_groomers(ds),
    )


def _groomers(ds: Dataset) -> GroomerCounts:
    """Counts behind every groomer figure, stated even when they are zero."""
    truth = ds.table("truth", ["sophistication", "is_victim"])
    level = truth["sophistication"].to_numpy()
    scn = ds.meta["scenario"]
    return GroomerCounts(
        expected=scn["accounts"] * scn.get("harm", {}).get("groomer_rate", 0.0),
        count=int((level >= 0).sum()),
        by_level={f"L{i}": int((level == i).sum()) for i in range(4)},
        victims=int(truth["is_victim"].to_numpy().sum()),
        harm_events=ds.meta["rows"].get("harm_events", 0),
    )
