"""Realism statistics against networkx, and the realism targets of the simulated graph."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from bench.audit.realism import average_clustering, edge_assortativity, summary


@pytest.fixture(scope="module")
def graph():
    g = nx.powerlaw_cluster_graph(400, 4, 0.5, seed=2)
    adj = sp.csr_matrix(nx.to_scipy_sparse_array(g, nodelist=range(400), dtype=float))
    return g, adj


def test_clustering_matches_networkx(graph):
    g, adj = graph
    got, n = average_clustering(adj, sample=10_000)
    assert n == 400
    assert got == pytest.approx(nx.average_clustering(g), rel=1e-9)


def test_degree_assortativity_matches_networkx(graph):
    g, adj = graph
    deg = np.asarray(adj.sum(axis=1)).ravel()
    assert edge_assortativity(adj, deg) == pytest.approx(nx.degree_assortativity_coefficient(g), abs=1e-9)


def test_numeric_assortativity_matches_networkx(graph):
    g, adj = graph
    value = np.random.default_rng(0).integers(10, 80, 400)
    nx.set_node_attributes(g, {i: int(v) for i, v in enumerate(value)}, "age")
    assert edge_assortativity(adj, value) == pytest.approx(nx.numeric_assortativity_coefficient(g, "age"), abs=1e-9)


def test_simulated_graph_meets_realism_targets(medium):
    """Ugander et al. 2011 shape, scaled down: these are properties of the generator that a
    change can break, so they are checked, not assumed."""
    s = summary(medium)
    c = s.clustering.average_local
    assert 0.05 <= c <= 0.3
    assert c > 50 * s.clustering.random_graph_reference
    assert s.age_assortativity > 0.3
    assert s.minors_friends_minor_share > 0.5
    assert s.degree_assortativity > 0.0
    assert s.degree.max > 10 * s.degree.median
    assert s.degree.p99 > 3 * s.degree.median
