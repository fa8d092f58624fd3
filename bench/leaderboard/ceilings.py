"""The groomer ceiling beside the leaderboard: for each powered scenario, what the metadata
allows per offender level (`bench.rare.ceiling`, docs/design.md "Ceiling"), so an entry's
TPR per level reads as a share of what is reachable rather than as a bare number.

Which ceiling serves a powered scenario: its training dataset's scenario (`scenario_of`), at
the scenario's visibility (the classes see the metadata the entries see) and at the
dataset's seed. A ceiling of seed K reads the evaluation worlds a run of seed K reads
(`world_seed(K, 'tpr' | 'fpr', i)`), which is the rule the suite pinned its own worlds by;
so where the suite's enriched world is the dataset's own, the ceiling and the entries are
read on the very same offenders. Where it is not (a world shared with another dataset's
seed), `Reference.paired` is False and the board says so.

An entry's share of a measured ceiling is its TPR over the ceiling's. Under a lower-bound
ceiling only an upper bound on the share is known, and it is shown with the ceiling's own
uncertainty in it: the TPR over the ceiling's 95% lower limit (`share_upper`). A share above
100% is marked: the ceiling is the best of its classes, not of every model.

The board only reads the work directory's cache (`cached_ceiling`); computing one is the
explicit `lowbase leaderboard ceiling`, since a ceiling costs many model fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.errors import SuiteError
from bench.leaderboard.scoring import tag
from bench.leaderboard.suite import POWERED_TASK, Suite, require_current, scenario_of
from bench.results.ceiling import CeilingRecord, LevelCeiling
from bench.stats.rates import budget_name
from data_gen import GENERATOR_VERSION, Scenario


@dataclass(frozen=True)
class Target:
    """One ceiling the suite needs: a dataset's scenario at a visibility and the dataset's
    seed, with the powered scenarios it serves (two scenarios never need two copies)."""

    dataset: str
    visibility: str
    seed: int
    scenario: Scenario
    serves: tuple[str, ...]

    def label(self) -> str:
        return f"dataset {self.dataset} at {self.visibility}, seed {self.seed}"


@dataclass(frozen=True)
class Reference:
    """A powered scenario's ceiling as the board reads it: the cached record (None: not
    cached), its file, and whether its TPR worlds are the entries' enriched worlds."""

    scenario: str
    target: Target
    record: CeilingRecord | None
    path: Path | None
    paired: bool
    command: str  # what computes a missing one

    def at(self, budget: float) -> dict[str, LevelCeiling] | None:
        """The ceiling per level at an FPR budget, or None when it has no such threshold."""
        if self.record is None:
            return None
        return self.record.ceiling.get(budget_name(budget))


def targets(suite: Suite) -> list[Target]:
    """The ceilings of the suite's powered scenarios, one per (dataset, visibility)."""
    found: dict[tuple[str, str], list[str]] = {}
    for name, sc in suite.scenarios.items():
        if sc.design == "powered":
            found.setdefault((sc.dataset, sc.visibility), []).append(name)
    return [
        Target(ds, vis, suite.datasets[ds].seed, scenario_of(suite.datasets[ds]), tuple(names))
        for (ds, vis), names in found.items()
    ]


def ceiling_command(suite_arg: str, workdir: Path) -> str:
    return f"lowbase leaderboard ceiling --suite {suite_arg} --workdir {workdir}"


def references(suite: Suite, workdir: Path, suite_arg: str | None = None) -> dict[str, Reference]:
    """Per powered scenario, its cached ceiling (or none): never computed here. Empty for a
    suite without powered scenarios or frozen with another generator (whose datasets this
    generator cannot make, so no ceiling of them exists)."""
    if suite.generator_version != GENERATOR_VERSION:
        return {}
    from bench.rare.ceiling import cache_path, cached_ceiling  # the models' stack: only when needed

    command = ceiling_command(suite_arg or suite.suite, workdir)
    out = {}
    for t in targets(suite):
        record = cached_ceiling(workdir, t.scenario, t.visibility, t.seed)
        path = None if record is None else cache_path(workdir, t.scenario, t.visibility, t.seed, record.key)
        paired = record is not None and _same_offenders(suite, t.dataset, record)
        for name in t.serves:
            out[name] = Reference(name, t, record, path, paired, command)
    return dict(sorted(out.items(), key=lambda kv: list(suite.scenarios).index(kv[0])))


