"""A store that cannot be used is found before any work: exit 2 naming it, within seconds."""

import time

import pytest
from typer.testing import CliRunner

from bench.cli.app import app
from bench.errors import TrackingStoreError
from bench.run.tracking import setup


@pytest.mark.parametrize(
    "uri, needle",
    [
        ("file:///tmp/lowbase-no-file-store", "scheme 'file' is not supported"),
        ("mlruns", "scheme 'file' is not supported"),
        ("foo://x", "scheme 'foo' is not supported"),
    ],
)
def test_unsupported_schemes_are_refused(uri, needle):
    with pytest.raises(TrackingStoreError, match=needle):
        setup(uri)


def test_a_corrupt_database_is_refused_naming_it(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TrackingStoreError, match="cannot be opened") as exc:
        setup(f"sqlite:///{db}")
    assert str(db) in str(exc.value)


def test_a_server_that_does_not_answer_is_reported_in_seconds():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there
    start = time.perf_counter()
    with pytest.raises(TrackingStoreError, match="cannot be opened"):
        setup(f"http://127.0.0.1:{port}")
    assert time.perf_counter() - start < 30


def test_commands_that_log_check_the_store_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///nowhere")
    r = CliRunner().invoke(app, ["ceiling", "--accounts", "1000", "--workdir", str(tmp_path)])
    assert r.exit_code == 2 and "not supported" in r.output
    assert not (tmp_path / "datasets").exists(), "no world was generated"
