"""`lowbase ui`: the MLflow UI on the local tracking store, in the foreground.

The UI is MLflow's own tracking server (`mlflow server`, the same as `mlflow ui` in MLflow 3)
run by this interpreter (`python -m mlflow`, so it works without the venv on PATH) against
the store `lowbase run` logs to (`bench.run.tracking.tracking_uri()`: `sqlite:///mlflow.db` under
the working directory unless `MLFLOW_TRACKING_URI` says otherwise). One worker: it serves one
person's local store. MLflow 3.17's server also starts a GenAI job runner by default (seven
`huey` consumer processes and a `/dev/shm` queue directory, for LLM-judge jobs lowbase never
submits); `ui_env` turns it off, which halves start-up on a small machine and lets Ctrl-C
stop the server in about a second instead of twenty. Pages worth opening once it is up:
`/#/experiments/<id>/runs?workflowType=machine_learning` (the runs of an experiment, in
MLflow's "Model training" workflow: see `landing_url`) and
`/#/experiments/<id>/runs/<run id>` (one run, with its `<task>/<metric>` metrics).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
STOP_GRACE_S = 10.0  # after Ctrl-C, how long the server gets to shut down before SIGTERM/SIGKILL
# The UI's query parameter that picks its workflow, and the value for "Model training"
# (the other is "genai", its default): see `landing_url`.
WORKFLOW_PARAM, MODEL_TRAINING = "workflowType", "machine_learning"


def ui_url(host: str, port: int) -> str:
    """The base URL of the UI (a wildcard bind address is reached through localhost)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def landing_url(base: str, experiment_id: str) -> str:
    """Where `lowbase ui` sends you: the experiment's runs table in MLflow's "Model training"
    workflow (`?workflowType=machine_learning`), not its default "GenAI" one.

    MLflow 3.17's UI has one global workflow, "GenAI" or "Model training" (the switch at the
    top of its sidebar), and it alone decides what the sidebar offers: in "GenAI", an
    experiment's entries are Overview, Traces, Sessions, Judges, Datasets, Evaluation runs,
    Prompts, Agent versions, and the home page has Prompts, MCP registry and AI Gateway; in
    "Model training", an experiment's are Runs, Models, Traces, and the home page has the
    Model registry. The choice is made in the browser, by the workflow-type provider of the
    bundle (`mlflow/server/js/build/static/js/main.*.js`, webpack module 7975; grep it for
    `key:"mlflow.workflowType"`; abridged, the hooks' minified names spelled out)::

        let l = {GENAI: "genai", MACHINE_LEARNING: "machine_learning"};
        const c = l.GENAI,
        [n, d] = useLocalStorage({key: "mlflow.workflowType", version: 1, initialValue: c}),
        [p] = useSearchParams(),
        h = ((e, t) => { const n = e.get("workflowType");
                         return n === l.GENAI || n === l.MACHINE_LEARNING ? n : t })(p, n)

    that is: the URL's `workflowType` query parameter when it names a workflow, else the
    choice stored in the browser's localStorage (`mlflow.workflowType_v1`, written only by
    the sidebar switch), else "genai". Nothing else decides it: the server has no such
    setting (`build_server_info_payload` in `mlflow/server/handlers.py` tells the UI nothing
    of the kind, and `index.html` is served as built), and the experiment's
    `mlflow.experimentKind` tag (`bench.run.tracking.EXPERIMENT_KIND`) is read only when
    workflow-based navigation is off (module 31080: `n ? m(workflowType) : <the tag>`),
    which this build hard-codes on (module 89511, `Z0: () => !0`). A server-side default is
    thus out of reach and the parameter is the one lever: the experiment's sidebar links
    carry it on (module 17673 keeps `workflowType` in their query), so its Runs, Models and
    Traces pages stay in "Model training". Links that leave for another page drop it and
    the browser's stored choice applies again (GenAI until changed): the home page, the
    experiment list, and the run names in the runs table (`#/experiments/<id>/runs/<run id>`).
    Choosing "Model training" with the switch stores it for that browser for good; the
    switch ignores a click on the workflow already shown, so on a page opened with the
    parameter, click "GenAI" and then "Model training"."""
    return f"{base}/#/experiments/{experiment_id}/runs?{WORKFLOW_PARAM}={MODEL_TRAINING}"


def ui_command(uri: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The command line of the MLflow tracking server + UI for the store at `uri` (MLflow
    3.17: `mlflow server --backend-store-uri URI --host HOST --port PORT --workers N`)."""
    if not uri:
        raise ValueError("uri: empty tracking store URI")
    if not 0 < int(port) < 65536:
        raise ValueError(f"port: {port} is not a TCP port (1..65535)")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(int(port)),
        "--workers",
        "1",
    ]


def ui_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment to run `ui_command` in: `base` (default: this process's) with MLflow's
    server-side job execution off unless the caller set `MLFLOW_SERVER_ENABLE_JOB_EXECUTION`."""
    env = dict(os.environ if base is None else base)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def wait_until_up(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` (e.g. `<ui_url>/health`) until it answers HTTP 200. Raises TimeoutError
    after `timeout` seconds, or RuntimeError at once if `proc` (the server) has exited."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the MLflow server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            last = str(getattr(err, "reason", err))
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s (last: {last})")
        time.sleep(0.25)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the server's whole process group (the `mlflow server` process and the
    uvicorn worker it starts), or to the process alone when it has no group of its own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> int:
    """Stop a server we started: SIGINT (what Ctrl-C sends), then SIGTERM, then SIGKILL, each
    after `grace` seconds, to its whole process group. Returns its exit code. Whatever is
    left of the group once the server process has gone (a worker it did not reap) is
    killed: nothing keeps the port."""
    code = None
    for sig in (signal.SIGINT, signal.SIGTERM):
        if proc.poll() is not None:
            code = proc.returncode
            break
        _signal_group(proc, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(grace)
            break
    if code is None:
        _signal_group(proc, signal.SIGKILL)
        code = proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader only through stragglers
    return code


class _Stopped(Exception):
    """SIGTERM or SIGHUP reached `lowbase ui` (kill, systemd, docker, a CI runner, a closed
    terminal): stop the server as Ctrl-C would."""


@contextlib.contextmanager
def _stop_on_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into `_Stopped` while the server runs (main thread only:
    Python delivers signals there), restoring the previous handlers afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Stopped(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def serve(
    uri: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    timeout: float = 60.0,
) -> int:
    """Run the MLflow UI for `uri` in the foreground until it exits, Ctrl-C, SIGTERM or
    SIGHUP. Calls `on_ready(url)` once it answers (e.g. to print the address). The server
    runs in a process group of its own, so a stop reaches its uvicorn worker too: on any of
    the three it gets SIGINT and `STOP_GRACE_S` to shut down before SIGTERM, then SIGKILL.
    Returns the server's exit code, or 0 when stopped on request."""
    with _stop_on_termination():
        proc = subprocess.Popen(ui_command(uri, host, port), env=ui_env(), start_new_session=True)
        try:
            if on_ready is not None:
                try:
                    wait_until_up(ui_url(host, port) + "/health", timeout, proc)
                except RuntimeError:
                    return proc.wait()
                on_ready(ui_url(host, port))
            return proc.wait()
        except (KeyboardInterrupt, _Stopped):
            stop(proc)
            return 0
        finally:
            if proc.poll() is None:  # any other way out (an exception, TimeoutError): no orphan server
                stop(proc)
