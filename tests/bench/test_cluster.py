"""`--dask`: parsing, bad values exit 2 naming it, no Dask import without it, and the run
pipeline generating through the run's cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from bench.cli.app import app
from bench.errors import ClusterError
from bench.setup.cluster import DaskSpec, parse_dask
from bench.setup.config import make_run_config, run_name
from bench.setup.datasets import cached_dataset
from models.distributed import use_client
from tests.conftest import small_scenario

runner = CliRunner()


@pytest.mark.parametrize(
    "value, spec",
    [
        (None, None),
        ("local:2", DaskSpec(2, None)),
        ("tcp://10.0.0.5:8786", DaskSpec(None, "tcp://10.0.0.5:8786")),
        ("scheduler.internal:8786", DaskSpec(None, "scheduler.internal:8786")),
    ],
)
def test_parse(value, spec):
    assert parse_dask(value) == spec


@pytest.mark.parametrize("value", ["local", "local:0", "local:x", "local:999", "nohost", "tcp://x", "a b:1"])
def test_parse_rejects(value):
    with pytest.raises(ClusterError, match="--dask"):
        parse_dask(value)


@pytest.mark.parametrize(
    "cmd",
    [
        ["generate", "--out", "x"],
        ["train", "--data", "x", "--model", "rules", "--out", "y"],
        ["evaluate", "--data", "x", "--model", "y"],
        ["run"],
    ],
)
def test_bad_dask_exits_2_naming_it(cmd, tmp_path):
    r = runner.invoke(app, [*cmd, "--dask", "local:zero"])
    assert r.exit_code == 2, r.output
    assert "--dask" in r.output


@pytest.mark.slow
def test_no_dask_import_without_the_option(small_dir, tmp_path):
    """generate and train (LightGBM included) in a fresh interpreter: Dask never loads."""
    code = textwrap.dedent(
        f"""
        import sys
        from bench.cli.app import app
        for args in (["generate", "--accounts", "500", "--out", {str(tmp_path / "ds")!r}, "--quiet"],
                     ["train", "--data", {str(small_dir)!r}, "--model", "gbdt-raw", "--out", {str(tmp_path / "m")!r}]):
            try:
                app(args, standalone_mode=False)
            except SystemExit as e:
                assert not e.code, e.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


def test_run_config_dask_changes_no_identity():
    """--dask says where work runs, not what: run names and sweep hashes stay the same."""
    plain = make_run_config(models=("rules",))
    on_dask = make_run_config(models=("rules",), dask="local:2")
    assert on_dask.dask == "local:2"
    assert on_dask.model_dump() == plain.model_dump()
    scn = small_scenario()
    assert run_name(on_dask, scn) == run_name(plain, scn)
    with pytest.raises(Exception, match="dask"):
        make_run_config(dask="local:0")


@pytest.mark.slow
def test_run_pipeline_generates_on_the_cluster(dask_client, small_dir, tmp_path):
    """The run's dataset step (cached_dataset) uses the run's client: same fingerprint."""
    with use_client(dask_client):
        ds = cached_dataset(small_scenario(), 7, tmp_path, 1, lambda _: None)
    ref = json.loads((small_dir / "dataset.json").read_text())["fingerprint"]
    assert ds.meta["fingerprint"] == ref


@pytest.mark.slow
def test_generate_cli_on_local_cluster(tmp_path):
    """`lowbase generate --dask local:2` end to end: the fingerprint of `--workers 1`."""
    prints = []
    for name, extra in (("one", ["--workers", "1"]), ("dask", ["--dask", "local:2"])):
        out = tmp_path / name
        args = ["generate", "--accounts", "2000", "--seed", "3", "--out", str(out), "--quiet", *extra]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        prints.append(json.loads((out / "dataset.json").read_text())["fingerprint"])
    assert prints[0] == prints[1]


class _Server:
    """A TCP listener on localhost that answers every connection with `reply` (None: says
    nothing and keeps the connection open, like an HTTP server waiting for a request)."""

    def __init__(self, reply: bytes | None):
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply is not None:
                conn.sendall(self.reply)
                conn.close()

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize(
    "reply, needle",
    [
        (None, "no Dask handshake within"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a Dask scheduler"),
        (b"", "closed before a Dask handshake"),
    ],
)
def test_a_service_that_is_not_a_scheduler_is_refused_quickly(reply, needle):
    import time

    from bench.errors import ClusterError
    from bench.setup.cluster import probe_scheduler

    server = _Server(reply)
    try:
        start = time.perf_counter()
        with pytest.raises(ClusterError, match=needle):
            probe_scheduler(server.address, timeout=1.0)
        assert time.perf_counter() - start < 5
    finally:
        server.close()


def test_nothing_listening_is_refused():
    import socket

    from bench.errors import ClusterError
    from bench.setup.cluster import probe_scheduler

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match="no Dask scheduler answered"):
        probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=1.0)


def test_a_real_scheduler_passes_the_probe(dask_client):
    from bench.setup.cluster import probe_scheduler

    probe_scheduler(dask_client.scheduler.address)


def test_a_pinned_run_is_named_apart_from_a_native_one(monkeypatch):
    """The kernels change DEC's figures, so a pinned run never overwrites a native one; a
    native run keeps the name runs had before the pin existed."""
    import hashlib
    import json

    from common import kernels

    cfg, scn = make_run_config(models=("rules",)), small_scenario()
    pinned = run_name(cfg, scn)
    for key in kernels.PIN_ENV:
        monkeypatch.delenv(key)
    native = run_name(cfg, scn)
    assert pinned != native
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    assert native == f"{scn.name}-s{cfg.seed}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def test_certify_refuses_a_service_that_is_not_a_scheduler_before_any_work(small_dir, tmp_path, monkeypatch):
    """Certify does its training world's work before it connects; the address is checked
    first, so nothing of that work starts (no progress line, no work directory)."""
    from typer.testing import CliRunner

    from bench.cli.app import app

    server = _Server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        args = ["certify", "--model", str(tmp_path / "no-model"), "--data", str(small_dir), "--no-mlflow",
                "--workdir", str(tmp_path / "w"), "--dask", server.address]  # fmt: skip
        res = CliRunner().invoke(app, args)
    finally:
        server.close()
    assert res.exit_code == 2 and "not a Dask scheduler" in res.output
    assert "training world" not in res.output and not (tmp_path / "w").exists()
