"""AUROC of one score between positives and a reference, with a 95% interval that is
honest about clustered rows.

Every figure of the leakage audit and the separability oracle is an AUROC, so one gate
reads them all. The interval is DeLong's (DeLong, DeLong & Clarke-Pearson 1988) in the
clustered form of Obuchowski (1997, "Nonparametric analysis of clustered ROC curve data",
Biometrics 53): each row's structural component (the share of the other group it
outranks, ties counting one half) is summed per cluster, and the variance is taken over
clusters. With one row per cluster it is plain DeLong. Pooled event statistics cluster
their rows by the account that sent them: thousands of messages from a hundred accounts
are a hundred observations, not thousands, and an unclustered interval would be far too
narrow. The interval is the normal one on the AUROC scale, clipped to [0, 1]; it costs two
sorts, so every statistic of an audit gets one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Separation:
    """An AUROC with its 95% interval and the counts it rests on.

    `auroc` is usually orientation-free (max(a, 1 - a)): a statistic that is lower for
    positives separates as well as one that is higher. `higher` is True when the figure is
    the AUROC of the values as given (positives ranked high), False when of their
    negation. `n_positive` and `n_reference` count clusters (accounts); `rows_*` count the
    rows scored."""

    auroc: float
    ci_low: float
    ci_high: float
    se: float
    higher: bool
    n_positive: int
    n_reference: int
    rows_positive: int
    rows_reference: int

    def as_dict(self) -> dict:
        return {
            "auroc": self.auroc,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "se": self.se,
            "higher_for_positives": self.higher,
            "n_positive": self.n_positive,
            "n_reference": self.n_reference,
            "rows_positive": self.rows_positive,
            "rows_reference": self.rows_reference,
        }


def _components(pos: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive the share of reference rows it
    outranks, for each reference row the share of positives that outrank it (ties 1/2)."""
    ps, rs = np.sort(pos), np.sort(ref)
    below = np.searchsorted(rs, pos, side="left")
    tied = np.searchsorted(rs, pos, side="right") - below
    v10 = (below + 0.5 * tied) / len(ref)
    above = len(pos) - np.searchsorted(ps, ref, side="right")
    tied = np.searchsorted(ps, ref, side="right") - np.searchsorted(ps, ref, side="left")
    v01 = (above + 0.5 * tied) / len(pos)
    return v10, v01


def _cluster_variance(v: np.ndarray, auc: float, cluster: np.ndarray | None) -> tuple[float, int]:
    """Obuchowski's S10 (or S01): the variance of one group's components over its clusters,
    and the number of clusters."""
    m = len(v)
    if cluster is None:
        return (float(np.var(v, ddof=1)) if m > 1 else 0.0), m
    _, inv = np.unique(cluster, return_inverse=True)
    k = int(inv.max()) + 1
    if k < 2:
        return 0.0, k
    total = np.bincount(inv, weights=v, minlength=k)
    size = np.bincount(inv, minlength=k)
    return float(k / ((k - 1) * m) * np.square(total - size * auc).sum()), k


def auroc_with_interval(
    pos: np.ndarray,
    ref: np.ndarray,
    pos_cluster: np.ndarray | None = None,
    ref_cluster: np.ndarray | None = None,
    orientation_free: bool = True,
) -> Separation | None:
    """AUROC of `pos` against `ref`, with a clustered DeLong interval.

    `pos_cluster` / `ref_cluster` give each row's cluster (e.g. the sending account); None
    means every row is its own cluster. Orientation-free (the default) reports
    max(a, 1 - a); a model's score, which has a direction, is reported as is
    (`orientation_free=False`). None when either side is empty."""
    pos = np.asarray(pos, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if len(pos) == 0 or len(ref) == 0:
        return None
    v10, v01 = _components(pos, ref)
    auc = float(v10.mean())
    s10, k_pos = _cluster_variance(v10, auc, pos_cluster)
    s01, k_ref = _cluster_variance(v01, auc, ref_cluster)
    se = float(np.sqrt(max(s10 / len(pos) + s01 / len(ref), 0.0)))
    higher = auc >= 0.5 or not orientation_free
    a = auc if higher else 1.0 - auc
    return Separation(
        auroc=a,
        ci_low=max(0.0, a - Z95 * se),
        ci_high=min(1.0, a + Z95 * se),
        se=se,
        higher=higher,
        n_positive=k_pos,
        n_reference=k_ref,
        rows_positive=len(pos),
        rows_reference=len(ref),
    )
