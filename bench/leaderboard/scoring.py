"""Every leaderboard figure, from the scores an entry stores and the truth of the suite's
worlds: one function per design, used alike by `submit` (on the ranks it is about to store)
and `verify` (on the ranks it reads back), so an entry's figures are by construction what
its stored predictions give.

Scores arrive per (scenario, task) as *parts*, each aligned with a fixed set of accounts:

- `val`: the validation split of the training dataset (of `train_period` for drift), sorted
  by id. Thresholds are set here, and nowhere else.
- `test`: the test split (of `test_period`), sorted by id; for a powered scenario only its
  negatives (the AUROC's negatives).
- `pos/WORLD`: the offenders of an enriched world, sorted by id.
- `neg/WORLD`: the negatives of a negative world whose score reaches the lowest threshold
  set on `val`, in any order; the world's negative count comes from its truth. Below that
  threshold no score can be a false positive at any threshold of the suite, so these few
  scores recount every FP exactly.

All arithmetic is bench.stats.rates's (thresholds, tallies, exact intervals, precision at a
base rate with bounds). Every figure depends on scores only through their order and ties
within one (scenario, task), so dense ranks over the union of its parts give the same
figures as the scores (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import SuiteError
from bench.leaderboard.suite import EvaluationSpec, Suite, split_ids, truth_for
from bench.results import operating_key, recall_key
from bench.stats.metrics import auprc, auroc
from bench.stats.rates import Tally, Thresholds, mixed, precision_at, rates, validation_thresholds
from common.vocabulary import SOPHISTICATION_LEVELS

LEVELS = SOPHISTICATION_LEVELS


def tag(x: float) -> str:
    """1e-3 -> '1e-3' (metric names MLflow accepts; no '1e-03' or '0.001')."""
    mant, exp = f"{x:.0e}".split("e")
    return f"{mant}e{int(exp)}"


@dataclass(frozen=True)
class TestFrame:
    """What a test-split scenario's figures need besides the scores."""

    world: str  # fingerprint of the training dataset
    y_val: dict[str, np.ndarray]
    y_test: dict[str, np.ndarray]


@dataclass(frozen=True)
class PoweredFrame:
    """What a powered scenario's figures need besides the scores: the truth of the training
    dataset's validation split, how many test negatives it has, the level of each offender
    of each enriched world (sorted by id), each negative world's negative count, every
    world's fingerprint, and the scenario's own level mix."""

    world: str
    y_val: np.ndarray
    test_negatives: int
    enriched: dict[str, tuple[str, np.ndarray]]  # world -> (fingerprint, level per offender)
    negatives: dict[str, tuple[str, int]]  # world -> (fingerprint, negative count)
    mix: tuple[float, ...]


def frames(suite: Suite, datasets: dict) -> dict[str, TestFrame | PoweredFrame]:
    """Per scenario, its truth frame from the prepared datasets and worlds (`datasets` as
    `open_prepared` gives them: dataset names and `worlds/NAME`)."""
    out: dict = {}
    for name, sc in suite.scenarios.items():
        ds = datasets[sc.dataset]
        fp = ds.meta["fingerprint"]
        val, test = split_ids(ds, sc, "val"), split_ids(ds, sc, "test")
        if sc.design == "test-split":
            out[name] = TestFrame(fp, truth_for(ds, sc.tasks, val), truth_for(ds, sc.tasks, test))
            continue
        task = sc.tasks[0]
        enr = {}
        for w in suite.worlds_of(sc.dataset, "enriched"):
            wd = datasets[f"worlds/{w}"]
            t = wd.truth_by_id(task, "sophistication")
            enr[w] = (wd.meta["fingerprint"], t["sophistication"][t[task].astype(bool)].astype(np.int8))
        neg = {}
        for w in suite.worlds_of(sc.dataset, "negative"):
            wd = datasets[f"worlds/{w}"]
            neg[w] = (wd.meta["fingerprint"], int((~wd.truth_by_id(task)[task].astype(bool)).sum()))
        mix = tuple(float(v) for v in ds.meta["scenario"]["harm"]["sophistication_mix"])
        out[name] = PoweredFrame(
            fp,
            truth_for(ds, sc.tasks, val)[task].astype(bool),
            int((truth_for(ds, sc.tasks, test)[task] == 0).sum()),
            enr,
            neg,
            mix,
        )
    return out


