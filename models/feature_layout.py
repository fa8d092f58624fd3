"""The feature matrix's columns, declared once.

Every relation (friendship, request, message, group co-membership, ...) contributes a
block of columns whose order is declared here as a list of statistics (`EDGE`, `GROUP`).
A statistic is one column (`ONE`, e.g. the neighbour count), one column per raw feature
(`EACH`, e.g. the neighbour mean of every raw feature) or one column per kept quantile of
each quantile column (`QUANTILE`). Bound to the raw feature names (`RelationLayout.over`),
a layout gives the column names (`names`), the column range of each statistic (`cols`)
and the block's width; the kernels (models/aggregates.py, single-process and Dask row
blocks) and the tests read their offsets from it, so the names and the values cannot
drift apart. `FeatureLayout` places the raw block, the own block and every relation's block
side by side in the one output matrix.

The own block holds the per-account statistics the weak rules read (common/observables.py)
that the raw block does not already carry, over the whole window and over the recent one
(`recent/<name>`). It is kept per account and never aggregated over neighbours (each raw
column costs about forty neighbour columns, so the rule statistics would multiply the
width), and it exists so that the rules never read more than the models (the parity
principle; paper 7.2.4 on weak labels): `statistic_column` names the column that carries
each statistic, and tests/models/test_parity.py fails when a rule reads one no column
carries.

Adding a statistic is one entry in a declaration plus the lines of its kernel that
compute it and write it at `layout.cols(name)`.

Model cards store the feature names, so the names and their order are part of a model's
contract: changing a declaration changes the schema every saved model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

ONE, EACH, QUANTILE = "one", "each", "quantile"  # how many columns a statistic takes


@dataclass(frozen=True)
class Features:
    names: tuple[str, ...]
    X: np.ndarray  # float32 (n_accounts, n_features), row i = account_id i

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


@dataclass(frozen=True)
class AccountFeatures(Features):
    """What the deep features start from: the raw block (`names`, `X`), which every
    relation aggregates over the neighbours, and the own block (`own`), kept per account."""

    own: Features


def own_block(features: Features) -> Features:
    """The own block of `AccountFeatures`; no columns for a plain raw block."""
    if isinstance(features, AccountFeatures):
        return features.own
    return Features((), np.zeros((len(features.X), 0), dtype=np.float32))


# The statistics of common.observables that the raw block already carries (same values,
# tested), and the raw column carrying each; every other statistic is an own-block column
# of its own name, and each statistic over the recent window is `recent/<name>`.
RAW_STATISTICS = {
    "account_age_days": "account_age_days",
    "profile_completeness": "profile_completeness",
    "asserted_age": "asserted_age",
    "friends": "friends",
    "requests_sent": "requests_sent",
    "requests_received": "requests_received",
    "request_reject_rate": "request_reject_rate",
    "messages_sent": "messages_sent",
    "messages_received": "messages_received",
    "group_messages_sent": "group_messages_sent",
    "links_sent": "link_sent",
    "images_received": "image_received",
    "distinct_recipients": "distinct_recipients",
    "reports_received": "reports_received",
}
RECENT = "recent"  # prefix of the own block's recent-window columns


def statistic_column(stat: str, recent: bool = False) -> str:
    """The feature column carrying an observable statistic (common/observables.py) over
    the whole window, or with `recent` over the recent window."""
    return f"{RECENT}/{stat}" if recent else RAW_STATISTICS.get(stat, stat)


@dataclass(frozen=True)
class Stat:
    """One statistic of a relation block: its name and how many columns it takes."""

    name: str
    width: str = EACH  # ONE, EACH or QUANTILE

    def __post_init__(self):
        if self.width not in (ONE, EACH, QUANTILE):
            raise ValueError(f"statistic '{self.name}': width must be {ONE}, {EACH} or {QUANTILE}")


@dataclass(frozen=True)
class RelationLayout:
    """A relation block's statistics in output order, bound (by `over`) to the raw features
    they are computed from.

    Column names: `prefix/stat` for a ONE statistic, `prefix/stat/feature` for an EACH one,
    `prefix/pQ/feature` for the QUANTILE one (Q the quantile in percent), grouped by feature
    in `quantile_columns` order, then by quantile; quantile columns missing from the raw
    features (hidden at a visibility level) are left out."""

    kind: str  # "edge" or "group": which kernel computes the block
    stats: tuple[Stat, ...]
    quantile_columns: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = ()
    features: tuple[str, ...] = ()

    def over(self, features) -> RelationLayout:
        """This layout over these raw features."""
        return replace(self, features=tuple(features))

    @cached_property
    def quantile_features(self) -> tuple[str, ...]:
        """The quantile columns present among the raw features, in output order."""
        return tuple(c for c in self.quantile_columns if c in self.features)

    @cached_property
    def quantile_indices(self) -> list[int]:
        """Their indices in the raw features (the columns the kernels sort)."""
        return [self.features.index(c) for c in self.quantile_features]

    def _labels(self, stat: Stat) -> list[str]:
        if stat.width == ONE:
            return [stat.name]
        if stat.width == EACH:
            return [f"{stat.name}/{c}" for c in self.features]
        return [f"p{round(q * 100)}/{c}" for c in self.quantile_features for q in self.quantiles]

    @cached_property
    def _spans(self) -> dict[str, slice]:
        spans, j = {}, 0
        for stat in self.stats:
            w = len(self._labels(stat))
            spans[stat.name] = slice(j, j + w)
            j += w
        return spans

    def cols(self, stat: str) -> slice:
        """The column range of a statistic within the block."""
        return self._spans[stat]

    def __contains__(self, stat: str) -> bool:
        return stat in self._spans

    @property
    def width(self) -> int:
        return sum(s.stop - s.start for s in self._spans.values())

    def names(self, prefix: str) -> list[str]:
        """The block's column names, in output order."""
        return [f"{prefix}/{label}" for stat in self.stats for label in self._labels(stat)]


