"""`lowbase run` and `lowbase sweep` end to end on a tiny scenario, against a temporary MLflow store."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from bench.cli.app import app
from bench.errors import RunConfigError
from bench.report.figures import projection_rates
from bench.results import REALISTIC, dump_results, load_results, parse_results
from bench.run.analyses import headline_rows, operating_projections, projection_source, read_groomers_powered
from bench.setup.config import make_run_config
from bench.stats.base_rate import platform_projection
from bench.stats.rates import Rate, precision_at
from tests.bench.test_report import full_results, powered_record, with_powered

runner = CliRunner()
# 3000 accounts at groomer rate 1e-2: ~30 groomers, ~6 in test; a few seconds per model.
TINY = ["--preset", "quick", "--accounts", "3000", "--set", "harm.groomer_rate=0.01", "--resamples", "20", "--quiet",
        "--fpr-accounts", "6000"]  # fmt: skip
TINY_BASE = {
    "preset": "quick",
    "accounts": 3000,
    "resamples": 20,
    "checkpoint_days": 28,
    "empirical_rates": [],
    "drift": False,
    "powered": False,
    "models": ["rules", "random"],
}


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


@pytest.mark.slow
def test_run_end_to_end(tmp_path, store):
    work = tmp_path / "work"
    r = runner.invoke(app, ["run", *TINY, "--models", "dec,rules,random", "--workdir", str(work)])
    assert r.exit_code == 0, r.output
    assert "groomer" in r.stdout and "recall@P0.95" in r.stdout
    client = _client(store)
    exp = client.get_experiment_by_name("lowbase-run")
    runs = client.search_runs([exp.experiment_id])
    top = [x for x in runs if "mlflow.parentRunId" not in x.data.tags]
    children = [x for x in runs if x.data.tags.get("mlflow.parentRunId") == top[0].info.run_id]
    assert len(top) == 1 and sorted(c.data.tags["lowbase.model"] for c in children) == ["dec", "random", "rules"]
    m = top[0].data.metrics
    for key in ("spam/auroc", "spam/recall_at_p95", "groomer/auroc", "groomer/recall_at_p95", "timing/mlflow_share"):
        assert key in m, key
    assert top[0].data.params["scenario.accounts"] == "3000"
    assert top[0].data.params["model.stage1.epochs"] and children[0].data.params["model"]
    assert top[0].inputs.dataset_inputs, "dataset lineage not logged"
    # The UI's model-training view, not the GenAI overview; runs carry their real duration.
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    pipeline_ms = json.loads(next((work / "runs").glob("*/results.json")).read_text())["timing"]["pipeline_s"] * 1000
    info = top[0].info
    assert info.end_time - info.start_time >= pipeline_ms > 1000, "parent duration is the run's, not the logging's"
    assert all(c.info.end_time - c.info.start_time >= 0.99 * pipeline_ms for c in children)
    arts = {a.path for a in client.list_artifacts(top[0].info.run_id)}
    assert {"report", "results", "dataset"} <= arts
    path = next((work / "runs").glob("*/results.json"))
    results = json.loads(path.read_text())
    assert results["primary"] == "dec"
    assert {"base_rate_curve", "projections", "empirical_base_rate", "drift", "powered", "timely"} <= set(
        results["analysis"]
    )
    # The powered evaluation: realistic labels beside the training-world truth, on 2 negative worlds of 3000
    # and one enriched world; thresholds from the training world's validation split only.
    pw = results["analysis"]["powered"]
    assert {"realistic labels", "training-world truth"} <= set(pw["models"]) and len(pw["worlds"]["fpr"]) == 2
    fp = results["dataset"]["fingerprint"]
    for figures in pw["models"].values():
        assert all(t["set_on"] == {"world": fp, "split": "val"} for t in figures["thresholds"])
    assert set(results["analysis"]["timely"]) == {"groomer", "spam", "scam"}
    assert all(t["world"] == pw["worlds"]["tpr"][0]["fingerprint"] for t in results["analysis"]["timely"].values())
    assert "groomer/powered/realistic_labels/fpr_le_0.001/tpr" in m and "spam/detection_before_harm_enriched" in m
    assert "groomers, powered" in r.stdout
    # The groomer rows read the powered evaluation: levels on the enriched world, precision at
    # each base rate from its TPR and the pooled FPR; every task also at validation thresholds.
    rows = {(row["task"], row["scenario"]): row for row in results["headline"]}
    pt = pw["models"]["realistic labels"]["by_threshold"]["fpr<=0.001"]
    for lvl, rate in pt["tpr_by_level"].items():
        row = rows[(f"groomer {lvl}", "enriched world (0.01)")]
        assert row["n_positive"] == rate["n"] and row["val_recall_at_fpr_1e3"]["k"] == rate["k"]
    assert any(s.endswith("(powered)") for t, s in rows if t == "groomer")
    for proj in results["analysis"]["projections"]["groomer"]:  # the powered point, never the test split's
        p = precision_at(proj["base_rate"], Rate(**pt["tpr_at_scenario_mix"]), Rate(**pt["fpr"]))
        assert proj["precision"]["value"] == pytest.approx(p["value"], nan_ok=True)
    spam = next(row for (t, _), row in rows.items() if t == "spam")
    assert spam["val_recall_at_fpr_1e3"] == {
        "value": results["models"]["dec"]["validated"]["spam"]["fpr<=0.001"]["tpr"]["value"],
        **{k: spam["val_recall_at_fpr_1e3"][k] for k in ("ci_low", "ci_high", "k", "n")},
    }
    # Hash matching is a reference for viral sharers (known images), right below their row.
    tasks = [row["task"] for row in results["headline"]]
    hm = tasks.index("viral_sharer: content hash matching (known images)")
    assert tasks[hm - 1] == "viral_sharer" and not any("groomer" in t and "hash" in t for t in tasks)
    assert {"fpr<=0.001", "precision>=0.95"} == set(results["models"]["dec"]["validated"]["spam"])
    assert dump_results(load_results(path)) == path.read_text(), "results.json is in the schema, read losslessly"
    levels = [
        f"groomer/recall_at_p95_{lvl}" for lvl, s in results["models"]["dec"]["recall_by_level"].items() if s["n"]
    ]
    assert levels and all(k in m for k in levels), "per-level recall named by the operating precision (0.95)"
    # The cached dataset is reused by a second run (same fingerprint, no regeneration).
    r2 = runner.invoke(app, ["run", *TINY, "--models", "rules", "--no-drift", "--workdir", str(work)])
    assert r2.exit_code == 0, r2.output
    # main + drift + the enriched world (negative worlds are scored in memory, never written)
    assert len([p for p in (work / "datasets").iterdir() if not p.name.startswith(".")]) == 3
    assert not any((work / "fpr-worlds").glob("**/*"))
    # The report can be rebuilt from MLflow alone.
    out = tmp_path / "rep"
    r3 = runner.invoke(app, ["report", "--run-id", top[0].info.run_id, "--out", str(out)])
    assert r3.exit_code == 0, r3.output
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def _sweep_file(tmp_path: Path, **over) -> Path:
    doc = {"name": "tiny", "base": TINY_BASE, "grid": {"harm.groomer_rate": [0.01, 0.005]}, **over}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.slow
def test_sweep_resumes_without_duplicates(tmp_path, store):
    path = _sweep_file(tmp_path)
    work = tmp_path / "work"
    r = runner.invoke(app, ["sweep", str(path), "--workdir", str(work), "--quiet"])
    assert r.exit_code == 0, r.output
    client = _client(store)
    exp = client.get_experiment_by_name("lowbase-sweep")

    def children():
        runs = client.search_runs([exp.experiment_id])
        parents = [x for x in runs if "lowbase.sweep_key" in x.data.tags]
        assert len(parents) == 1
        pid = parents[0].info.run_id
        return [x for x in runs if x.data.tags.get("mlflow.parentRunId") == pid]

    first = children()
    assert len(first) == 2 and all(c.info.status == "FINISHED" for c in first)
    assert {c.data.tags["knob.harm.groomer_rate"] for c in first} == {"0.01", "0.005"}
    # Rerun: nothing new. Then widen the grid: only the new point runs.
    r = runner.invoke(app, ["sweep", str(path), "--workdir", str(work), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "0 ran, 2 skipped" in r.stdout
    assert sorted(c.info.run_id for c in children()) == sorted(c.info.run_id for c in first)


@pytest.mark.slow
def test_sweep_parallel_jobs_lose_nothing(tmp_path, store):
    path = _sweep_file(tmp_path, grid={"seed": [1, 2, 3]})
    r = runner.invoke(app, ["sweep", str(path), "--jobs", "2", "--workdir", str(tmp_path / "w"), "--quiet"])
    assert r.exit_code == 0, r.output
    client = _client(store)
    exp = client.get_experiment_by_name("lowbase-sweep")
    kids = [x for x in client.search_runs([exp.experiment_id]) if "lowbase.child_key" in x.data.tags]
    assert len(kids) == 3 and len({k.data.tags["lowbase.child_key"] for k in kids}) == 3


@pytest.mark.parametrize(
    "doc, needle",
    [
        ("name: x\nbase: {}\ngrid: {harm.groomer_rate: [2.0]}\n", "groomer_rate"),
        ("name: x\ngrid: {harm.nope: [1]}\n", "harm.nope"),
        ("name: x\ngrid: {colour: [1]}\n", "'colour'"),
        ("name: x\ngrid: {visibility: [opaque]}\n", "visibility"),
        ("name: x\nbase: {models: [svm]}\ngrid: {seed: [0]}\n", "models"),
        ("name: x\ngrid: {seed: []}\n", "grid"),
        ("name: x\n", "grid"),
        ("name: x\ngrid: {seed: [0]}\nextra: 1\n", "extra"),
        ("name: [x\n", "malformed YAML"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_sweep_files_exit_2_naming_the_field(tmp_path, store, doc, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(doc)
    r = runner.invoke(app, ["sweep", str(path), "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert not (tmp_path / "w").exists(), "nothing may be written for a bad sweep file"


def test_missing_sweep_file_exits_2(tmp_path, store):
    r = runner.invoke(app, ["sweep", str(tmp_path / "none.yaml")])
    assert r.exit_code == 2 and "missing" in r.output


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"models": ("svm",)}, "models"),
        ({"visibility": "opaque"}, "visibility"),
        ({"precision": 1.5}, "precision"),
        ({"project_rates": (0.0,)}, "project_rates"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_run_config_names_the_field(fields, needle):
    with pytest.raises(RunConfigError, match=needle):
        make_run_config(**fields)


def test_bad_run_options_exit_2(tmp_path, store):
    r = runner.invoke(app, ["run", "--models", "dec,svm", "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 2 and "svm" in r.output
    r = runner.invoke(app, ["run", "--preset", "nope", "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 2 and "not a preset" in r.output


def test_set_overrides_are_validated(tmp_path, store):
    r = runner.invoke(app, ["run", "--set", "harm.groomer_rate=7", "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 2 and "harm.groomer_rate" in r.output
    r = runner.invoke(app, ["run", "--set", "harm.groomer_rate", "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 2 and "KEY=VALUE" in r.output


@pytest.mark.slow
def test_mlproject_entry_point_runs(tmp_path, store):
    """`mlflow run mlflow -e generate` works from the repository root (the `run` entry point
    is the same mechanism with a longer job; docs/design.md "MLflow")."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "mlflow", "run", "mlflow", "-e", "generate", "-P", "accounts=2000", "-P", f"out={out}",
           "--env-manager", "local", "--experiment-name", "lowbase-run"]  # fmt: skip
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "dataset.json").is_file()
    exp = _client(store).get_experiment_by_name("lowbase-run")
    (run,) = _client(store).search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags.get("mlflow.project.entryPoint") == "generate"


