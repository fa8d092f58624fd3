"""`bench.report`: files, formatting, figures, missing pieces and the atomic write.

The results are built here, small and synthetic, as the JSON of the `bench.results` schema
(strict JSON: NaN as null, infinity as "inf"), so the test depends on no run.
"""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from PIL import Image

from bench.errors import ReportError, ResultsError
from bench.report import figures, fmt_count, fmt_interval, fmt_value, headline_markdown, write_report
from bench.report.render import BulletList, Code, Figure, Heading, Paragraph, Table, render_html, render_md
from bench.report.sections import section_base_rate, section_projection
from bench.results import REALISTIC, parse_results
from bench.run.analyses import read_groomers_powered
from bench.stats.rates import Rate, clopper_pearson, mixed, precision_at
from common.files import OutputExistsError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _iv(v, lo, hi, **kw):
    return {"value": v, "ci_low": lo, "ci_high": hi, **kw}


def _metrics(npos, nneg, auroc=0.9):
    m = {"n_positive": npos, "n_negative": nneg, "auroc": _iv(auroc, auroc - 0.03, auroc + 0.03)}
    m["auprc"] = _iv(0.5, 0.4, 0.6)
    for k in ("recall_at_p90", "recall_at_p95", "recall_at_p99", "precision_at_r50", "precision_at_r80"):
        m[k] = _iv(0.3, 0.2, 0.4)
    return m


def _undefined_metrics(npos, nneg):
    """A task without both classes: no AUROC, no intervals."""
    m = {"n_positive": npos, "n_negative": nneg, "auroc": _iv(None, None, None), "auprc": _iv(None, None, None)}
    for k in ("recall_at_p90", "recall_at_p95", "recall_at_p99", "precision_at_r50", "precision_at_r80"):
        m[k] = _iv(0.0, None, None)
    return m


def _curves():
    return {
        "roc": {"fpr": [0.0, 0.0, 0.1, 0.5, 1.0], "tpr": [0.0, 0.3, 0.6, 0.9, 1.0]},
        "pr": {"precision": [0.02, 0.2, 0.5, 1.0, 1.0], "recall": [1.0, 0.9, 0.6, 0.3, 0.0]},
    }


def _operating(npos, nneg):
    op = {
        "precision_target": 0.95,
        "threshold": 0.8,
        "tpr": 0.3,
        "fpr": 0.0,
        "precision": 1.0,
        "n_positive": npos,
        "n_negative": nneg,
        "true_flagged": 6,
        "false_flagged": 0,
        "tpr_share": _iv(0.3, 0.15, 0.5, k=6, n=npos),
        "fpr_share": _iv(0.0, 0.0, 0.002, k=0, n=nneg),
    }
    return {"p95": op, "p99": {**op, "precision_target": 0.99}}


def _model(auroc, with_groomer_curve=True):
    return {
        "path": "/nowhere",
        "metrics": {
            "spam": _metrics(50, 950, auroc),
            "groomer": _metrics(20, 980, auroc - 0.1),
            # no positive: AUROC without an interval, no curve
            "viral_sharer": _undefined_metrics(0, 1000),
        },
        "operating": {"spam": _operating(50, 950), "groomer": _operating(20, 980)},
        "curves": {"spam": _curves(), "groomer": _curves() if with_groomer_curve else {}, "viral_sharer": {}},
        "recall_by_level": {
            "L0": _iv(0.6, 0.4, 0.8, k=6, n=10),
            "L1": _iv(0.2, 0.05, 0.5, k=1, n=5),
            "L2": _iv(0.0, 0.0, 0.5, k=0, n=4),
            "L3": _iv(None, None, None, k=0, n=0),  # no L3 groomer in test
        },
    }