# Columns whose neighbour quantiles are kept (a sort per column and block, so a few).
QUANTILE_COLUMNS = ("account_age_days", "asserted_age", "friends", "requests_sent", "messages_received")
QUANTILES = (0.5, 0.9)

_FIRST_ORDER = (Stat("count", ONE), Stat("sum"), Stat("mean"), Stat("max"), Stat("std"))

# An edge relation (a symmetric 0/1 adjacency): first-order statistics over the neighbours,
# the two-hop walk count and mean over second-order neighbours, neighbour quantiles.
EDGE = RelationLayout(
    "edge",
    (*_FIRST_ORDER, Stat("2hop_count", ONE), Stat("2hop_mean"), Stat("quantiles", QUANTILE)),
    QUANTILE_COLUMNS,
    QUANTILES,
)

# Group co-membership (through the account x group matrix): first-order statistics only.
GROUP = RelationLayout("group", _FIRST_ORDER)

GROUP_RELATION = "group"  # the relation `features.edge_types` builds as account x group


def relation_layout(relation: str, features) -> RelationLayout:
    """The layout of a relation's block over these raw features."""
    return (GROUP if relation == GROUP_RELATION else EDGE).over(features)


@dataclass(frozen=True)
class FeatureLayout:
    """The whole matrix: the raw features, the own block, then each relation's block (over
    the raw features only) in the given order."""

    raw: tuple[str, ...]
    own: tuple[str, ...]
    relations: tuple[str, ...]

    @cached_property
    def layouts(self) -> dict[str, RelationLayout]:
        return {r: relation_layout(r, self.raw) for r in self.relations}

    @property
    def own_cols(self) -> slice:
        """The own block's column range in the matrix."""
        return slice(len(self.raw), len(self.raw) + len(self.own))

    @cached_property
    def _spans(self) -> dict[str, slice]:
        spans, j = {}, len(self.raw) + len(self.own)
        for r, lay in self.layouts.items():
            spans[r] = slice(j, j + lay.width)
            j += lay.width
        return spans

    def cols(self, relation: str) -> slice:
        """The column range of a relation's block in the matrix."""
        return self._spans[relation]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return (*self.raw, *self.own, *(c for r, lay in self.layouts.items() for c in lay.names(r)))

    @property
    def width(self) -> int:
        return len(self.names)
