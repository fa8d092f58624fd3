"""A plugin in a process of its own that can read nothing but what the model API grants.

A plugin is code from outside, and the suite's datasets and evaluation worlds sit on the same
filesystem with their `truth.parquet`. `Sandbox` runs the plugin in a fresh interpreter (no
memory of the harness, no file descriptor of it but one socket, an environment without its
credentials) that confines itself with Landlock (landlock.py) before it imports the plugin,
by the rules of `grants`:

- read and execute: the Python installation (its prefixes), the packages the harness has
  imported and those in its other sys.path directories (which are listed, not read), /usr,
  /lib, /lib64, /bin, /sbin, and the plugin's own directory;
- read: the few files of /etc, /proc and /sys the loader and the libraries read, and the
  process's own /proc entry (never another process's: its environment, its open files);
  /dev/null, /dev/zero, /dev/urandom, /dev/random;
- read, file by file: the model-visible tables of each dataset and world given, never a
  dataset directory, its card, `truth` or `harm_events`;
- write: one private temporary directory (TMPDIR and HOME), removed when the sandbox closes;
- Landlock ABI >= 4: no TCP bind or connect; ABI >= 6: no abstract unix socket and no
  signal reaching outside the sandbox.

The harness sends commands (pickled: the harness is trusted). The plugin's process answers with
bytes that are never unpickled: a one-byte tag, then Arrow IPC (scores, `decode_scores`) or
UTF-8 text (an error).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

from bench.errors import SubmissionError
from bench.leaderboard.landlock import (
    EXECUTE,
    READ,
    READ_DIR,
    READ_FILE,
    RX,
    TMP_RIGHTS,
    TRUNCATE,
    WRITE_FILE,
    SandboxUnavailable,
    die_with_parent,
    landlock_abi,
    restrict,
)


class PluginFailure(Exception):
    """The plugin's code raised: its type and message, as text."""


# ---------------------------------------------------------------- what the plugin may touch

SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
# Of /etc, /proc and /sys only what the loader and the libraries read (the process's own
# /proc/PID is granted in it): not another process's /proc entry (its environment, its open
# files' names), nor /etc at large (credentials live there).
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd", "group", "nsswitch.conf",
       "hosts", "host.conf", "os-release", "mime.types", "locale.alias", "ssl/openssl.cnf", "ssl/certs")  # fmt: skip
SYSTEM_READ = ("/proc/cpuinfo", "/proc/stat", "/proc/meminfo", "/proc/loadavg", "/proc/sys/vm/overcommit_memory",
               "/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/fs/cgroup",
               "/sys/kernel/mm/transparent_hugepage")  # fmt: skip
DEVICES = (("/dev/null", READ_FILE | WRITE_FILE | TRUNCATE), ("/dev/zero", READ_FILE),
           ("/dev/urandom", READ_FILE), ("/dev/random", READ_FILE))  # fmt: skip
# What of the harness's environment the plugin's process gets: locale, Python and thread
# settings; never credentials. HOME and TMPDIR are its own directory.
ENV_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "VIRTUAL_ENV")
ENV_PREFIXES = ("LC_", "PYTHON", "OMP_", "MKL_", "OPENBLAS_", "KMP_", "NUMEXPR_", "TORCH_", "CUDA_")
EVALUATION_FILES = ("truth.parquet", "harm_events.parquet")
MODULE_SUFFIXES = (*importlib.machinery.all_suffixes(), ".pth")
SCAN_LIMIT = 20_000  # entries walked to vouch for a package directory; beyond, it is not granted


def _prefixes() -> set[Path]:
    return {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix)}


def _evaluation_file(directory: Path) -> str | None:
    """The first evaluation table under `directory`, or why it cannot be vouched for; None
    when there is none."""
    seen = 0
    for root, dirs, files in os.walk(directory):
        seen += len(dirs) + len(files)
        if hit := next((f for f in files if f in EVALUATION_FILES), None):
            return str(Path(root) / hit)
        if seen > SCAN_LIMIT:
            return f"more than {SCAN_LIMIT} entries under {directory}"
    return None


