"""`lowbase ui`: the MLflow UI on the local tracking store, in the foreground.

The UI is MLflow's own tracking server (`mlflow server`, the same as `mlflow ui` in MLflow 3)
run by this interpreter (`python -m mlflow`, so it works without the venv on PATH) against
the store `lowbase run` logs to (`bench.tracking.tracking_uri()`: `sqlite:///mlflow.db` under
the working directory unless `MLFLOW_TRACKING_URI` says otherwise). One worker: it serves one
person's local store. MLflow 3.17's server also starts a GenAI job runner by default (seven
`huey` consumer processes and a `/dev/shm` queue directory, for LLM-judge jobs lowbase never
submits); `ui_env` turns it off, which halves start-up on a small machine and lets Ctrl-C
stop the server in about a second instead of twenty. Pages worth opening once it is up:
`/#/experiments/<id>/runs` (the runs of an experiment) and
`/#/experiments/<id>/runs/<run id>` (one run, with its `<task>/<metric>` metrics).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
STOP_GRACE_S = 10.0  # after Ctrl-C, how long the server gets to shut down before SIGTERM/SIGKILL


def ui_url(host: str, port: int) -> str:
    """The base URL of the UI (a wildcard bind address is reached through localhost)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


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


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> int:
    """Stop a server we started: SIGINT (what Ctrl-C sends), then SIGTERM, then SIGKILL, each
    after `grace` seconds. Returns its exit code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if proc.poll() is not None:
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(grace)
    proc.kill()
    return proc.wait()


def serve(
    uri: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    timeout: float = 60.0,
) -> int:
    """Run the MLflow UI for `uri` in the foreground until it exits or Ctrl-C. Calls
    `on_ready(url)` once it answers (e.g. to print the address). Ctrl-C reaches the server
    too (same process group, and forwarded in case it was sent to us alone); it then gets
    `STOP_GRACE_S` to shut down before being terminated. Returns the server's exit code, or
    0 when stopped by Ctrl-C."""
    proc = subprocess.Popen(ui_command(uri, host, port), env=ui_env())
    try:
        if on_ready is not None:
            try:
                wait_until_up(ui_url(host, port) + "/health", timeout, proc)
            except RuntimeError:
                return proc.wait()
            on_ready(ui_url(host, port))
        return proc.wait()
    except KeyboardInterrupt:
        stop(proc)
        return 0
    finally:
        if proc.poll() is None:  # any other way out (an exception, TimeoutError): no orphan server
            stop(proc)
