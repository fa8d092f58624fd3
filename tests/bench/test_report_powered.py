"""`bench.report` on the rare-harm evaluation: the powered groomer section (label variants,
label-supply figure, precision bands with bounds), detection before harm on enriched worlds
with positive controls, validated operating points, and their absence (results without them).

The records are built here with `bench.stats.rates`'s own arithmetic (exact intervals,
precision with bounds), in the shape `bench.rare.powered` writes them, on top of the synthetic
results of `test_report`.
"""

from __future__ import annotations

import copy
import io
import math
import re

import pytest
from PIL import Image

from bench.report import build_report, write_report
from bench.report import powered_figures as pf
from bench.report.format import fmt_bound, fmt_rate, fmt_value
from bench.report.render import BLOCK_TYPES, Heading, Paragraph, render_md
from bench.results import PrecisionBound, RateRecord, parse_results
from bench.stats.rates import Rate, clopper_pearson, mixed, precision_at, smallest_base_rate
from tests.bench.test_report import bare_results, full_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIX = [0.3, 0.5, 0.12, 0.08]
BASE_RATES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
WORLD = "e" * 64
NEGATIVES = 59_920
LEVEL_N = 60


def exact_rate(k: int, n: int) -> Rate:
    lo, hi = clopper_pearson(k, n)
    return Rate(k / n if n else math.nan, float(lo), float(hi), k, n)


def powered_point(fp: int, tp_by_level: list[int], test=(2, 5, 7, 3995), negatives: int = NEGATIVES) -> dict:
    """One threshold's figures as `bench.rare.powered._summary` writes them."""
    fpr = exact_rate(fp, negatives)
    levels = [exact_rate(k, LEVEL_N) for k in tp_by_level]
    tpr = mixed(levels, MIX)
    return {
        "fpr": fpr.as_dict(),
        "tpr_by_level": {f"L{i}": r.as_dict() for i, r in enumerate(levels)},
        "tpr_at_scenario_mix": tpr.as_dict(),
        "test_split": {"tpr": exact_rate(*test[:2]).as_dict(), "fpr": exact_rate(*test[2:]).as_dict()},
        "precision": [precision_at(pi, tpr, fpr) for pi in BASE_RATES],
        "smallest_base_rate": {
            str(p): (None if math.isnan(v := smallest_base_rate(p, tpr.low, fpr.high)) else v) for p in (0.5, 0.95)
        },
    }


def _variant(points: dict, labels: dict, inf_precision: bool = False) -> dict:
    names = ["fpr<=0.01", "fpr<=0.001", "precision>=0.95"]
    values = {"fpr<=0.01": 0.4, "fpr<=0.001": 0.5, "precision>=0.95": "inf" if inf_precision else 0.7}
    return {
        "thresholds": [{"name": n, "value": values[n], "set_on": {"world": WORLD, "split": "val"}} for n in names],
        "by_threshold": points,
        "labels": labels,
    }