def grants(plugin_dir: Path, dataset_dirs: list[Path], tmp: Path) -> list[tuple[str, int]]:
    """The Landlock rules (path, rights) of a plugin reading `dataset_dirs` and writing `tmp`.
    Refused (SubmissionError) where a directory the plugin cannot do without holds a dataset
    or an evaluation table."""

    def near(p: Path) -> bool:  # holds a dataset, or lies inside one
        return any(p.is_relative_to(d) or d.is_relative_to(p) for d in dataset_dirs)

    whole = [*sorted(_prefixes()), *map(Path, SYSTEM_DIRS), plugin_dir]
    for p in [*whole, Path("/etc")]:
        if p.exists() and near(p):
            raise SubmissionError(f"{p}: the plugin must read this directory, and it holds the suite's datasets: "
                                  "prepare them elsewhere (--root) or move the plugin")  # fmt: skip
    rules = [(str(p), RX) for p in whole]
    if (hit := _evaluation_file(plugin_dir)) is not None:
        raise SubmissionError(f"plugin directory {plugin_dir}: holds an evaluation table or too much to check ({hit})")
    rules += _python_path(near)
    rules += [(f"/etc/{name}", READ) for name in ETC] + [(p, READ) for p in SYSTEM_READ] + list(DEVICES)
    rules += [(str(d / f"{t}.parquet"), READ_FILE) for d in dataset_dirs for t in _observable()]
    rules.append((str(tmp), TMP_RIGHTS))
    return rules


def _observable() -> tuple[str, ...]:
    from data_gen.contract import OBSERVABLE

    return OBSERVABLE


