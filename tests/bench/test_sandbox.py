"""The plugin sandbox on the tiny suite: a plugin hunting for truth on disk finds nothing it
can read while its honest scores make an entry, it writes nowhere but its temporary
directory, nothing it sends is unpickled, `--trust-plugin` and the refusal without a
sandbox, and a built-in plugin scores the same sandboxed and in this process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from bench.cli.app import app
from bench.errors import SubmissionError
from bench.leaderboard import sandbox
from bench.leaderboard.harness import Plugin, run_plugin
from bench.leaderboard.scoring import frames
from bench.leaderboard.suite import load_suite, open_prepared
from tests.bench.test_leaderboard import make_world, opts, submission
from tests.bench.test_leaderboard_powered import PLUGIN

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def _abi() -> int:
    try:
        return sandbox.landlock_abi()
    except sandbox.SandboxUnavailable:
        return 0


needs_landlock = pytest.mark.skipif(_abi() == 0, reason="no Landlock on this kernel: nothing can be sandboxed")

HUNTER = '''
import json, os, pickle, socket, tempfile
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pandas as pd

KNOWN = {known!r}  # every evaluation table and dataset card of the suite, and the roots
PORT = {port}
MARKER = {marker!r}
EVALUATION = ("truth.parquet", "harm_events.parquet", "dataset.json")
REPORT = {{}}


def _read(p, report):
    try:
        with open(p, "rb") as f:
            f.read(8)
        report["read"].append(str(p))
    except OSError:
        report["denied"] += 1


def _walk(top, report, found):
    n = 0
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in (".venv", ".git", "mlruns", "__pycache__")]
        n += len(files)
        found.update(Path(root) / f for f in files if f in EVALUATION)
        if n > 20000:
            break
    report["walked"] += n


def hunt(data):
    """Every way a plugin might reach truth on this machine; what worked is recorded."""
    if REPORT:
        return REPORT
    r = REPORT
    r.update(read=[], denied=0, walked=0, wrote=[], parent_readable=[], fds=[], net=None, tmp_ok=False)
    found = {{Path(p) for p in KNOWN["files"]}}
    mapped = {{Path(line.split()[-1]).parent for line in open("/proc/self/maps") if "/" in line}}
    r["maps"] = len(mapped)
    for fd in os.listdir("/proc/self/fd"):
        try:
            r["fds"].append(os.readlink(f"/proc/self/fd/{{fd}}"))
        except OSError:
            pass
    ppid = os.getppid()
    for what in ("maps", "environ", "mem", "fd"):
        try:
            (os.listdir if what == "fd" else lambda p: open(p, "rb").read(8))(f"/proc/{{ppid}}/{{what}}")
            r["parent_readable"].append(what)
        except OSError:
            pass
    here = Path(data.view._dataset.path)  # the dataset's directory, through a private attribute
    found.update(here / f for f in EVALUATION)
    for top in {{tempfile.gettempdir(), str(Path(tempfile.gettempdir()).parent), str(here), *map(str, here.parents),
                *KNOWN["roots"], *(str(d) for d in mapped)}}:
        _walk(top, r, found)
    for p in sorted(found):
        _read(p, r)
    r["found"] = len(found)
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
        r["net"] = "connected"
    except OSError as e:
        r["net"] = e.errno
    for p in (here / "x", Path(__file__).parent / "x", Path(tempfile.gettempdir()).parent / "x",
              *(Path(d) / "x" for d in (*KNOWN["roots"], KNOWN["home"]))):
        try:
            p.write_text("x")
            r["wrote"].append(str(p))
        except OSError:
            pass
    Path(tempfile.gettempdir(), "scratch").write_text("ok")
    r["tmp_ok"] = Path(tempfile.gettempdir(), "scratch").read_text() == "ok"
    return r


def _scores(data):
    x = data.features.X[:, :3].sum(axis=1)
    return pd.concat([pd.DataFrame({{"account_id": np.arange(data.n), "task": t, "score": x}}) for t in data.tasks],
                     ignore_index=True)


class Hunter:
    """Hunts, refuses to go on if it read anything it should not have, then scores honestly."""

    def fit(self, data, seed):
        r = hunt(data)
        if r["read"] or r["wrote"] or r["net"] == "connected" or r["parent_readable"]:
            raise RuntimeError("LEAKED " + json.dumps(r))

    def predict_scores(self, data):
        return _scores(data)


class Reporter(Hunter):
    """Sends the whole hunt back as its error."""

    def fit(self, data, seed):
        raise RuntimeError("REPORT " + json.dumps(hunt(data)))


class Evil:
    def __reduce__(self):
        return (Path.write_text, (Path(MARKER), "unpickled by the harness"))


class ReturnsEvil(Hunter):
    def predict_scores(self, data):
        return Evil()


class Quitter(Hunter):
    def fit(self, data, seed):
        os._exit(3)


class Smuggler(Hunter):
    """Writes a pickle straight onto its socket to the harness, then answers normally."""

    def predict_scores(self, data):
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{{fd}}").startswith("socket:"):
                    Connection(os.dup(int(fd))).send(Evil())
            except OSError:
                pass
        return _scores(data)
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(tmp_path_factory.mktemp("sbx"))
    root = Path(w["root"])
    w["evaluation"] = sorted(str(p) for n in ("truth.parquet", "harm_events.parquet", "dataset.json")
                             for p in root.rglob(n))  # fmt: skip
    assert len(w["evaluation"]) == 15  # 5 datasets and worlds x 3
    return w


@pytest.fixture(scope="module")
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def hunter_dir(base: Path, world, listener, cls: str) -> Path:
    known = {"files": world["evaluation"], "roots": [str(world["root"]), str(world["base"]), str(REPO)],
             "home": str(Path.home())}  # fmt: skip
    d = submission(base, None, {"name": f"hunter {cls}", "plugin": f"src/hunt.py:{cls}"})
    (d / "src").mkdir(exist_ok=True)
    marker = str(base / "marker")
    (d / "src" / "hunt.py").write_text(HUNTER.format(known=known, port=listener.getsockname()[1], marker=marker))
    return d


def _suite(world):
    s = load_suite(world["suite"])
    ds = open_prepared(s, world["root"])
    return s, ds, frames(s, ds)


@needs_landlock
def test_a_hunting_plugin_reads_no_truth_and_its_honest_entry_is_made(world, listener, tmp_path):
    d = hunter_dir(tmp_path, world, listener, "Hunter")
    entries = tmp_path / "entries"
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 0, r.output
    assert "LEAKED" not in r.output
    e = json.loads((entries / "hunter-hunter.json").read_text())
    assert e["sandbox"] == f"landlock-abi-{_abi()}" and sorted(e["figures"]) == ["drift", "groomer",
                                                                                  "groomer-sealed", "spam"]  # fmt: skip
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)])
    assert r.exit_code == 0, r.output


@needs_landlock
def test_what_the_hunt_saw_truth_found_but_unreadable_no_write_no_network_no_inherited_fd(world, listener, tmp_path):
    """The hunt's own report: it found every evaluation table (paths are no secret) and read
    none; the harness's open file on a truth table (even inheritable) is not in the child."""
    d = hunter_dir(tmp_path, world, listener, "Reporter")
    s, ds, fr = _suite(world)
    truth = Path(world["evaluation"][0]).with_name("truth.parquet")
    held = os.open(truth, os.O_RDONLY)
    os.set_inheritable(held, True)
    try:
        with pytest.raises(SubmissionError, match="REPORT") as err:
            run_plugin(Plugin(d / "src" / "hunt.py", "Reporter"), s, ds, fr, [0], "hunter")
    finally:
        os.close(held)
    r = json.loads(str(err.value).split("REPORT ", 1)[1])
    assert r["read"] == [] and r["denied"] >= r["found"] >= 15
    assert r["maps"] > 0 and r["walked"] > 0  # it did look: /proc/self/maps, listable directories
    assert r["parent_readable"] == []  # /proc/<harness>/maps, environ, mem, fd: refused
    assert r["fds"] and not [f for f in r["fds"] if str(world["root"]) in f or f.endswith(".parquet")]
    assert r["net"] == 13  # EACCES: TCP connect refused by Landlock
    assert r["wrote"] == [] and r["tmp_ok"]
    assert not list(tmp_path.glob("**/x"))


