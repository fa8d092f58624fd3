"""Writing a dataset directory so that nothing half-written ever looks complete.

Files go into a hidden temporary sibling (`.NAME.lowbase-tmp-PID-TOKEN`); `dataset.json`,
which names every file with its SHA-256, is written last; the directory is then renamed
into place in one step. A `kill -9` at any moment leaves at most a hidden temporary
directory without `dataset.json`, which no reader accepts and the next run removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .contract import SORT_COLUMN

META = "dataset.json"
TMP_MARK = ".lowbase-tmp-"
OLD_MARK = ".lowbase-old-"


class OutputExistsError(FileExistsError):
    """`--out` exists and is not empty, and overwriting was not asked for (exit 2)."""


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a small file via a hidden temporary sibling and a rename: a reader never sees
    it half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(files: dict[str, str]) -> str:
    """One hash over the per-file hashes, in file-name order."""
    text = "\n".join(f"{name} {digest}" for name, digest in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"--out {out}: directory exists and is not empty (pass --overwrite to replace it)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> None:
    """Remove temporary siblings left by killed runs (their writer process is gone)."""
    parent = out.parent if out.parent.exists() else None
    if parent is None:
        return
    for mark in (TMP_MARK, OLD_MARK):
        prefix = f".{out.name}{mark}"
        for p in parent.glob(f"{prefix}*"):
            try:
                pid = int(p.name[len(prefix) :].split("-")[0])
            except ValueError:
                continue
            if not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)


def _write_one(tmp: Path, name: str, table: pa.Table) -> tuple[str, str]:
    path = tmp / f"{name}.parquet"
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
        path,
        compression="zstd",
        compression_level=3,
        row_group_size=1 << 20,
        write_statistics=True,
        use_dictionary=dict_cols,
        column_encoding=encoding or None,
    )
    return path.name, sha256_file(path)


class DatasetWriter:
    """Streams tables into a hidden temporary directory (parquet encoding runs in background
    threads, overlapping whatever the caller computes next) and renames it into place on
    `commit`. Leaving the `with` block without a commit removes the temporary directory."""

    def __init__(self, out: Path, overwrite: bool, threads: int = 2):
        self.out = Path(out).resolve()
        self.overwrite = overwrite
        self.threads = max(1, threads)
        self.futures: list[Future] = []
        self.rows: dict[str, int] = {}

    def __enter__(self) -> DatasetWriter:
        check_target(self.out, self.overwrite)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.out)
        self.tmp = self.out.parent / f".{self.out.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        self.tmp.mkdir()
        self.pool = ThreadPoolExecutor(self.threads)
        self.committed = False
        return self

    def submit(self, name: str, table: pa.Table) -> None:
        self.rows[name] = table.num_rows
        self.futures.append(self.pool.submit(_write_one, self.tmp, name, table))

    def commit(self, meta: dict) -> dict:
        """Wait for every file, write dataset.json (last), then swap the directory in."""
        files = dict(sorted(f.result() for f in self.futures))
        meta = {**meta, "files": files, "fingerprint": fingerprint(files)}
        with open(self.tmp / META, "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        check_target(self.out, self.overwrite)  # the target may have been filled meanwhile
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


def swap_in(tmp: Path, out: Path) -> None:
    """Put a finished temporary directory in place of `out`: a reader sees the old
    complete directory or the new one, never a mix."""
    if out.is_dir() and any(out.iterdir()):
        old = out.parent / f".{out.name}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
