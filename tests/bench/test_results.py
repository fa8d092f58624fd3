"""`bench.results`: the schema of a run's results, its strict-JSON round trip, the errors
that name the file and field, and the names of operating points and per-level recall."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest

from bench.errors import ResultsError
from bench.results import (
    RunRecord,
    RunResults,
    TaskMetrics,
    dump_results,
    key_precision,
    load_results,
    operating_key,
    parse_results,
    recall_key,
)
from bench.setup.config import RunConfig, make_run_config
from bench.stats.metrics import METRICS, PRECISIONS
from common.vocabulary import SOPHISTICATION_LEVELS
from tests.bench import test_report

ROOT = Path(__file__).resolve().parents[2]


def full_results() -> dict:
    """The report tests' synthetic results, deep-copied: the tests here mutate them."""
    return copy.deepcopy(test_report.full_results())


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------- names


def test_operating_and_recall_keys():
    assert operating_key(0.95) == "p95" and operating_key(0.9) == "p90" and operating_key(0.99) == "p99"
    assert recall_key(0.95) == "recall_at_p95" and recall_key(0.9) == "recall_at_p90"
    assert key_precision("p90") == 0.9 and key_precision("recall_at_p99") == 0.99
    # The bootstrap metrics of bench.stats.metrics are named by the same rule.
    assert {recall_key(p) for p in PRECISIONS.values()} == set(PRECISIONS)


def test_only_the_schema_formats_an_operating_key():
    pattern = re.compile(r"p\{round\(")
    hits = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "bench").rglob("*.py"))
        if p.parent.name != "results" and pattern.search(p.read_text())
    ]
    assert not hits, hits


def test_schema_mirrors_the_run_config_and_the_metrics():
    assert set(RunRecord.model_fields) == set(RunConfig.model_fields) - {"dask"} | {"kernels"}
    assert set(TaskMetrics.model_fields) == {"n_positive", "n_negative", *METRICS}
    assert list(TaskMetrics.model_validate(full_results()["models"]["dec"]["metrics"]["spam"]).intervals()) == list(
        METRICS
    )


# ---------------------------------------------------------------- round trip


def test_strict_json_round_trip_is_lossless(tmp_path):
    data = full_results()
    data["models"]["dec"]["metrics"]["spam"]["auroc"]["ci_low"] = float("nan")
    data["analysis"]["projections"]["groomer"][0]["innocent_per_offender"]["value"] = float("inf")
    r = parse_results(data)
    text = dump_results(r)
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text)
    assert parsed["models"]["dec"]["metrics"]["spam"]["auroc"]["ci_low"] is None
    assert parsed["analysis"]["projections"]["groomer"][0]["innocent_per_offender"]["value"] == "inf"

    back = load_results(_write(tmp_path / "results.json", parsed))
    assert math.isnan(back.models["dec"].metrics["spam"].auroc.ci_low)  # null reads back as NaN
    assert back.analysis.projections["groomer"][0].innocent_per_offender.value == math.inf
    assert (
        back.models["dec"].metrics["viral_sharer"].auroc.value != back.models["dec"].metrics["viral_sharer"].auroc.value
    )
    assert dump_results(back) == text, "a file read is written back byte for byte"
    # What the run left out stays out; what it wrote as null stays null.
    bare = copy.deepcopy(parsed)
    del bare["analysis"]["drift"], bare["analysis"]["detection_before_harm"], bare["headline"]
    assert json.loads(dump_results(parse_results(bare))) == bare
    assert parsed["headline"][2]["auroc"] is None and "auroc" not in parsed["headline"][3]


def test_typed_access():
    r = parse_results(full_results())
    assert r.precision == 0.95 and r.primary_entry is r.models["dec"]
    op = r.primary_operating("groomer")
    assert op is not None and op.has_threshold and op.tpr_share.k == 6
    assert r.models["dec"].curves["viral_sharer"].roc is None
    assert r.analysis.detection_before_harm.share.n == 12
    assert [e.own for e in r.analysis.empirical_base_rate] == [False, True]
    assert r.tasks() == ["spam", "groomer", "viral_sharer"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "mutate, field",
    [
        (
            lambda d: d["models"]["dec"]["metrics"]["spam"]["auroc"].update(value="high"),
            "models.dec.metrics.spam.auroc",
        ),
        (lambda d: d["models"]["dec"]["metrics"]["spam"].pop("auprc"), "models.dec.metrics.spam.auprc"),
        (lambda d: d["analysis"].pop("base_rate_curve"), "analysis.base_rate_curve"),
        (lambda d: d["analysis"].update(colour=1), "analysis.colour"),
        (
            lambda d: d["models"]["dec"]["operating"]["spam"].update(
                q95=d["models"]["dec"]["operating"]["spam"]["p95"]
            ),
            "operating point key 'q95'",
        ),
        (lambda d: d["models"]["dec"]["recall_by_level"].update(L9=d["models"]["dec"]["recall_by_level"]["L0"]), "L9"),
        (lambda d: d["models"]["dec"]["curves"]["spam"]["roc"]["tpr"].pop(), "fpr and tpr differ in length"),
        (lambda d: d.update(primary="svm"), "primary model 'svm'"),
        (lambda d: d["headline"][0].update(colour=1), "headline.0.colour"),
        (lambda d: d["config"].pop("seed"), "config.seed"),
    ],
)
def test_a_malformed_file_is_refused_naming_file_and_field(tmp_path, mutate, field):
    data = full_results()
    mutate(data)
    path = _write(tmp_path / "results.json", data)
    with pytest.raises(ResultsError) as e:
        load_results(path)
    assert str(path) in str(e.value) and field in str(e.value)