def _comparable(results: dict) -> dict:
    """A run's results without what says where or how long it ran."""
    out = {k: v for k, v in results.items() if k not in ("timing", "dataset")}
    out["dataset"] = results["dataset"]["fingerprint"]
    out["models"] = {m: {k: v for k, v in r.items() if k != "path"} for m, r in results["models"].items()}
    return out


@pytest.mark.slow
def test_run_on_dask_gives_the_same_results(tmp_path, store):
    """`lowbase run --dask local:1`: the dataset is generated on the cluster and logreg's
    features are built there, and every figure equals the single-process run's."""
    got = {}
    for name, extra in (("plain", []), ("dask", ["--dask", "local:1"])):
        work = tmp_path / name
        args = ["run", *TINY, "--models", "rules,logreg", "--no-drift", "--workdir", str(work), *extra]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        got[name] = _comparable(json.loads(next((work / "runs").glob("*/results.json")).read_text()))
    assert got["dask"] == got["plain"]


@pytest.mark.slow
def test_report_of_a_malformed_results_artifact_exits_2_naming_it(tmp_path, store, monkeypatch):
    """`lowbase report` validates the run's results.json against `bench.results`: a file
    this version cannot read is bad input (exit 2) naming the run, the file and the field."""
    from bench.run.tracking import setup

    monkeypatch.chdir(tmp_path)  # the store's artifacts land here
    client = setup()
    exp = client.get_experiment_by_name("lowbase-run").experiment_id
    rid = client.create_run(exp, run_name="broken").info.run_id
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"config": {}, "primary": "dec"}))
    client.log_artifact(rid, str(bad), "results")
    client.set_terminated(rid, "FINISHED")
    r = runner.invoke(app, ["report", "--run-id", rid, "--out", str(tmp_path / "rep")])
    assert r.exit_code == 2, r.output
    assert rid in r.output and "results.json" in r.output and "field 'config.seed'" in r.output
    assert not (tmp_path / "rep").exists()