@needs_landlock
@pytest.mark.parametrize("cls", ["ReturnsEvil", "Smuggler"])
def test_nothing_the_plugin_sends_is_unpickled(world, listener, tmp_path, cls):
    d = hunter_dir(tmp_path, world, listener, cls)
    s, ds, fr = _suite(world)
    needle = "must return a DataFrame" if cls == "ReturnsEvil" else "malformed reply"
    with pytest.raises(SubmissionError, match=needle):
        run_plugin(Plugin(d / "src" / "hunt.py", cls), s, ds, fr, [0], "evil")
    assert not (tmp_path / "marker").exists()


@needs_landlock
def test_a_plugin_whose_process_dies_is_refused_and_leaves_nothing(world, listener, tmp_path, monkeypatch):
    d = hunter_dir(tmp_path, world, listener, "Quitter")
    s, ds, fr = _suite(world)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "own"))
    (tmp_path / "own").mkdir()
    with pytest.raises(SubmissionError, match=r"the plugin's process ended \(exit code 3\) while fitting"):
        run_plugin(Plugin(d / "src" / "hunt.py", "Quitter"), s, ds, fr, [0], "quitter")
    assert not list((tmp_path / "own").iterdir())  # its temporary directory is gone


def test_the_view_only_reader_never_touches_evaluation_tables(world, tmp_path):
    """A dataset without its truth and harm events opens view-only, the same tables as the
    full reader's view; its card keeps nothing derived from truth."""
    import shutil

    from data_gen.contract import OBSERVABLE
    from data_gen.reader import DatasetError, model_card, open_dataset, open_view_only

    src = Path(world["root"]) / "tiny-v2" / "base"
    d = tmp_path / "base"
    shutil.copytree(src, d)
    for name in ("truth.parquet", "harm_events.parquet"):
        (d / name).unlink()
    with pytest.raises(DatasetError, match="truth.parquet: missing"):
        open_dataset(d)
    full = open_dataset(src)
    for card in (None, model_card(full.meta)):
        view = open_view_only(d, "sealed_sender", card=card)
        assert all(view.table(t).equals(full.view("sealed_sender").table(t)) for t in OBSERVABLE)
        assert view.fingerprint == full.meta["fingerprint"] and set(view.rows) == set(OBSERVABLE)
        assert not {"positives", "base_rates", "label_quality", "seed"} & set(view._dataset.meta)
        with pytest.raises(DatasetError, match="not a model-visible table"):
            view._dataset.table("truth")
    (d / "accounts.parquet").write_bytes(b"x")
    with pytest.raises(DatasetError, match="accounts.parquet"):
        open_view_only(d)