def _same_offenders(suite: Suite, dataset: str, record: CeilingRecord) -> bool:
    """Whether the ceiling's TPR worlds are exactly the suite's enriched worlds for the
    dataset (by fingerprint): then an entry and the ceiling are read on the same offenders."""
    mine = {suite.worlds[w].fingerprint for w in suite.worlds_of(dataset, "enriched")}
    theirs = {w.get("fingerprint") for w in record.worlds.get("tpr", [])}
    return None not in mine and mine == theirs


def missing(suite: Suite, workdir: Path) -> tuple[list[tuple[Target, Path]], list[Target]]:
    """(cached ceilings with their files, targets with none) of a current suite with powered
    scenarios; anything else is refused by name rather than skipped."""
    require_current(suite, "given ceilings")
    found = targets(suite)
    if not found:
        raise SuiteError(f"suite {suite.suite} has no powered scenario: it has no groomer ceiling to compute")
    refs = references(suite, workdir)
    cached = [(t, path) for t in found if (path := refs[t.serves[0]].path) is not None]
    return cached, [t for t in found if refs[t.serves[0]].path is None]


def compute(target: Target, workdir: Path, workers: int, jobs: int, step) -> tuple[CeilingRecord, Path, bool]:
    """The target's ceiling with the default plan at its visibility, written to the cache."""
    from bench.rare.ceiling import CeilingPlan, ceiling

    return ceiling(target.scenario, target.seed, CeilingPlan(target.visibility), workdir, workers, jobs, step)


# ---------------------------------------------------------------- cells


ABOVE = "†"  # an entry above the ceiling: the ceiling is the best of its classes, not of every model


def ceiling_cell(lc: LevelCeiling | None) -> str:
    if lc is None or lc.tpr.n == 0:
        return "n/a"
    return f"{'≥ ' if lc.lower_bound else ''}{lc.tpr.value:.3f}"


def fpr_cell(record: CeilingRecord, levels: dict[str, LevelCeiling], budget: float) -> str:
    """The FPR the ceiling's thresholds actually give on its negative worlds, per class that
    holds a level's ceiling: beside the entries' measured FPR, since a threshold that lets
    more negatives through also finds more offenders."""
    name = budget_name(budget)
    found = {}
    for lc in levels.values():
        curve = record.models.get(lc.model)
        rate = curve.curve[-1].fpr.get(name) if curve and curve.curve else None
        found[lc.model] = "—" if rate is None or rate.n == 0 else f"{rate.value:.2g}"
    if len(set(found.values())) == 1:
        return next(iter(found.values()), "—")
    return "; ".join(f"{m} {v}" for m, v in found.items())


def share(tpr: float | None, lc: LevelCeiling | None) -> float | None:
    """An entry's TPR over the ceiling's at the same level; None where either is missing or
    the ceiling is 0 (no share of nothing)."""
    if tpr is None or lc is None or lc.tpr.n == 0 or lc.tpr.value <= 0:
        return None
    return tpr / lc.tpr.value


def share_upper(tpr: float | None, lc: LevelCeiling | None) -> float | None:
    """Under a lower-bound ceiling, the most an entry's share can be: its TPR over the
    ceiling's 95% lower limit (the ceiling is at least its figure, and its figure at least
    that limit). None where the ceiling is a measurement, the TPR is missing or 0 (0% of
    anything), or the limit is 0 (no bound)."""
    if tpr is None or not tpr or lc is None or not lc.lower_bound or lc.tpr.n == 0 or lc.tpr.low <= 0:
        return None
    return tpr / lc.tpr.low


