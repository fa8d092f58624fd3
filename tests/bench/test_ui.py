"""`lowbase ui`: the MLflow UI on a temporary store, driven by Debian's headless Chromium.

The UI is a single-page app, so the check renders it (`--dump-dom` after a virtual-time
budget long enough for its API calls) and reads the DOM: the landing page is the experiment's
runs table, showing the run, in MLflow's "Model training" workflow (its sidebar), and the run
page shows its `<task>/<metric>` metrics. A screenshot of the run page is kept in
`$LOWBASE_TEST_ARTIFACTS` (default `tests/artifacts/`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.run.mlflow_ui import (
    MODEL_TRAINING,
    WORKFLOW_PARAM,
    landing_url,
    serve,
    stop,
    ui_command,
    ui_env,
    ui_url,
    wait_until_up,
)
from bench.run.tracking import EXPERIMENT_KIND

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LOWBASE_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
RUN_NAME = "ui-check-quick-s0"
METRICS = {"spam/auroc": 0.912, "groomer/recall_at_p95": 0.237}


def test_ui_command_flags():
    cmd = ui_command("sqlite:///x/mlflow.db", "127.0.0.1", 5123)
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert cmd[cmd.index("--backend-store-uri") + 1] == "sqlite:///x/mlflow.db"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "5123"
    with pytest.raises(ValueError, match="port"):
        ui_command("sqlite:///x.db", "127.0.0.1", 70000)
    assert ui_url("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert ui_env({})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert ui_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"


def test_landing_url_opens_the_runs_in_the_model_training_workflow():
    url = landing_url("http://127.0.0.1:5000", "1")
    assert url == "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
    assert (WORKFLOW_PARAM, MODEL_TRAINING) == ("workflowType", "machine_learning")


def test_serve_returns_the_server_exit_code(monkeypatch):
    monkeypatch.setattr("bench.run.mlflow_ui.ui_command", lambda *a: [sys.executable, "-c", "raise SystemExit(3)"])
    assert serve("sqlite:///unused.db", "127.0.0.1", 5000) == 3


def test_wait_until_up_times_out_and_notices_a_dead_server():
    port = _free_port()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer"):
        wait_until_up(f"http://127.0.0.1:{port}/health", timeout=0.5)
    assert time.monotonic() - t0 < 5
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with pytest.raises(RuntimeError, match="exited"):
        wait_until_up(f"http://127.0.0.1:{port}/health", timeout=5, proc=dead)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_run(uri: str, artifacts: Path) -> tuple[str, str]:
    """One finished run with a couple of metrics in `lowbase-run`, through a client bound to
    `uri` (the process-wide tracking URI is left alone)."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    # The experiment as `lowbase` makes it (its kind), the run with its real start and end,
    # as `bench.run.tracking.log_run` logs them: a 95 s run, logged in a moment.
    eid = client.create_experiment("lowbase-run", artifact_location=artifacts.as_uri(), tags=EXPERIMENT_KIND)
    now = int(time.time() * 1000)
    run = client.create_run(eid, start_time=now - 95_000, run_name=RUN_NAME)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in METRICS.items()],
        params=[Param("run.preset", "quick"), Param("run.seed", "0")],
    )
    client.set_terminated(run.info.run_id, "FINISHED", end_time=now)
    return eid, run.info.run_id


# What the sidebar offers in each of MLflow's two workflows (see `landing_url`): an
# experiment's entries in "Model training", and those only "GenAI" has. ("Traces" is in both.)
MODEL_TRAINING_ENTRIES = {"Runs", "Models", "Model registry"}
GENAI_ENTRIES = {
    "Overview",
    "Sessions",
    "Judges",
    "Evaluation runs",
    "Prompts",
    "Agent versions",
    "MCP registry",
    "AI Gateway",
}


def _sidebar(dom: str) -> dict[str, str]:
    """The links of the page's sidebar (its `<aside>`): each link's label (its first piece of
    text, so "AI Gateway" for "AI Gateway" + a "New" badge) -> its href (HTML entities as is)."""
    start = dom.find("<aside")
    assert start >= 0, "no sidebar on the page"
    aside = dom[start : dom.find("</aside>", start)]
    links = {}
    for href, inner in re.findall(r'<a [^>]*?href="([^"]*)"[^>]*>(.*?)</a>', aside, flags=re.S):
        texts = [t.strip() for t in re.split(r"<[^>]+>", re.sub(r"<svg.*?</svg>", "", inner, flags=re.S))]
        label = next((t for t in texts if t), "")
        if label:
            links[label] = href
    return links