def _lowbase_run(seed: int, work: Path, store: str, log: Path):
    """`lowbase run` as its own process (what two terminals or a kill -9 need)."""
    import os
    import subprocess
    import sys

    cmd = [str(Path(sys.executable).with_name("lowbase")), "run", *TINY, "--models", "rules,random", "--no-drift"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.Popen(
        [*cmd, "--seed", str(seed), "--workdir", str(work)], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT
    )


def _top_runs(store: str):
    client = _client(store)
    exp = client.get_experiment_by_name("lowbase-run")
    return [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]


def _integrity(store: str) -> str:
    import sqlite3

    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.slow
def test_parallel_runs_share_one_store_and_workdir(tmp_path, store):
    """Two `lowbase run`s at once on one mlflow.db (created by neither beforehand) and one
    --workdir: both finish and both runs are complete; the store's writers take turns."""
    work = tmp_path / "work"
    procs = [_lowbase_run(seed, work, store, tmp_path / f"run{seed}.log") for seed in (1, 2)]
    codes = [p.wait(300) for p in procs]
    logs = [(tmp_path / f"run{seed}.log").read_text() for seed in (1, 2)]
    assert codes == [0, 0], logs
    assert not any("locked" in text or "already exists" in text for text in logs), logs
    top = _top_runs(store)
    assert sorted(r.data.params["run.seed"] for r in top) == ["1", "2"]
    assert all(r.info.status == "FINISHED" and "groomer/auroc" in r.data.metrics for r in top)
    assert _integrity(store) == "ok"


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun(tmp_path, store):
    """A run killed mid-way leaves nothing that looks finished; the rerun completes, once.
    A run killed while logging (left RUNNING by a dead process) is marked FAILED by the next."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    work = tmp_path / "work"
    proc = _lowbase_run(3, work, store, tmp_path / "killed.log")
    deadline = time.monotonic() + 120
    while not list((work / "datasets").glob("*/dataset.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # into training
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # A run left RUNNING by a process that no longer exists, as a kill during logging leaves it.
    from bench.run.tracking import HOST_TAG, PID_TAG, setup

    client = setup(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    exp = client.get_experiment_by_name("lowbase-run")
    owner = {HOST_TAG: socket.gethostname(), PID_TAG: str(dead.pid)}
    orphan = client.create_run(exp.experiment_id, run_name="killed", tags=owner)
    rerun = _lowbase_run(3, work, store, tmp_path / "rerun.log")
    assert rerun.wait(300) == 0, (tmp_path / "rerun.log").read_text()
    top = _top_runs(store)
    finished = [r for r in top if r.info.status == "FINISHED"]
    assert len(finished) == 1 and finished[0].data.params["run.seed"] == "3"
    assert client.get_run(orphan.info.run_id).info.status == "FAILED"
    assert not [r for r in top if r.info.status == "RUNNING"]
    assert _integrity(store) == "ok"


@pytest.mark.slow
def test_run_never_replaces_a_model_directory_of_the_users(tmp_path, store):
    from bench.setup.config import resolve_scenario, run_name

    work = tmp_path / "work"
    args = [*TINY, "--models", "rules", "--no-drift", "--workdir", str(work)]
    cfg = make_run_config(preset="quick", accounts=3000, overrides={"harm.groomer_rate": 0.01}, resamples=20,
                          models=("rules",), drift=False, fpr_accounts=6000)  # fmt: skip
    mine = work / "models" / run_name(cfg, resolve_scenario(cfg)) / "rules"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["run", *args])
    assert r.exit_code == 2 and "notes.txt" in r.output, r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_a_seed_sweep_reports_mean_spread_and_every_seed(tmp_path, store):
    """A sweep over the seed alone ends with the groomer figures as mean ± std, every seed's
    value kept in seeds.json and equal to that seed's own results.json."""
    base = {**TINY_BASE, "harm.groomer_rate": 0.01, "powered": True, "fpr_accounts": 3000,
            "label_budgets": [4], "models": ["logreg"]}  # fmt: skip
    path = _sweep_file(tmp_path, name="seeds", base=base, grid={"seed": [0, 1]})
    work = tmp_path / "work"
    r = runner.invoke(app, ["sweep", str(path), "--workdir", str(work)])
    assert r.exit_code == 0, r.output
    assert "groomers over seeds [0, 1]" in r.stdout
    summary = json.loads((work / "sweeps" / "seeds" / "seeds.json").read_text())
    assert summary["seeds"] == [0, 1]
    runs = sorted((work / "runs").glob("*/results.json"))
    own = {}
    for p in runs:
        res = json.loads(p.read_text())
        pt = res["analysis"]["powered"]["models"]["realistic labels"]["by_threshold"]["fpr<=0.001"]
        own[res["config"]["seed"]] = pt["tpr_by_level"]["L0"]["value"]
    row = summary["groomer"]["realistic labels"]["L0"]
    assert row["values"] == [own[0], own[1]]
    assert row["mean"] == pytest.approx((own[0] + own[1]) / 2)
    assert "spam" in summary["tasks"] and len(summary["tasks"]["spam"]["tpr"]["values"]) == 2


# ---------------------------------------------------------------- groomer projections from the powered point


def _rates(r):
    pt = r.analysis.powered.models[REALISTIC].by_threshold["fpr<=0.001"]
    return Rate(**pt.tpr_at_scenario_mix.model_dump()), Rate(**pt.fpr.model_dump())


@pytest.mark.parametrize("fp", [0, 40], ids=["no false positive", "false positives"])
def test_groomer_projections_and_curve_read_the_powered_point(fp):
    r = with_powered(fp)
    others = {t: rows for t, rows in parse_results(full_results()).analysis.projections.items() if t != "groomer"}
    tpr, fpr = _rates(r)
    rows = r.analysis.projections["groomer"]
    assert [row.base_rate for row in rows] == [0.02, 1e-6], "the same base rates as the test-split rows"
    for row in rows:
        p = precision_at(row.base_rate, tpr, fpr)
        assert p["kind"] == ("lower bound" if fp == 0 else "point")
        assert (row.precision.value, row.precision.ci_low, row.precision.ci_high) == pytest.approx(
            (p["value"], p["low"], p["high"])
        )
        assert row.innocent_per_offender.value == pytest.approx((1 - p["value"]) / p["value"])
        # the counts: at the TPR and pooled FPR, or where no false positive was seen at (TPR high, FPR high)
        t, f = (tpr.high, fpr.high) if fp == 0 else (tpr.value, fpr.value)
        counts = platform_projection(t, f, row.base_rate, 3e9, 5.0)
        assert row.classifier.model_dump() == pytest.approx(asdict(counts))
    assert {t: rows for t, rows in r.analysis.projections.items() if t != "groomer"} == others
    for point in r.analysis.base_rate_curve:
        p = precision_at(point.base_rate, tpr, fpr)
        assert (point.precision, point.ci_low, point.ci_high) == pytest.approx((p["value"], p["low"], p["high"]))
    assert fp or all(point.precision < 1 for point in r.analysis.base_rate_curve), "a bound, never a point 1.000"


@pytest.mark.parametrize("fp", [0, 40], ids=["no false positive", "false positives"])
def test_headline_groomer_precision_is_the_powered_projection_and_never_the_test_split(fp):
    r = with_powered(fp)
    test_split = operating_projections(
        r.primary_operating("groomer"), [0.02, 1e-6], SimpleNamespace(platform_accounts=3e9, minutes_per_review=5.0)
    )
    groomer = [row for row in headline_rows(r) if row.task == "groomer"]
    assert [row.scenario for row in groomer] == ["measured at 0.02", "projected at 1e-06 (powered)"]
    for row, proj, split in zip(groomer, r.analysis.projections["groomer"], test_split, strict=True):
        assert row.precision_at_base_rate == proj.precision and row.innocent_per_offender == proj.innocent_per_offender
        assert row.bound == ("precision >=" if fp == 0 else None)
        assert not math.isclose(row.precision_at_base_rate.value, split.precision.value)
    # results whose groomer rows still hold the test-split reading: the headline reads the powered point
    stale = with_powered(fp)
    stale.analysis.projections["groomer"] = test_split
    assert [row.precision_at_base_rate for row in headline_rows(stale) if row.task == "groomer"] == [
        row.precision_at_base_rate for row in groomer
    ]


def test_without_powered_the_headline_reads_the_test_split_rows_marking_the_bound():
    r = parse_results(full_results())
    groomer = [row for row in headline_rows(r) if row.task == "groomer"]
    assert [row.scenario for row in groomer] == ["measured at 0.02", "projected at 1e-06"]
    assert [row.precision_at_base_rate for row in groomer] == [p.precision for p in r.analysis.projections["groomer"]]
    assert all(row.bound == "precision >=" for row in groomer), "no false positive among the test negatives"


def test_legacy_results_with_a_powered_record_read_the_test_split_in_headline_and_report_alike():
    """Results written before `groomer_source` existed hold a powered record beside groomer rows
    read on the test split: the headline and the report sections both follow `groomer_source`
    and read the rows as recorded, until `read_groomers_powered` rewrites them and says so."""
    data = full_results()
    data["analysis"]["powered"] = powered_record(40, [40, 12, 3, 1])
    data["config"]["powered"] = True
    r = parse_results(data)
    assert r.analysis.groomer_source == "test split", "the schema's default: a results.json from before the field"
    recorded = [row.model_copy() for row in r.analysis.projections["groomer"]]
    rows, kind, powered = projection_source(r, "groomer")
    src = projection_rates(r, "groomer")
    assert powered is False and src is not None and src.powered is False
    assert rows == recorded and kind == src.kind == "lower bound", "the test split: no false positive among 980"
    groomer = [row for row in headline_rows(r) if row.task == "groomer"]
    assert [row.scenario for row in groomer] == ["measured at 0.02", "projected at 1e-06"]
    assert [row.precision_at_base_rate for row in groomer] == [p.precision for p in recorded]
    # once the powered point is read, both read it
    assert read_groomers_powered(r.analysis)
    rows, kind, powered = projection_source(r, "groomer")
    src = projection_rates(r, "groomer")
    assert powered is True and src is not None and src.powered is True
    assert rows == r.analysis.projections["groomer"] and kind == src.kind == "point"


def test_a_powered_point_that_flagged_nothing_heads_no_precision():
    r = with_powered(0, (0, 0, 0, 0))
    groomer = [row for row in headline_rows(r) if row.task == "groomer"]
    assert groomer and all(row.bound == "nothing flagged" for row in groomer)
    assert all(row.precision_at_base_rate is None and row.innocent_per_offender is None for row in groomer)