def _python_path(near: Callable[[Path], bool]) -> list[tuple[str, int]]:
    """sys.path and the packages imported so far: inside the installation already granted;
    other sys.path directories listed (what import needs to look there), each package in
    them and each imported package granted whole unless it holds a dataset or an
    evaluation table."""
    prefixes = _prefixes()
    rules: list[tuple[str, int]] = []
    packages: list[Path] = []
    for entry in sys.path:
        p = Path(entry or os.getcwd()).resolve()
        if not p.is_dir() or any(p.is_relative_to(x) for x in prefixes):
            continue
        rules.append((str(p), READ_DIR))
        for child in sorted(p.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() and (child / "__init__.py").is_file():
                packages.append(child)
            elif child.is_file() and child.name.endswith(MODULE_SUFFIXES) and not near(child):
                rules.append((str(child), READ_FILE | EXECUTE))
    for name, module in list(sys.modules.items()):
        if "." not in name and module is not None:
            packages += [Path(loc).resolve() for loc in getattr(module, "__path__", None) or []]
    for p in dict.fromkeys(packages):
        inside = any(p.is_relative_to(x) for x in prefixes)
        if p.is_dir() and not inside and not near(p) and _evaluation_file(p) is None:
            rules.append((str(p), RX))
    return rules


# ---------------------------------------------------------------- the plugin's process

OK, ERROR, REFUSED, SCORES = b"K", b"E", b"R", b"O"  # reply tags
MAX_TEXT = 4000  # characters of an error's text that come back
BOOT = "import sys; fd = int(sys.argv[1]); sys.path[:] = sys.argv[2:]; " \
       "from bench.leaderboard.sandbox import child_main; child_main(fd)"  # fmt: skip


def load_plugin(path: Path, cls: str) -> Callable[[], object]:
    """The plugin class from its file. Importing runs the submitter's code: in the harness's
    own process only for a plugin run with --trust-plugin; otherwise in a `Sandbox`."""
    name = f"lowbase_plugin_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"plugin {path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any failure of foreign code is the submission's
        raise SubmissionError(f"plugin {path}: import failed: {type(e).__name__}: {e}") from None
    klass = getattr(module, cls, None)
    if klass is None:
        raise SubmissionError(f"plugin {path}: no class '{cls}'")
    missing = [m for m in ("fit", "predict_scores") if not callable(getattr(klass, m, None))]
    if missing:
        raise SubmissionError(f"plugin {path}:{cls}: missing method(s) {', '.join(missing)} of the model protocol")
    return klass


def _text(e: BaseException) -> str:
    return str(e) if isinstance(e, SubmissionError) else f"{type(e).__name__}: {e}"


def _answer(conn: Connection, tag: bytes, body: bytes | str) -> None:
    conn.send_bytes(tag + (body[:MAX_TEXT].encode("utf-8", "replace") if isinstance(body, str) else body))


def child_main(fd: int) -> None:
    """The plugin's process: confine itself, load the plugin, answer the harness until it
    says exit or goes away."""
    conn = Connection(fd)
    try:
        init = conn.recv()  # the harness's messages are the only pickles read, and only here
        abi = _confine(init)
        factory = load_plugin(Path(init["plugin"]), init["cls"])
    except Exception as e:  # noqa: BLE001 - reported to the harness as text
        _answer(conn, ERROR, _text(e))
        return
    _answer(conn, OK, str(abi))
    fitted: dict = {}
    last: list = [None, None]  # (key, ModelInput) of the dataset read last
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg["cmd"] == "exit":
            return
        try:
            tag, body = _command(msg, factory, fitted, last)
        except Exception as e:  # noqa: BLE001 - the plugin's failure, reported as text
            tag, body = ERROR, _text(e)
        _answer(conn, tag, body)


def _confine(init: dict) -> int:
    """Everything before the plugin's first line: its own temporary directory, no core
    dumps, death with the harness, then Landlock, while this process has one thread."""
    import resource

    tmp = init["tmp"]
    for key in ("TMPDIR", "TMP", "TEMP"):
        os.environ[key] = tmp
    tempfile.tempdir = tmp
    sys.dont_write_bytecode = True
    os.chdir(tmp)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # Landlock confines the calling thread and what it starts, not its siblings
        raise SubmissionError(f"the sandbox could not start: {threads} threads run before it applies")
    try:
        return restrict([*init["rules"], (f"/proc/{os.getpid()}", READ)])
    except (OSError, SandboxUnavailable) as e:
        raise SubmissionError(f"the sandbox could not start: {e}") from None


def _command(msg: dict, factory: Callable[[], object], fitted: dict, last: list) -> tuple[bytes, bytes | str]:
    if msg["cmd"] == "forget":
        fitted.clear()
        last[:] = [None, None]
        return OK, b""
    data = _input(last, msg["data"])
    if msg["cmd"] == "fit":
        model = factory()
        model.fit(data, msg["seed"])  # type: ignore[attr-defined]
        fitted[msg["key"]] = model
        return OK, b""
    if msg["cmd"] == "predict":
        return _encode(fitted[msg["key"]].predict_scores(data))
    raise ValueError(f"unknown command {msg['cmd']!r}")


def _input(last: list, data: dict):
    """The ModelInput of a dataset at a visibility (and label period), read view-only; the
    last one is kept, as the harness reads one dataset for several seeds in a row."""
    from data_gen.reader import open_view_only
    from models.inputs import ModelInput

    key = (data["path"], data["visibility"], data["label_period"])
    if last[0] != key:
        last[:] = [None, None]
        view = open_view_only(data["path"], data["visibility"], data["label_period"], card=data["card"])
        last[:] = [key, ModelInput(view)]
    return last[1]


def _encode(pred) -> tuple[bytes, bytes | str]:
    """A plugin's scores as Arrow IPC (account_id as given, task as text, score float64), or
    why they cannot be sent."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if not isinstance(pred, pd.DataFrame) or not {"account_id", "task", "score"} <= set(pred.columns):
        return REFUSED, "predict_scores must return a DataFrame (account_id, task, score)"
    acc = pred["account_id"].to_numpy()
    try:
        score = pred["score"].to_numpy(dtype=np.float64)
        task = pa.array(pred["task"].astype(str).to_numpy(dtype=object), pa.string())
    except (TypeError, ValueError):
        acc = np.empty(0, dtype=object)
    if acc.dtype.kind not in "iu":
        return REFUSED, "account_id must be integers and score numeric"
    table = pa.table({"account_id": pa.array(acc), "task": task, "score": pa.array(score, pa.float64())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return SCORES, sink.getvalue().to_pybytes()


# ---------------------------------------------------------------- the harness's side


def decode_scores(payload: bytes, where: str):
    """A DataFrame (account_id, task, score) from the plugin process's Arrow IPC bytes, checked
    (columns, types, no nulls, valid buffers) before anything reads a value."""
    import pandas as pd
    import pyarrow as pa

    try:
        with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
            t = reader.read_all()
        t.validate(full=True)
    except (pa.ArrowException, ValueError, OSError) as e:
        raise SubmissionError(f"{where}: unreadable scores from the plugin's process ({type(e).__name__})") from None
    kinds = {"account_id": pa.types.is_integer, "task": pa.types.is_string, "score": pa.types.is_float64}
    if t.column_names != list(kinds) or not all(kinds[f.name](f.type) for f in t.schema):
        raise SubmissionError(f"{where}: scores from the plugin's process must be columns account_id (integer), "
                              f"task (string), score (float64)")  # fmt: skip
    if any(c.null_count for c in t.columns):
        raise SubmissionError(f"{where}: scores from the plugin's process hold nulls")
    return pd.DataFrame({name: t[name].to_numpy() for name in kinds})


def _clean(body: bytes) -> str:
    text = body[: 4 * MAX_TEXT].decode("utf-8", "replace")[:MAX_TEXT]
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


class Sandbox:
    """A plugin run in its own confined process; fit and predict by key, as `InProcess` does
    in the harness. Use as a context manager: the process and its directory go at exit."""

    def __init__(self, path: Path, cls: str, datasets: dict, origin: str):
        if any(d.path is None for d in datasets.values()):
            raise SubmissionError(f"{origin}: a sandboxed plugin reads datasets from disk; one is in memory only")
        self.path, self.cls, self.origin = Path(path).resolve(), cls, origin
        self.dirs = sorted({Path(d.path).resolve() for d in datasets.values()})
        self.abi = 0
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> Sandbox:
        try:
            self.start()
        except BaseException:
            self.close(kill=True)
            raise
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.close(kill=kind is not None)

    def start(self) -> None:
        landlock_abi()  # SandboxUnavailable before any process starts
        self._tmp = Path(tempfile.mkdtemp(prefix="lowbase-plugin-"))
        rules = grants(self.path.parent, self.dirs, self._tmp)
        self._conn, child = Pipe()
        env = {k: v for k, v in os.environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
        # No /dev/shm: joblib would warn that it cannot make a semaphore, then run serially anyway.
        env.update(TMPDIR=str(self._tmp), HOME=str(self._tmp), PYTHONDONTWRITEBYTECODE="1", JOBLIB_MULTIPROCESSING="0")
        path = [p or os.getcwd() for p in sys.path]
        with child:  # the child's end stays open in the child only
            self._proc = subprocess.Popen([sys.executable, "-c", BOOT, str(child.fileno()), *path], env=env,
                                          pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, close_fds=True,
                                          start_new_session=True)  # fmt: skip
        self._send({"plugin": str(self.path), "cls": self.cls, "rules": rules, "tmp": str(self._tmp)})
        tag, body = self._receive("starting", 4 * MAX_TEXT + 1)
        if tag == ERROR:
            raise SubmissionError(_clean(body))
        if tag != OK or not body.isdigit():
            raise SubmissionError(f"{self.origin}: the plugin's process sent a malformed reply while starting")
        self.abi = int(body)

    def fit(self, key: int, ds, visibility: str, label_period: int | None, seed: int) -> None:
        self._send({"cmd": "fit", "key": key, "seed": seed, "data": self._data(ds, visibility, label_period)})
        tag, body = self._receive("fitting", 4 * MAX_TEXT + 1)
        if tag == ERROR:
            raise PluginFailure(_clean(body))
        if tag != OK:
            raise SubmissionError(f"{self.origin}: the plugin's process sent a malformed reply while fitting")

    def predict(self, key: int, ds, visibility: str, label_period: int | None, where: str):
        self._send({"cmd": "predict", "key": key, "data": self._data(ds, visibility, label_period)})
        rows = ds.meta["rows"]["accounts"] * (len(ds.meta["tasks"]) + 1)
        tag, body = self._receive("scoring", (16 << 20) + 64 * rows)
        if tag == ERROR:
            raise PluginFailure(_clean(body))
        if tag == REFUSED:
            raise SubmissionError(f"{where}: {_clean(body)}")
        if tag != SCORES:
            raise SubmissionError(f"{where}: the plugin's process sent a malformed reply (none is ever unpickled)")
        return decode_scores(body, where)

    def forget(self) -> None:
        """Drop every fitted model and the dataset read last."""
        self._send({"cmd": "forget"})
        if self._receive("forgetting", 4 * MAX_TEXT + 1)[0] != OK:
            raise SubmissionError(f"{self.origin}: the plugin's process sent a malformed reply")

    def close(self, kill: bool = False) -> None:
        """End the process (at once with `kill`, else once it exits or after 5 s) and remove its directory."""
        if self._conn is not None:
            if not kill:
                with contextlib.suppress(OSError):
                    self._conn.send({"cmd": "exit"})
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._stop(0 if kill else 5)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _stop(self, grace: float) -> int | None:
        """Kill the process's group (the process and whatever the plugin started) after up to
        `grace` s, while the process is unreaped and the group id still its own; its exit
        code, or None when it was still running."""
        assert self._proc is not None, "the sandbox is started"
        pid, deadline = self._proc.pid, time.monotonic() + grace
        while (done := os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)) is None:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        code = self._proc.wait()
        self._proc = None
        return None if done is None else code

    def _data(self, ds, visibility: str, label_period: int | None) -> dict:
        from data_gen.reader import model_card

        return {"path": str(Path(ds.path).resolve()), "card": model_card(ds.meta), "visibility": visibility,
                "label_period": label_period}  # fmt: skip

    def _send(self, msg: dict) -> None:
        assert self._conn is not None, "the sandbox is started"
        try:
            self._conn.send(msg)
        except OSError:
            raise SubmissionError(f"{self.origin}: the plugin's process {self._ended()}") from None

    def _receive(self, what: str, limit: int) -> tuple[bytes, bytes]:
        """One reply, as bytes: at most `limit` of them, never unpickled."""
        assert self._conn is not None, "the sandbox is started"
        try:
            msg = self._conn.recv_bytes(limit)
        except EOFError:
            raise SubmissionError(f"{self.origin}: the plugin's process {self._ended()} while {what}") from None
        except OSError:
            raise SubmissionError(f"{self.origin}: the plugin's process sent more than {limit:,} bytes "
                                  f"while {what}") from None  # fmt: skip
        return msg[:1], msg[1:]

    def _ended(self) -> str:
        code = self._stop(5)
        if code is None:
            return "stopped answering"
        return f"was killed by signal {-code}" if code < 0 else f"ended (exit code {code})"
