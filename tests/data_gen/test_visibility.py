"""Visibility levels remove exactly what they say, and evaluation tables never reach models."""

import numpy as np
import pytest

from data_gen import generate
from data_gen.contract import OBSERVABLE
from data_gen.reader import open_dataset
from data_gen.visibility import EDGE_TABLES, VisibilityError, check_level
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def drift_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("drift-view") / "ds"
    scn = small_scenario()
    generate(scn.model_copy(update={"drift": scn.drift.model_copy(update={"enabled": True})}), seed=5, out=out)
    return open_dataset(out)


@pytest.mark.parametrize("level", ["full", "sealed_sender", "minimal"])
@pytest.mark.parametrize("table", ["truth", "harm_events"])
def test_evaluation_tables_never_reach_models(small, level, table):
    with pytest.raises(VisibilityError, match="evaluation-only"):
        small.view(level).table(table)


def test_full_is_the_dataset_but_held_out_labels(small):
    v = small.view("full")
    for name in OBSERVABLE:
        if name != "human_labels":
            assert v.table(name).equals(small.table(name)), name


def test_sealed_sender_drops_only_message_senders(small):
    v = small.view("sealed_sender")
    m, full = v.table("messages"), small.table("messages")
    assert (m["src"].to_numpy() == -1).all()
    for col in full.column_names:
        if col != "src":
            assert m[col].equals(full[col]), col
    for name in OBSERVABLE:
        if name not in ("messages", "human_labels"):
            assert v.table(name).equals(small.table(name)), name


def test_minimal_leaves_accounts_and_counts(small):
    v = small.view("minimal")
    for name in EDGE_TABLES:
        with pytest.raises(VisibilityError, match="not visible under 'minimal'"):
            v.table(name)
    assert v.table("accounts").equals(small.table("accounts"))
    c = v.counts()
    n = small.meta["rows"]["accounts"]
    assert c.num_rows == n
    msgs = small.table("messages")["src"].to_numpy()
    np.testing.assert_array_equal(c["messages_sent"].to_numpy(), np.bincount(msgs, minlength=n))
    assert c["friends"].to_numpy().sum() == 2 * small.meta["rows"]["friendships"]


def test_unknown_level_names_the_choices():
    with pytest.raises(VisibilityError, match="full, sealed_sender, minimal"):
        check_level("opaque")


def _split_of(ds):
    sp = ds.table("splits", ["account_id", "split", "period"]).to_pandas()
    return sp.set_index("account_id")


def test_human_labels_of_evaluated_accounts_never_reach_models(small):
    """The view keeps every human label of a train or val account and none of a test
    account; made for one label period, none of another period either."""
    sp = _split_of(small)
    full = small.table("human_labels").to_pandas()
    seen = small.view("full").table("human_labels").to_pandas()
    split = sp.loc[full["account_id"], "split"].astype(str).to_numpy()
    assert (split == "test").any(), "the fixture must hold test-split human labels"
    assert len(seen) == (split != "test").sum()
    assert not sp.loc[seen["account_id"], "split"].astype(str).eq("test").any()
    cols = small.view("full").table("human_labels", ["account_id", "label"])
    assert cols.column_names == ["account_id", "label"] and cols.num_rows == len(seen)


def test_a_label_period_view_withholds_other_periods(drift_ds):
    sp = _split_of(drift_ds)
    seen = drift_ds.view("full", label_period=1).table("human_labels").to_pandas()
    rows = sp.loc[seen["account_id"]]
    assert len(seen) and (rows["period"] == 1).all() and not rows["split"].astype(str).eq("test").any()


def test_no_documented_path_reaches_evaluation_data(small, tmp_path):
    """What a plugin gets (a `ModelInput`) offers no public attribute leading to the
    dataset, its truth, its harm events or its withheld labels."""
    from models import ModelInput

    data = ModelInput(small.view("full"))
    public = {n for n in dir(data) if not n.startswith("_")} | {n for n in dir(data.view) if not n.startswith("_")}
    assert not {"dataset", "path", "meta"} & public
    for name in ("truth", "harm_events"):
        with pytest.raises(VisibilityError):
            data.view.table(name)
    test_ids = set(small.table("splits").to_pandas().query("split == 'test'")["account_id"])
    for task in data.tasks:
        ids, _ = data.human(task, "test")
        assert len(ids) == 0
    assert not set(data.view.table("human_labels")["account_id"].to_numpy()) & test_ids
