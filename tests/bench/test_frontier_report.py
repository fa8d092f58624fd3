"""The adversary's frontier as a report and in MLflow: the figure is a PNG written
atomically with the same bytes for the same record; frontier.md holds what was measured,
the table at both operating points, the readings of both detectors and the figure's link;
`log_frontier` logs one parent run and a nested child per strategy with its figures.

The record is `test_frontier_results`'s made-up one, in the shape `lowbase frontier` writes."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report.frontier import (
    FRONTIER_MD,
    FRONTIER_PNG,
    frontier_markdown,
    frontier_table,
    write_frontier_report,
)
from bench.report.frontier_figures import fig_frontier
from bench.results import frontier as fr
from tests.bench.test_frontier_results import sample_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_figure_is_a_png_written_atomically_and_deterministically(tmp_path):
    path = tmp_path / "figs" / "frontier.png"
    assert fig_frontier(sample_record(), path) == path
    first = path.read_bytes()
    assert first.startswith(PNG_MAGIC) and len(first) > 10_000
    fig_frontier(sample_record(), path)
    assert path.read_bytes() == first, "the same record gives the same bytes"
    assert [p.name for p in path.parent.iterdir()] == ["frontier.png"], "no temporary file left behind"


def test_the_markdown_holds_both_tables_the_readings_and_the_figure():
    rec = sample_record()
    md = frontier_markdown(rec, FRONTIER_PNG)
    assert md.startswith("## Adversary frontier: L3, `quick`, seed 3")
    assert "### At FPR 1e-3" in md and "### At FPR 1e-4" in md
    assert md.count("| " + " | ".join(fr.FRONTIER_HEADER[:3])) == 2
    for thr in fr.THRESHOLDS:
        _, rows = fr.frontier_rows(rec, thr)
        assert all(" | ".join(r[:4]) in md for r in rows)
        for role in fr.ROLES:
            assert fr.reading(rec, thr, role)["text"] in md
    assert "gives up 62% of its harm" in md and "unadapted detector (trained on the default behaviour)" in md
    assert f"]({FRONTIER_PNG})" in md and "Each TPR rests on 100 offenders of the level" in md
    assert "`quiet persona`: `persona_sociability` = 0.2" in md
    assert "![" not in frontier_markdown(rec, None)


def test_the_console_table_is_the_report_table_narrowed():
    rec = sample_record()
    header, rows = frontier_table(rec, "fpr<=0.0001")
    _, full = fr.frontier_rows(rec, "fpr<=0.0001")
    assert len(header) == 6 and [r[0] for r in rows] == [r[0] for r in full]
    assert all(len(r) == 6 and r[2] == f[7] and r[-1] == f[-1] for r, f in zip(rows, full, strict=True))


def test_write_frontier_report_writes_both_files(tmp_path):
    out = tmp_path / "report"
    md = write_frontier_report(sample_record(), out)
    assert md == out / FRONTIER_MD and sorted(p.name for p in out.iterdir()) == [FRONTIER_MD, FRONTIER_PNG]
    assert (out / FRONTIER_PNG).read_bytes().startswith(PNG_MAGIC)
    assert f"]({FRONTIER_PNG})" in md.read_text()


def test_log_frontier_logs_a_parent_and_one_child_per_strategy(tmp_path, store):
    from mlflow.tracking import MlflowClient

    from bench.run.frontier_log import log_frontier

    rec = sample_record()
    figure = fig_frontier(rec, tmp_path / FRONTIER_PNG)
    rid = log_frontier(rec, figure)
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("lowbase-frontier")
    runs = client.search_runs([exp.experiment_id])
    parent = client.get_run(rid)
    assert parent.info.status == "FINISHED" and parent.data.tags["lowbase.scenario"] == "quick"
    assert parent.data.params["level"] == "L3" and parent.data.params["plan.fpr_accounts"] == "8000"
    assert parent.data.metrics["adapted/fpr_le_0.001/pareto_size"] == 3
    assert {a.path for a in client.list_artifacts(rid)} == {"frontier.json", FRONTIER_PNG}
    logged = json.loads(Path(client.download_artifacts(rid, "frontier.json")).read_text())
    assert logged["strategies"][-1]["harm"]["harm_rate"]["value"] is None, "strict JSON: null, never NaN"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == rid}
    assert len(runs) == 1 + len(rec["strategies"]) and set(children) == {s["name"] for s in rec["strategies"]}
    low = children["effort=low,mimicry=high"]
    assert low.info.status == "FINISHED" and low.data.tags["lowbase.default"] == "false"
    assert low.data.metrics["harm_rate"] == 0.05 and low.data.metrics["adapted/tpr/fpr_le_0.001"] == 0.08
    assert low.data.metrics["unadapted/tpr/fpr_le_0.001"] == 0.02
    assert low.data.params["effort"] == "low" and low.data.params["knob.targets_median"] == "8"
    assert children["effort=default,mimicry=default"].data.tags["lowbase.default"] == "true"
    assert "harm_rate" not in children["quiet persona"].data.metrics, "an undefined figure is not logged"
