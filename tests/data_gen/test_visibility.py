"""Visibility levels remove exactly what they say, and evaluation tables never reach models."""

import numpy as np
import pytest

from data_gen.contract import OBSERVABLE
from data_gen.visibility import EDGE_TABLES, VisibilityError, check_level


@pytest.mark.parametrize("level", ["full", "sealed_sender", "minimal"])
@pytest.mark.parametrize("table", ["truth", "harm_events"])
def test_evaluation_tables_never_reach_models(small, level, table):
    with pytest.raises(VisibilityError, match="evaluation-only"):
        small.view(level).table(table)


def test_full_is_the_dataset(small):
    v = small.view("full")
    for name in OBSERVABLE:
        assert v.table(name).equals(small.table(name)), name


def test_sealed_sender_drops_only_message_senders(small):
    v = small.view("sealed_sender")
    m, full = v.table("messages"), small.table("messages")
    assert (m["src"].to_numpy() == -1).all()
    for col in full.column_names:
        if col != "src":
            assert m[col].equals(full[col]), col
    for name in OBSERVABLE:
        if name != "messages":
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