def expected_lengths(frame: TestFrame | PoweredFrame, task: str) -> dict[str, int | None]:
    """Each part's length (None: at most the world's negatives, any order)."""
    if isinstance(frame, TestFrame):
        return {"val": len(frame.y_val[task]), "test": len(frame.y_test[task])}
    out: dict[str, int | None] = {"val": len(frame.y_val), "test": frame.test_negatives}
    out |= {f"pos/{w}": len(levels) for w, (_, levels) in frame.enriched.items()}
    out |= {f"neg/{w}": None for w in frame.negatives}
    return out


def disjoint(thr: Thresholds, world: str, split: str | None, what: str) -> None:
    """Thresholds.check_disjoint as bad input: a suite whose evaluation world is its
    training dataset (same fingerprint) would grade thresholds on their own data."""
    try:
        thr.check_disjoint(world, split)
    except ValueError as e:
        raise SuiteError(f"{what}: {e}") from None


# ---------------------------------------------------------------- test-split design


def test_split_thresholds(frame: TestFrame, task: str, val: np.ndarray, ev: EvaluationSpec) -> Thresholds:
    """Thresholds at the target precisions, set on the validation split."""
    return validation_thresholds(frame.y_val[task].astype(bool), val, frame.world, "val", (), ev.target_precisions)


def test_split_figures(parts: dict, frame: TestFrame, task: str, ev: EvaluationSpec) -> dict:
    """AUROC and AUPRC on the test split; per target precision p, the threshold set on the
    validation split (the lowest reaching p there) and what it gives on the test split:
    recall, and the precision it actually holds (None when it flags nothing)."""
    y = frame.y_test[task].astype(bool)
    test = parts["test"]
    out = {"auroc": _clean(auroc(y, test)), "auprc": _clean(auprc(y, test))}
    thr = test_split_thresholds(frame, task, parts["val"], ev)
    disjoint(thr, frame.world, "test", "the test split")
    tp, fp = Tally.of(test[y], thr.values).flagged, Tally.of(test[~y], thr.values).flagged
    for i, p in enumerate(ev.target_precisions):
        out[recall_key(p)] = float(tp[i] / y.sum()) if y.any() else None
        out[f"precision_on_test_{operating_key(p)}"] = float(tp[i] / (tp[i] + fp[i])) if tp[i] + fp[i] else None
    return out


def validation_figures(parts: dict, y_val: np.ndarray) -> dict:
    """The validation split's AUROC and AUPRC: the figures a submitter may tune on."""
    y = np.asarray(y_val).astype(bool)
    return {"auroc": _clean(auroc(y, parts["val"])), "auprc": _clean(auprc(y, parts["val"]))}


# ---------------------------------------------------------------- powered design


def powered_thresholds(frame: PoweredFrame, val: np.ndarray, ev: EvaluationSpec) -> Thresholds:
    """Thresholds at the FPR budgets, set on the training dataset's validation split."""
    return validation_thresholds(frame.y_val, val, frame.world, "val", ev.fpr_budgets, ())


def negative_cut(frame: PoweredFrame, val: np.ndarray, ev: EvaluationSpec) -> float:
    """The lowest threshold of the suite: negatives scoring below it are never counted."""
    return float(powered_thresholds(frame, val, ev).values.min())