def share_cell(tpr: float | None, lc: LevelCeiling | None) -> str:
    """'0.42 (37% of ceiling)'; under a lower-bound ceiling the share's upper bound
    (`share_upper`, '≤45%'), or 'share unbounded' where the ceiling's lower limit is 0; a TPR
    of 0 is 0% of any ceiling; 'n/a' when the ceiling is 0 or missing. A share above 100% is
    marked `ABOVE`."""
    if tpr is None:
        return "n/a"
    s = share(tpr, lc)
    if s is None or lc is None:
        return f"{tpr:.2f} (n/a of ceiling)"
    mark = ABOVE if s > 1 else ""
    if lc.lower_bound and tpr > 0:
        upper = share_upper(tpr, lc)
        return (
            f"{tpr:.2f} (share unbounded{mark})"
            if upper is None
            else f"{tpr:.2f} (≤{100 * upper:.0f}% of ceiling{mark})"
        )
    return f"{tpr:.2f} ({100 * s:.0f}% of ceiling{mark})"


def label(record: CeilingRecord) -> str:
    n = len(record.worlds.get("train", []))
    return f"ceiling (truth pooled over {n} enriched world{'s' if n != 1 else ''}; best class per level)"


def note(ref: Reference, budget: float) -> str:
    """What the reference row of a scenario rests on, or why it has none."""
    t, strict = ref.target, tag(budget)
    if ref.record is None:
        return (
            f"{ref.scenario}: no ceiling cached for {t.label()}; `{ref.command}` computes it "
            "(every powered scenario's that is missing)."
        )
    r = ref.record
    if ref.at(budget) is None:
        return (
            f"{ref.scenario}: the cached ceiling `{ref.path}` has no threshold at FPR ≤ {strict} "
            f"(it has {', '.join(sorted(r.ceiling))}): the entries' operating point has no ceiling "
            "counterpart, so no reference row and no share."
        )
    where = (
        "on the entries' own enriched world (the same offenders)"
        if ref.paired
        else "on another enriched world than the entries' (other offenders of the same scenario: "
        "the share compares two draws)"
    )
    return (
        f"{ref.scenario}: ceiling of {t.label()} (`{ref.path}`): {', '.join(r.models)} on "
        f"{sum(r.pool.values()):,} truth-labelled offenders; thresholds at FPR ≤ {strict} set on its "
        f"calibration world (a whole world at the scenario's rate); TPR per level {where}."
    )


def as_json(ref: Reference, budget: float, entries: list[dict]) -> dict:
    """A scenario's reference row and each entry's share per level, machine-readable."""
    levels = ref.at(budget)
    doc: dict = {"scenario": ref.scenario, "dataset": ref.target.dataset, "visibility": ref.target.visibility,
                 "seed": ref.target.seed, "fpr_budget": budget, "cache": None if ref.path is None else str(ref.path),
                 "paired": ref.paired, "note": note(ref, budget), "levels": None, "entries": {}}  # fmt: skip
    if levels is None:
        return doc
    doc["training_worlds"] = len(ref.record.worlds.get("train", [])) if ref.record else 0
    doc["levels"] = {
        lvl: {
            **lc.tpr.model_dump(mode="json"),
            "model": lc.model,
            "verdict": lc.verdict,
            "lower_bound": lc.lower_bound,
        }
        for lvl, lc in levels.items()
    }
    for e in entries:
        figs = e.get("figures", {}).get(ref.scenario, {}).get(POWERED_TASK)
        if figs is None:
            continue
        doc["entries"][e["name"]] = {
            lvl: {
                "tpr": (tpr := entry_tpr(figs, budget, lvl)),
                "share": share(tpr, lc),
                "share_is_upper_bound": lc.lower_bound and bool(tpr),
                "share_upper_bound": share_upper(tpr, lc),
                "above_ceiling": (share(tpr, lc) or 0.0) > 1,
            }
            for lvl, lc in levels.items()
        }
    return doc


def entry_tpr(figs: dict, budget: float, level: str) -> float | None:
    """An entry's mean TPR over seeds at a level, at the threshold of an FPR budget."""
    f = figs.get(f"recall_fpr{tag(budget)}_{level}")
    return None if not f else f.get("mean")