def _chromium(profile: Path, *args: str, timeout: float = 40) -> str:
    """Run headless Chromium; returns stdout. Its whole process group is ended on timeout."""
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        *args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {' '.join(cmd)}"
    return out


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (Debian package `chromium`)")
def test_ui_shows_the_run_and_its_metrics(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    eid, run_id = _log_run(uri, tmp_path / "artifacts")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed in finally
    # Own session, so the server and its workers are ended together by process group.
    server = subprocess.Popen(
        ui_command(uri, "127.0.0.1", port),
        env=ui_env(),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = ui_url("127.0.0.1", port)
        try:
            wait_until_up(base + "/health", timeout=45, proc=server)
        except (TimeoutError, RuntimeError) as err:
            pytest.fail(f"{err}\n{(tmp_path / 'server.log').read_text()[-3000:]}")

        # A fresh browser profile: a newcomer's, with no workflow chosen before.
        runs_dom = _chromium(tmp_path / "profile", "--dump-dom", "--window-size=1400,1000", landing_url(base, eid))
        assert "lowbase-run" in runs_dom, "experiment name not rendered"
        assert "Token Usage" not in runs_dom and "Start Demo" not in runs_dom, "GenAI overview or home, not the runs"
        assert "Run Name" in runs_dom, "not the runs table"
        sidebar = _sidebar(runs_dom)
        assert sidebar.keys() >= MODEL_TRAINING_ENTRIES, f"not the Model training sidebar: {sorted(sidebar)}"
        genai = sorted(GENAI_ENTRIES & sidebar.keys())
        assert not genai, f"GenAI entries in the sidebar: {genai}"
        # The experiment's own links keep the workflow, so its other pages stay in it.
        for entry in ("Runs", "Models"):
            href = sidebar[entry]
            assert f"{WORKFLOW_PARAM}={MODEL_TRAINING}" in href, f"{entry} drops the workflow: {href}"
        assert sidebar["Runs"].startswith(f"#/experiments/{eid}/runs"), f"Runs links elsewhere: {sidebar['Runs']}"
        assert RUN_NAME in runs_dom, "run missing from the experiment's runs table"
        text = re.sub(r"<[^>]+>", "|", runs_dom)
        row = re.sub(r"(\s*\|\s*)+", "|", text[text.find(RUN_NAME) :])[:200]
        assert re.search(r"\|1\.[56]\s?min\|", row), f"the run's duration (95 s) not in its row: {row}"

        # One load of the run page gives both its DOM and the screenshot; the window is tall
        # enough for the screenshot to show the metrics table below "About this run".
        run_page = f"{base}/#/experiments/{eid}/runs/{run_id}"
        shot = tmp_path / "mlflow-ui-run.png"
        run_dom = _chromium(
            tmp_path / "profile", "--dump-dom", f"--screenshot={shot}", "--window-size=1400,1500", run_page
        )
        for name, value in METRICS.items():
            assert name in run_dom, f"metric {name} not shown on the run page"
            assert str(value) in run_dom, f"value {value} of {name} not shown"
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, "screenshot missing or blank"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACTS / shot.name)
    finally:
        # SIGINT (Ctrl-C) to the server's own process group, then make sure nothing of it is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            stop(server, grace=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert server.poll() is not None


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_ui_stopped_by_sigterm_or_sighup_leaves_no_server(tmp_path, sig):
    """What kill, systemd, docker and CI runners send: the server and its worker end with
    `lowbase ui`, and the port is free for the next one."""
    import psutil

    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    lowbase = Path(sys.executable).with_name("lowbase")
    log = open(tmp_path / "ui.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [str(lowbase), "ui", "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    children: list = []
    try:
        try:
            wait_until_up(f"{ui_url('127.0.0.1', port)}/health", timeout=60, proc=proc)
        except (TimeoutError, RuntimeError) as err:
            pytest.fail(f"{err}\n{(tmp_path / 'ui.log').read_text()[-3000:]}")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the MLflow server should run as a child of lowbase ui"
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
        with socket.socket() as s:
            # As the next server binds (SO_REUSEADDR: the health checks' closed connections
            # may linger in TIME_WAIT); raises if anything still listens on the port.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
    finally:
        for p in [*children, psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None:
                with contextlib.suppress(psutil.Error):
                    p.kill()
        log.close()
