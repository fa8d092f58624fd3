"""`lowbase leaderboard show`: the entries as tables (Markdown, HTML).

A suite with powered scenarios gets two tables: the prevalent tasks (test-split design) and
the rare harm (powered design, one row per scenario and entry). Given the work directory's
cached groomer ceilings (`bench.leaderboard.ceilings`), each powered scenario with one gets
a reference row, and the table one column per level so each entry's TPR can carry its share
of the ceiling: a bare TPR cannot say whether 0.06 at L1 is poor or all the metadata allows.
Scenarios without one get a note naming the command that computes it. Entries of a retired
suite (format lowbase-entry/1, test-split figures only) keep the table they were published
with.
"""

from __future__ import annotations

import html
from typing import NamedTuple

from bench.leaderboard.ceilings import ABOVE, Reference, as_json, ceiling_cell, fpr_cell, label, note, share_cell
from bench.leaderboard.entries import LEGACY_FORMAT
from bench.leaderboard.scoring import LEVELS, tag
from bench.leaderboard.suite import Suite
from bench.results import recall_key

MIXED = "*"  # a precision cell whose seeds mix point values and bounds


def _spread(f: dict) -> bool:
    """Whether the seeds differ: a deterministic model's identical per-seed values leave a
    std of float rounding (~1e-18), which is no spread."""
    return bool(f.get("std")) and f["std"] > 1e-12 * max(1.0, abs(f["mean"]))


def _num(f: dict | None, std: bool = False) -> str:
    if not f or f.get("mean") is None:
        return "n/a"
    return f"{f['mean']:.3f} ± {f['std']:.3f}" if std and _spread(f) else f"{f['mean']:.3f}"


def _precision(f: dict | None) -> str:
    """A mean over seeds marked by what its seeds are: '≥' all lower bounds (no false
    positive seen), '≤' all upper bounds (no true positive), '*' a mix of points, bounds
    and seeds whose threshold flagged nothing (undefined, left out of the mean)."""
    if not f or f.get("mean") is None:
        return "n/a"
    kinds = set(f.get("kinds", []))
    if kinds == {"lower bound"}:
        return f"≥ {f['mean']:.3g}"
    if kinds == {"upper bound"}:
        return f"≤ {f['mean']:.3g}"
    if kinds == {"point"}:
        return f"{f['mean']:.3g} ± {f['std']:.2g}" if _spread(f) else f"{f['mean']:.3g}"
    return f"{f['mean']:.3g}{MIXED}"


def _fig(e: dict, sc: str, task: str, m: str) -> dict | None:
    return e["figures"].get(sc, {}).get(task, {}).get(m)


class Table(NamedTuple):
    """One table: its legend, header and rows, and the notes printed under it."""

    legend: str
    header: list[str]
    rows: list[list[str]]
    notes: tuple[str, ...] = ()


def tables(entries: list[dict], suite: Suite, refs: dict[str, Reference] | None = None) -> list[Table]:
    """The board's tables; `refs` (`bench.leaderboard.ceilings.references`) adds each powered
    scenario's ceiling as a reference row, or a note saying how to compute it."""
    if entries and all(e.get("format") == LEGACY_FORMAT for e in entries):
        return [legacy_table(entries, suite)]
    out = []
    prevalent = [(sc, t) for sc, spec in suite.scenarios.items() if spec.design == "test-split" for t in spec.tasks]
    if prevalent:
        out.append(_prevalent(entries, suite, prevalent))
    powered = [sc for sc, spec in suite.scenarios.items() if spec.design == "powered"]
    if powered:
        out.append(_powered(entries, suite, powered, refs or {}))
    return out


def _prevalent(entries, suite: Suite, cols) -> Table:
    p = min(suite.evaluation.target_precisions)
    legend = (
        f"Prevalent tasks. Cells: AUROC (mean ± std over seeds) / recall at precision {p:g} (mean), on the test "
        f"split, the threshold set on the validation split (of the training period for drift); "
        "'not entered': the submission scores none of that scenario's tasks."
    )
    header = ["entry", "seeds", *(f"{sc}: {task}" for sc, task in cols)]
    key_col = cols[0]

    def key(e):
        r, a = (_fig(e, key_col[0], key_col[1], m) or {} for m in (recall_key(p), "auroc"))
        return (-(r.get("mean") or 0.0), -(a.get("mean") or 0.0), e["name"])

    def cell(e, sc, t):
        if sc not in e["figures"]:
            return "not entered"
        return f"{_num(_fig(e, sc, t, 'auroc'), std=True)} / {_num(_fig(e, sc, t, recall_key(p)))}"

    rows = [[e["name"], str(len(e["seeds"])), *(cell(e, sc, t) for sc, t in cols)] for e in sorted(entries, key=key)]
    return Table(legend, header, rows)


