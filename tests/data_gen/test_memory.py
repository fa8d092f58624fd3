"""A world kept in memory is the written world: the same metadata (fingerprint included,
hashed from the same parquet bytes) and the same tables, read through the same API."""

import numpy as np
import pytest

from common.files import sha256_file
from data_gen.contract import TABLES
from data_gen.generate import generate_in_memory
from data_gen.memory import MemoryWriter
from data_gen.reader import DatasetError
from tests.conftest import small_scenario

SEED = 7  # the `small` fixture's world, on disk


@pytest.fixture(scope="module")
def in_memory():
    return generate_in_memory(small_scenario(), SEED)


def test_same_meta_and_fingerprint(small, in_memory):
    assert in_memory.path is None
    assert in_memory.meta == small.meta
    for name, digest in in_memory.meta["files"].items():
        assert sha256_file(small.path / name) == digest, name


def test_same_tables(small, in_memory):
    for name in TABLES:
        assert in_memory.table(name).equals(small.table(name), check_metadata=True), name
    cols = ["split", "account_id"]  # a selection, in the order asked for
    assert in_memory.table("splits", cols).equals(small.table("splits", cols), check_metadata=True)
    with pytest.raises(DatasetError, match="unknown table"):
        in_memory.table("nope")


def test_same_lookups(small, in_memory):
    for split in ("train", "val", "test"):
        assert np.array_equal(in_memory.split_mask(split), small.split_mask(split))
        assert np.array_equal(in_memory.split_ids(split, period=1), small.split_ids(split, period=1))
    a, b = in_memory.truth_by_id("groomer", "sophistication"), small.truth_by_id("groomer", "sophistication")
    assert all(np.array_equal(a[k], b[k]) for k in b)
    for level in ("full", "sealed_sender", "minimal"):
        assert in_memory.view(level).counts().equals(small.view(level).counts())
    held = in_memory.view("full", label_period=1).table("human_labels")
    assert held.equals(small.view("full", label_period=1).table("human_labels"))


def test_a_world_missing_a_table_is_refused(in_memory):
    with MemoryWriter() as w:
        w.submit("accounts", in_memory.table("accounts"))
        meta = w.commit({"tasks": list(in_memory.tasks)})
    with pytest.raises(DatasetError, match="no table"):
        w.dataset(meta)