def _projection(pi):
    return {
        "base_rate": pi,
        "classifier": {
            "accounts": 3e9,
            "base_rate": pi,
            "offenders": 3e9 * pi,
            "flagged": 3e9 * pi * 0.3,
            "true_flagged": 3e9 * pi * 0.3,
            "innocent_flagged": 0.0,
            "innocent_per_offender_found": 0.0,
            "reviewer_hours": 1.0e5,
        },
        "precision": _iv(1.0, 0.0023, 1.0),
        "innocent_per_offender": _iv(0.0, 0.0, 4397.4),
        "hash_matching": {
            "accounts": 3e9,
            "base_rate": pi,
            "offenders": 3e9 * pi,
            "flagged": 3e9 * pi * 0.99 + 0.06,
            "true_flagged": 3e9 * pi * 0.99,
            "innocent_flagged": 0.06,
            "innocent_per_offender_found": 2.02e-05,
            "reviewer_hours": 2.5e4,
        },
    }


HEADLINE = [
    {
        "task": "spam",
        "scenario": "measured at 0.05",
        "n_positive": 50,
        "auroc": _iv(0.912, 0.88, 0.94),
        "recall_at_p95": _iv(0.5, 0.4, 0.6),
        "recall_at_p99": _iv(0.25, 0.15, 0.35),
        "precision_at_base_rate": _iv(0.958, 0.74, 0.99),
        "innocent_per_offender": _iv(0.0433, 0.0054, 0.358),
        "detection_before_harm": None,
    },
    {
        "task": "scam",
        "scenario": "measured at 0.01",
        "n_positive": 10,
        "auroc": _iv(0.75, 0.71, 0.8),
        "recall_at_p95": _iv(0.0, 0.0, 0.0),
        "recall_at_p99": _iv(0.0, 0.0, 0.0),
        "precision_at_base_rate": _iv(None, 0.0, 1.0),
        "innocent_per_offender": _iv("inf", 0.0, "inf"),
        "detection_before_harm": None,
    },
    {
        "task": "groomer",
        "scenario": "projected at 1e-06",
        "n_positive": None,
        "auroc": None,
        "recall_at_p95": None,
        "recall_at_p99": None,
        "precision_at_base_rate": _iv(1.0, 0.00023, 1.0),
        "innocent_per_offender": _iv(0.0, 0.0, 4397.4),
        "detection_before_harm": None,
    },
    {"task": "groomer L0", "scenario": "measured", "n_positive": 10, "recall_at_p95": _iv(0.6, 0.4, 0.8, k=6, n=10)},
    {
        "task": "groomer (content hash matching)",
        "scenario": "projected at 1e-06",
        "precision_at_base_rate": {"value": 0.99998},
        "innocent_per_offender": {"value": 2.02e-05},
    },
]


