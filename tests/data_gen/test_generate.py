"""Determinism, the dataset contract and the invariants every dataset must satisfy."""

import numpy as np
import pyarrow.compute as pc
import pytest
from scipy.stats import binom

from common.vocabulary import DAY
from data_gen import generate
from data_gen.contract import EVALUATION, OBSERVABLE, TABLES
from data_gen.reader import open_dataset
from tests.conftest import small_scenario


def test_same_seed_same_bytes(small, tmp_path):
    meta = generate(small_scenario(), seed=7, out=tmp_path / "again")
    assert meta["fingerprint"] == small.meta["fingerprint"]
    assert meta["files"] == small.meta["files"]


def test_workers_do_not_change_output(small, tmp_path):
    meta = generate(small_scenario(), seed=7, out=tmp_path / "w2", workers=2)
    assert meta["fingerprint"] == small.meta["fingerprint"]
    meta3 = generate(small_scenario(), seed=7, out=tmp_path / "w3", workers=3)
    assert meta3["fingerprint"] == small.meta["fingerprint"]


def test_other_seed_other_data(small, tmp_path):
    meta = generate(small_scenario(), seed=8, out=tmp_path / "s8")
    assert meta["fingerprint"] != small.meta["fingerprint"]


def test_partition_size_is_part_of_the_scenario(small, tmp_path):
    meta = generate(small_scenario(partition_size=2000), seed=7, out=tmp_path / "p")
    assert meta["scenario"]["partition_size"] == 2000
    assert meta["fingerprint"] != small.meta["fingerprint"]


def test_contract_and_metadata(small):
    assert set(OBSERVABLE) | set(EVALUATION) == set(TABLES)
    meta = small.meta
    assert meta["seed"] == 7
    assert meta["scenario"]["accounts"] == 4000
    assert set(meta["files"]) == {f"{t}.parquet" for t in TABLES}
    assert all(len(h) == 64 for h in meta["files"].values())
    for t in TABLES:
        assert small.table(t).num_rows == meta["rows"][t]
    assert (
        set(meta["base_rates"])
        == set(small.tasks)
        == {"spam", "scam", "fake", "compromised", "groomer", "viral_sharer"}
    )


def test_ids_are_a_permutation_and_tables_are_ordered(small):
    acc = small.table("accounts")["account_id"].to_numpy()
    np.testing.assert_array_equal(acc, np.arange(len(acc)))
    for t, col in (("contact_requests", "ts"), ("messages", "ts"), ("reports", "ts")):
        ts = small.table(t, [col])[col].to_numpy()
        assert np.all(np.diff(ts) >= 0), t
    # Roles are not readable from ids: positives are spread across the id range.
    truth = small.table("truth")
    spam_ids = truth["account_id"].to_numpy()[truth["spam"].to_numpy()]
    assert spam_ids.min() < len(acc) * 0.2 and spam_ids.max() > len(acc) * 0.8


def test_friendships_have_no_self_or_duplicate_edges(small):
    f = small.table("friendships")
    u, v = f["src"].to_numpy(), f["dst"].to_numpy()
    assert np.all(u < v)  # canonical, hence no self-loops
    n = small.meta["rows"]["accounts"]
    assert len(np.unique(u * n + v)) == len(u)
    assert u.min() >= 0 and v.max() < n


def test_every_reference_is_a_real_row(small):
    n = small.meta["rows"]["accounts"]
    m = small.table("messages")
    src, dst, gid = (m[c].to_numpy() for c in ("src", "dst", "group_id"))
    assert src.min() >= 0 and src.max() < n
    one = dst >= 0
    assert np.all(gid[one] == -1), "1:1 messages carry no group"
    assert np.all(gid[~one] >= 0), "group messages name their group"
    assert dst.max() < n and np.all(src[one] != dst[one])
    n_groups = small.meta["rows"]["groups"]
    assert gid.max() < n_groups
    gm = small.table("group_members")
    key = gm["group_id"].to_numpy() * n + gm["account_id"].to_numpy()
    assert len(np.unique(key)) == len(key)
    # Group messages come from members of that group.
    sent = gid[~one] * n + src[~one]
    assert np.isin(sent, key).all()


def test_timestamps_inside_the_window(small):
    end = small.meta["scenario"]["activity"]["days"] * DAY
    for t in ("contact_requests", "messages", "reports"):
        ts = small.table(t, ["ts"])["ts"].to_numpy()
        assert ts.min() >= 0 and ts.max() < end, t
    acc = small.table("accounts")
    assert acc["signup_day"].to_numpy().max() < small.meta["scenario"]["activity"]["days"]
    fr = small.table("friendships")["day"].to_numpy()
    assert fr.max() < small.meta["scenario"]["activity"]["days"]


