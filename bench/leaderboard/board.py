"""`lowbase leaderboard show`: the entries as tables (Markdown, HTML).

A suite with powered scenarios gets two tables: the prevalent tasks (test-split design) and
the rare harm (powered design, one row per scenario and entry). Entries of a retired suite
(format lowbase-entry/1, test-split figures only) keep the table they were published with.
"""

from __future__ import annotations

import html

from bench.leaderboard.entries import LEGACY_FORMAT
from bench.leaderboard.scoring import tag
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


def tables(entries: list[dict], suite: Suite) -> list[tuple[str, list[str], list[list[str]]]]:
    """(legend, header, rows) per table."""
    if entries and all(e.get("format") == LEGACY_FORMAT for e in entries):
        return [legacy_table(entries, suite)]
    out = []
    prevalent = [(sc, t) for sc, spec in suite.scenarios.items() if spec.design == "test-split" for t in spec.tasks]
    if prevalent:
        out.append(_prevalent(entries, suite, prevalent))
    powered = [sc for sc, spec in suite.scenarios.items() if spec.design == "powered"]
    if powered:
        out.append(_powered(entries, suite, powered))
    return out


def _prevalent(entries, suite: Suite, cols) -> tuple[str, list[str], list[list[str]]]:
    p = min(suite.evaluation.target_precisions)
    legend = (
        f"Prevalent tasks. Cells: AUROC (mean ± std over seeds) / recall at precision {p:g} (mean), on the test "
        f"split, the threshold set on the validation split (of the training period for drift); "
        "'not entered': the submission scores none of that scenario's tasks."
    )
    header = ["entry", "seeds", *(f"{sc}: {task}" for sc, task in cols)]
    key_col = cols[0]

    def key(e):
        r, a = (_fig(e, *key_col, m) or {} for m in (recall_key(p), "auroc"))
        return (-(r.get("mean") or 0.0), -(a.get("mean") or 0.0), e["name"])

    def cell(e, sc, t):
        if sc not in e["figures"]:
            return "not entered"
        return f"{_num(_fig(e, sc, t, 'auroc'), std=True)} / {_num(_fig(e, sc, t, recall_key(p)))}"

    rows = [[e["name"], str(len(e["seeds"])), *(cell(e, sc, t) for sc, t in cols)] for e in sorted(entries, key=key)]
    return legend, header, rows


def _powered(entries, suite: Suite, scenarios) -> tuple[str, list[str], list[list[str]]]:
    ev = suite.evaluation
    budgets = sorted(ev.fpr_budgets, reverse=True)
    strict = tag(budgets[-1])
    legend = (
        "Rare harm (powered design). Thresholds set on each seed's validation split at an FPR budget; recall: "
        "TPR on the enriched worlds at the scenario's level mix, per level at FPR "
        f"{strict} (L0/L1/L2/L3); FPR measured on the negative worlds; precision at base rate pi at the "
        f"FPR-{strict} threshold ('≥': a lower bound, no false positive seen; '≤': an upper bound, no "
        f"true positive; '{MIXED}': seeds mix points, bounds and thresholds that flagged nothing); AUROC: "
        "enriched offenders at the scenario's mix against test-split negatives. Mean ± std over seeds."
    )
    header = ["scenario", "entry", "seeds", *(f"recall @FPR {tag(b)}" for b in budgets), f"by level @FPR {strict}",
              f"FPR measured @{strict}", *(f"precision pi={tag(pi)}" for pi in ev.base_rates), "AUROC"]  # fmt: skip
    rows = []
    for sc in scenarios:
        task = suite.scenarios[sc].tasks[0]
        here = [e for e in entries if sc in e["figures"]]

        def key(e, sc=sc, task=task):
            return (-((_fig(e, sc, task, f"recall_fpr{strict}") or {}).get("mean") or 0.0), e["name"])

        for e in sorted(here, key=key):
            levels = "/".join(
                "n/a" if (f := _fig(e, sc, task, f"recall_fpr{strict}_L{li}")) is None or f["mean"] is None
                else f"{f['mean']:.2f}"
                for li in range(4)
            )  # fmt: skip
            fpr = _fig(e, sc, task, f"fpr_fpr{strict}")
            rows.append([
                sc, e["name"], str(len(e["seeds"])),
                *(_num(_fig(e, sc, task, f"recall_fpr{tag(b)}"), std=True) for b in budgets),
                levels,
                "n/a" if not fpr or fpr["mean"] is None else f"{fpr['mean']:.2g}",
                *(_precision(_fig(e, sc, task, f"precision_pi{tag(pi)}_fpr{strict}")) for pi in ev.base_rates),
                _num(_fig(e, sc, task, "auroc"), std=True),
            ])  # fmt: skip
    return legend, header, rows


def legacy_table(entries: list[dict], suite: Suite) -> tuple[str, list[str], list[list[str]]]:
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
    return legend, header, rows


def markdown(entries: list[dict], suite: Suite) -> str:
    blocks = []
    for legend, header, rows in tables(entries, suite):
        lines = [legend, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def html_table(entries: list[dict], suite: Suite) -> str:
    parts = []
    for legend, header, rows in tables(entries, suite):
        th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        parts.append(f"<p>{html.escape(legend)}</p><table><tr>{th}</tr>{body}</table>")
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(suite.suite)} leaderboard</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,td:nth-child(2){text-align:left}table{border-collapse:collapse;margin-bottom:1em}</style>"
        f"<h1>{html.escape(suite.suite)}</h1>{''.join(parts)}\n"
    )