def full_results() -> dict:
    return {
        "config": {
            "preset": "quick",
            "accounts": 1000,
            "seed": 7,
            "models": ["dec", "logreg"],
            "visibility": "full",
            "precision": 0.95,
            "project_rates": [1e-6],
            "resamples": 50,
            "platform_accounts": 3e9,
            "minutes_per_review": 5.0,
            "checkpoint_days": 7,
            "empirical_rates": None,
            "drift": True,
            "workers": 2,
            "overrides": {"harm.groomer_rate": 0.02},
        },
        "scenario": {
            "name": "quick",
            "accounts": 1000,
            "harm": {"groomer_rate": 0.02, "sophistication_mix": [0.3] * 4},
        },
        "dataset": {"path": "/nowhere", "fingerprint": "f" * 64, "rows": {"accounts": 1000}},
        "base_rates": {"spam": 0.05, "groomer": 0.02, "viral_sharer": 0.0},
        "models": {"dec": _model(0.91), "logreg": _model(0.85, with_groomer_curve=False)},
        "primary": "dec",
        "analysis": {
            "operating_precision": 0.95,
            "base_rate_curve": [
                {
                    "base_rate": 10.0**-k,
                    "precision": 1.0,
                    "ci_low": 0.9 / k,
                    "ci_high": 1.0,
                    "fpr_needed_p95": 1e-3 / 10 ** (k - 1),
                    "fpr_needed_p99": 2e-4 / 10 ** (k - 1),
                }
                for k in range(1, 8)
            ],
            "projections": {
                "groomer": [_projection(0.02), _projection(1e-6)],
                "spam": [_projection(0.05)],
                "viral_sharer": [_projection(1e-3)],
            },
            "platform_accounts": 3e9,
            "minutes_per_review": 5.0,
            "detection_before_harm": {
                "threshold": 0.8,
                "checkpoint_days": [7, 14, 21, 28],
                "share": _iv(0.25, 0.1, 0.5, k=3, n=12),
                "ci_by_offender": [0.0, 0.55],
                "harm_share_by": [0.0, 0.25, 0.5, 1.0],
                "flagged_before_harm_by": [0.0, 0.0, 0.25, 0.25],
                "offenders_with_harm": 5,
                "test_groomers": 20,
                "test_groomers_flagged_by_end": 7,
            },
            "empirical_base_rate": [
                {
                    "knob": 0.05,
                    "base_rate": 0.049,
                    "fpr_target": 0.0,
                    "threshold": 0.7,
                    "fpr": 0.0,
                    "tpr": _iv(0.4, 0.3, 0.5, k=20, n=50),
                    "precision": _iv(0.9, 0.75, 0.97, k=18, n=20),
                },
                {
                    "knob": 0.02,
                    "own": True,
                    "base_rate": 0.02,
                    "fpr_target": 0.0,
                    "threshold": 0.8,
                    "fpr": 0.0,
                    "tpr": _iv(0.3, 0.15, 0.5, k=6, n=20),
                    "precision": _iv(1.0, 0.6, 1.0, k=6, n=6),
                },
            ],
            "drift": {
                "fingerprint": "d" * 64,
                "tasks": {
                    "spam": {"period1": _metrics(30, 470, 0.9), "period2": _metrics(25, 475, 0.8)},
                    "viral_sharer": {
                        "period1": _undefined_metrics(0, 500),
                        "period2": {**_undefined_metrics(1, 499), "auroc": _iv(0.5, None, None)},
                    },
                },
            },
        },
        "headline": HEADLINE,
    }


def bare_results() -> dict:
    """No drift, no harm analysis, no empirical sweep, no headline, groomer without curves."""
    r = full_results()
    for name in r["models"]:
        r["models"][name]["curves"]["groomer"] = {}
    an = r["analysis"]
    del an["drift"], an["detection_before_harm"]
    an["empirical_base_rate"] = []
    del r["headline"]
    return r


EXPECTED = {"report.md", "report.html", "headline.md", "headline.html", "headline.json", "manifest.json"}


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    img = Image.open(io.BytesIO(data))
    img.verify()
    img = Image.open(io.BytesIO(data))
    assert img.width > 300 and img.height > 200
    lo, hi = img.convert("L").getextrema()
    assert lo < hi, f"{path.name} is blank"


@pytest.mark.slow
def test_full_report(tmp_path):
    results = full_results()
    before = copy.deepcopy(results)
    out = tmp_path / "report"
    files = write_report(results, out)
    assert results == before, "the results dict is not modified"
    assert set(files) >= EXPECTED
    pngs = {n for n in files if n.endswith(".png")}
    assert {"roc_spam.png", "pr_spam.png", "roc_groomer.png", "pr_groomer.png", "base_rate.png"} <= pngs
    assert {"detection_before_harm.png", "recall_by_level.png", "drift.png"} <= pngs
    assert "roc_viral_sharer.png" not in pngs, "no curve without positives"
    assert set(p.name for p in out.iterdir()) == set(files)
    for name, path in files.items():
        assert path == out.resolve() / name and path.is_file()
        if name.endswith(".png"):
            _check_png(path)

    md = (out / "report.md").read_text()
    assert "| spam | measured at 0.05 | 50 | 0.912 [0.88, 0.94] |" in md
    assert "| groomer L0 | measured | 10 |" in md and "0.600 [0.40, 0.80] (6/10)" in md
    assert "groomer (content hash matching)" in md
    # Hash matching's columns only in the viral sharers' projection table (known images).
    projection = md[md.index("## Platform projection") :]
    projection = projection[: projection.index("\n## ", 3)]
    tables = {part.split("\n", 1)[0]: part for part in projection.split("### ")[1:]}
    assert "hash matching: precision" in tables["viral_sharer"]
    assert all("hash" not in t for name, t in tables.items() if name != "viral_sharer")
    for png in pngs:
        assert f"]({png})" in md, f"{png} not referenced in report.md"
    assert 'docs/design.md, section "Metrics"' in md
    for needle in ("`quick`", "seed", "`dec`, `logreg`", "`full`", "f" * 64, "d" * 64, "harm.groomer_rate=0.02"):
        assert needle in md, needle
    assert "No curve: the test split has no positive" in md and "`viral_sharer`" in md

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs), "every figure embedded"
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == len(pngs) and all(s.startswith("data:image/png;base64,") for s in srcs), "self-contained"
    assert "<table>" in page and "0.912 [0.88, 0.94]" in page

    assert (out / "headline.md").read_text() == headline_markdown(HEADLINE)
    assert "0.912 [0.88, 0.94]" in (out / "headline.html").read_text()
    assert json.loads((out / "headline.json").read_text()) == HEADLINE
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) | {"manifest.json"} == set(files)


