"""Writing a dataset directory so that nothing half-written ever looks complete.

Files go into a hidden temporary sibling (`.NAME.lowbase-tmp-PID-TOKEN`); `dataset.json`,
which names every file with its SHA-256, is written last; the directory is then renamed
into place in one step. A `kill -9` at any moment leaves at most a hidden temporary
directory without `dataset.json`, which no reader accepts and the next run removes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.files import (
    check_target,
    fingerprint,
    remove_stale,
    sha256_file,
    swap_in,
    temp_sibling,
    unlisted_entries,
    write_marker,
)
from data_gen.contract import SORT_COLUMN, seal_card

META = "dataset.json"
OWNED = "a dataset this tool wrote (a dataset.json naming every file beside it)"


def _vouched_files(card: dict) -> Iterable[str] | None:
    """The files a dataset card lists, when its fingerprint matches them."""
    files = card["files"]
    return files if isinstance(files, dict) and card["fingerprint"] == fingerprint(files) else None


def foreign_to_dataset(path: Path) -> list[str]:
    """The entries of `path` that are not part of a dataset this writer made (its
    dataset.json lists files whose fingerprint it carries); every entry when there is no
    such dataset.json."""
    return unlisted_entries(path, META, _vouched_files)


def check_dataset_target(out: Path, overwrite: bool) -> None:
    """`--out` of a dataset: empty, missing, or (with `overwrite`) a dataset this tool wrote."""
    check_target(out, overwrite, foreign_to_dataset, owned=OWNED)


def encode(name: str, table: pa.Table, sink) -> None:
    """Encode `table` as parquet into `sink` (a path or an Arrow output stream): one
    function for both, so a world kept in memory (data_gen.memory) hashes the very bytes a
    written one would hold."""
    # Fixed writer options: the same table always gives the same bytes. Dictionary encoding
    # only where the column is categorical (trying it on ids and timestamps is wasted work),
    # delta encoding for the sorted column.
    dict_cols = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    sort_col = SORT_COLUMN.get(name)
    encoding = {}
    if sort_col in table.column_names and pa.types.is_integer(table.schema.field(sort_col).type):
        encoding[sort_col] = "DELTA_BINARY_PACKED"
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        row_group_size=1 << 20,
        write_statistics=True,
        use_dictionary=dict_cols,
        column_encoding=encoding or None,
    )


def _write_one(tmp: Path, name: str, table: pa.Table) -> tuple[str, str]:
    path = tmp / f"{name}.parquet"
    encode(name, table, path)
    return path.name, sha256_file(path)


class DatasetWriter:
    """Streams tables into a hidden temporary directory (parquet encoding runs in background
    threads, overlapping whatever the caller computes next) and renames it into place on
    `commit`. Leaving the `with` block without a commit removes the temporary directory."""

    def __init__(self, out: Path, overwrite: bool, threads: int = 2):
        self.out = Path(out).expanduser().resolve()
        self.overwrite = overwrite
        self.threads = max(1, threads)
        self.futures: list[Future] = []
        self.rows: dict[str, int] = {}

    def __enter__(self) -> DatasetWriter:
        check_dataset_target(self.out, self.overwrite)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.out)
        self.tmp = temp_sibling(self.out)
        self.pool = ThreadPoolExecutor(self.threads)
        self.committed = False
        return self

    def submit(self, name: str, table: pa.Table) -> None:
        self.rows[name] = table.num_rows
        self.futures.append(self.pool.submit(_write_one, self.tmp, name, table))

    def commit(self, meta: dict) -> dict:
        """Wait for every file, write dataset.json (last), then swap the directory in."""
        files = dict(sorted(f.result() for f in self.futures))
        meta = seal_card({**meta, "files": files, "fingerprint": fingerprint(files)})
        write_marker(self.tmp / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        check_dataset_target(self.out, self.overwrite)  # the target may have been filled meanwhile
        swap_in(self.tmp, self.out)
        self.committed = True
        return meta

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if not self.committed:
            shutil.rmtree(self.tmp, ignore_errors=True)


def write_dataset(tables: dict[str, pa.Table], meta: dict, out: Path, overwrite: bool, threads: int = 2) -> dict:
    """Write tables + metadata atomically to `out`; return the metadata written."""
    with DatasetWriter(out, overwrite, threads) as w:
        # Biggest first, so the threads finish together.
        for name in sorted(tables, key=lambda k: -tables[k].nbytes):
            w.submit(name, tables[name])
        return w.commit(meta)
