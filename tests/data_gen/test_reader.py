"""The reader refuses anything that is not a complete, intact dataset, naming file and problem."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_gen.reader import DatasetError, open_dataset, split_names


@pytest.fixture
def copy(small_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(small_dir, dst)
    return dst


def test_missing_metadata(copy):
    (copy / "dataset.json").unlink()
    with pytest.raises(DatasetError, match="dataset.json: missing"):
        open_dataset(copy)


def test_broken_metadata(copy):
    (copy / "dataset.json").write_text("{nope")
    with pytest.raises(DatasetError, match="malformed JSON"):
        open_dataset(copy)


def test_metadata_key_missing(copy):
    meta = json.loads((copy / "dataset.json").read_text())
    del meta["fingerprint"]
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="missing key 'fingerprint'"):
        open_dataset(copy)


def test_missing_file(copy):
    (copy / "messages.parquet").unlink()
    with pytest.raises(DatasetError, match="messages.parquet: missing"):
        open_dataset(copy)


def test_tampered_file(copy):
    t = pq.read_table(copy / "reports.parquet")
    pq.write_table(t.slice(1), copy / "reports.parquet")
    with pytest.raises(DatasetError, match="reports.parquet: SHA-256 differs"):
        open_dataset(copy)


def test_wrong_column_type_named(copy):
    t = pq.read_table(copy / "groups.parquet")
    t = t.set_column(1, "created_ts", t["created_ts"].cast(pa.float64()))
    pq.write_table(t, copy / "groups.parquet")
    with pytest.raises(DatasetError, match="groups.parquet: column 'created_ts' has type double"):
        open_dataset(copy, verify_hashes=False)


def test_missing_column_named(copy):
    t = pq.read_table(copy / "groups.parquet").drop_columns(["created_ts"])
    pq.write_table(t, copy / "groups.parquet")
    with pytest.raises(DatasetError, match="missing column 'created_ts'"):
        open_dataset(copy, verify_hashes=False)


def test_not_parquet(copy):
    (copy / "splits.parquet").write_text("hello")
    with pytest.raises(DatasetError, match="splits.parquet: not a readable parquet"):
        open_dataset(copy, verify_hashes=False)


def test_fingerprint_mismatch(copy):
    meta = json.loads((copy / "dataset.json").read_text())
    meta["fingerprint"] = "0" * 64
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="field 'fingerprint' does not match the card's seal"):
        open_dataset(copy)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda m: m.update(seed=m["seed"] + 1), "seed"),
        (lambda m: m["scenario"]["harm"].update(groomer_rate=0.01), "scenario"),
        (lambda m: m["positives"].update(groomer=m["positives"]["groomer"] + 1), "positives"),
        (lambda m: m["rows"].update(accounts=m["rows"]["accounts"] - 1), "rows"),
        (lambda m: m.update(note="mine"), "note"),
    ],
)
def test_an_edited_card_is_refused_naming_the_field(copy, edit, field):
    """The fingerprint names the data bytes; the card's seal covers what the card says."""
    meta = json.loads((copy / "dataset.json").read_text())
    edit(meta)
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=f"field '{field}'"):
        open_dataset(copy)


def test_a_reforged_seal_or_no_seal_is_refused(copy):
    meta = json.loads((copy / "dataset.json").read_text())
    meta["seed"] += 1
    from data_gen.contract import json_digest

    meta["card"]["fields"]["seed"] = json_digest(meta["seed"])  # the field's digest fixed, not the whole seal
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="seal was edited"):
        open_dataset(copy)
    del meta["card"]
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="no seal"):
        open_dataset(copy)


def test_not_a_directory(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        open_dataset(tmp_path / "nothing")


def test_splits_and_truth_by_account_id(small):
    """The lookups every analysis makes: a split's accounts as a mask and as ascending ids
    (of one period when asked), and truth columns in their own type, by account id."""
    sp = small.table("splits").to_pandas()
    truth = small.table("truth").to_pandas().set_index("account_id")
    n = small.meta["rows"]["accounts"]
    masks = {s: small.split_mask(s) for s in ("train", "val", "test")}
    assert all(m.shape == (n,) and m.dtype == bool for m in masks.values())
    assert (sum(m.astype(int) for m in masks.values()) == 1).all(), "every account in exactly one split"
    for s, m in masks.items():
        ids = small.split_ids(s)
        assert (ids == np.sort(sp.loc[sp["split"] == s, "account_id"].to_numpy())).all()
        assert (np.flatnonzero(m) == ids).all()
        one = small.split_ids(s, period=1)
        assert (one == np.sort(sp.loc[(sp["split"] == s) & (sp["period"] == 1), "account_id"].to_numpy())).all()
    by_id = small.truth_by_id("groomer", "sophistication")
    assert by_id["groomer"].dtype == bool and by_id["sophistication"].dtype == np.int8
    for column, values in by_id.items():
        assert (values == truth[column].reindex(np.arange(n)).to_numpy()).all(), column
    names = split_names(small.table("splits"), n)
    assert all((names == s).sum() == m.sum() for s, m in masks.items())