def test_not_a_results_file(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ResultsError, match="broken.json: malformed JSON"):
        load_results(tmp_path / "broken.json")
    with pytest.raises(ResultsError, match="list.json: expected a lowbase results.json"):
        load_results(_write(tmp_path / "list.json", [1]))
    with pytest.raises(ResultsError, match="missing"):
        load_results(tmp_path / "none.json")


# ---------------------------------------------------------------- per-level recall


def test_an_old_file_at_another_precision_names_its_level_recall_by_it():
    """A file of the earlier layout holds the per-level recall under recall_at_p95 whatever
    the precision; it reads under the precision's name."""
    data = full_results()
    data["config"]["precision"] = data["analysis"]["operating_precision"] = 0.9
    for entry in data["models"].values():
        for task in entry["operating"]:
            entry["operating"][task] = {"p90": entry["operating"][task]["p95"], "p99": entry["operating"][task]["p99"]}
    r = parse_results(data)
    level = next(row for row in r.headline if row.task == "groomer L0")
    assert level.recall_at_p95 is None and level.cell("recall_at_p90").k == 6
    task_row = r.headline[0]
    assert task_row.recall_at_p95.value == 0.5, "a task row's recall@P0.95 is the bootstrap metric: kept"


@pytest.fixture(scope="module")
def run_at_p90(tmp_path_factory):
    """A real run of the pipeline (rules and random on 3,000 accounts) at operating precision 0.90."""
    from bench.run.execute import compute

    cfg = make_run_config(
        preset="quick",
        accounts=3000,
        overrides={"harm.groomer_rate": 0.01},
        models=("rules", "random"),
        precision=0.9,
        resamples=20,
        checkpoint_days=28,
        empirical_rates=(),
        drift=False,
        powered=False,  # the level rows of the test split, named by the operating precision
    )
    work = tmp_path_factory.mktemp("p90")
    _, results, path, report = compute(cfg, work, lambda _: None)
    return results, path, report


@pytest.mark.slow
def test_a_real_results_json_validates_and_round_trips(run_at_p90):
    results, path, _ = run_at_p90
    text = path.read_text()
    loaded = load_results(path)
    assert dump_results(loaded) == text == dump_results(results)
    # certifications are attached by `lowbase report` from MLflow; a run never writes them, and
    # a ceiling only when one is cached for its scenario (none is, in a test's work directory)
    assert results.ceiling is None
    assert set(json.loads(text)) == {*RunResults.model_fields} - {"certified", "ceiling"}
    assert loaded.config.precision == loaded.analysis.operating_precision == 0.9
    for entry in loaded.models.values():
        assert all(set(ops) == {"p90", "p99"} for ops in entry.operating.values())
        assert set(entry.recall_by_level) == set(SOPHISTICATION_LEVELS)


@pytest.mark.slow
def test_per_level_recall_is_named_by_the_operating_precision(run_at_p90):
    from bench.report import headline_markdown
    from bench.run.tracking import model_metrics

    results, path, report = run_at_p90
    levels = [row for row in json.loads(path.read_text())["headline"] if row["task"].startswith("groomer L")]
    assert len(levels) == len(SOPHISTICATION_LEVELS)
    assert all("recall_at_p90" in row and "recall_at_p95" not in row for row in levels)
    metrics = model_metrics(results.primary_entry, results.precision)
    per_level = {k for k in metrics if re.fullmatch(r"groomer/recall_at_p\d+_L\d", k)}
    measured = {f"groomer/recall_at_p90_{lvl}" for lvl, s in results.primary_entry.recall_by_level.items() if s.n}
    assert measured and per_level == measured
    header = headline_markdown(results.headline).splitlines()[0]
    assert "| recall@P0.90 | recall@P0.95 | recall@P0.99 |" in header
    md = (report / "report.md").read_text()
    assert "precision-0.90 threshold" in md and "precision-0.95 threshold" not in md


def test_results_naming_the_training_world_truth_oracle_read_under_its_name():
    """A powered record that calls the training world's truth "oracle (truth)" (its earlier
    name) is read under TRAINING_TRUTH, with the same figures; other variants untouched."""
    from bench.results import TRAINING_TRUTH, PoweredRecord

    model = {"thresholds": [], "by_threshold": {}}
    doc = {"task": "groomer", "visibility": "full", "worlds": {}, "enriched_rate": 0.01,
           "scenario_mix": [0.25] * 4, "models": {"realistic labels": model, "oracle (truth)": model}}  # fmt: skip
    pw = PoweredRecord.model_validate(doc)
    assert list(pw.models) == ["realistic labels", TRAINING_TRUTH]
    assert "oracle (truth)" in doc["models"], "the input is not modified"
