"""The one dataset reader every consumer uses: contract checks before any data is read.

`open_dataset` refuses a directory that is not a complete, intact lowbase dataset with a
`DatasetError` naming the file and the problem. `Dataset` gives evaluation code every table;
model code takes `Dataset.view(visibility)`, which applies the metadata visibility level
and never returns `truth` or `harm_events` (visibility.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.files import fingerprint, read_mapping, require_keys, sha256_file
from data_gen.contract import TABLES, schema_for
from data_gen.visibility import ObservableView
from data_gen.writer import META


class DatasetError(ValueError):
    """Not a valid dataset (the CLI exits 2 with this message)."""


@dataclass(frozen=True)
class Dataset:
    path: Path
    meta: dict

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.meta["tasks"])

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        if name not in TABLES:
            raise DatasetError(f"unknown table '{name}' (expected one of {', '.join(TABLES)})")
        return pq.read_table(self.path / f"{name}.parquet", columns=columns)

    def view(self, visibility: str = "full", label_period: int | None = None) -> ObservableView:
        """What a model may read, at a metadata visibility level; with `label_period`, the
        human labels of that period only (train on one period, test on another)."""
        return ObservableView(self, visibility, label_period)


def _load_meta(path: Path) -> dict:
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory")
    meta_path = path / META
    meta = read_mapping(meta_path, DatasetError, "the dataset card: not a lowbase dataset, or an incomplete one")
    keys = ("format", "generator_version", "seed", "scenario", "tasks", "rows", "files", "fingerprint")
    return require_keys(meta, keys, meta_path, DatasetError)


def _check_file(path: Path, name: str, meta: dict, verify_hashes: bool) -> None:
    fname = f"{name}.parquet"
    fpath = path / fname
    if fname not in meta["files"]:
        raise DatasetError(f"{path / META}: does not list {fname}")
    if not fpath.is_file():
        raise DatasetError(f"{fpath}: missing")
    if verify_hashes and sha256_file(fpath) != meta["files"][fname]:
        raise DatasetError(f"{fpath}: SHA-256 differs from {META} (file changed or corrupt)")
    try:
        pf = pq.ParquetFile(fpath)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"{fpath}: not a readable parquet file ({err})") from None
    expected = schema_for(name, tuple(meta["tasks"]))
    actual = pf.schema_arrow
    for field in expected:
        if field.name not in actual.names:
            raise DatasetError(f"{fpath}: missing column '{field.name}'")
        got = actual.field(field.name).type
        if got != field.type:
            raise DatasetError(f"{fpath}: column '{field.name}' has type {got}, expected {field.type}")
    rows = meta["rows"].get(name)
    if rows is not None and pf.metadata.num_rows != rows:
        raise DatasetError(f"{fpath}: {pf.metadata.num_rows} rows, {META} says {rows}")


def open_dataset(path: str | Path, verify_hashes: bool = True) -> Dataset:
    path = Path(path)
    meta = _load_meta(path)
    for name in TABLES:
        _check_file(path, name, meta, verify_hashes)
    if fingerprint(meta["files"]) != meta["fingerprint"]:
        raise DatasetError(f"{path / META}: fingerprint does not match its file hashes")
    return Dataset(path, meta)