def test_missing_pieces(tmp_path):
    files = write_report(bare_results(), tmp_path / "r")
    pngs = {n for n in files if n.endswith(".png")}
    assert "drift.png" not in pngs and "detection_before_harm.png" not in pngs
    assert "roc_groomer.png" not in pngs and "base_rate.png" in pngs
    md = files["report.md"].read_text()
    assert "the run had drift off" in md
    assert "no precision-0.95 threshold for groomers" in md
    assert "No empirical sweep points" in md
    assert "No headline rows" in md
    assert json.loads(files["headline.json"].read_text()) == []


def test_results_outside_the_schema_are_refused_naming_the_field(tmp_path):
    with pytest.raises(ResultsError, match="field 'config'"):
        write_report({}, tmp_path / "empty")
    r = full_results()
    r["models"]["dec"]["metrics"]["spam"]["auroc"]["value"] = "high"
    with pytest.raises(ResultsError, match=r"models\.dec\.metrics\.spam\.auroc\.value"):
        write_report(r, tmp_path / "bad")
    assert not (tmp_path / "empty").exists() and not (tmp_path / "bad").exists()


def test_in_memory_floats_are_written_as_strict_json(tmp_path):
    r = bare_results()
    r["headline"] = [
        {
            "task": "scam",
            "scenario": "measured at 0.01",
            "precision_at_base_rate": _iv(float("nan"), 0.0, 1.0),
            "innocent_per_offender": _iv(float("inf"), 0.0, float("inf")),
        }
    ]
    files = write_report(r, tmp_path / "r")
    text = files["headline.json"].read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)[0]["innocent_per_offender"] == {"value": "inf", "ci_low": 0.0, "ci_high": "inf"}
    assert "none found [0, ∞]" in files["headline.md"].read_text()


