"""The feature layout: names, column ranges and the kernels' offsets come from one declaration."""

from dataclasses import replace

import numpy as np
import pytest

from models.aggregates import edge_relation
from models.feature_layout import EACH, EDGE, GROUP, ONE, QUANTILE, FeatureLayout, Stat
from models.features import aggregate, aggregate_groups, build_features, edge_types, own_features


def _expected_labels(layout, stat: Stat) -> list[str]:
    if stat.width == ONE:
        return [stat.name]
    if stat.width == EACH:
        return [f"{stat.name}/{c}" for c in layout.features]
    return [f"p{round(q * 100)}/{c}" for c in layout.quantile_features for q in layout.quantiles]


@pytest.mark.parametrize("declared", [EDGE, GROUP], ids=["edge", "group"])
def test_names_and_column_ranges_come_from_one_declaration(declared, raw):
    layout = declared.over(raw.names)
    names = layout.names("rel")
    assert len(names) == layout.width
    j = 0
    for stat in layout.stats:  # contiguous, in declaration order, each named after its statistic
        cols = layout.cols(stat.name)
        assert cols.start == j
        assert names[cols] == [f"rel/{label}" for label in _expected_labels(layout, stat)]
        j = cols.stop
    assert j == layout.width


def test_an_added_statistic_moves_names_and_columns_together(raw):
    k = len(raw.names)
    at = [s.name for s in EDGE.stats].index("std") + 1
    wider = replace(EDGE, stats=(*EDGE.stats[:at], Stat("min"), *EDGE.stats[at:])).over(raw.names)
    base = EDGE.over(raw.names)
    assert wider.width == base.width + k
    assert wider.names("r")[wider.cols("min")] == [f"r/min/{c}" for c in raw.names]
    for i, stat in enumerate(base.stats):
        shift = 0 if i < at else k
        old, new = base.cols(stat.name), wider.cols(stat.name)
        assert (new.start, new.stop) == (old.start + shift, old.stop + shift), stat.name
        assert wider.names("r")[new] == base.names("r")[old], stat.name


def test_changed_quantiles_move_names_columns_and_values(full, raw):
    """A layout with other quantiles and quantile columns (one of them not a feature): the
    names, the column ranges and the kernel's output all follow it."""
    cols = ("friends", "no_such_feature", "asserted_age")
    qs = (0.25, 0.5, 0.75, 1.0)
    base = EDGE.over(raw.names)
    other = replace(EDGE, quantile_columns=cols, quantiles=qs).over(raw.names)
    assert other.quantile_features == ("friends", "asserted_age")
    assert other.width == base.width - base.cols("quantiles").stop + base.cols("quantiles").start + 2 * len(qs)
    assert other.names("f")[other.cols("quantiles")] == [f"f/p{p}/{c}" for c in ("friends", "asserted_age")
                                                         for p in (25, 50, 75, 100)]  # fmt: skip
    a = edge_types(full)["friend"]
    want = aggregate(a, raw.X, "friend", raw.names).X
    got = np.empty((a.shape[0], other.width), dtype=np.float32)
    edge_relation(got, a, raw.X, other)
    for stat in base.stats:  # every other statistic is where the layout says, same bits
        if stat.width != QUANTILE:
            assert np.array_equal(got[:, other.cols(stat.name)], want[:, base.cols(stat.name)]), stat.name
    quant = got[:, other.cols("quantiles")]
    for i in np.random.default_rng(3).choice(a.shape[0], 100, replace=False):
        nb = a.indices[a.indptr[i] : a.indptr[i + 1]]
        ref = []
        for c in other.quantile_features:
            vals = np.sort(raw.X[nb, raw.names.index(c)])
            ref += [vals[int(np.floor(q * (len(vals) - 1)))] if len(vals) else 0.0 for q in qs]
        assert np.array_equal(quant[i], np.asarray(ref, dtype=np.float32))


def test_matrix_layout_places_every_relation_block(full, raw):
    feats = build_features(full)
    mats = edge_types(full)
    own = own_features(full)
    layout = FeatureLayout(raw.names, own.names, tuple(mats))
    assert feats.names == layout.names and feats.X.shape[1] == layout.width
    assert np.array_equal(feats.X[:, : len(raw.names)], raw.X)
    assert layout.own_cols == slice(len(raw.names), len(raw.names) + len(own.names))
    assert feats.names[layout.own_cols] == own.names and np.array_equal(feats.X[:, layout.own_cols], own.X)
    for name, a in mats.items():
        block = (aggregate_groups if name == "group" else aggregate)(a, raw.X, name, raw.names)
        assert block.names == feats.names[layout.cols(name)]
        assert np.array_equal(block.X, feats.X[:, layout.cols(name)]), name
        rel = layout.layouts[name]
        assert rel.kind == ("group" if name == "group" else "edge")
        assert feats.names[layout.cols(name)][rel.cols("count")] == (f"{name}/count",)


def test_a_statistic_width_is_one_of_three():
    with pytest.raises(ValueError, match="width"):
        Stat("min", "pair")
