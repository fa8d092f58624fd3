"""Atomic output: nothing half-written ever looks like a dataset."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from common.files import OutputExistsError, remove_stale
from data_gen import generate
from data_gen.reader import DatasetError, open_dataset
from data_gen.writer import write_dataset
from tests.conftest import small_scenario


def _tiny_tables():
    return {"t": pa.table({"a": [1, 2, 3]})}


def test_refuses_non_empty_out(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        generate(small_scenario(), 1, out)
    assert (out / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"], "nothing written beside it"


def test_refuses_a_file_as_out(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        write_dataset(_tiny_tables(), {}, f, overwrite=True)


def test_empty_out_dir_is_fine_and_overwrite_replaces(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    write_dataset(_tiny_tables(), {"v": 1}, out, overwrite=False)
    meta = write_dataset(_tiny_tables(), {"v": 2}, out, overwrite=True)
    assert json.loads((out / "dataset.json").read_text())["v"] == 2
    assert meta["files"] == {"t.parquet": meta["files"]["t.parquet"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_overwrite_leaves_a_dataset_holding_a_file_of_the_users_alone(tmp_path):
    out = tmp_path / "ds"
    write_dataset(_tiny_tables(), {"v": 1}, out, overwrite=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="also holds notes.txt, which it did not write"):
        write_dataset(_tiny_tables(), {"v": 2}, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "dataset.json").read_text())["v"] == 1


def test_overwrite_refuses_a_tampered_dataset_card(tmp_path):
    out = tmp_path / "ds"
    write_dataset(_tiny_tables(), {"v": 1}, out, overwrite=False)
    meta = json.loads((out / "dataset.json").read_text())
    meta["files"]["other.parquet"] = "0" * 64  # no longer the fingerprint it carries
    (out / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(OutputExistsError, match="left alone"):
        write_dataset(_tiny_tables(), {"v": 2}, out, overwrite=True)


def test_failure_mid_write_leaves_nothing(tmp_path):
    bad = {"ok": pa.table({"a": [1]}), "bad": "not a table"}
    with pytest.raises(AttributeError):
        write_dataset(bad, {}, tmp_path / "ds", overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "ds"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".ds.lowbase-tmp-{dead.pid}-abcd"
    stale.mkdir()
    live = tmp_path / f".ds.lowbase-tmp-{os.getpid()}-abcd"
    live.mkdir()
    remove_stale(out)
    assert not stale.exists() and live.exists()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.2, 1.0, 2.0, 3.0])
def test_kill_9_never_leaves_a_partial_dataset(tmp_path, delay):
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "bench.cli.app",
        "generate",
        "--accounts",
        "30000",
        "--out",
        str(out),
        "--quiet",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if out.exists():  # finished before the kill: then it must be complete and intact
        open_dataset(out)
    for p in tmp_path.iterdir():
        if p.name != "ds":
            assert p.name.startswith(".ds.lowbase-"), p
            with pytest.raises(DatasetError):
                open_dataset(p)
