"""Metadata visibility: what a server still sees under end-to-end encryption (paper 3.4).

Every model reads a dataset through `ObservableView` (from `Dataset.view(level)`), which
applies the level before any data leaves the reader and never returns `truth` or
`harm_events`:

- `full`: every observable table as generated.
- `sealed_sender`: the sender of end-to-end-encrypted messages is hidden from the server
  (Signal's sealed sender); all messages are treated as E2EE, so `messages.src` is -1.
  Recipients, times, sizes and media types remain.
- `minimal`: account fields and per-account counts only; no edge table is visible.

Labels and splits are the platform's own records and stay visible at every level; note
that the weak labels were computed with full metadata. Human labels are held out where a
model is evaluated: the view never returns the human label of a test-split account, nor,
when it is made for one label period (`label_period`, train on period 1 and test on period
2), of an account of another period. The dataset itself is not reachable from the view:
model code gets tables through `table` and the few facts it needs (`fingerprint`,
`window_days`, `rows`), never `truth`, `harm_events` or held-out labels.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_gen.contract import EVALUATION, OBSERVABLE

Visibility = Literal["full", "sealed_sender", "minimal"]
VISIBILITY_LEVELS: tuple[str, ...] = ("full", "sealed_sender", "minimal")
UNKNOWN_SENDER = -1
# Tables that are edges between accounts: gone under `minimal`.
EDGE_TABLES = ("friendships", "contact_requests", "messages", "group_members", "reports")
COUNTS_SCHEMA = pa.schema(
    [
        ("account_id", pa.int64()),
        ("friends", pa.int64()),
        ("requests_sent", pa.int64()),
        ("requests_received", pa.int64()),
        ("messages_sent", pa.int64()),
        ("messages_received", pa.int64()),
        ("groups_joined", pa.int64()),
        ("reports_received", pa.int64()),
    ]
)


class VisibilityError(ValueError):
    """A table asked for is not visible at this level, or is evaluation-only."""


def check_level(level: str) -> str:
    if level not in VISIBILITY_LEVELS:
        raise VisibilityError(f"visibility '{level}': expected one of {', '.join(VISIBILITY_LEVELS)}")
    return level


class ObservableView:
    """The model-facing side of a dataset at one visibility level."""

    def __init__(self, dataset, level: str, label_period: int | None = None):
        self._dataset = dataset
        self.level = check_level(level)
        self.label_period = label_period

    @property
    def tasks(self) -> tuple[str, ...]:
        return self._dataset.tasks

    @property
    def n_accounts(self) -> int:
        return self._dataset.meta["rows"]["accounts"]

    @property
    def fingerprint(self) -> str:
        """The dataset's fingerprint (model cards record what they were trained on)."""
        return self._dataset.meta["fingerprint"]

    @property
    def window_days(self) -> int:
        """Days of activity the dataset covers."""
        return int(self._dataset.meta["scenario"]["activity"]["days"])

    @property
    def rows(self) -> dict[str, int]:
        """Row count of every table."""
        return dict(self._dataset.meta["rows"])

    @cached_property
    def _held_out(self) -> np.ndarray:
        """Per account id: True where its human labels are withheld (evaluated accounts)."""
        sp = self._dataset.table("splits", ["account_id", "split", "period"])
        held = np.asarray(pc.equal(pc.cast(sp["split"], pa.string()), "test"))
        if self.label_period is not None:
            held |= sp["period"].to_numpy() != self.label_period
        out = np.zeros(self.n_accounts, dtype=bool)
        out[sp["account_id"].to_numpy()] = held
        return out

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        if name in EVALUATION:
            raise VisibilityError(f"'{name}' is evaluation-only and never returned to model code")
        if name not in OBSERVABLE:
            raise VisibilityError(f"unknown table '{name}' (visible tables: {', '.join(OBSERVABLE)})")
        if self.level == "minimal" and name in EDGE_TABLES:
            raise VisibilityError(f"'{name}' is not visible under 'minimal' (account fields and counts only)")
        if name == "human_labels":
            t = self._dataset.table(name)  # all columns: rows are kept by account_id
            t = t.filter(pa.array(~self._held_out[t["account_id"].to_numpy()]))
            t = t.select(columns) if columns is not None else t
        else:
            t = self._dataset.table(name, columns)
        if self.level == "sealed_sender" and name == "messages" and "src" in t.column_names:
            i = t.column_names.index("src")
            t = t.set_column(i, "src", pa.array(np.full(t.num_rows, UNKNOWN_SENDER, dtype=np.int64)))
        return t

    def counts(self) -> pa.Table:
        """Per-account counts, the one relational signal left under `minimal` (a server
        still meters traffic per account). Computed from the full tables; under sealed
        sender `messages_sent` is what the sender's own client reports to the server."""
        ds, n = self._dataset, self.n_accounts

        def count(table: str, col: str) -> np.ndarray:
            x = ds.table(table, [col])[col].to_numpy()
            return np.bincount(x[x >= 0], minlength=n).astype(np.int64)

        f = ds.table("friendships", ["src", "dst"])
        friends = np.bincount(np.concatenate([f["src"].to_numpy(), f["dst"].to_numpy()]), minlength=n)
        cols = {
            "account_id": np.arange(n, dtype=np.int64),
            "friends": friends.astype(np.int64),
            "requests_sent": count("contact_requests", "src"),
            "requests_received": count("contact_requests", "dst"),
            "messages_sent": count("messages", "src"),
            "messages_received": count("messages", "dst"),
            "groups_joined": count("group_members", "account_id"),
            "reports_received": count("reports", "reported"),
        }
        return pa.Table.from_arrays([pa.array(cols[f.name]) for f in COUNTS_SCHEMA], schema=COUNTS_SCHEMA)
