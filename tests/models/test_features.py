"""Deep features against a slow, loop-based reference on a small dataset."""

from collections import defaultdict

import numpy as np
import pytest

from models.features import aggregate, aggregate_groups, build_features, edge_types, raw_features


@pytest.fixture(scope="module")
def full(small):
    return small.view("full")


@pytest.fixture(scope="module")
def raw(full):
    return raw_features(full)


def test_raw_counts_match_the_tables(small, raw):
    n = small.meta["rows"]["accounts"]
    f = small.table("friendships")
    deg = np.bincount(np.concatenate([f["src"].to_numpy(), f["dst"].to_numpy()]), minlength=n)
    np.testing.assert_array_equal(raw.column("friends"), deg)
    r = small.table("contact_requests")
    acc = r["accepted"].to_numpy()
    np.testing.assert_array_equal(raw.column("requests_accepted"), np.bincount(r["src"].to_numpy()[acc], minlength=n))
    m = small.table("messages")
    one = m["dst"].to_numpy() >= 0
    np.testing.assert_array_equal(raw.column("messages_sent"), np.bincount(m["src"].to_numpy()[one], minlength=n))


def _reference(neigh: dict, x: np.ndarray, i: int):
    nb = neigh[i]
    vals = x[nb] if nb else np.zeros((0, x.shape[1]))
    count = len(nb)
    walks = sum(len(neigh[j]) for j in nb)
    two = [k for j in nb for k in neigh[j]]
    return {
        "count": count,
        "sum": vals.sum(axis=0),
        "mean": vals.mean(axis=0) if count else np.zeros(x.shape[1]),
        "max": vals.max(axis=0) if count else np.zeros(x.shape[1]),
        "std": vals.std(axis=0) if count else np.zeros(x.shape[1]),
        "walks": walks,
        "mean2": x[two].mean(axis=0) if two else np.zeros(x.shape[1]),
    }


def test_friend_aggregates_match_reference(small, full, raw):
    a = edge_types(full)["friend"]
    f = small.table("friendships")
    neigh = defaultdict(list)
    for u, v in zip(f["src"].to_numpy(), f["dst"].to_numpy(), strict=True):
        neigh[u].append(v)
        neigh[v].append(u)
    feats = aggregate(a, raw.X, "friend", raw.names)
    x = raw.X.astype(np.float64)
    k = len(raw.names)
    for i in np.random.default_rng(0).choice(len(x), 150, replace=False):
        ref = _reference(neigh, x, i)
        row = feats.X[i]
        assert row[0] == ref["count"]
        np.testing.assert_allclose(row[1 : 1 + k], ref["sum"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(row[1 + k : 1 + 2 * k], ref["mean"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(row[1 + 2 * k : 1 + 3 * k], ref["max"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(row[1 + 3 * k : 1 + 4 * k], ref["std"], rtol=1e-2, atol=2e-2)
        assert row[1 + 4 * k] == ref["walks"]
        np.testing.assert_allclose(row[2 + 4 * k : 2 + 5 * k], ref["mean2"], rtol=1e-4, atol=1e-3)


def test_group_aggregates_match_reference(small, full, raw):
    m = edge_types(full)["group"]
    gm = small.table("group_members")
    members = defaultdict(list)
    groups = defaultdict(list)
    for g, acc in zip(gm["group_id"].to_numpy(), gm["account_id"].to_numpy(), strict=True):
        members[g].append(acc)
        groups[acc].append(g)
    feats = aggregate_groups(m, raw.X, "group", raw.names)
    x = raw.X.astype(np.float64)
    k = len(raw.names)
    for i in np.random.default_rng(1).choice(len(x), 100, replace=False):
        co = [j for g in groups[i] for j in members[g] if j != i]
        row = feats.X[i]
        assert row[0] == len(co)
        if co:
            np.testing.assert_allclose(row[1 + k : 1 + 2 * k], x[co].mean(axis=0), rtol=1e-3, atol=1e-2)
            pool = [j for g in groups[i] for j in members[g]]
            np.testing.assert_allclose(row[1 + 2 * k : 1 + 3 * k], x[pool].max(axis=0), rtol=1e-5)


def test_as_of_sees_only_the_past(full):
    before = build_features(full, as_of=0)
    assert before.column("messages_sent").sum() == 0
    assert before.column("requests_sent").sum() == 0
    later = build_features(full, as_of=20 * 86_400)
    assert 0 < later.column("messages_sent").sum() < build_features(full).column("messages_sent").sum()


def test_visibility_levels(small):
    full = build_features(small.view("full"))
    sealed = build_features(small.view("sealed_sender"))
    minimal = build_features(small.view("minimal"))
    assert not any(c.split("/")[0] in ("message", "message_recent") for c in sealed.names if "/" in c)
    assert "messages_sent" not in sealed.names and "messages_received" in sealed.names
    assert not any("/" in c for c in minimal.names), "no neighbour aggregates without edges"
    assert len(full.names) > 300, "several hundred columns"
    assert full.X.shape == (small.meta["rows"]["accounts"], len(full.names))


def test_deterministic(full):
    a, b = build_features(full), build_features(full)
    assert a.names == b.names and np.array_equal(a.X, b.X)


def test_neighbour_quantiles_match_numpy(small, full, raw):
    from models.features import QUANTILE_COLUMNS, _row_quantiles

    a = edge_types(full)["friend"]
    col = raw.names.index(QUANTILE_COLUMNS[0])
    v = raw.X[:, col].copy()
    v[::7] *= -1  # negative values sort correctly too
    got = _row_quantiles(a, v, (0.5, 0.9))
    for i in np.random.default_rng(2).choice(a.shape[0], 200, replace=False):
        nb = np.sort(v[a.indices[a.indptr[i] : a.indptr[i + 1]]])
        want = [nb[int(np.floor(q * (len(nb) - 1)))] if len(nb) else 0.0 for q in (0.5, 0.9)]
        np.testing.assert_array_equal(got[i], np.asarray(want, dtype=np.float32))