CEILING_LEGEND = (
    " Ceiling rows (`lowbase leaderboard ceiling`): per level, the best of the strongest model classes trained on "
    "truth pooled over enriched training worlds, its TPR at the same FPR budget (its threshold set on a calibration "
    "world at the scenario's rate); '(n% of ceiling)': the entry's mean TPR at that level over the ceiling's; '≥': "
    "that level's learning curve had not reached its plateau, so the ceiling is a lower bound and an entry's share "
    "of it has an upper bound, shown as '≤n%': the entry's TPR over the ceiling's 95% lower limit ('share "
    f"unbounded' where that limit is 0); '{ABOVE}': a share above 100%: the ceiling bounds nothing here, it is the "
    "best of its classes, not of every model; the row's FPR measured: that of the class(es) holding it, on the "
    "ceiling's negative worlds (an entry whose threshold lets more negatives through finds more offenders too)."
)


def _powered(entries, suite: Suite, scenarios, refs: dict[str, Reference]) -> Table:
    ev = suite.evaluation
    budgets = sorted(ev.fpr_budgets, reverse=True)
    strict = tag(budgets[-1])
    refs = {sc: r for sc, r in refs.items() if sc in scenarios}
    ceilings = {sc: lv for sc, r in refs.items() if (lv := r.at(budgets[-1])) is not None}
    pools = {sc: label(r.record) for sc, r in refs.items() if r.record is not None}
    legend = (
        "Rare harm (powered design). Thresholds set on each seed's validation split at an FPR budget; recall: "
        "TPR on the enriched worlds at the scenario's level mix, per level at FPR "
        f"{strict} (L0/L1/L2/L3); FPR measured on the negative worlds; precision at base rate pi at the "
        f"FPR-{strict} threshold ('≥': a lower bound, no false positive seen; '≤': an upper bound, no "
        f"true positive; '{MIXED}': seeds mix points, bounds and thresholds that flagged nothing); AUROC: "
        "enriched offenders at the scenario's mix against test-split negatives. Mean ± std over seeds."
    ) + (CEILING_LEGEND if ceilings else "")
    by_level = [f"{lvl} @FPR {strict}" for lvl in LEVELS] if ceilings else [f"by level @FPR {strict}"]
    header = ["scenario", "entry", "seeds", *(f"recall @FPR {tag(b)}" for b in budgets), *by_level,
              f"FPR measured @{strict}", *(f"precision pi={tag(pi)}" for pi in ev.base_rates), "AUROC"]  # fmt: skip
    rows = []
    for sc in scenarios:
        task = suite.scenarios[sc].tasks[0]
        here = [e for e in entries if sc in e["figures"]]

        def key(e, sc=sc, task=task):
            return (-((_fig(e, sc, task, f"recall_fpr{strict}") or {}).get("mean") or 0.0), e["name"])

        if sc in ceilings:
            levels, record = ceilings[sc], refs[sc].record
            fpr = "—" if record is None else fpr_cell(record, levels, budgets[-1])
            cells = [ceiling_cell(levels.get(lvl)) for lvl in LEVELS]
            rows.append([sc, pools[sc], "—", *["—"] * len(budgets), *cells, fpr, *["—"] * (len(ev.base_rates) + 1)])
        for e in sorted(here, key=key):
            rows.append(_powered_row(e, sc, task, ev, bool(ceilings), ceilings.get(sc)))
    return Table(legend, header, rows, tuple(note(r, budgets[-1]) for r in refs.values()))