def powered_figures(parts: dict, frame: PoweredFrame, ev: EvaluationSpec) -> tuple[dict, dict]:
    """(figures, kinds). Per FPR budget b, at the threshold set on validation: the TPR per
    level pooled over the enriched worlds (`recall_fprB_L0`..), the TPR at the scenario's
    own level mix (`recall_fprB`), the FPR pooled over the negative worlds (`fpr_fprB`), and
    per base rate pi the precision (`precision_piP_fprB`) with its kind: 'point', 'lower
    bound' where no false positive was seen, 'upper bound' where no true positive was
    (bench.stats.rates.precision_at). Plus the AUROC of the enriched offenders, each level
    weighted by the scenario's mix, against the training dataset's test-split negatives."""
    thr = powered_thresholds(frame, parts["val"], ev)
    k = len(thr.values)
    tp = [Tally.empty(k) for _ in LEVELS]
    for w, (fp, levels) in frame.enriched.items():
        disjoint(thr, fp, None, f"enriched world {w}")
        s = parts[f"pos/{w}"]
        tp = [t + Tally.of(s[levels == li], thr.values) for t, li in zip(tp, range(len(LEVELS)), strict=True)]
    fp_tally = Tally.empty(k)
    for w, (fp, n) in frame.negatives.items():
        disjoint(thr, fp, None, f"negative world {w}")
        fp_tally = fp_tally + Tally(Tally.of(parts[f"neg/{w}"], thr.values).flagged, n)
    level_rates, fpr = [rates(t) for t in tp], rates(fp_tally)
    out: dict = {"auroc": _mixed_auroc(parts, frame)}
    kinds: dict = {}
    for i, b in enumerate(ev.fpr_budgets):
        at = [lr[i] for lr in level_rates]
        tpr = mixed(at, frame.mix)
        out[f"recall_fpr{tag(b)}"] = tpr.value if tpr.n else None
        for lvl, r in zip(LEVELS, at, strict=True):
            out[f"recall_fpr{tag(b)}_{lvl}"] = r.value if r.n else None
        out[f"fpr_fpr{tag(b)}"] = fpr[i].value if fpr[i].n else None
        for pi in ev.base_rates:
            p = precision_at(pi, tpr, fpr[i])
            out[f"precision_pi{tag(pi)}_fpr{tag(b)}"] = p["value"]
            kinds[f"precision_pi{tag(pi)}_fpr{tag(b)}"] = p["kind"]
    return {m: None if v is None else _clean(v) for m, v in out.items()}, kinds


def _mixed_auroc(parts: dict, frame: PoweredFrame) -> float | None:
    """sum over levels of mix[l] * P(offender of level l > negative) (+ half of ties),
    the AUROC of a population mixing the levels as the scenario does; levels without
    offenders in the enriched worlds are left out and the weights renormalised."""
    neg = np.sort(parts["test"])
    if not len(neg):
        return None
    pos = np.concatenate([parts[f"pos/{w}"] for w in frame.enriched]) if frame.enriched else np.empty(0)
    levels = np.concatenate([lv for _, lv in frame.enriched.values()]) if frame.enriched else np.empty(0, np.int8)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    wins = (below + 0.5 * ties) / len(neg)
    total, weight = 0.0, 0.0
    for li, w in enumerate(frame.mix):
        here = levels == li
        if w > 0 and here.any():
            total += w * float(wins[here].mean())
            weight += w
    return total / weight if weight else None


def _clean(v: float) -> float | None:
    return None if v != v else float(v)


# ---------------------------------------------------------------- whole entries


def seed_figures(parts: dict, suite: Suite, fr: dict) -> tuple[dict, dict, dict]:
    """(figures, kinds, validation) of one seed: {scenario: {task: {metric: value}}} for
    the scenarios `parts` ({(scenario, task): {part: scores}}) enters."""
    figs: dict = {}
    kinds: dict = {}
    val: dict = {}
    for name, sc in suite.scenarios.items():
        if (name, sc.tasks[0]) not in parts:
            continue
        frame = fr[name]
        figs[name], kinds[name], val[name] = {}, {}, {}
        for task in sc.tasks:
            p = parts[(name, task)]
            if isinstance(frame, TestFrame):
                figs[name][task], kinds[name][task] = test_split_figures(p, frame, task, suite.evaluation), {}
                val[name][task] = validation_figures(p, frame.y_val[task])
            else:
                figs[name][task], kinds[name][task] = powered_figures(p, frame, suite.evaluation)
                val[name][task] = validation_figures(p, frame.y_val)
    return figs, kinds, val


def aggregate(per_seed: list[dict], kinds: list[dict] | None = None) -> dict:
    """Mean and sample std over seeds of each figure, with the per-seed values (and, for a
    precision at a base rate, each seed's kind: point or bound)."""
    out: dict = {}
    for sc, tasks in per_seed[0].items():
        out[sc] = {}
        for task, mets in tasks.items():
            out[sc][task] = {}
            for m in mets:
                vals = [f[sc][task][m] for f in per_seed]
                arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
                ok = arr[np.isfinite(arr)]
                cell = {
                    "mean": float(ok.mean()) if len(ok) else None,
                    "std": float(ok.std(ddof=1)) if len(ok) > 1 else 0.0 if len(ok) else None,
                    "per_seed": vals,
                }
                if kinds and m in kinds[0].get(sc, {}).get(task, {}):
                    cell["kinds"] = [k[sc][task][m] for k in kinds]
                out[sc][task][m] = cell
    return out
