"""What one evaluation world costs, step by step, beside each step's floor from the same run.

Each evaluation world of the powered evaluation and of `certify` (bench/rare/worlds.py) is
generated, written, read back, featurised and scored, then dropped: ten million negatives
are a hundred worlds of 100K, so a certificate costs a hundred times one world. For each
step this prints the median over `--repeat` fresh repetitions (each a child process: no
heap or cache carried over) of its seconds, the peak RSS it added (VmHWM reset at its
start) and its floor, the bare work it cannot avoid, timed in the same process after it.

- **simulate**: `data_gen.simulate.simulate`, the labels and the arrow tables, in memory
  (what `generate` builds before writing) | floor: as many `rng.random` values as it draws
  (counted once beforehand, `data_gen.partition.count_draws`), as bench/perf/generate.py.
- **write + hash**: `write_dataset` (parquet, SHA-256 of every file, atomic commit) |
  floor: pyarrow's `write_table` of the same tables with the same options and threads.
- **read**: `open_dataset` as evaluation worlds open theirs (hashes not verified) and the
  features' table reads, timed in the view | floor: `read_table` of the same files, columns.
- **features**: `ModelInput(view).features`, those reads not counted | floor: the bare
  sparse products of bench/perf/features.py (`reference`) on the same matrices.
- **load**: each `--model` through `models.load_model` (no floor).
- **score**: each model's `predict_scores`, whole, then its parts through public attributes
  only: a copy of the model whose `boosters` time their `predict` (per task), and hooks on
  the Linear layers of its torch `net` (however the model calls them); for DEC what is
  left before the boosters is standardising and assembling the stage-2 input. Floors: one
  blockwise read of the feature matrix (the least any standardising does), a bare float32
  product of the first layer's shape over the same rows (torch: the forward's library and
  threads), each booster's own `predict` on a fresh dense float32 copy of what it scored.

`generate()` overlaps labels and encoding with building the tables: simulate + write bound
it from above. Files are read from the page cache right after writing, as evaluation worlds
read theirs. Without `--model` a DEC is trained on the world of `--seed` first (in a
temporary directory). On a shared machine seconds are noisy (the load average is printed).

    python bench/perf/world.py [--scenario quick] [--accounts N] [--seed 12345] [--repeat 3]
        [--model RUN_MODEL_DIR ...] [--visibility LEVEL] [--workers 1] [--json out.json]

DEC runs under the command line's kernels: pinned unless `LOWBASE_KERNELS=native`
(`common.kernels`; the mode is printed with the versions).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from bench.perf.features import reference
from common import kernels
from common.memory import heap_reuse, turn_off_hugepage_advice
from data_gen import ScenarioError, actors, generate, load_scenario
from data_gen.contract import SORT_COLUMN
from data_gen.generate import FORMAT, GENERATOR_VERSION
from data_gen.partition import count_draws
from data_gen.reader import open_dataset
from data_gen.simulate import simulate
from data_gen.tables import Ids, label_tables, make_labels, observable_tables
from data_gen.writer import write_dataset
from models import ModelError, ModelInput, load_card, load_model, make_model, save_model
from models.features import feature_inputs


def progress(msg: str) -> None:
    print(f"[world] {msg}", file=sys.stderr, flush=True)


def _proc_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


class Meter:
    """The rows (step, seconds, floor, peak RSS growth) of one repetition."""

    def __init__(self, rep: str):
        self.rep, self.rows, self.started = rep, [], 0.0

    def run(self, step: str, fn, *args):
        """Time `fn(*args)` and the RSS peak it adds above the RSS it started from (VmHWM is
        reset first: /proc/self/clear_refs)."""
        progress(f"{self.rep} {step} ...")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            base = _proc_kb("VmRSS")
        except OSError:
            base = None
        self.started = time.perf_counter()
        out = fn(*args)
        secs = time.perf_counter() - self.started
        grown = None if base is None else max(_proc_kb("VmHWM") - base, 0) / 1024**2
        self.rows.append({"step": step, "seconds": secs, "rss_gb": grown, "part": False})
        progress(f"{self.rep} {step}: {secs:.2f} s")
        return out

    def add(self, step: str, seconds: float, part: bool = True, at: int | None = None) -> None:
        """A row timed by the caller; a `part` is shown under its step, not added to totals."""
        row = {"step": step, "seconds": seconds, "rss_gb": None, "part": part}
        self.rows.insert(len(self.rows) if at is None else at, row)

    def floor(self, step: str, fn, *args, what: str) -> float:
        t = time.perf_counter()
        fn(*args)
        return self.set_floor(step, time.perf_counter() - t, what)

    def set_floor(self, step: str, seconds: float, what: str) -> float:
        row = next(r for r in self.rows if r["step"] == step)
        row["floor"], row["floor_is"] = seconds, what
        progress(f"{self.rep} {step} floor: {seconds:.2f} s")
        return seconds


# ---- simulate, write, read, features --------------------------------------------------


def world_tables(scn, seed: int, workers: int) -> dict:
    """The dataset's tables as `generate` builds them before writing (the same streams, so
    the same bytes), under the same memory policy."""
    with heap_reuse():
        world = simulate(scn, seed, workers)
        ids = Ids.make(scn.accounts, seed)
        lab = make_labels(world, seed)
        tables = dict(observable_tables(world, ids, seed))
        tables.update(label_tables(world, lab, ids, seed))
    return tables


def draws_of(scn, seed: int) -> int:
    """Random values the simulate step draws (one process: the count is the same for any)."""
    with count_draws() as draws:
        world_tables(scn, seed, 1)
    return draws[0]


def draw_floor(draws: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lo in range(0, draws, 1 << 22):
        rng.random(min(1 << 22, draws - lo))


def write_world(tables: dict, scn, seed: int, out: Path) -> None:
    rows = dict(sorted((name, t.num_rows) for name, t in tables.items()))
    meta = {"format": FORMAT, "generator_version": GENERATOR_VERSION, "seed": seed, "scenario": scn.model_dump()}
    write_dataset(tables, {**meta, "tasks": list(actors.TASKS), "rows": rows}, out, overwrite=True, threads=2)


def write_floor(tables: dict, out: Path) -> None:
    """pyarrow's `write_table` with the writer's own options (data_gen/writer.py: they beat
    pyarrow's defaults), in the same two threads; no hash, no commit."""
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:  # biggest first, as write_dataset
        for name in sorted(tables, key=lambda k: -tables[k].nbytes):
            t, sort = tables[name], SORT_COLUMN.get(name)
            delta = sort in t.column_names and pa.types.is_integer(t.schema.field(sort).type)
            cats = [f.name for f in t.schema if pa.types.is_dictionary(f.type)]
            opts = {"compression": "zstd", "compression_level": 3, "row_group_size": 1 << 20, "use_dictionary": cats}
            opts["column_encoding"] = {sort: "DELTA_BINARY_PACKED"} if delta else None
            pool.submit(pq.write_table, t, out / f"{name}.parquet", **opts)


class TimedView:
    """A dataset view that times and records every table read: what a ModelInput reads."""

    def __init__(self, view):
        self.view, self.seconds, self.reads = view, 0.0, []

    def table(self, name: str, columns: list[str] | None = None):
        self.reads.append((name, columns))
        return self._timed(self.view.table, name, columns)

    def counts(self):
        return self._timed(self.view.counts)

    def _timed(self, fn, *args):
        t = time.perf_counter()
        out = fn(*args)
        self.seconds += time.perf_counter() - t
        return out

    def __getattr__(self, name: str):
        return getattr(self.view, name)


def read_floor(path: Path, reads: list) -> None:
    for name, columns in reads:
        pq.read_table(path / f"{name}.parquet", columns=columns)


def read_and_features(m: Meter, path: Path, visibility: str) -> ModelInput:
    """Open the world as evaluation worlds do and build its features through a timed view:
    the reads inside the build are the `read` step (its RSS growth stays in `features`)."""
    t = time.perf_counter()
    view = TimedView(open_dataset(path, verify_hashes=False).view(visibility))
    opened = time.perf_counter() - t
    data = ModelInput(view)
    m.run("features", lambda: data.features)
    m.rows[-1]["seconds"] -= view.seconds
    m.add("read", opened + view.seconds, part=False, at=len(m.rows) - 1)
    m.floor("read", read_floor, path, view.reads, what="pyarrow read_table, the same files and columns")
    raw, mats = feature_inputs(view.view)
    m.set_floor("features", reference(raw.X, mats), "bare sparse products (bench/perf/features.py)")
    return data


# ---- scoring --------------------------------------------------------------------------


class TimedBooster:
    """A model's booster whose `predict` calls are timed; it keeps the array it scored, for
    the floor."""

    def __init__(self, booster):
        self.booster, self.spans, self.x, self.first = booster, [], None, None

    def predict(self, x, *args, **kwargs):
        t = time.perf_counter()
        out = self.booster.predict(x, *args, **kwargs)
        self.spans.append(time.perf_counter() - t)
        self.x, self.first = x, self.first or t
        return out

    def __getattr__(self, name: str):
        return getattr(self.booster, name)


def layer_hooks(net: torch.nn.Module, marks: list) -> list:
    """Hooks on every Linear layer of a network (however the model calls them: whole, or
    layer by layer), recording (layer index, start?, time)."""
    hooks = []
    for k, mod in enumerate(m for m in net.modules() if isinstance(m, torch.nn.Linear)):
        hooks.append(mod.register_forward_pre_hook(lambda *_, k=k: marks.append((k, True, time.perf_counter()))))
        hooks.append(mod.register_forward_hook(lambda *_, k=k: marks.append((k, False, time.perf_counter()))))
    return hooks


def network_seconds(marks: list) -> float:
    """The time inside the network: from each start of its first layer to the last layer's
    end before the next start (one span per row block the model feeds it)."""
    spans, start, end = 0.0, None, 0.0
    for k, starts, t in marks:
        if k == 0 and starts:
            spans += end - start if start is not None else 0.0
            start = t
        elif not starts:
            end = t
    return spans + (end - start if start is not None else 0.0)


def score_model(m: Meter, label: str, model, data: ModelInput) -> None:
    """predict_scores whole, then its parts, read through public attributes only: the
    model's `boosters` swapped for timed ones in a copy, hooks on its torch `net`'s layers."""
    timed = copy.copy(model)  # the loaded model itself stays as it was
    boosters = {t: TimedBooster(b) for t, b in (getattr(model, "boosters", None) or {}).items() if b is not None}
    if boosters:
        timed.boosters = {**model.boosters, **boosters}
    net, marks = getattr(model, "net", None), []
    hooks = layer_hooks(net, marks) if isinstance(net, torch.nn.Module) else []
    data.memo.clear()  # each model pays for its own stage-2 input, as on a world it scores alone
    m.run(f"score {label}", timed.predict_scores, data)
    t0, whole = m.started, m.rows[-1]["seconds"]
    for h in hooks:
        h.remove()
    used = {t: b for t, b in boosters.items() if b.spans}
    parts = min((b.first for b in used.values()), default=t0 + whole) - t0
    if marks:
        inside = network_seconds(marks)
        m.add(f"score {label}: standardise + stage-2 input (outside the net)", parts - inside)
        m.add(f"score {label}: network forward", inside)
        net_floors(m, label, net, data.features.X)
    for task in [t for t in data.tasks if t in used]:
        m.add(f"score {label}: booster {task}", sum(used[task].spans))
        parts += m.rows[-1]["seconds"]
        x = np.array(used[task].x, dtype=np.float32, order="C")
        what = f"Booster.predict, dense float32 {x.shape[0]:,}x{x.shape[1]}"
        m.floor(m.rows[-1]["step"], used[task].booster.predict, x, what=what)
    if used or marks:
        m.add(f"score {label}: the rest (scores frame)", whole - parts)
    floors = [r["floor"] for r in m.rows if r["step"].startswith(f"score {label}:") and "floor" in r]
    if floors:
        m.set_floor(f"score {label}", sum(floors), "the sum of its parts' floors")


def read_once(x: np.ndarray, rows: int = 256) -> None:
    """One read of every value, block by block into one reused buffer that stays in cache."""
    buf = np.empty((min(rows, len(x)), x.shape[1]), dtype=np.float32)
    for i in range(0, len(x), rows):
        np.copyto(buf[: len(x[i : i + rows])], x[i : i + rows])


def net_floors(m: Meter, label: str, net, x: np.ndarray) -> None:
    what = f"one blockwise read of the features {x.shape[0]:,}x{x.shape[1]}"
    m.floor(f"score {label}: standardise + stage-2 input (outside the net)", read_once, x, what=what)
    first = next(mod for mod in net.modules() if isinstance(mod, torch.nn.Linear))
    w = first.weight.detach().T.contiguous()
    a = torch.from_numpy(np.random.default_rng(0).random((len(x), w.shape[0]), dtype=np.float32))
    what = f"float32 product {a.shape[0]:,}x{w.shape[0]} @ {w.shape[0]}x{w.shape[1]} (torch)"
    with torch.no_grad():
        m.floor(f"score {label}: network forward", torch.mm, a, w, what=what)


# ---- one repetition, in a child process ----------------------------------------------


def repetition(args) -> list[dict]:
    """One world, every step: the rows of this repetition."""
    scn = load_scenario(args.scenario, accounts=args.accounts)
    scratch = Path(args.scratch)
    m = Meter(f"rep {args.repetition}/{args.repeat}:")
    tables = m.run("simulate", world_tables, scn, args.seed, args.workers)
    m.floor("simulate", draw_floor, args.draws, args.seed, what=f"{args.draws:,} random values (numpy)")
    m.run("write + hash", write_world, tables, scn, args.seed, scratch / "world")
    m.floor("write + hash", write_floor, tables, scratch / "floor", what="pyarrow write_table, the writer's options")
    shutil.rmtree(scratch / "floor")
    del tables
    data = read_and_features(m, scratch / "world", args.visibility)
    for path in args.model:
        model, card = m.run(f"load {path}", load_model, Path(path), data)
        label = f"{card['model']}[{Path(path).name}]"
        m.rows[-1]["step"] = f"load {label}"
        score_model(m, label, model, data)
    return m.rows


def run_repetition(args, i: int, models: list[str], visibility: str, draws: int, scratch: Path) -> list[dict]:
    """`repetition` in a fresh interpreter: no heap, page or import state carried over."""
    scratch.mkdir(parents=True, exist_ok=True)
    opts = {k: getattr(args, k) for k in ("repeat", "scenario", "accounts", "seed", "workers")}
    opts.update(repetition=i, draws=draws, scratch=scratch, visibility=visibility)
    flags = [x for k, v in opts.items() if v is not None for x in (f"--{k}", str(v))]
    proc = subprocess.run([sys.executable, __file__, *flags, "--model", *models], stdout=subprocess.PIPE, text=True)
    if proc.returncode == 2:
        sys.exit(2)  # the child said why: a model that cannot score this world
    if proc.returncode != 0:
        sys.exit(f"repetition {i} failed (exit {proc.returncode}); its stderr is above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- the parent: models, summary, report ----------------------------------------------


def check_models(ap: argparse.ArgumentParser, paths: list[str], visibility: str | None) -> str:
    """Every --model a saved model directory, all of one visibility (exit 2 with the reason
    otherwise); returns the visibility to score at."""
    levels = set()
    for path in paths:
        if not Path(path).is_dir():
            ap.error(f"--model {path}: no such directory (a model directory from `lowbase train`, or RUN/models/NAME)")
        try:
            levels.add(load_card(Path(path))["visibility"])
        except ModelError as err:
            ap.error(f"--model {path}: {err}")
    if len(levels | {visibility or next(iter(levels), "full")}) > 1:
        ap.error(f"--model: trained at visibility {', '.join(sorted(levels))}, asked for {visibility}")
    return visibility or next(iter(levels), "full")


def train_dec(scn, seed: int, visibility: str, workers: int, tmp: Path) -> str:
    """A DEC trained on the world of `seed` and saved, then scored as any saved model is."""
    progress(f"no --model: training a DEC on the world of seed {seed} ({scn.accounts:,} accounts) in {tmp}")
    t = time.perf_counter()
    generate(scn, seed, tmp / "train", workers=workers)
    data = ModelInput(open_dataset(tmp / "train", verify_hashes=False).view(visibility))
    model = make_model("dec")
    model.fit(data, seed)
    path = save_model(model, data, seed, tmp / "dec")
    progress(f"trained DEC in {time.perf_counter() - t:.1f} s: {path}")
    return str(path)


def summarise(reps: list[list[dict]]) -> list[dict]:
    """Per step, in the order the steps ran: the medians over the repetitions."""
    out = []
    for row in reps[0]:
        same = [r for rows in reps for r in rows if r["step"] == row["step"]]
        seconds = statistics.median(r["seconds"] for r in same)
        floors = [r["floor"] for r in same if "floor" in r]
        rss = [r["rss_gb"] for r in same if r["rss_gb"] is not None]
        floor = statistics.median(floors) if floors else None
        out.append({"step": row["step"], "part": row["part"], "seconds": seconds, "floor": floor,
                    "ratio": seconds / floor if floor else None, "floor_is": row.get("floor_is"),
                    "rss_gb": statistics.median(rss) if rss else None})  # fmt: skip
    return out


def totals(steps: list[dict]) -> dict:
    top = [s for s in steps if not s["part"]]
    floored = [s for s in top if s["floor"]]
    with_floor, floor = sum(s["seconds"] for s in floored), sum(s["floor"] for s in floored)
    return {"seconds": sum(s["seconds"] for s in top), "steps_with_floor_seconds": with_floor,
            "floor_seconds": floor, "ratio": with_floor / floor if floor else None}  # fmt: skip


def machine() -> dict:
    def first(path: str, key: str) -> str:
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(key)), "0")

    mem = int(first("/proc/meminfo", "MemTotal").split()[0]) / 1024**2
    return {"cpu": first("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)), "memory_gb": round(mem, 1),
            "load_average_start": os.getloadavg()}  # fmt: skip


def versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("lowbase", "numpy", "scipy", "pyarrow", "torch", "lightgbm"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return {**out, "torch_threads": torch.get_num_threads(), "kernels": kernels.mode()}


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "-" if x is None else format(x, spec) + suffix


def print_report(report: dict) -> None:
    w, mach, tot = report["world"], report["machine"], report["totals"]
    print(
        f"one evaluation world: {w['scenario']}, {w['accounts']:,} accounts, seed {w['seed']}, visibility "
        f"{w['visibility']}, generation workers {w['workers']}; medians of {w['repeat']} fresh repetitions"
    )
    load = [" / ".join(f"{x:.1f}" for x in mach[k][:2]) for k in ("load_average_start", "load_average_end")]
    print(
        f"machine: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} usable), {mach['memory_gb']} GB; "
        f"load average (1 / 5 min) {load[0]} at start, {load[1]} at end: on a busy machine seconds are noisy"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    names = ["  " + s["step"].split(": ", 1)[-1] if s["part"] else s["step"] for s in report["steps"]]
    width = max(map(len, names)) + 2
    print(f"{'step':<{width}} {'seconds':>8} {'floor':>8} {'ratio':>7} {'+RSS GB':>8}  floor is")
    for name, s in zip(names, report["steps"], strict=True):
        print(
            f"{name:<{width}} {s['seconds']:8.2f} {_fmt(s['floor'], '.2f'):>8} {_fmt(s['ratio'], '.2f', 'x'):>7} "
            f"{_fmt(s['rss_gb'], '.2f'):>8}  {s['floor_is'] or ''}"
        )
    print(
        f"total {tot['seconds']:.2f} s (parts indented, not added); the steps with a floor "
        f"{tot['steps_with_floor_seconds']:.2f} s vs their floors {tot['floor_seconds']:.2f} s: "
        f"{_fmt(tot['ratio'], '.2f', 'x')}"
    )
    if w["model_trained_here"]:
        print(f"model: a DEC trained here on the world of seed {w['seed']} (no --model given)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="quick", help="preset or scenario YAML")
    ap.add_argument("--accounts", type=int, default=None, help="override the scenario's accounts")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--model", nargs="+", default=[], help="saved model directories (default: train a DEC)")
    ap.add_argument("--visibility", default=None, help="default: the models' own, else full")
    ap.add_argument("--workers", type=int, default=1, help="generation processes (evaluation worlds use 1)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh repetitions; the medians are printed")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    for hidden, kind in (("--repetition", int), ("--draws", int), ("--scratch", str)):  # a repetition's child
        ap.add_argument(hidden, type=kind, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    turn_off_hugepage_advice()
    kernels.use(os.environ.get(kernels.MODE_ENV, kernels.PINNED))  # the CLI's default; repetitions inherit it
    if args.repetition is not None:
        try:
            print(json.dumps(repetition(args)))
        except ModelError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        return
    visibility = check_models(ap, args.model, args.visibility)
    try:
        scn = load_scenario(args.scenario, accounts=args.accounts)
    except ScenarioError as err:
        ap.error(str(err))
    mach = machine()
    with tempfile.TemporaryDirectory(prefix="lowbase-perf-world-") as tmp:
        models = args.model or [train_dec(scn, args.seed, visibility, args.workers, Path(tmp))]
        progress("counting the random values of one world (untimed) ...")
        draws = draws_of(scn, args.seed)
        reps = [run_repetition(args, i + 1, models, visibility, draws, Path(tmp) / str(i)) for i in range(args.repeat)]
    mach["load_average_end"] = os.getloadavg()
    steps = summarise(reps)
    world = {k: getattr(args, k) for k in ("scenario", "seed", "workers", "repeat")}
    world.update(accounts=scn.accounts, visibility=visibility, models=models, model_trained_here=not args.model)
    report = {"world": world, "machine": mach, "versions": versions(), "steps": steps, "totals": totals(steps)}
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps({**report, "repetitions": reps}, indent=2) + "\n")


if __name__ == "__main__":
    main()