def _powered_row(e: dict, sc: str, task: str, ev, split: bool, levels: dict | None) -> list[str]:
    """An entry's row; `split`: one column per level, each TPR with its share of the
    scenario's ceiling (`levels`) where there is one."""
    budgets = sorted(ev.fpr_budgets, reverse=True)
    strict = tag(budgets[-1])
    tprs = [None if (f := _fig(e, sc, task, f"recall_fpr{strict}_{lvl}")) is None else f["mean"] for lvl in LEVELS]
    if not split:
        by_level = ["/".join("n/a" if v is None else f"{v:.2f}" for v in tprs)]
    elif levels is None:
        by_level = ["n/a" if v is None else f"{v:.2f}" for v in tprs]
    else:
        by_level = [share_cell(v, levels.get(lvl)) for v, lvl in zip(tprs, LEVELS, strict=True)]
    fpr = _fig(e, sc, task, f"fpr_fpr{strict}")
    return [
        sc, e["name"], str(len(e["seeds"])),
        *(_num(_fig(e, sc, task, f"recall_fpr{tag(b)}"), std=True) for b in budgets),
        *by_level,
        "n/a" if not fpr or fpr["mean"] is None else f"{fpr['mean']:.2g}",
        *(_precision(_fig(e, sc, task, f"precision_pi{tag(pi)}_fpr{strict}")) for pi in ev.base_rates),
        _num(_fig(e, sc, task, "auroc"), std=True),
    ]  # fmt: skip


def legacy_table(entries: list[dict], suite: Suite) -> Table:
    """A retired suite's table as it was published: one column per scenario (its first
    task), AUROC (mean ± std over seeds) / recall@P0.95 (mean), on the test split."""
    cols = [(sc, spec.tasks[0]) for sc, spec in suite.scenarios.items()]
    header = ["entry", "seeds", *(f"{sc}: {task}" for sc, task in cols)]
    first = next((c for c in cols if c[1] == "groomer"), cols[0])

    def key(e):
        r, a = (_fig(e, *first, m) or {} for m in ("recall_at_p95", "auroc"))
        return (-(r.get("mean") or 0.0), -(a.get("mean") or 0.0), e["name"])

    def cell(e, sc, t):
        if sc not in e["figures"]:
            return "not entered"
        return f"{_num(_fig(e, sc, t, 'auroc'), std=True)} / {_num(_fig(e, sc, t, 'recall_at_p95'))}"

    rows = [[e["name"], str(len(e["seeds"])), *(cell(e, sc, t) for sc, t in cols)] for e in sorted(entries, key=key)]
    legend = (
        "Cells: AUROC (mean ± std over seeds) / recall at precision 0.95 (mean), on each scenario's test split; "
        "'not entered': the submission scores none of that scenario's tasks."
    )
    return Table(legend, header, rows)


def markdown(entries: list[dict], suite: Suite, refs: dict[str, Reference] | None = None) -> str:
    blocks = []
    for t in tables(entries, suite, refs):
        lines = [t.legend, "", "| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
        lines += ["| " + " | ".join(r) + " |" for r in t.rows]
        if t.notes:
            lines += ["", *(f"- {n}" for n in t.notes)]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def html_table(entries: list[dict], suite: Suite, refs: dict[str, Reference] | None = None) -> str:
    parts = []
    for t in tables(entries, suite, refs):
        th = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t.rows)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in t.notes)
        parts.append(f"<p>{html.escape(t.legend)}</p><table><tr>{th}</tr>{body}</table>")
        parts.append(f"<ul>{notes}</ul>" if notes else "")
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(suite.suite)} leaderboard</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,td:nth-child(2){text-align:left}table{border-collapse:collapse;margin-bottom:1em}</style>"
        f"<h1>{html.escape(suite.suite)}</h1>{''.join(parts)}\n"
    )


def board_json(entries: list[dict], suite: Suite, refs: dict[str, Reference] | None = None) -> dict:
    """The tables as `show` prints them, and each powered scenario's ceiling with every
    entry's share per level, for `show --json`."""
    budget = min(suite.evaluation.fpr_budgets)
    current = [e for e in entries if e.get("format") != LEGACY_FORMAT]
    return {
        "suite": suite.suite,
        "tables": [t._asdict() | {"notes": list(t.notes)} for t in tables(entries, suite, refs)],
        "ceilings": {sc: as_json(r, budget, current) for sc, r in (refs or {}).items()},
    }