def powered() -> dict:
    nothing = powered_point(0, [0, 0, 0, 0], test=(0, 5, 0, 3995))
    return {
        "task": "groomer",
        "visibility": "full",
        "worlds": {
            "train": {"fingerprint": WORLD, "seed": 0},
            "tpr": [{"accounts": 20_000, "fingerprint": "a" * 64, "positives": 4 * LEVEL_N, "seed": 11}],
            "fpr": [{"fingerprint": f"{i}" * 64, "negatives": NEGATIVES // 2, "seed": i} for i in (1, 2)],
        },
        "enriched_rate": 0.01,
        "scenario_mix": MIX,
        "models": {
            # no false positive, offenders flagged: precision is a lower bound at every base rate
            "realistic labels": _variant(
                {
                    "fpr<=0.01": powered_point(27, [54, 0, 0, 0]),
                    "fpr<=0.001": powered_point(0, [40, 3, 1, 0]),
                    "precision>=0.95": nothing,
                },
                {"reachable": True, "train": 1, "val": 1, "total": 2, "train_labelled": 392, "val_labelled": 128},
                inf_precision=True,
            ),
            # the threshold flags nothing at all
            "10 labelled": _variant(
                {"fpr<=0.01": powered_point(192, [10, 4, 6, 3]), "fpr<=0.001": nothing, "precision>=0.95": nothing},
                {"reachable": True, "train": 7, "val": 3, "total": 10},
            ),
            # false positives and true positives: points with intervals
            "training-world truth": _variant(
                {
                    "fpr<=0.01": powered_point(581, [55, 12, 12, 9]),
                    "fpr<=0.001": powered_point(75, [33, 3, 4, 2]),
                    "precision>=0.95": powered_point(1, [8, 0, 2, 0]),
                },
                {"reachable": True, "train": 16, "val": 6, "total": 22},
            ),
        },
        "unreachable": {
            "30 labelled": {"reachable": False, "offenders_in_world": 22},
            "300 labelled": {"reachable": False, "offenders_in_world": 22},
        },
    }


def _timely(share_k: int, n: int, happened: list[float], flagged: list[float], fpr_by=True) -> dict:
    lo, hi = clopper_pearson(share_k, n)
    return {
        "fpr_budget": 0.001,
        "world": "a" * 64,
        "checkpoint_days": [7, 14, 21, 28],
        "thresholds": [0.5, 0.5, 0.52, 0.55],
        **({"fpr_by": [0.0, 0.0004, 0.0011, 0.0009]} if fpr_by else {}),
        "share": {"value": share_k / n, "ci_low": float(lo), "ci_high": float(hi), "k": share_k, "n": n},
        "ci_by_offender": [max(0.0, share_k / n - 0.1), min(1.0, share_k / n + 0.1)],
        "harm_share_by": happened,
        "flagged_before_harm_by": flagged,
        "offenders": 200,
        "offenders_with_harm": 49,
        "harm_events": n,
        "flagged_by_end": 32,
        "harm": "harm events of the world",
    }


def timely() -> dict:
    return {
        "groomer": _timely(16, 82, [0.1, 0.3, 0.6, 1.0], [0.0, 0.05, 0.1, 0.195]),
        "spam": _timely(13261, 19347, [0.2, 0.4, 0.7, 1.0], [0.35, 0.5, 0.6, 0.685]),
        "scam": _timely(12938, 17413, [0.2, 0.4, 0.7, 1.0], [0.64, 0.7, 0.74, 0.743], fpr_by=False),
    }


def validated() -> dict:
    def vp(name, value, tp, npos, fp, nneg):
        return {
            "threshold": {"name": name, "value": value, "set_on": {"world": WORLD, "split": "val"}},
            "tpr": exact_rate(tp, npos).as_dict(),
            "fpr": exact_rate(fp, nneg).as_dict(),
        }

    return {
        "spam": {
            "fpr<=0.001": vp("fpr<=0.001", 0.65, 33, 77, 10, 3923),
            "precision>=0.95": vp("precision>=0.95", 0.7, 20, 77, 2, 3923),
        },
        "groomer": {"precision>=0.95": vp("precision>=0.95", "inf", 0, 5, 0, 3995)},
    }


def powered_results(with_test_split_harm: bool = False) -> dict:
    r = full_results()
    an = r["analysis"]
    an["powered"], an["timely"] = powered(), timely()
    if not with_test_split_harm:
        del an["detection_before_harm"]
    r["models"]["dec"]["validated"] = validated()
    r["config"].update({"powered": True, "fpr_accounts": 60_000, "label_budgets": [10, 30, 300]})
    return r


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    img = Image.open(io.BytesIO(data))
    assert img.width > 300 and img.height > 200
    lo, hi = img.convert("L").getextrema()
    assert lo < hi, f"{path.name} is blank"


def _row(md: str, section: str, start: str) -> str:
    """The first table row of `section` (text from its heading on) that starts with `start`."""
    body = md[md.index(section) :]
    return next(line for line in body.splitlines() if line.startswith(start))


def _sections(md: str) -> list[str]:
    return re.findall(r"^## (.+)$", md, re.M)


# ---------------------------------------------------------------- the full report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results = powered_results()
    before = copy.deepcopy(results)
    files = write_report(results, tmp_path_factory.mktemp("powered") / "report")
    assert results == before, "the results dict is not modified"
    return files


def test_sections_and_figures_exist(report):
    pngs = {n for n in report if n.endswith(".png")}
    assert {"powered_label_supply.png", "powered_precision.png", "detection_before_harm_enriched.png"} <= pngs
    assert "detection_before_harm.png" not in pngs, "no test-split reading in these results"
    for name in pngs:
        _check_png(report[name])
    md = report["report.md"].read_text()
    order = _sections(md)
    assert order.index("Headline") + 1 == order.index("Powered evaluation (groomers)"), order
    assert {"Validated operating points", "Detection before harm"} <= set(order)
    for png in pngs:
        assert f"]({png})" in md
    page = report["report.html"].read_text()
    assert page.count("data:image/png;base64,") == len(pngs)


def test_powered_tables(report):
    md = report["report.md"].read_text()
    for thr in ("fpr<=0.001", "precision>=0.95", "fpr<=0.01"):
        assert f"### At `{thr}`" in md
    assert md.index("### At `fpr<=0.001`") < md.index("### At `precision>=0.95`") < md.index("### At `fpr<=0.01`")
    section = "### At `fpr<=0.001`"
    truth = _row(md, section, "| `training-world truth` |")
    assert "22 (16+6)" in truth
    assert "(75/59,920)" in truth, "FPR as k/n over the pooled negatives"
    assert "0.550 [0.42, 0.68] (33/60)" in truth, "TPR L0 with its exact interval and n"
    realistic = _row(md, section, "| `realistic labels` |")
    assert "2 (1+1) of 520 labelled accounts" in realistic
    # the rows in order: realistic, budgets ascending (unreachable ones as such), oracle
    body = md[md.index(section) : md.index("### At `precision>=0.95`")]
    names = re.findall(r"^\| `([^`]+)` \| ([^|]+)\|", body, re.M)[:5]
    assert [n for n, _ in names] == [
        "realistic labels",
        "10 labelled",
        "30 labelled",
        "300 labelled",
        "training-world truth",
    ]
    assert [c.strip() for n, c in names if n in ("30 labelled", "300 labelled")] == ["not reachable"] * 2
    assert "Not reachable: `30 labelled`, `300 labelled`" in md and "its 22 offenders" in md
    # where thresholds came from and what the figures rest on
    assert "validation split of the training world" in md and f"`{WORLD[:12]}`" in md
    assert "2 fresh world(s)" in md and "59,920 negatives" in md and "240 offenders" in md
    assert "∞ (target not reached: flags nothing)" in _row(md, "### At `precision>=0.95`", "| `realistic labels` |")


def test_lower_bound_precision_is_rendered_as_a_bound(report):
    md = report["report.md"].read_text()
    pt = parse_results(powered_results()).analysis.powered.models["realistic labels"].by_threshold["fpr<=0.001"]
    assert {b.kind for b in pt.precision} == {"lower bound"}
    cells = [c.strip() for c in _row(md, "### At `fpr<=0.001`", "| `realistic labels` | >=").split("|")[2:-1]]
    expected = [f">= {fmt_value(b.value)}" for b in pt.precision]
    assert cells[: len(expected)] == expected
    assert not any(c.startswith(("1.000", "0.")) for c in cells[: len(expected)]), "a bound is never printed as a point"
    # a threshold that flagged nothing gives no bound worth the name
    nothing = _row(md, "### At `fpr<=0.001`", "| `10 labelled` | nothing")
    cells = [c.strip() for c in nothing.split("|")[2:-1]]
    assert cells[: len(BASE_RATES)] == ["nothing flagged"] * len(BASE_RATES) and ">=" not in nothing
    # a point keeps its interval
    truth = _row(md, "### At `fpr<=0.001`", "| `training-world truth` | 0.")
    assert re.search(r"\| 0\.\d+ \[0\.\d+, 0\.\d+\] \|", truth)


def certification(negatives: int = 10 * NEGATIVES) -> dict:
    """`lowbase certify` of the same models on ten times the negatives, as `bench.run.tracking.
    certified_of` hands it to the report: realistic labels now meet false positives."""
    cert = powered()
    del cert["unreachable"]
    cert["models"] = {k: v for k, v in cert["models"].items() if k in ("realistic labels", "training-world truth")}
    for v in cert["models"].values():
        v.pop("labels")
    cert["worlds"]["fpr"] = [{"fingerprint": "c" * 64, "negatives": negatives, "seed": 5}]
    cert["models"]["realistic labels"]["by_threshold"]["fpr<=0.001"] = powered_point(
        12, [40, 3, 1, 0], negatives=negatives
    )
    cert["models"]["training-world truth"]["by_threshold"]["fpr<=0.001"] = powered_point(
        700, [33, 3, 4, 2], negatives=negatives
    )
    return {**cert, "mlflow_run": "d" * 32}


def test_certifications_are_tabulated_and_drawn(report, tmp_path):
    """A certification of the primary model gets its rows (FPR on its own pool, precision at
    base rates) and its series in the precision figure; a run without one has neither."""
    assert "Certified on more negative worlds" not in report["report.md"].read_text()
    r = powered_results()
    r["certified"] = [certification()]
    files = write_report(r, tmp_path / "report")
    md = files["report.md"].read_text()
    cert = "| `dddddddddddd`: 599,200 negatives"
    row = _row(md, "### Certified on more negative worlds", f"{cert} | `realistic labels` |")
    assert "`fpr<=0.001`" in row and "(12/599,200)" in row
    pt = parse_results(r).certified[0].models["realistic labels"].by_threshold["fpr<=0.001"]
    assert {b.kind for b in pt.precision} == {"point"}, "false positives seen: points, no longer bounds"
    prec = _row(md, "| certification | labels | threshold | π", f"{cert} | `realistic")
    assert prec.count("[") >= len(BASE_RATES), "each precision with its interval"
    _check_png(files["powered_precision.png"])
    assert files["powered_precision.png"].read_bytes() != report["powered_precision.png"].read_bytes()


def test_validated_and_timely_tables(report):
    md = report["report.md"].read_text()
    spam = _row(md, "## Validated operating points", "| spam | `fpr<=0.001` |")
    assert "(33/77)" in spam and "(10/3,923)" in spam and "val split of world" in spam
    assert "∞" in _row(md, "## Validated operating points", "| groomer | `precision>=0.95` |")
    harm = md[md.index("## Detection before harm") :]
    assert "**spam and scam are positive controls**" in harm
    groomer = _row(harm, "| task | role", "| groomer |")
    assert "harm measured" in groomer and "(16/82)" in groomer and "[0.095, 0.30]" in groomer
    assert "positive control" in _row(harm, "| task | role", "| spam |")
    assert "| task | day 7 | day 14 | day 21 | day 28 |" in harm
    assert "| groomer | 0.000 | 0.0004 | 0.0011 | 0.0009 |" in harm
    assert _row(harm, "| task | day 7", "| scam |").count("not recorded") == 4


def test_old_detection_reading_is_kept_beside_the_new(tmp_path):
    blocks, pngs = build_report(parse_results(powered_results(with_test_split_harm=True)), tmp_path)
    assert {"detection_before_harm_enriched.png", "detection_before_harm.png"} <= set(pngs)
    assert all(isinstance(b, BLOCK_TYPES) for b in blocks), "every section returns typed blocks"
    assert Heading(3, "On the training world's test split") in blocks


# ---------------------------------------------------------------- absent pieces


def test_results_without_powered_timely_or_validated(tmp_path):
    """An older results file (detection before harm on the test split only) and a
    `--no-powered` run (neither): notes instead of sections, no empty figure."""
    old = parse_results(full_results())
    assert old.analysis.powered is None and old.analysis.timely is None and not old.primary_entry.validated
    (tmp_path / "old").mkdir()
    blocks, pngs = build_report(old, tmp_path / "old")
    assert "detection_before_harm.png" in pngs
    assert not {"powered_label_supply.png", "powered_precision.png", "detection_before_harm_enriched.png"} & set(pngs)
    text = render_md(blocks)
    assert Heading(2, "Powered evaluation (groomers)") in blocks and "did not compute the powered evaluation" in text
    assert "recorded no validated operating point" in text
    assert Heading(2, "Detection before harm") in blocks

    bare = bare_results()
    bare["analysis"]["timely"] = {}
    (tmp_path / "bare").mkdir()
    blocks, pngs = build_report(parse_results(bare), tmp_path / "bare")
    assert not any("detection_before_harm" in p or "powered" in p for p in pngs)
    assert all(not (tmp_path / "bare" / n).exists() for n in ("powered_precision.png", "detection_before_harm.png"))
    text = render_md(blocks)
    assert "Not in these results. Detection before harm is measured on an enriched world" in text


def test_nothing_to_draw_means_no_figure(tmp_path):
    r = powered_results()
    pw = r["analysis"]["powered"]
    truth = pw["models"]["training-world truth"]["by_threshold"]
    truth["fpr<=0.001"] = pw["models"]["10 labelled"]["by_threshold"]["fpr<=0.001"]  # flags nothing
    realistic = pw["models"]["realistic labels"]["by_threshold"]["fpr<=0.001"]
    realistic.update(pw["models"]["10 labelled"]["by_threshold"]["fpr<=0.001"])
    for rec in r["analysis"]["timely"].values():
        rec["harm_share_by"] = rec["harm_share_by"][:2]  # does not match the checkpoints
    blocks, pngs = build_report(parse_results(r), tmp_path)
    assert "powered_precision.png" not in pngs and not (tmp_path / "powered_precision.png").exists()
    assert "detection_before_harm_enriched.png" not in pngs
    assert "powered_label_supply.png" in pngs, "TPR of 0 with its interval is still a result"
    assert any(isinstance(b, Paragraph) and b.text.startswith("No precision figure") for b in blocks)
    parsed = parse_results(r).analysis.powered
    assert not pf.fig_label_supply(parsed, "fpr<=0.5", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


# ---------------------------------------------------------------- pieces


def test_variant_order():
    names = ["training-world truth", "300 labelled", "realistic labels", "30 labelled", "other", "10 labelled"]
    assert pf.variant_order(names) == [
        "realistic labels",
        "10 labelled",
        "30 labelled",
        "300 labelled",
        "other",
        "training-world truth",
    ]


def test_fmt_bound_and_rate():
    def bound(kind, value, low=0.1, high=0.9):
        return PrecisionBound(base_rate=1e-3, value=value, low=low, high=high, kind=kind)

    assert fmt_bound(bound("point", 0.5)) == "0.500 [0.10, 0.90]"
    assert fmt_bound(bound("lower bound", 0.42, 0.42, 1.0)) == ">= 0.420"
    # nothing flagged: the vacuous bound some results files hold, or 'undefined'
    assert fmt_bound(bound("lower bound", 0.0, 0.0, 1.0)) == "nothing flagged"
    assert fmt_bound(bound("undefined", None, None, None), nothing_flagged=True) == "nothing flagged"
    assert fmt_bound(bound("upper bound", 0.03, 0.0, 0.03)) == "<= 0.03"
    assert fmt_bound(bound("undefined", None, None, None)).startswith("undefined")
    assert fmt_rate(RateRecord(value=0.0, low=0.0, high=6.2e-05, k=0, n=59920)) == "0.000 [0.00, 6.2e-05] (0/59,920)"
    assert fmt_rate(RateRecord(value=None, low=0.0, high=1.0, k=0, n=0)) == "n/a (0/0)"
    assert fmt_rate(None) == "—"
