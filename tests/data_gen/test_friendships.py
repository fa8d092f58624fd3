import networkx as nx
import numpy as np

from data_gen.friendships import CommunityIndex, adjacency, canonical_keys, edge_ends, edge_key, random_neighbour


def test_community_sampling_stays_inside_the_community():
    rng = np.random.default_rng(0)
    comm = np.array([0, 0, 1, 1, 1, -1, 2])
    w = np.array([1.0, 3.0, 1.0, 1.0, 1.0, 5.0, 2.0])
    idx = CommunityIndex.build(comm, w, 4)
    ask = np.array([0] * 4000 + [1] * 100 + [2] * 10 + [3] * 5 + [-1] * 5)
    got = idx.sample(ask, rng)
    assert set(got[:4000]) == {0, 1}
    # Proportional to weight: member 1 has 3x member 0's weight.
    assert 0.7 < (got[:4000] == 1).mean() < 0.8
    assert set(got[4000:4100]) == {2, 3, 4}
    assert set(got[4100:4110]) == {6}
    assert np.all(got[4110:] == -1), "empty community and no community give -1"


def test_canonical_keys_drop_self_loops_and_duplicates():
    pairs = np.array([[1, 2], [2, 1], [3, 3], [0, 4], [-1, 2], [4, 0]])
    keys = canonical_keys(pairs, 5)
    np.testing.assert_array_equal(keys, edge_key(np.array([0, 1]), np.array([4, 2]), 5))
    np.testing.assert_array_equal(np.stack(edge_ends(keys, 5)), [[0, 1], [4, 2]])


def test_adjacency_and_random_neighbour_match_networkx():
    g = nx.gnm_random_graph(50, 120, seed=1)
    pairs = np.array(list(g.edges()))
    adj = adjacency(canonical_keys(pairs, 50), 50)
    assert adj.nnz == 2 * g.number_of_edges()
    rng = np.random.default_rng(0)
    nodes = np.repeat(np.arange(50), 5)
    nb = random_neighbour(adj, nodes, rng)
    for a, b in zip(nodes, nb, strict=True):
        assert (b == -1 and g.degree(a) == 0) or g.has_edge(a, b)


def test_adjacency_is_the_sorted_symmetric_csr():
    rng = np.random.default_rng(3)
    n = 300
    pairs = rng.integers(0, n, (2000, 2))
    keys = canonical_keys(pairs, n)
    adj = adjacency(keys, n)
    u, v = edge_ends(keys, n)
    ref = np.zeros((n, n), dtype=np.int32)
    ref[u, v] = ref[v, u] = 1
    np.testing.assert_array_equal(adj.toarray(), ref)
    for r in range(n):  # neighbours in ascending order in every row
        row = adj.indices[adj.indptr[r] : adj.indptr[r + 1]]
        assert np.all(np.diff(row) > 0)


def test_weighted_search_matches_searchsorted():
    from data_gen.friendships import search_right

    rng = np.random.default_rng(4)
    cum = np.cumsum(rng.lognormal(0, 1, 5000))
    u = rng.random(100_000) * cum[-1]
    u[:50] = cum[:50]  # exact ties go right
    np.testing.assert_array_equal(search_right(cum, u), np.searchsorted(cum, u, side="right"))


def test_unit_weight_index_samples_uniformly():
    comm = np.array([0, 1, 0, 1, 0, 2, -1])
    idx = CommunityIndex.build(comm, None, 4)
    got = idx.sample(np.array([0] * 3000 + [2, 3, -1]), np.random.default_rng(0))
    assert set(got[:3000]) == {0, 2, 4}
    assert np.all(np.bincount(got[:3000])[[0, 2, 4]] > 900)
    assert got[3000] == 5 and got[3001] == -1 and got[3002] == -1
