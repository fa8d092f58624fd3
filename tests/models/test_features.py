"""Deep features against a slow, loop-based reference on a small dataset."""

from collections import defaultdict

import numpy as np
import pytest

from models.aggregates import block_quantiles, edge_first_order, row_quantiles
from models.feature_layout import EDGE, GROUP, QUANTILE_COLUMNS, QUANTILES, FeatureLayout
from models.features import (
    aggregate,
    aggregate_groups,
    build_features,
    deep_features,
    edge_types,
    feature_inputs,
    own_features,
    raw_features,
)


def test_raw_counts_match_the_tables(small, raw):
    n = small.meta["rows"]["accounts"]
    f = small.table("friendships")
    deg = np.bincount(np.concatenate([f["src"].to_numpy(), f["dst"].to_numpy()]), minlength=n)
    np.testing.assert_array_equal(raw.column("friends"), deg)
    r = small.table("contact_requests")
    acc = r["accepted"].to_numpy()
    np.testing.assert_array_equal(raw.column("requests_accepted"), np.bincount(r["src"].to_numpy()[acc], minlength=n))
    m = small.table("messages")
    src, dst, ts = m["src"].to_numpy(), m["dst"].to_numpy(), m["ts"].to_numpy()
    media = np.asarray(m["media"].to_pylist())
    one = dst >= 0
    np.testing.assert_array_equal(raw.column("messages_sent"), np.bincount(src[one], minlength=n))
    np.testing.assert_array_equal(raw.column("group_messages_sent"), np.bincount(src[~one], minlength=n))
    for kind in ("text", "image", "video", "link"):
        sel = media == kind
        np.testing.assert_array_equal(raw.column(f"{kind}_sent"), np.bincount(src[one & sel], minlength=n))
        np.testing.assert_array_equal(raw.column(f"{kind}_received"), np.bincount(dst[one & sel], minlength=n))
    hour = (ts // 3600) % 24
    night = (hour < 6) | (hour >= 23)
    sent, recv = np.bincount(src, minlength=n), np.bincount(dst[one], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        want_sent = np.where(sent > 0, np.bincount(src[night], minlength=n) / sent, 0)
        want_recv = np.where(recv > 0, np.bincount(dst[one & night], minlength=n) / recv, 0)
    np.testing.assert_allclose(raw.column("night_sent_share"), want_sent, rtol=1e-6)
    np.testing.assert_allclose(raw.column("night_received_share"), want_recv, rtol=1e-6)
    pairs = {(int(u), int(v)) for u, v in zip(src[one], dst[one], strict=True) if u != v}
    np.testing.assert_array_equal(raw.column("distinct_recipients"), np.bincount([u for u, _ in pairs], minlength=n))


def test_message_adjacency_is_the_set_of_pairs(small, full):
    """The sort-free symmetric build gives sorted rows, no duplicates and exactly the pairs."""
    a = edge_types(full)["message"]
    assert a.has_sorted_indices and (a.data == 1).all()
    m = small.table("messages")
    src, dst = m["src"].to_numpy(), m["dst"].to_numpy()
    ok = (dst >= 0) & (src != dst)
    want = {(int(u), int(v)) for u, v in zip(src[ok], dst[ok], strict=True)}
    want |= {(v, u) for u, v in want}
    coo = a.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == want


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
    # the same block, read from the whole matrix at the offsets the layout gives
    whole = build_features(full)
    block = whole.X[:, FeatureLayout(raw.names, own_features(full).names, tuple(edge_types(full))).cols("friend")]
    assert np.array_equal(block, feats.X)
    lay = EDGE.over(raw.names)
    x = raw.X.astype(np.float64)
    for i in np.random.default_rng(0).choice(len(x), 150, replace=False):
        ref = _reference(neigh, x, i)
        row = feats.X[i]
        assert row[lay.cols("count")] == ref["count"]
        np.testing.assert_allclose(row[lay.cols("sum")], ref["sum"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(row[lay.cols("mean")], ref["mean"], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(row[lay.cols("max")], ref["max"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(row[lay.cols("std")], ref["std"], rtol=1e-2, atol=2e-2)
        assert row[lay.cols("2hop_count")] == ref["walks"]
        np.testing.assert_allclose(row[lay.cols("2hop_mean")], ref["mean2"], rtol=1e-4, atol=1e-3)
        # lower quantiles: the value at rank floor(q * (count - 1)), grouped by column
        want = []
        for c in QUANTILE_COLUMNS:
            vals = np.sort(x[neigh[i], raw.names.index(c)]) if neigh[i] else None
            for q in QUANTILES:
                want.append(vals[int(np.floor(q * (len(vals) - 1)))] if neigh[i] else 0.0)
                assert row[feats.names.index(f"friend/p{round(q * 100)}/{c}")] == np.float32(want[-1])
        assert np.array_equal(row[lay.cols("quantiles")], np.asarray(want, dtype=np.float32))


def test_group_aggregates_match_reference(small, full, raw):
    m = edge_types(full)["group"]
    gm = small.table("group_members")
    members = defaultdict(list)
    groups = defaultdict(list)
    for g, acc in zip(gm["group_id"].to_numpy(), gm["account_id"].to_numpy(), strict=True):
        members[g].append(acc)
        groups[acc].append(g)
    feats = aggregate_groups(m, raw.X, "group", raw.names)
    lay = GROUP.over(raw.names)
    x = raw.X.astype(np.float64)
    for i in np.random.default_rng(1).choice(len(x), 100, replace=False):
        co = [j for g in groups[i] for j in members[g] if j != i]
        row = feats.X[i]
        assert row[lay.cols("count")] == len(co)
        if co:
            np.testing.assert_allclose(row[lay.cols("sum")], x[co].sum(axis=0), rtol=1e-3, atol=1e-2)
            np.testing.assert_allclose(row[lay.cols("mean")], x[co].mean(axis=0), rtol=1e-3, atol=1e-2)
            pool = [j for g in groups[i] for j in members[g]]
            np.testing.assert_allclose(row[lay.cols("max")], x[pool].max(axis=0), rtol=1e-5)
            np.testing.assert_allclose(row[lay.cols("std")], x[co].std(axis=0), rtol=1e-2, atol=2e-2)
        else:  # no co-member: 0, except the max, which includes the account itself
            for stat in ("sum", "mean", "std"):
                assert not row[lay.cols(stat)].any()


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
    c = deep_features(*feature_inputs(full))
    assert c.names == a.names and np.array_equal(c.X, a.X)
    parts = [
        aggregate(m, raw.X, name, raw.names) if name != "group" else aggregate_groups(m, raw.X, name, raw.names)
        for raw in [raw_features(full)]
        for name, m in edge_types(full).items()
    ]
    assert np.array_equal(np.hstack([raw_features(full).X, own_features(full).X, *[p.X for p in parts]]), a.X)


def test_neighbour_quantiles_match_numpy(small, full, raw):
    a = edge_types(full)["friend"]
    col = raw.names.index(QUANTILE_COLUMNS[0])
    v = raw.X[:, col].copy()
    v[::7] *= -1  # negative values sort correctly too
    got = row_quantiles(a, v, (0.5, 0.9))
    for i in np.random.default_rng(2).choice(a.shape[0], 200, replace=False):
        nb = np.sort(v[a.indices[a.indptr[i] : a.indptr[i + 1]]])
        want = [nb[int(np.floor(q * (len(nb) - 1)))] if len(nb) else 0.0 for q in (0.5, 0.9)]
        np.testing.assert_array_equal(got[i], np.asarray(want, dtype=np.float32))


def test_fused_sums_are_the_sparse_product_bit_for_bit(full, raw):
    """Sums come from the gather that finds the maxima; they must equal scipy's `a @ x`
    exactly (same float32 additions in the same order): the two-hop product and the Dask
    row blocks, which use the product, depend on it."""
    x = raw.X.copy()
    x[::5] *= np.float32(1.37)  # values whose float32 sums depend on the order of additions
    lay = EDGE.over(raw.names)
    for name, a in edge_types(full).items():
        if name == "group":
            continue
        out = np.full((a.shape[0], lay.width), np.nan, dtype=np.float32)
        deg, sums = edge_first_order(out, a, x, lay)
        want = np.asarray(a @ x, dtype=np.float32)
        assert np.array_equal(sums, want), name
        assert np.array_equal(out[:, lay.cols("sum")], want), name
        assert np.array_equal(deg[:, 0], np.diff(a.indptr).astype(np.float32)), name


@pytest.mark.parametrize("d", [1, 2, 3])
def test_block_quantiles_small_degrees_match_sorting(d):
    """Blocks of one or two neighbours take min/max instead of a sort: same values."""
    g = np.random.default_rng(d).normal(size=(d, 50, 6)).astype(np.float32)
    qs, qcols = (0.0, 0.5, 0.9, 1.0), [1, 4, 5]
    want = np.stack([np.sort(g[:, :, c], axis=0)[[int(np.floor(q * (d - 1))) for q in qs]].T for c in qcols], axis=1)
    np.testing.assert_array_equal(block_quantiles(g, qcols, qs), want.reshape(50, -1))
