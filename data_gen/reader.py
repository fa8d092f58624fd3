"""The one dataset reader every consumer uses: contract checks before any data is read.

`open_dataset` refuses a directory that is not a complete, intact lowbase dataset with a
`DatasetError` naming the file and the problem. `Dataset` gives evaluation code every table,
and the two lookups every analysis of a world makes, arrays indexed by account id: which
accounts are in a split (`split_mask`, `split_ids`) and their truth (`truth_by_id`). Model
code takes `Dataset.view(visibility)`, which applies the metadata visibility level and never
returns `truth` or `harm_events` (visibility.py); `split_names` reads its splits table.
`open_view_only` opens a dataset for model code alone (a sandboxed plugin): it checks and
reads the model-visible tables only, and its card (`model_card`) keeps nothing about truth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.files import fingerprint, read_mapping, require_keys, sha256_file
from data_gen.contract import OBSERVABLE, TABLES, check_card, schema_for
from data_gen.visibility import ObservableView
from data_gen.writer import META


class DatasetError(ValueError):
    """Not a valid dataset (the CLI exits 2 with this message)."""


def by_account(ids: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """`values`, one per row of a table keyed by account id, as an array of `n` indexed by
    account id: 0 (None for objects) where an id has no row."""
    out = np.empty(n, dtype=object) if values.dtype == object else np.zeros(n, dtype=values.dtype)
    out[ids] = values
    return out


def split_names(splits: pa.Table, n: int) -> np.ndarray:
    """The split name of every account id (objects), from a `splits` table: a dataset's, or
    the one a model reads through its view."""
    names = np.asarray(pc.cast(splits["split"], pa.string()).to_pylist(), dtype=object)
    return by_account(splits["account_id"].to_numpy(), names, n)


@dataclass(frozen=True)
class Dataset:
    """A world: a directory (`open_dataset`), or its tables in memory (`tables` set, `path`
    None: data_gen.memory), read the same way."""

    path: Path | None
    meta: dict
    tables: dict[str, pa.Table] | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.meta["tasks"])

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        if name not in TABLES:
            raise DatasetError(f"unknown table '{name}' (expected one of {', '.join(TABLES)})")
        if self.tables is not None:
            t = self.tables[name]
            return t if columns is None else t.select(columns)
        assert self.path is not None, "a dataset has a directory or its tables"
        return pq.read_table(self.path / f"{name}.parquet", columns=columns)

    def view(self, visibility: str = "full", label_period: int | None = None) -> ObservableView:
        """What a model may read, at a metadata visibility level; with `label_period`, the
        human labels of that period only (train on one period, test on another)."""
        return ObservableView(self, visibility, label_period)

    def split_mask(self, split: str, period: int | None = None) -> np.ndarray:
        """True for the accounts of `split` ('train', 'val' or 'test'; of `period` only, when
        given), indexed by account id."""
        columns = ["account_id", "split"] + (["period"] if period is not None else [])
        t = self.table("splits", columns)
        keep = np.asarray(t["split"].cast(pa.string())) == split
        if period is not None:
            keep &= t["period"].to_numpy() == period
        return by_account(t["account_id"].to_numpy(), keep, t.num_rows)

    def split_ids(self, split: str, period: int | None = None) -> np.ndarray:
        """The account ids of `split` (of `period` only, when given), ascending."""
        return np.flatnonzero(self.split_mask(split, period))

    def truth_by_id(self, *columns: str) -> dict[str, np.ndarray]:
        """Truth columns (tasks, 'sophistication', ...) indexed by account id, from one read
        of the table, each in its own type."""
        t = self.table("truth", ["account_id", *columns])
        ids = t["account_id"].to_numpy()
        return {column: by_account(ids, t[column].to_numpy(), t.num_rows) for column in columns}


def _load_meta(path: Path) -> dict:
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory")
    meta_path = path / META
    meta = read_mapping(meta_path, DatasetError, "the dataset card: not a lowbase dataset, or an incomplete one")
    keys = ("format", "generator_version", "seed", "scenario", "tasks", "rows", "files", "fingerprint")
    require_keys(meta, keys, meta_path, DatasetError)
    try:
        check_card(meta, str(meta_path))
    except ValueError as e:
        raise DatasetError(str(e)) from None
    return meta


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


# What of a dataset card model code may know: the card without the realised rates, positives,
# label quality and seed, and with the files and rows of the model-visible tables only.
MODEL_CARD_FIELDS = ("format", "generator_version", "scenario", "tasks", "fingerprint")


def model_card(meta: dict) -> dict:
    """The model-facing part of a dataset card (`meta`, a full card or one made by this)."""
    card = {k: meta[k] for k in MODEL_CARD_FIELDS}
    card["files"] = {f: h for f, h in meta["files"].items() if f.removesuffix(".parquet") in OBSERVABLE}
    card["rows"] = {t: r for t, r in meta["rows"].items() if t in OBSERVABLE}
    return card


@dataclass(frozen=True)
class VisibleTables:
    """A dataset directory of which only the model-visible tables are ever opened: what
    `open_view_only` puts behind an `ObservableView`."""

    path: Path
    meta: dict

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.meta["tasks"])

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        if name not in OBSERVABLE:
            raise DatasetError(f"'{name}' is not a model-visible table (visible: {', '.join(OBSERVABLE)})")
        with pq.ParquetFile(self.path / f"{name}.parquet") as f:
            return f.read(columns=columns)


def open_view_only(
    path: str | Path,
    visibility: str = "full",
    label_period: int | None = None,
    card: dict | None = None,
    verify_hashes: bool = True,
) -> ObservableView:
    """What a model may read of the dataset at `path`, opening nothing else: the card is
    `card` (a `model_card`, from a reader that opened the whole dataset) or `dataset.json`
    (its seal and fingerprint checked), and only the model-visible tables are checked
    (listed, present, hashed, schema, rows); `truth` and `harm_events` are never opened."""
    path = Path(path)
    meta = _load_meta(path) if card is None else card
    if card is None and fingerprint(meta["files"]) != meta["fingerprint"]:
        raise DatasetError(f"{path / META}: fingerprint does not match its file hashes")
    for name in OBSERVABLE:
        _check_file(path, name, meta, verify_hashes)
    return ObservableView(VisibleTables(path, model_card(meta)), visibility, label_period)
