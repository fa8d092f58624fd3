"""What `lowbase inspect` finds, as records: the realism summary (bench.audit.realism), the
leakage audit (bench.audit.leakage) and the separability oracle (bench.audit.separability).

Pydantic models in the run schema's style (bench.results.records.Record: unknown keys are
refused), frozen, since a finished audit is a result and not a work area. Pydantic rather
than frozen dataclasses because the output is JSON (`lowbase inspect --json`): a model
dumps itself and reads a written file back (`Inspection.model_validate`), naming the field
of any problem, and a section or key the audit did not compute is left out rather than
written as null (dump with `exclude_unset`, as results.json is): `ci_low_familywise` on
behavioural statistics, the interval and features of a comparison the oracle could not
score, `leakage` and `separability` when `inspect` was not asked for them.

Floats that may be undefined (an assortativity on a graph without variance) are `Num`:
written as null (common.files.jsonable), read back as NaN.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from bench.results.records import Num, Record


class AuditRecord(Record):
    """Every part of what `inspect` finds: unknown keys refused, fields read-only."""

    model_config = ConfigDict(frozen=True)


# ---------------------------------------------------------------- realism summary


class DegreeSummary(AuditRecord):
    """Friendship degree distribution."""

    mean: Num
    median: Num
    p99: Num
    max: int
    isolated_share: Num


class ClusteringSummary(AuditRecord):
    """Average local clustering on a node sample, beside a random graph of the same density."""

    average_local: Num
    sampled_nodes: int
    random_graph_reference: Num


class MessageCounts(AuditRecord):
    one_to_one: int
    group: int


class GroomerCounts(AuditRecord):
    """Counts behind every groomer figure (truth), stated even when they are zero."""

    expected: Num  # accounts x harm.groomer_rate
    count: int
    by_level: dict[str, int]  # "L0".."L3"
    victims: int
    harm_events: int


class RealismSummary(AuditRecord):
    """A dataset's identity, row counts, realised base rates and graph statistics."""

    path: str
    generator_version: str
    scenario: str | None
    seed: int
    fingerprint: str
    rows: dict[str, int]
    base_rates: dict[str, Num]
    positives: dict[str, int]
    degree: DegreeSummary
    clustering: ClusteringSummary
    degree_assortativity: Num
    age_assortativity: Num
    minor_share: Num
    minors_friends_minor_share: Num
    messages: MessageCounts
    groomers: GroomerCounts


# ---------------------------------------------------------------- leakage audit


class EventCaps(AuditRecord):
    """Pooled events scored per side of a comparison (seeded subsample beyond)."""

    positive: int
    reference: int


class LeakageMethod(AuditRecord):
    auroc: str
    interval: str
    reference_account_cap: int
    event_caps: EventCaps
    min_accounts: int
    seed: int
    artefact_gate: str


class LeakageStatistic(AuditRecord):
    """One statistic alone against the reference: its AUROC (orientation-free) with a 95%
    interval (bench.stats.rank_auroc.Separation) and the clusters and rows it rests on."""

    name: str
    kind: Literal["behavioural", "artefact"]
    unit: Literal["account", "event"]  # one value per account, or pooled events
    clustered_by: Literal["account", "group"]
    auroc: Num
    ci_low: Num
    ci_high: Num
    se: Num
    higher_for_positives: bool
    n_positive: int
    n_reference: int
    rows_positive: int
    rows_reference: int
    # Artefact statistics only: the lower bound at 95% family-wise confidence.
    ci_low_familywise: float | None = None


class LeakageComparison(AuditRecord):
    """Every scored statistic of one comparison, highest AUROC first."""

    reference: str
    n_positive: int
    n_reference: int
    reference_subsampled_to: int | None  # None: every reference account scored
    statistics: list[LeakageStatistic]
    not_scored: list[str]  # on fewer than MIN_ACCOUNTS accounts (groups) a side


class LeakageAudit(AuditRecord):
    references: dict[str, str]  # name -> definition (bench.stats.references.REFERENCES)
    method: LeakageMethod
    comparisons: dict[str, LeakageComparison]  # "spam", "groomer/L2", ...


# ---------------------------------------------------------------- separability oracle


class OracleMethod(AuditRecord):
    model: str
    rounds: int
    folds: int
    features: str
    trained_on: str
    interval: str
    reference_cap: int
    positive_cap: int
    seed: int


class OracleComparison(AuditRecord):
    """The oracle's out-of-fold AUROC for one comparison with its 95% DeLong interval and
    the features carrying most of the gain, or `auroc` None and a `note` when too few
    accounts were there to train on."""

    reference: str
    n_positive: int
    n_reference: int
    positives_used: int
    reference_used: int
    auroc: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    top_features: list[tuple[str, float]] | None = None  # (feature, share of the split gain)
    note: str | None = None


class SeparabilityOracle(AuditRecord):
    references: dict[str, str]
    method: OracleMethod
    comparisons: dict[str, OracleComparison]


# ---------------------------------------------------------------- inspect


class Inspection(RealismSummary):
    """What `lowbase inspect --json` writes: the summary, with the audit and the oracle
    when asked for."""

    leakage: LeakageAudit | None = None
    separability: SeparabilityOracle | None = None


def inspection(
    summary: RealismSummary, leakage: LeakageAudit | None = None, separability: SeparabilityOracle | None = None
) -> Inspection:
    """The summary with the sections `inspect` computed (the others left out, not null)."""
    extra = {"leakage": leakage, "separability": separability}
    return Inspection.model_validate({**dict(summary), **{k: v for k, v in extra.items() if v is not None}})