def test_scores_come_back_as_checked_arrow_only():
    import pickle

    good = pa.table({"account_id": [0, 1], "task": ["spam", "spam"], "score": [0.5, 0.25]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, good.schema) as w:
        w.write_table(good)
    df = sandbox.decode_scores(sink.getvalue().to_pybytes(), "x")
    assert df["account_id"].tolist() == [0, 1] and df["score"].tolist() == [0.5, 0.25]
    with pytest.raises(SubmissionError, match="unreadable scores"):
        sandbox.decode_scores(pickle.dumps(pd.DataFrame({"a": [1]})), "x")
    bad = pa.table({"account_id": [0.0], "task": ["spam"], "score": [0.5]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, bad.schema) as w:
        w.write_table(bad)
    with pytest.raises(SubmissionError, match="account_id \\(integer\\)"):
        sandbox.decode_scores(sink.getvalue().to_pybytes(), "x")


def test_the_rules_grant_model_visible_tables_file_by_file_only(world, tmp_path):
    s, ds, _ = _suite(world)
    dirs = sorted({Path(d.path).resolve() for d in ds.values()})
    rules = sandbox.grants(tmp_path, dirs, tmp_path / "tmp")
    inside = [(p, r) for p, r in rules if any(Path(p).is_relative_to(d) for d in dirs)]
    assert len(inside) == 10 * len(dirs) and all(r == sandbox.READ_FILE for _, r in inside)
    assert not {Path(p).name for p, _ in inside} & {"truth.parquet", "harm_events.parquet", "dataset.json"}
    assert not [p for p, r in rules if r & sandbox.READ_FILE and any(d.is_relative_to(p) for d in dirs)]
    # A directory the plugin must read that holds the datasets is refused.
    with pytest.raises(SubmissionError, match="holds the suite's datasets"):
        sandbox.grants(Path(world["base"]), dirs, tmp_path / "tmp")


def test_no_sandbox_is_refused_naming_trust_plugin_which_runs_in_process(world, tmp_path, monkeypatch):
    def unavailable() -> int:
        raise sandbox.SandboxUnavailable("the kernel has no Landlock (simulated)")

    monkeypatch.setattr(sandbox, "landlock_abi", unavailable)
    d = submission(tmp_path, None, {"name": "first features", "plugin": "p.py:FirstFeatures"})
    (d / "p.py").write_text(PLUGIN)
    entries = tmp_path / "entries"
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *opts(world, entries), "--no-mlflow"])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "--trust-plugin" in out and "(simulated)" in out and not entries.exists()
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *opts(world, entries), "--no-mlflow", "--trust-plugin"])
    assert r.exit_code == 0, r.output
    assert json.loads((entries / "first-features.json").read_text())["sandbox"] == "none"
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries), "--fresh-seeds", "1"])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "--trust-plugin" in out and not (Path(world["root"]) / "tiny-v2" / "fresh-0").exists()


@needs_landlock
def test_a_built_in_plugin_scores_the_same_sandboxed_and_in_process(world):
    s, ds, fr = _suite(world)
    path = REPO / "leaderboard" / "submissions" / "gbdt-raw" / "model.py"
    (boxed,) = run_plugin(Plugin(path, "Model"), s, ds, fr, [1], "gbdt-raw")
    (trusted,) = run_plugin(Plugin(path, "Model", trusted=True), s, ds, fr, [1], "gbdt-raw")
    assert boxed.keys() == trusted.keys() and len(boxed) == 5  # spam: spam, fake; groomer x2; drift
    for key, parts in trusted.items():
        assert boxed[key].keys() == parts.keys()
        for part, scores in parts.items():
            assert np.array_equal(boxed[key][part], scores), (key, part)
