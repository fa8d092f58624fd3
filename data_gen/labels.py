"""Labels: weak rule labels, biased human labels, and stratified splits.

Weak labels are rules over observable statistics (observables.py), deliberately imprecise
and flipped with probability `labels.weak_noise`: DEC's stage 1 trains on exactly such
cheap labels (Xu et al. 2021; paper 7.2.4). Human labels are a small reviewed sample: random
audits plus review of reported accounts (paper 7.2.5), with reviewer error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from data_gen.config import Scenario


@dataclass(frozen=True)
class LabelRows:
    account: np.ndarray  # generation index
    task: np.ndarray  # int8 index into the task tuple
    label: np.ndarray  # int8
    source: np.ndarray  # int8 index into WEAK_SOURCES or HUMAN_SOURCES


# (task, source, rule over observable statistics). Thresholds are the kind a trust and safety
# team writes by hand: each catches the cartoon cases and many innocents.
WEAK_RULES: tuple[tuple[str, str, Callable[[dict], np.ndarray]], ...] = (
    ("spam", "many_rejected_requests", lambda s: (s["requests_rejected"] >= 8) & (s["request_reject_rate"] >= 0.6)),
    ("spam", "link_blast", lambda s: (s["links_sent"] >= 15) & (s["distinct_non_friend_recipients"] >= 10)),
    ("spam", "reported_spam", lambda s: s["reports_spam"] >= 1),
    ("scam", "links_to_older_strangers", lambda s: s["links_to_older_non_friends"] >= 3),
    ("scam", "reported_scam", lambda s: s["reports_scam"] >= 1),
    ("fake", "sparse_young_profile", lambda s: (s["profile_completeness"] < 0.3) & (s["account_age_days"] < 150)),
    ("fake", "reported_fake", lambda s: s["reports_fake"] >= 1),
    ("compromised", "established_link_burst", lambda s: (s["account_age_days"] > 365) & (s["max_daily_links"] >= 6)),
    ("compromised", "reported_hacked", lambda s: s["reports_hacked"] >= 1),
    # Groomer rules (paper 7.2.4: weak labels for this harm catch the cartoon offender and
    # many innocents): many rejected requests to children, an adult messaging many minors,
    # a user report.
    ("groomer", "rejected_requests_to_minors", lambda s: s["rejected_requests_to_apparent_minors"] >= 5),
    (
        "groomer",
        "adult_messaging_many_minors",
        lambda s: (s["asserted_age"] >= 18) & (s["distinct_apparent_minor_recipients"] >= 5),
    ),
    ("groomer", "reported_child_safety", lambda s: s["reports_child_safety"] >= 1),
    # Viral sharing: forwarding much media, or being reported for it.
    ("viral_sharer", "forwards_much_media", lambda s: s["forwarded_media_sent"] >= 3),
    ("viral_sharer", "reported_child_safety_share", lambda s: s["reports_child_safety"] >= 1),
)
NO_RULE = "no_rule_fired"
WEAK_SOURCES = tuple(r[1] for r in WEAK_RULES) + (NO_RULE,)
HUMAN_SOURCES = ("audit", "report_review")


def weak_labels(stats, tasks: tuple[str, ...], scn: Scenario, rng: np.random.Generator) -> LabelRows:
    n = len(stats["friends"])
    parts, fired = [], np.zeros(n, dtype=bool)
    for code, (task, _source, rule) in enumerate(WEAK_RULES):
        if task not in tasks:
            continue
        mask = rule(stats)
        fired |= mask
        parts.append((np.flatnonzero(mask), tasks.index(task), 1, code))
    # Rule-silent accounts sampled as negatives for every task (DEC's weak negatives).
    neg = np.flatnonzero(~fired & (rng.random(n) < scn.labels.weak_negative_share))
    parts.extend((neg, t, 0, WEAK_SOURCES.index(NO_RULE)) for t in range(len(tasks)))
    acc = np.concatenate([p[0] for p in parts])
    task, label, source = (np.concatenate([np.full(len(p[0]), p[i], dtype=np.int8) for p in parts]) for i in (1, 2, 3))
    flip = rng.random(len(acc)) < scn.labels.weak_noise
    label = np.where(flip, 1 - label, label).astype(np.int8)
    return LabelRows(acc.astype(np.int64), task, label, source)


def human_labels(
    truth: dict[str, np.ndarray],
    reported: np.ndarray,
    evidence: dict[str, np.ndarray],
    scn: Scenario,
    rng: np.random.Generator,
) -> LabelRows:
    """Every task for each reviewed account; reviewers err with probability reviewer_error.

    `evidence[task]` marks accounts whose abuse a reviewer can actually see. Grooming can
    only be confirmed from reported content (paper 7.2.5), so for `groomer` both a random
    audit and a report review label 1 only where a child-safety report exists: positives
    skew to careless offenders and late stages, and audits almost never find a groomer."""
    lc = scn.labels
    n = len(reported)
    audit = rng.random(n) < lc.audit_share
    review = reported & ~audit & (rng.random(n) < lc.report_review_share)
    acc = np.concatenate([np.flatnonzero(audit), np.flatnonzero(review)])
    source = np.concatenate([np.zeros(audit.sum(), np.int8), np.ones(review.sum(), np.int8)])  # HUMAN_SOURCES
    tasks = list(truth)
    k = len(tasks)
    # Reviewers miss a share of what they see, and wrongly confirm a share of what is put
    # in front of them; for evidence-bound tasks only an account with evidence can be
    # wrongly confirmed (no reviewer labels grooming without content).
    seen = np.stack([truth[t] & evidence[t] if t in evidence else truth[t] for t in tasks], axis=1)[acc]
    could = np.stack([evidence[t] if t in evidence else np.ones(n, bool) for t in tasks], axis=1)[acc]
    err = rng.random(seen.shape) < lc.reviewer_error
    label = np.where(err & (seen | could), ~seen, seen).ravel().astype(np.int8)
    task = np.tile(np.arange(k, dtype=np.int8), len(acc))
    return LabelRows(np.repeat(acc, k).astype(np.int64), task, label, np.repeat(source, k))


def stratified_splits(strata: np.ndarray, scn: Scenario, rng: np.random.Generator) -> np.ndarray:
    """0/1/2 = train/val/test per account, stratified by the combination of task labels so
    every split holds its share of each task's positives."""
    n = len(strata)
    order = np.lexsort((rng.random(n), strata))
    s = strata[order]
    first = np.searchsorted(s, s, side="left")
    count = np.searchsorted(s, s, side="right") - first
    frac = (np.arange(n) - first + 0.5) / count
    out = np.empty(n, dtype=np.int8)
    cut1, cut2 = scn.splits.train, scn.splits.train + scn.splits.val
    out[order] = np.where(frac < cut1, 0, np.where(frac < cut2, 1, 2))
    return out


def strata_of(truth: dict[str, np.ndarray]) -> np.ndarray:
    """A bitmask per account over the tasks."""
    code = np.zeros(len(next(iter(truth.values()))), dtype=np.int64)
    for bit, arr in enumerate(truth.values()):
        code |= arr.astype(np.int64) << bit
    return code