def test_accepted_requests_became_friendships(small):
    n = small.meta["rows"]["accounts"]
    r = small.table("contact_requests")
    acc = r["accepted"].to_numpy()
    u, v = r["src"].to_numpy()[acc], r["dst"].to_numpy()[acc]
    f = small.table("friendships")
    keys = f["src"].to_numpy() * n + f["dst"].to_numpy()
    assert np.isin(np.minimum(u, v) * n + np.maximum(u, v), keys).all()
    assert 0.05 < acc.mean() < 0.95


def test_nobody_interacts_before_signing_up(harmful):
    signup = harmful.table("accounts")["signup_day"].to_numpy().astype(np.int64) * DAY
    m = harmful.table("messages")
    src, dst, ts = (m[c].to_numpy() for c in ("src", "dst", "ts"))
    assert (signup[src] <= ts).all()
    one = dst >= 0
    assert (signup[dst[one]] <= ts[one]).all()
    r = harmful.table("contact_requests")
    for col in ("src", "dst"):
        assert (signup[r[col].to_numpy()] <= r["ts"].to_numpy()).all(), col


def test_friendship_day_after_both_signups(small):
    acc = small.table("accounts")["signup_day"].to_numpy()
    f = small.table("friendships")
    day = f["day"].to_numpy()
    assert np.all(day >= np.maximum(acc[f["src"].to_numpy()], acc[f["dst"].to_numpy()]))


def test_population_shape(small):
    truth = small.table("truth")
    age = truth["true_age"].to_numpy()
    assert 0.10 < ((age >= 13) & (age < 18)).mean() < 0.20
    kids = age < 13
    assert kids.any()
    asserted = small.table("accounts")["asserted_age"].to_numpy()
    assert np.all(asserted[kids] >= 13), "under-13s lie about their age to sign up"
    soph = truth["sophistication"].to_numpy()
    groomer = truth["groomer"].to_numpy()
    assert np.all((soph >= 0) == groomer) and soph.max() <= 3


@pytest.mark.parametrize("task", ["spam", "scam", "fake", "compromised", "groomer"])
def test_base_rates_within_binomial_bounds(medium, task):
    section = "harm" if task == "groomer" else "abuse"
    rate = medium.meta["scenario"][section]["groomer_rate" if task == "groomer" else task]
    n = medium.meta["rows"]["accounts"]
    k = int(medium.table("truth")[task].to_numpy().sum())
    lo, hi = binom.ppf(1e-6, n, rate), binom.isf(1e-6, n, rate)
    assert lo <= k <= hi
    assert medium.meta["positives"][task] == k


def test_combined_prevalence_about_five_percent(medium):
    prevalent = ("spam", "scam", "fake", "compromised")
    assert 0.04 < sum(medium.meta["base_rates"][t] for t in prevalent) < 0.06


def test_labels(small):
    tasks = set(small.tasks)
    weak = small.table("weak_labels")
    assert set(pc.unique(pc.cast(weak["task"], "string")).to_pylist()) <= tasks
    assert set(pc.unique(weak["label"]).to_pylist()) <= {0, 1}
    human = small.table("human_labels")
    sources = set(pc.unique(pc.cast(human["source"], "string")).to_pylist())
    assert sources == {"audit", "report_review"}
    # Reviewed accounts come with every task.
    ids = human["account_id"].to_numpy()
    _, counts = np.unique(ids, return_counts=True)
    assert np.all(counts == len(tasks))


def test_weak_labels_are_imprecise(medium):
    """Pooled over its rules, each task's weak positives are far from all correct."""
    q = medium.meta["label_quality"]["weak"]
    for task in medium.tasks:
        rules = [v for k, v in q.items() if k.startswith(f"{task}/") and v["precision"] is not None]
        pos = sum(v["positives"] for v in rules)
        correct = sum(v["precision"] * v["positives"] for v in rules)
        assert pos > 0 and correct / pos < 0.9, (task, correct / pos)


def test_splits_are_stratified(medium):
    sp = medium.table("splits")
    split = np.asarray(pc.cast(sp["split"], "string").to_pylist())
    assert set(np.unique(split)) == {"train", "val", "test"}
    assert np.all(sp["period"].to_numpy() == 1)
    truth = medium.table("truth")
    for task in medium.tasks:
        y = truth[task].to_numpy()
        share = {s: y[split == s].sum() / y.sum() for s in ("train", "val", "test")}
        assert abs(share["train"] - 0.6) < 0.02 and abs(share["test"] - 0.2) < 0.02, (task, share)


def test_reader_reopens(small_dir):
    assert open_dataset(small_dir).meta["fingerprint"]
