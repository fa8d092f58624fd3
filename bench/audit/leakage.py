"""Leakage audit (`lowbase inspect --leakage`): can one statistic alone tell a kind of
positive from the benign accounts it imitates?

DEC needs many features together to reach AUROC ~0.90 on prevalent abuse (Xu et al. 2021),
so if one observable statistic is near-perfect on its own the simulation hands out the
role, and a benchmark built on it measures nothing. Two kinds of statistic are scored:

- **behavioural**: the per-account statistics a server computes (common.observables,
  the ones the weak labelers use): counts, rates, account fields. A near-perfect one
  (AUROC >= 0.95) means a role is given away by behaviour; L0, the cartoon offender, is
  easy by design.
- **artefact**: traces of how rows were generated (bench.audit.artefacts): ids, row order within
  equal timestamps, timestamp alignment, hour-of-day and weekday profiles. No real
  platform has them, so each must sit at chance (the tests gate them at 0.60).

Each comparison is positives against its matched reference (bench.stats.references): groomer
levels against the benign accounts they imitate (L0/L1 against benign adults who contact
apparent minors, L2/L3 against benign apparent minors), every task against benign. Every
figure is an AUROC, orientation-free (max(a, 1 - a)), with a 95% clustered DeLong interval
and the accounts it rests on (bench.stats.rank_auroc). Reference accounts are subsampled
(seeded) beyond ACCOUNT_CAP and pooled events beyond the caps of bench.audit.artefacts; both are
stated in the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
from scipy.stats import norm

from bench.audit.artefacts import (
    MIN_ACCOUNTS,
    POSITIVE_EVENT_CAP,
    REFERENCE_EVENT_CAP,
    Rows,
    account_artefacts,
    clustered_by,
    event_statistics,
    read_rows,
    scored,
)
from bench.audit.records import EventCaps, LeakageAudit, LeakageComparison, LeakageMethod, LeakageStatistic
from bench.stats.rank_auroc import Separation, auroc_with_interval
from bench.stats.references import REFERENCES, Comparison, capped, comparisons
from common.arrays import category_codes
from common.observables import Interactions, account_stats
from common.vocabulary import MEDIA
from data_gen.reader import Dataset

ACCOUNT_CAP = 100_000  # reference accounts scored per comparison (seeded subsample beyond)
BEHAVIOURAL, ARTEFACT = "behavioural", "artefact"
NEAR_PERFECT = 0.95  # a behavioural statistic this good alone gives a role away
ARTEFACT_GATE = 0.60  # an artefact statistic must stay below this: at chance
EASY_BY_DESIGN = ("groomer/L0",)  # the cartoon offender (paper 8.1.1) is meant to be easy


def interactions(ds: Dataset) -> Interactions:
    acc = ds.table("accounts")
    f = ds.table("friendships", ["src", "dst"])
    r = ds.table("contact_requests", ["src", "dst", "ts", "accepted"])
    m = ds.table("messages", ["src", "dst", "ts", "media", "forwarded"])
    rep = ds.table("reports", ["reporter", "reported", "ts", "reason"])
    return Interactions(
        n=acc.num_rows,
        days=int(ds.meta["scenario"]["activity"]["days"]),
        signup_day=acc["signup_day"].to_numpy(),
        completeness=acc["profile_completeness"].to_numpy(),
        asserted_age=acc["asserted_age"].to_numpy(),
        friend_src=f["src"].to_numpy(),
        friend_dst=f["dst"].to_numpy(),
        req_src=r["src"].to_numpy(),
        req_dst=r["dst"].to_numpy(),
        req_accepted=r["accepted"].to_numpy(zero_copy_only=False),
        msg_src=m["src"].to_numpy(),
        msg_dst=m["dst"].to_numpy(),
        msg_ts=m["ts"].to_numpy(),
        msg_media=category_codes(m["media"], MEDIA),
        msg_forwarded=m["forwarded"].to_numpy(zero_copy_only=False),
        reported=rep["reported"].to_numpy(),
        report_reason=np.asarray(pc.cast(rep["reason"], "string").to_pylist(), dtype=object),
        reason_names=tuple(pc.unique(pc.cast(rep["reason"], "string")).to_pylist()),
        req_ts=r["ts"].to_numpy(),
        reporter=rep["reporter"].to_numpy(),
        report_ts=rep["ts"].to_numpy(),
    )


@dataclass(frozen=True)
class _Found:
    """A statistic of one comparison, with its separation (None: too few accounts a side)."""

    name: str
    kind: str
    unit: str
    clustered_by: str
    separation: Separation | None


def _account_rows(stats: dict[str, np.ndarray], kind: str, pos: np.ndarray, ref: np.ndarray) -> list[_Found]:
    rows = []
    for name, x in stats.items():
        xp, xr = x[pos], x[ref]
        sep = scored(auroc_with_interval(xp[~np.isnan(xp)], xr[~np.isnan(xr)]))
        rows.append(_Found(name, kind, "account", "account", sep))
    return rows


def _found(c: Comparison, ref: np.ndarray, behaviour: dict, artefact: dict, rows: Rows, seed: int) -> list[_Found]:
    """Every statistic of one comparison: per account (behavioural, artefact), then pooled events."""
    found = _account_rows(behaviour, BEHAVIOURAL, c.positive, ref)
    found += _account_rows(artefact, ARTEFACT, c.positive, ref)
    for name, sep in event_statistics(rows, c.positive, c.reference, seed).items():
        found.append(_Found(name, ARTEFACT, "event", clustered_by(name), scored(sep)))
    return found


def audit(ds: Dataset, seed: int = 0) -> LeakageAudit:
    """The leakage audit of a dataset: per comparison, every statistic with its AUROC,
    interval and counts, highest AUROC first (`lowbase inspect --json` writes it)."""
    behaviour = account_stats(interactions(ds))
    rows = read_rows(ds)
    artefact = account_artefacts(rows)
    found = []
    for c in comparisons(ds):
        ref = capped(c.reference, ACCOUNT_CAP, seed)
        found.append((c, ref, _found(c, ref, behaviour, artefact, rows, seed)))
    n_artefact = sum(f.kind == ARTEFACT and f.separation is not None for *_, fs in found for f in fs)
    z = float(norm.ppf(1 - 0.05 / (2 * max(n_artefact, 1))))
    method = LeakageMethod(
        auroc="orientation-free max(a, 1 - a)",
        interval="95% DeLong; pooled events clustered (Obuchowski 1997) by sending account, "
        "or by group for a group's id or creation time",
        reference_account_cap=ACCOUNT_CAP,
        event_caps=EventCaps(positive=POSITIVE_EVENT_CAP, reference=REFERENCE_EVENT_CAP),
        min_accounts=MIN_ACCOUNTS,
        seed=seed,
        artefact_gate=f"AUROC >= {ARTEFACT_GATE} with the lower bound of a 95% family-wise interval "
        f"(Bonferroni over {n_artefact} artefact statistics, z = {z:.2f}) above 0.5",
    )
    return LeakageAudit(
        references=dict(REFERENCES),
        method=method,
        comparisons={c.name: _comparison(c, ref, fs, z) for c, ref, fs in found},
    )


def _comparison(c: Comparison, ref: np.ndarray, found: list[_Found], z: float) -> LeakageComparison:
    done = sorted(((f, f.separation) for f in found if f.separation is not None), key=lambda fs: -fs[1].auroc)
    return LeakageComparison(
        reference=c.reference_name,
        n_positive=int(c.positive.sum()),
        n_reference=int(c.reference.sum()),
        reference_subsampled_to=int(ref.sum()) if ref.sum() < c.reference.sum() else None,
        statistics=[_statistic(f, sep, z) for f, sep in done],
        not_scored=sorted(f.name for f in found if f.separation is None),
    )


def _statistic(f: _Found, sep: Separation, z: float) -> LeakageStatistic:
    """One scored statistic; an artefact one with its lower bound at 95% family-wise
    confidence (Bonferroni over all artefact statistics of the audit, normal quantile `z`):
    the bound `breaks_gate` reads."""
    familywise = {"ci_low_familywise": max(0.0, sep.auroc - z * sep.se)} if f.kind == ARTEFACT else {}
    return LeakageStatistic(
        name=f.name, kind=f.kind, unit=f.unit, clustered_by=f.clustered_by, **sep.as_dict(), **familywise
    )


def worst(report: LeakageAudit, comparison: str, kind: str) -> LeakageStatistic | None:
    """The highest-AUROC statistic of `kind` in one comparison of an `audit` result."""
    rows = [s for s in report.comparisons[comparison].statistics if s.kind == kind]
    return rows[0] if rows else None


def breaks_gate(comparison: str, row: LeakageStatistic) -> bool:
    """Whether a statistic of an `audit` result gives its comparison away: a behavioural one
    at AUROC >= NEAR_PERFECT (never for EASY_BY_DESIGN), an artefact one at >= ARTEFACT_GATE
    with its family-wise interval clear of 0.5. An audit scores ~400 artefact statistics
    (~40 in each of ten comparisons), and an orientation-free AUROC on ~60-100 accounts
    has a standard error near 0.03, so a 95% interval per statistic would let one or two
    reach 0.60 by noise alone in every audit; the family-wise interval (Bonferroni over all
    artefact statistics of the audit) holds the chance of any false alarm at 5%, while a
    real artefact on enough accounts to matter clears it (the old generator's group ids:
    0.73 on 192 accounts, lower bound 0.67)."""
    if row.kind == ARTEFACT:
        low = row.ci_low if row.ci_low_familywise is None else row.ci_low_familywise
        return row.auroc >= ARTEFACT_GATE and low > 0.5
    return row.auroc >= NEAR_PERFECT and comparison not in EASY_BY_DESIGN
