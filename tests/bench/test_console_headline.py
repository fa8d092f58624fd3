"""The console headline `lowbase run` ends with (`bench.cli.headline`): at most 100 columns on a
terminal or not, every task and groomer level with its interval, the pooled FPR and precision
at projected base rates, and the cached ceiling beside each level; results without the
powered evaluation or detection before harm render too; then where the full tables are, and
`--full` for them on the console.

Built on the synthetic results of `test_report` and `test_report_powered`, with the headline
rows computed by the pipeline's own `headline_rows`."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.cli.app import app
from bench.cli.headline import WIDTH, Where, print_headline, render_headline, where_lines
from bench.results import RunResults, ShareRecord, parse_results
from bench.run.analyses import headline_rows
from common.vocabulary import SOPHISTICATION_LEVELS
from tests.bench.test_report import bare_results, full_results
from tests.bench.test_report_powered import powered_results

TASKS = ("spam", "scam", "fake", "compromised", "viral_sharer")
INTERVAL = re.compile(r"\d \[[^\]]+, [^\]]+\]")  # value [low, high]
# The widest cells the headline formats: tiny bounds and large counts.
WIDE = ShareRecord(value=0.0083, ci_low=9.9e-05, ci_high=0.022, k=123_456, n=9_999_999)


def _results(data: dict) -> RunResults:
    r = parse_results(data)
    r.headline = headline_rows(r)
    return r


def _every_task(r: RunResults, wide: bool = False) -> RunResults:
    """The synthetic run measures spam and groomers: the spam row stands for every task
    (widest cells where `wide`), groomer rows as computed."""
    spam = next(row for row in r.headline if row.task == "spam")
    if wide:
        spam = spam.model_copy(update={k: WIDE for k in ("auroc", "val_recall_at_precision", "detection_before_harm")})
    others = [row for row in r.headline if row.task != "spam"]
    r.headline = [spam.model_copy(update={"task": t}) for t in TASKS] + others
    return r


def _check(text: str, width: int = WIDTH) -> list[str]:
    lines = text.splitlines()
    assert lines, "nothing rendered"
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    return lines


def _row(lines: list[str], label: str) -> str:
    hits = [line for line in lines if line.startswith(label + " ")]
    assert len(hits) == 1, (label, lines)
    return hits[0]


@pytest.mark.parametrize("wide", [False, True])
def test_the_headline_fits_100_columns_with_every_task_level_and_interval(wide):
    r = _every_task(_results(powered_results()), wide)
    text = render_headline(r, "lowbase run: quick, seed 7, primary model dec; value [95% interval]")
    lines = _check(text)
    for task in TASKS:
        row = _row(lines, task)
        assert len(INTERVAL.findall(row)) == 3, row  # AUROC, recall at the operating precision, before harm
    for lvl in SOPHISTICATION_LEVELS:
        row = _row(lines, lvl)
        assert INTERVAL.search(row) and re.search(r"\d+/\d+", row), row  # TPR [interval] k/n
    assert INTERVAL.search(_row(lines, "all levels")) and _row(lines, "groomer")
    assert "recall@P0.95" in text and "TPR@FPR1e-3" in text and "groomers, powered" in text
    # the pooled FPR with its count, precision at a projected base rate with its interval
    assert re.search(r"FPR at it, pooled over 2 fresh world\(s\): 0 \[0, 6\.2e-05\] \(0/59,920 negatives\)", text)
    assert re.search(r"^1e-06 +>= \S+ \[\S+, \S+\] +<= \S+ \[\S+, \S+\]$", text, re.M), text
    assert text == "".join(line.rstrip() + "\n" for line in lines), "no trailing spaces"


def test_the_real_level_rows_read_the_powered_evaluation():
    r = _results(powered_results())
    lines = _check(render_headline(r, "t"))
    pt = r.analysis.powered.models["realistic labels"].by_threshold["fpr<=0.001"]
    for lvl, rate in pt.tpr_by_level.items():
        assert f" {rate.k}/{rate.n}" in _row(lines, lvl)
    share = r.analysis.timely["groomer"].share
    assert _row(lines, "all levels").endswith(f"{share.k}/{share.n}")


def test_a_ceiling_stands_beside_each_level_marked_where_it_is_a_lower_bound():
    from tests.bench.test_report_ceiling import with_ceiling

    r = _every_task(_results(with_ceiling()), wide=True)
    lines = _check(render_headline(r, "t"))
    assert r.ceiling is not None
    for lvl, c in r.ceiling.ceiling["fpr<=0.001"].items():
        mark = "≥" if c.lower_bound else ""
        assert f" {mark}{c.tpr.value:.3f} [" in _row(lines, lvl), (lvl, _row(lines, lvl))
    assert "≥" in _row(lines, "L3") and "≥" not in _row(lines, "L1")
    text = "\n".join(lines)
    assert "ceiling: `lowbase ceiling` (dec, gbdt-raw" in text and "on the same worlds" in text
    assert "ceiling" not in render_headline(_results(powered_results()), "t"), "no ceiling, no column"
    elsewhere = with_ceiling()
    elsewhere["ceiling"]["worlds"]["tpr"] = [{"seed": 1, "fingerprint": "9" * 64}]
    text = render_headline(_results(elsewhere), "t")
    assert "other worlds (not paired)" in text and "on the same worlds" not in text


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: _results(full_results()), id="no powered evaluation, harm on the test split"),
        pytest.param(lambda: _results(bare_results()), id="no powered evaluation, no detection before harm"),
        pytest.param(lambda: parse_results(full_results()), id="headline rows of an earlier layout"),
        pytest.param(lambda: parse_results(bare_results()), id="no headline rows"),
    ],
)
def test_results_without_some_sections_render(build):
    r = build()
    text = render_headline(r, "t")
    _check(text)
    assert "groomers, powered" not in text and "pooled" not in text
    if not r.headline:
        assert "no headline rows" in text


def test_without_detection_before_harm_its_column_is_left_out():
    data = powered_results()
    del data["analysis"]["timely"]
    text = render_headline(_every_task(_results(data)), "t")
    lines = _check(text)
    assert "before harm" not in text
    assert all(INTERVAL.search(_row(lines, lvl)) for lvl in SOPHISTICATION_LEVELS)


def test_a_narrow_terminal_wraps_rather_than_cuts():
    r = _every_task(_results(powered_results()), wide=True)
    lines = _check(render_headline(r, "t", width=60), width=60)
    assert "…" not in "\n".join(lines)
    assert all(_row(lines, t) for t in TASKS)


def test_print_headline_off_and_on_a_terminal():
    r = _every_task(_results(powered_results()))
    plain = Console(file=StringIO(), width=300)  # a pipe: plain text, 100 columns
    print_headline(r, "t", plain)
    assert plain.file.getvalue() == render_headline(r, "t")
    tty = Console(file=StringIO(), width=300, force_terminal=True)  # a wide terminal: colours, 100 columns
    print_headline(r, "t", tty)
    coloured = tty.file.getvalue()
    assert "\x1b[" in coloured
    _check(re.sub(r"\x1b\[[0-9;]*m", "", coloured))


def test_where_the_full_tables_are():
    w = Where(Path("work/reports/quick-s0-abc"), Path("work/runs/quick-s0-abc/results.json"), "quick-s0-abc",
              "f00d", "sqlite:///mlflow.db")  # fmt: skip
    text = "\n".join(where_lines(w, full=False))
    for part in ("work/reports/quick-s0-abc/report.html", "results.json", "lowbase-run", "quick-s0-abc", "f00d",
                 "lowbase ui", "--full"):  # fmt: skip
        assert part in text
    assert "--full" not in "\n".join(where_lines(w, full=True))


@pytest.mark.parametrize("full", [False, True])
def test_lowbase_run_ends_with_the_headline_and_where_the_rest_is(tmp_path, monkeypatch, full):
    """The end of `lowbase run`, its pipeline replaced by finished synthetic results."""
    from bench.run import execute

    r = _every_task(_results(powered_results()))
    report = tmp_path / "reports" / "quick-s7-abc"
    results_path = tmp_path / "runs" / "quick-s7-abc" / "results.json"
    done = execute.Done(r, "f00d", report, "sqlite:///x.db", "total 1 s", "quick-s7-abc", results_path)
    monkeypatch.setattr(execute, "run_and_log", lambda cfg, workdir, step: done)
    args = ["run", "--quiet", "--workdir", str(tmp_path), *(["--full"] if full else [])]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    compact = render_headline(r, "lowbase run: quick, seed 7, primary model dec; value [95% interval]")
    assert compact in res.stdout
    for path in (report / "report.html", tmp_path / "runs" / "quick-s7-abc" / "results.json"):
        assert str(path) in res.output
    assert "lowbase ui" in res.output and "total 1 s" in res.output
    markdown = [line for line in res.stdout.splitlines() if line.startswith("| ")]
    if full:  # the full headline and powered tables as well, before the compact headline
        assert any("recall at the operating precision (val threshold)" in line for line in markdown)
        assert res.stdout.index("| task") < res.stdout.index(compact)
    else:
        assert not markdown
        _check(res.stdout)
