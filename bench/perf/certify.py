"""Throughput and memory of `lowbase certify` streaming negative worlds.

Runs the real CLI in a child process for each configuration (`local:K`: `--dask local:K`;
`jobs:K`: `--jobs K`, plain worker processes), optionally pinned to K cores (`taskset`),
and prints per configuration: wall time, the time of the world phase (from the line
announcing the streamed worlds to the end: the negative worlds
and the enriched one(s), one world in a hundred at 1e7), negatives scored per second in
that phase, and peak RSS of the client process and of the largest
worker process (sampled every 0.2 s over the process tree with psutil). Ratios are read
against the first row's phase time, measured in the same invocation. `--source DIR` (given
twice or more) runs the CLI of each source tree in turn (e.g. a `git worktree` of the code
before a change), `--kernels pinned,native` each kernel mode (`common.kernels`: what the
pin costs), and `--rounds N` alternates all of them N times, so an A/B is read on the same
machine in the same minutes.

    python bench/perf/certify.py --model RUN/dec --data DATASET [--fpr-accounts 10000000]
        [--configs local:1,local:2] [--pin] [--kernels pinned] [--training-truth] [--mlflow]
        [--source DIR --source OLD_DIR] [--rounds 1]

Targets (2 cores): local:2 >= 1.6x local:1 when each is pinned to its cores;
client memory flat from 1e6 to 1e7 negatives (run twice with both counts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


def _sample(proc: subprocess.Popen, peaks: dict, stop: threading.Event) -> None:
    """Peak RSS of the client (the CLI process) and of the largest descendant (a worker)."""
    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        try:
            peaks["client"] = max(peaks["client"], root.memory_info().rss)
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    peaks["worker"] = max(peaks["worker"], child.memory_info().rss)
        except psutil.NoSuchProcess:
            return
        time.sleep(0.2)


def _config(text: str) -> tuple[str, int]:
    kind, _, k = text.partition(":")
    if kind not in ("local", "jobs") or not k.isdigit() or int(k) < 1:
        sys.exit(f"--configs: {text!r} is not local:K or jobs:K")
    return kind, int(k)


def run_one(args, config: str, source: Path, tmp: Path, kernels: str, log: bool = False) -> dict:
    kind, k = _config(config)
    tag = f"{kind}{k}-{len(list(tmp.iterdir()))}"
    out = tmp / f"{tag}.json"
    where = ["--dask", f"local:{k}"] if kind == "local" else ["--jobs", str(k)]
    cmd = [sys.executable, "-m", "bench.cli.app", "certify", "--model", str(Path(args.model).resolve()),
           "--data", str(Path(args.data).resolve()), "--fpr-accounts", str(args.fpr_accounts), *where,
           "--workdir", str(tmp / f"w-{tag}"), "--json", str(out),
           "--training-truth" if args.training_truth else "--no-training-truth",
           "--mlflow" if log else "--no-mlflow"]  # fmt: skip
    if args.pin:
        cmd = ["taskset", "-c", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:k]), *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
           "LOWBASE_KERNELS": kernels}  # fmt: skip
    peaks = {"client": 0, "worker": 0}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=source, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    sampler = threading.Thread(target=_sample, args=(proc, peaks, stop), daemon=True)
    sampler.start()
    streamed_at, tail = None, []
    for line in proc.stderr:
        # Worker processes and Dask announce the streamed worlds; one process (--jobs 1)
        # announces each world as it makes it.
        if streamed_at is None and ("streamed" in line or "TPR world 1/" in line):
            streamed_at = time.perf_counter()
        tail = [*tail[-20:], line]
    proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"certify on {config} ({source}) failed ({proc.returncode}):\n{''.join(tail)}")
    result = json.loads(out.read_text())
    negatives = sum(w["negatives"] for w in result["worlds"]["fpr"])
    phase = wall - (streamed_at - t0) if streamed_at else float("nan")
    return {"config": config, "source": source, "kernels": kernels, "wall": wall, "phase": phase,
            "negatives": negatives, "result": result, **peaks}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--fpr-accounts", type=int, default=10_000_000)
    ap.add_argument("--configs", default="local:1,local:2", help="local:K (Dask) or jobs:K, comma-separated.")
    ap.add_argument("--source", action="append", type=Path, help="A source tree to run the CLI from (repeat for A/B).")
    ap.add_argument("--rounds", type=int, default=1, help="Alternate every source and configuration this many times.")
    ap.add_argument("--pin", action="store_true", help="Confine local:K to K cores.")
    ap.add_argument("--kernels", default="pinned", help="Kernel modes to run, comma-separated: pinned, native.")
    ap.add_argument("--training-truth", action="store_true", help="Also certify the class on the world's truth.")
    ap.add_argument(
        "--mlflow",
        action="store_true",
        help="Log the last configuration's result to MLflow (experiment lowbase-certify), as `lowbase certify` does.",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lowbase-perf-certify-"))
    try:
        sources = [p.resolve() for p in args.source or [Path(__file__).resolve().parents[2]]]
        modes = args.kernels.split(",")
        configs = args.configs.split(",")
        plan = [(c, src, k) for _ in range(args.rounds) for src in sources for k in modes for c in configs]
        rows = [run_one(args, c, src, tmp, k, log=args.mlflow and i == len(plan) - 1)
                for i, (c, src, k) in enumerate(plan)]  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0]
    gb = 1024**3
    print(f"certify --fpr-accounts {args.fpr_accounts:,} ({'pinned' if args.pin else 'unpinned'}):")
    for r in rows:
        rate, speedup = r["negatives"] / r["phase"], base["phase"] / r["phase"]
        where = (f" [{r['source']}]" if len(sources) > 1 else "") + (f" {r['kernels']}" if len(modes) > 1 else "")
        print(
            f"  {r['config']}{where}: wall {r['wall']:.1f} s, streamed worlds {r['phase']:.1f} s, "
            f"{r['negatives']:,} negatives, {rate:,.0f} negatives/s ({speedup:.2f}x the first row); "
            f"peak RSS client {r['client'] / gb:.2f} GB, largest worker {r['worker'] / gb:.2f} GB"
        )
    for mode in modes:  # the kernel modes differ in the last bits of DEC's scores, so in counts
        counts = {json.dumps(r["result"]["models"], sort_keys=True) for r in rows if r["kernels"] == mode}
        print(f"  the same counts in every {mode} row: {'yes' if len(counts) == 1 else 'NO'}")
    for name, figures in rows[-1]["result"]["models"].items():
        for thr in ("fpr<=0.001", "fpr<=0.0001"):
            f = figures["by_threshold"][thr]["fpr"]
            print(f"  {name} {thr}: FPR {f['value']:.3g} [{f['low']:.2g}, {f['high']:.2g}] ({f['k']}/{f['n']})")


if __name__ == "__main__":
    main()