@pytest.mark.slow
def test_deterministic_figures(tmp_path):
    a = write_report(full_results(), tmp_path / "a")
    b = write_report(full_results(), tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


@pytest.mark.slow
def test_atomic_replace_and_refusal(tmp_path, monkeypatch):
    out = tmp_path / "report"
    write_report(full_results(), out)
    write_report(bare_results(), out)
    assert not (out / "drift.png").exists(), "an existing report is replaced, not merged"
    files = write_report(full_results(), out)
    assert "drift.png" in files and (out / "drift.png").is_file()
    # A report holding a file of the user's own is theirs: refused, not replaced.
    (out / "my-notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="my-notes.txt"):
        write_report(full_results(), out)
    (out / "my-notes.txt").unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"], "no temporary sibling left"

    # A failure midway leaves the previous report whole and no temporary directory.
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figures, "fig_drift", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(full_results(), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]

    # A directory that is not a report is never replaced; nor is a file. ReportError is an
    # OutputExistsError, which the CLI already maps to exit 2.
    assert issubclass(ReportError, OutputExistsError)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ReportError, match="only an empty directory or a lowbase report"):
        write_report(full_results(), other)
    assert (other / "keep.txt").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        write_report(full_results(), tmp_path / "afile")
    # An empty directory is fine.
    (tmp_path / "empty").mkdir()
    assert (write_report(bare_results(), tmp_path / "empty")["report.md"]).is_file()


def test_stale_temporary_directories_of_dead_writers_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".report.lowbase-tmp-{dead.pid}-abcd"
    stale.mkdir()
    (stale / "report.md").write_text("half")
    write_report(bare_results(), tmp_path / "report")
    assert not stale.exists()


# ---------------------------------------------------------------- blocks


PNG = b"\x89PNG fake bytes"
BLOCKS = [
    Heading(1, "Title `x`"),
    Paragraph("Some **bold** and a | pipe"),
    BulletList(["one", "two `2`"]),
    Table(["a", "b|c"], [["1", 2], ["x\ny", "<z>"]]),
    Figure("roc.png", "ROC <curves>"),
    Figure("pr.png", "PR curves"),
    Code("x < 1\n  y"),
    Heading(3, "End"),
]


def test_blocks_render_to_markdown():
    assert render_md(BLOCKS) == (
        "# Title `x`\n\n"
        "Some **bold** and a | pipe\n\n"
        "- one\n- two `2`\n\n"
        "| a | b\\|c |\n|---|---|\n| 1 | 2 |\n| x y | <z> |\n\n"
        "![ROC <curves>](roc.png)\n\n"
        "![PR curves](pr.png)\n\n"
        "```\nx < 1\n  y\n```\n\n"
        "### End\n"
    )


def test_blocks_render_to_html_with_consecutive_figures_side_by_side():
    page = render_html(BLOCKS, {"roc.png": PNG, "pr.png": PNG}, "t")
    body = page.split("<body>\n", 1)[1].split("\n</body>", 1)[0].splitlines()
    assert body[0] == "<h1>Title <code>x</code></h1>"
    assert body[1] == "<p>Some <strong>bold</strong> and a | pipe</p>"
    assert body[2:6] == ["<ul>", "<li>one</li>", "<li>two <code>2</code></li>", "</ul>"]
    assert "<td>&lt;z&gt;</td>" in page and "<th>b|c</th>" in page
    figs = [line for line in body if line.startswith('<div class="figs">')]
    assert len(figs) == 1 and figs[0].count("<figure>") == 2, "ROC and PR share one row"
    assert 'alt="ROC &lt;curves&gt;"' in figs[0] and "<figcaption><code>pr.png</code></figcaption>" in figs[0]
    assert "<pre><code>x &lt; 1\n  y</code></pre>" in page
    assert body[-1] == "<h3>End</h3>"


@pytest.mark.parametrize(
    "block, named",
    [
        (("h2", "an untyped tuple"), "tuple of kind 'h2'"),
        (("p", "text"), "tuple of kind 'p'"),
        ("a bare string", "str"),
        (None, "NoneType"),
    ],
)
def test_an_unknown_block_is_an_error_in_both_renderers(block, named):
    """A block the renderers do not know is never silently left out of the report."""
    for render in (render_md, lambda blocks: render_html(blocks, {"roc.png": PNG}, "t")):
        with pytest.raises(TypeError, match="unknown report block") as err:
            render([Heading(2, "ok"), Figure("roc.png", "ROC"), block])
        assert named in str(err.value) and "Heading, Paragraph" in str(err.value)


@pytest.mark.parametrize("level", [0, 7, "2"])
def test_a_heading_level_outside_1_to_6_is_refused(level):
    with pytest.raises(ValueError, match="heading level"):
        Heading(level, "x")


def test_headline_markdown_formatting():
    md = headline_markdown(HEADLINE)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| task | scenario | n+ | AUROC | recall@P0.95 | recall@P0.99 |")
    assert len(lines) == 2 + len(HEADLINE)
    spam = lines[2]
    assert "0.912 [0.88, 0.94]" in spam and "0.958 [0.74, 0.99]" in spam and "0.0433 [0.0054, 0.358]" in spam
    scam = lines[3]
    assert "nothing flagged [0.00, 1.00]" in scam and "none found [0, ∞]" in scam
    projected = lines[4]
    assert "| — | — | — | — |" in projected and "1.000 [0.00023, 1.00]" in projected and "[0, 4,397]" in projected
    assert "(6/10)" in lines[5]
    assert "2.02e-05" in lines[6]
    assert headline_markdown([]).count("\n") == 2
    assert headline_markdown(None) == headline_markdown([])


@pytest.mark.parametrize(
    "x, expected",
    [
        (0.91234, "0.912"),
        (0.0, "0.000"),
        (None, "n/a"),
        ("inf", "∞"),
        (0.085, "0.085"),
        (2.3e-5, "2.3e-05"),
        (123456.0, "1.23e+05"),
        (1234.0, "1,234"),
    ],
)
def test_fmt_value(x, expected):
    assert fmt_value(x) == expected


def test_fmt_count_and_interval():
    assert fmt_count(3e9) == "3.00e+09"
    assert fmt_count(4397.4) == "4,397"
    assert fmt_count(0.0433) == "0.0433"
    assert fmt_count(2.02e-5) == "2.02e-05"
    assert fmt_count("inf") == "∞"
    assert fmt_interval(None) == "—"
    assert fmt_interval(_iv(0.5, None, None)) == "0.500 (no interval)"
    assert fmt_interval(_iv("inf", 0, "inf"), "innocent") == "none found [0, ∞]"
    assert fmt_interval(_iv(0.25, 0.1, 0.5, k=3, n=12)) == "0.250 [0.10, 0.50] (3/12)"


# ---------------------------------------------------------------- where projections read their rates

POWERED_MIX = [0.3, 0.5, 0.12, 0.08]


def _exact(k: int, n: int) -> Rate:
    lo, hi = clopper_pearson(k, n)
    return Rate(k / n, float(lo), float(hi), k, n)


def powered_record(fp: int, tp_by_level: list[int], negatives: int = 50_000, level_n: int = 60) -> dict:
    """A small powered evaluation (realistic labels at the validation FPR-1e-3 threshold only),
    in the shape `bench.rare.powered` writes it, with `bench.stats.rates`'s own arithmetic."""
    fpr = _exact(fp, negatives)
    levels = [_exact(k, level_n) for k in tp_by_level]
    tpr = mixed(levels, POWERED_MIX)
    point = {
        "fpr": fpr.as_dict(),
        "tpr_by_level": {f"L{i}": r.as_dict() for i, r in enumerate(levels)},
        "tpr_at_scenario_mix": tpr.as_dict(),
        "test_split": {},
        "precision": [precision_at(pi, tpr, fpr) for pi in (1e-2, 1e-4, 1e-6)],
        "smallest_base_rate": {},
    }
    threshold = {"name": "fpr<=0.001", "value": 0.5, "set_on": {"world": "f" * 64, "split": "val"}}
    return {
        "task": "groomer",
        "visibility": "full",
        "worlds": {"tpr": [{"seed": 11}], "fpr": [{"seed": 1}, {"seed": 2}]},
        "enriched_rate": 0.01,
        "scenario_mix": POWERED_MIX,
        "models": {REALISTIC: {"thresholds": [threshold], "by_threshold": {"fpr<=0.001": point}}},
    }


def with_powered(fp: int, tp_by_level=(40, 12, 3, 1)):
    """The synthetic results with a powered evaluation, groomer rows read from it as the run does."""
    data = full_results()
    data["analysis"]["powered"] = powered_record(fp, list(tp_by_level))
    data["config"]["powered"] = True
    r = parse_results(data)
    assert read_groomers_powered(r.analysis)
    return r


def _subsection(md: str, heading: str) -> str:
    body = md[md.index(heading) + len(heading) :]
    return body[: min(i for i in (body.find("\n### "), body.find("\n## "), len(body)) if i >= 0)]


def _precision_cells(table: str) -> list[str]:
    """The precision column (the sixth) of a projection table."""
    return [line.split(" | ")[5] for line in table.splitlines() if line.startswith("| ") and "[" in line]


def test_groomer_projection_names_the_powered_source_and_marks_the_bound(tmp_path):
    r = with_powered(fp=0)
    md = render_md(section_projection(r, tmp_path)[0])
    groomer = _subsection(md, "### groomer")
    assert "powered evaluation" in groomer and "validation split at FPR <= 1e-3" in groomer
    assert "scenario's level mix on enriched worlds" in groomer and "pooled over 50,000 fresh negatives" in groomer
    assert "(0/50,000)" in groomer and "exact intervals" in groomer and "'precision >=' marks a lower bound" in groomer
    cells = _precision_cells(groomer)
    assert len(cells) == 2 and all(c.startswith(">= ") and not c.startswith(">= 1.000") for c in cells), cells
    for cell, row in zip(cells, r.analysis.projections["groomer"], strict=True):
        assert cell.startswith(f">= {fmt_value(row.precision.ci_low)} ["), "a bound shows the end it stands on"
    spam = _subsection(md, "### spam")
    assert "test split at the precision-0.95 threshold chosen on that same test split" in spam
    assert "powered" not in spam


def test_a_point_keeps_its_interval_and_no_bound_mark(tmp_path):
    r = with_powered(fp=40)
    groomer = _subsection(render_md(section_projection(r, tmp_path)[0]), "### groomer")
    cells = _precision_cells(groomer)
    assert cells and not any(c.startswith((">=", "<=")) for c in cells)
    row = r.analysis.projections["groomer"][0]
    assert cells[0] == fmt_interval(row.precision, "precision")
    assert "marks a lower bound" not in groomer and "(40/50,000)" in groomer


def test_without_powered_the_rows_are_the_test_split_reading_and_say_so(tmp_path):
    r = parse_results(full_results())
    recorded = [row.model_copy() for row in r.analysis.projections["groomer"]]
    assert not read_groomers_powered(r.analysis)
    assert r.analysis.projections["groomer"] == recorded
    md = render_md(section_projection(r, tmp_path)[0])
    groomer = _subsection(md, "### groomer")
    assert "Read on the test split at the precision-0.95 threshold chosen on that same test split" in groomer
    assert "(6/20)" in groomer and "(0/980)" in groomer and "powered evaluation at" not in groomer
    # no false positive among the test negatives: the recorded 1.000 prints as the bound it is
    assert all(c.startswith(">= 0.0023 [") for c in _precision_cells(groomer))


@pytest.mark.parametrize("powered", [True, False])
def test_base_rate_section_names_its_source_and_the_test_split_points(tmp_path, powered):
    r = with_powered(fp=0) if powered else parse_results(full_results())
    blocks, pngs = section_base_rate(r, tmp_path)
    md = render_md(blocks)
    assert pngs == ["base_rate.png"] and (tmp_path / "base_rate.png").is_file()
    assert ("pooled over 50,000 fresh negatives" in md) == powered
    assert ("no powered evaluation in these results" in md) == (not powered)
    assert "Points are test-split readings" in md and "(this run, test split)" in md
    curve = [line for line in md.splitlines() if line.startswith("| 0.01 |")]
    assert curve and curve[0].split(" | ")[1].startswith(">= "), "no false positive: the curve is a lower bound"


# ---------------------------------------------------------------- each projection column at its stated corner

N, MINUTES = 3e9, 5.0


def _by_hand(t: float, f: float, pi: float) -> dict:
    """The projection's figures at one corner (TPR t, FPR f), computed here."""
    true, innocent = N * t * pi, N * f * (1 - pi)
    return {
        "offenders": N * pi,
        "flagged": true + innocent,
        "offenders flagged": true,
        "innocent flagged": innocent,
        "reviewer hours": (true + innocent) * MINUTES / 60,
        "precision": t * pi / (t * pi + f * (1 - pi)) if true + innocent > 0 else float("nan"),
        "innocent per offender found": innocent / true if true > 0 else float("inf"),
    }


def _table(md: str) -> list[dict]:
    """A projection table's rows as {column: cell}."""
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    header = lines[0].strip("| ").split(" | ")
    return [dict(zip(header, line.strip("| ").split(" | "), strict=True)) for line in lines[1:]]


def _rates_of(r):
    pt = r.analysis.powered.models[REALISTIC].by_threshold["fpr<=0.001"]
    return pt.tpr_at_scenario_mix, pt.fpr


COUNTS = ("flagged", "offenders flagged", "innocent flagged", "reviewer hours")


@pytest.mark.parametrize(
    "fp, levels, kind",
    [(0, (40, 12, 3, 1), "lower bound"), (40, (0, 0, 0, 0), "upper bound"), (40, (40, 12, 3, 1), "point")],
)
def test_every_projection_column_equals_its_stated_corner(tmp_path, fp, levels, kind):
    r = with_powered(fp, levels)
    assert figures.projection_rates(r, "groomer").kind == kind
    tpr, fpr = _rates_of(r)
    groomer = _subsection(render_md(section_projection(r, tmp_path)[0]), "### groomer")
    rows = _table(groomer)
    assert len(rows) == 2
    for row, pi in zip(rows, (0.02, 1e-6), strict=True):
        assert row["offenders"] == fmt_count(N * pi)
        if kind == "point":
            counts, prec, per = _by_hand(tpr.value, fpr.value, pi), "", ""
            assert row["precision"].startswith(fmt_value(counts["precision"]) + " [")
            assert row["innocent per offender found"].startswith(fmt_count(counts["innocent per offender found"]))
        else:
            counts = _by_hand(tpr.high, fpr.high, pi)  # every count an upper bound
            corner = _by_hand(tpr.low, fpr.high, pi) if kind == "lower bound" else _by_hand(tpr.high, fpr.low, pi)
            prec, per = (">= ", "<= ") if kind == "lower bound" else ("<= ", ">= ")
            assert row["precision"].startswith(f"{prec}{fmt_value(corner['precision'])} [")
            assert row["innocent per offender found"].startswith(
                f"{per}{fmt_count(corner['innocent per offender found'])} ["
            )
        mark = "" if kind == "point" else "<= "
        assert {c: row[c] for c in COUNTS} == {c: mark + fmt_count(counts[c]) for c in COUNTS}
    corners = {"lower bound": "(TPR low, FPR high)", "upper bound": "(TPR high, FPR low)"}
    if kind != "point":
        assert f"precision at {corners[kind]}" in groomer and "are upper bounds, at (TPR high, FPR high)" in groomer


def test_nothing_flagged_shows_counts_as_upper_bounds_never_zero(tmp_path):
    r = with_powered(0, (0, 0, 0, 0))
    tpr, fpr = _rates_of(r)
    assert tpr.k == fpr.k == 0 and figures.projection_rates(r, "groomer").kind == "nothing flagged"
    groomer = _subsection(render_md(section_projection(r, tmp_path)[0]), "### groomer")
    assert "a count of zero is not a rate of zero" in groomer and "(TPR high, FPR high)" in groomer
    for row, pi in zip(_table(groomer), (0.02, 1e-6), strict=True):
        counts = _by_hand(tpr.high, fpr.high, pi)
        assert {c: row[c] for c in COUNTS} == {c: "<= " + fmt_count(counts[c]) for c in COUNTS}
        assert all(float(counts[c]) > 0 for c in COUNTS)
        assert row["precision"] == row["innocent per offender found"] == "nothing flagged"


def test_intro_says_where_the_measured_groomer_precision_comes_from(tmp_path):
    from bench.report.sections import section_intro

    md = render_md(section_intro(with_powered(40), tmp_path)[0])
    assert "`measured` rows are read on the test split" not in md
    assert "the measured groomer row reads the same point" in md
