"""Scale-out on Dask: time and peak memory per stage, 1 vs K workers, with a reference.

For each configuration a fresh process runs the three stages on the same scenario and
seed: **generate** (writes the dataset), **features** (`build_features`, raw + deep) and
**train** (gbdt-raw: LightGBM per task on the human labels). Configurations:

- `reference`: one process, no Dask (`--workers 1`, local features and LightGBM), the
  figure every speed-up is read against, measured in the same run;
- `dask local:1`, `dask local:K`: a LocalCluster of 1 or K single-threaded worker
  processes; cluster start-up is timed apart.

Peak memory is the largest sum of RSS over the process and all its descendants (the Dask
workers), sampled every 0.2 s during the stage: what the machine must hold. Every
configuration must produce the same dataset fingerprint (checked and printed). The
speed-up is time(local:1) / time(local:K) per stage. For generation it also prints when each
generator stage ended (population ... activity: partition maps plus the global steps before
them; labels and write: the parent alone), which shows where the time goes; on a loaded
machine rerun and read the range.

Two readings of "1 vs 2 workers", both printed when `--pin` is given:
- unpinned: every configuration may use all cores. The parent's own
  steps (global sorts, labels, parquet encoding) already run on two threads, so `local:1`
  gets the second core for free there and only the partition tasks can speed up.
- `--pin`: `local:K` is confined to K cores (`sched_setaffinity`, inherited by the
  workers), the usual strong-scaling measurement: the same job on 1 core, then on 2.

A configuration whose processes together exceed `--max-gb` is stopped (before the kernel's OOM killer would pick a
process on a shared machine) and reported with the stage and memory it reached.

    python bench/perf/scale.py [--scenario standard] [--accounts N] [--workers 2]
                               [--configs reference,1,K] [--stages generate,features,train] [--max-gb 20]
                               [--pin]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.memory import turn_off_hugepage_advice

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
import psutil

def main():
    scenario, accounts, out, config, stages = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]
    cap = float(sys.argv[6]) * 1024**3
    from data_gen import generate, load_scenario
    from data_gen.reader import open_dataset
    from bench.setup.cluster import dask_client, executor
    from models import ModelInput, make_model
    from models.distributed import use_client

    me = psutil.Process()
    peak = [0]
    stop = threading.Event()

    def tree_rss():
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    current = ["start"]
    t_start = time.perf_counter()

    def sample():
        while not stop.is_set():
            rss = tree_rss()
            peak[0] = max(peak[0], rss)
            if rss > cap:  # stop before the kernel's OOM killer picks a victim on a shared machine
                print("CAPPED " + json.dumps({"stage": current[0], "gb": rss / 1024**3,
                      "after_s": time.perf_counter() - t_start}), flush=True)
                for p in me.children(recursive=True):
                    p.kill()
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    res = {}

    def stage(name, fn):
        current[0] = name
        peak[0] = tree_rss()
        t = time.perf_counter()
        value = fn()
        res[name] = {"s": time.perf_counter() - t, "peak_gb": max(peak[0], tree_rss()) / 1024**3}
        return value

    scn = load_scenario(scenario, int(accounts) if accounts != "-" else None)
    t = time.perf_counter()
    spec = None if config == "reference" else f"local:{config}"
    with dask_client(spec) as client, use_client(client):
        res["cluster_start_s"] = time.perf_counter() - t
        marks, t_gen = {}, [0.0]

        def gen():  # when each generator stage ends (its last partition back), from the start
            t_gen[0] = time.perf_counter()
            progress = lambda name, done: marks.__setitem__(name, time.perf_counter() - t_gen[0])
            return generate(scn, 0, out, workers=1, overwrite=True, executor=executor(client), progress=progress)

        meta = stage("generate", gen)
        res["generate_marks"] = marks
        res["fingerprint"] = meta["fingerprint"]
        res["rows"] = meta["rows"]
        if "features" in stages:
            td = ModelInput(open_dataset(out, verify_hashes=False).view("full"))
            stage("features", lambda: td.features)
            if "train" in stages:
                stage("train", lambda: make_model("gbdt-raw").fit(td, 0))
    stop.set()
    print("RESULT " + json.dumps(res))

if __name__ == "__main__":
    main()
"""


def run_config(
    scenario: str, accounts: str, out: Path, config: str, stages: str, max_gb: float, cores: int | None = None
) -> dict:
    """One configuration in a fresh process; with `cores`, confined to that many CPUs."""
    script = out.parent / "scale_child.py"
    script.write_text(CHILD)
    t0 = time.perf_counter()
    cpus = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    proc = subprocess.run(
        [sys.executable, str(script), scenario, accounts, str(out), config, stages, str(max_gb)],
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    capped = [x for x in proc.stdout.splitlines() if x.startswith("CAPPED ")]
    if capped:
        return {"capped": json.loads(capped[-1][len("CAPPED ") :])}
    if proc.returncode != 0:
        raise SystemExit(f"{config}: child failed\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT ") :])
    res["wall_s"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="standard")
    ap.add_argument("--accounts", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", default="reference,1,K", help="reference, 1 and/or K (K = --workers)")
    ap.add_argument("--stages", default="generate,features,train")
    ap.add_argument("--tmp", default=None, help="where datasets go (default: a temporary directory)")
    ap.add_argument("--pin", action="store_true", help="also run local:K confined to K cores (strong scaling)")
    ap.add_argument("--max-gb", type=float, default=20.0, help="stop a configuration whose processes exceed this")
    args = ap.parse_args()
    print(f"numpy huge-page advice: {'off' if turn_off_hugepage_advice() else 'on'} (common/memory.py)", flush=True)
    configs = [str(args.workers) if c == "K" else c for c in args.configs.split(",")]
    accounts = str(args.accounts) if args.accounts else "-"
    stages = [s for s in ("generate", "features", "train") if s in args.stages.split(",")]
    # (key, Dask config, cores): unpinned runs, then with --pin the Dask ones on K cores.
    runs = [(c, c, None) for c in configs]
    if args.pin:
        runs += [(f"{c}@{c}", c, int(c)) for c in configs if c != "reference"]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        results = {}
        for key, c, cores in runs:
            out = Path(tmp) / f"ds-{key}"
            res = run_config(args.scenario, accounts, out, c, ",".join(stages), args.max_gb, cores)
            label = "reference (no Dask)" if c == "reference" else f"dask local:{c}"
            label += f" on {cores} core{'s' if cores > 1 else ''}" if cores else ""
            subprocess.run(["rm", "-rf", str(out)], check=False)
            if "capped" in res:
                cp = res["capped"]
                print(
                    f"{label:<28} stopped: {cp['gb']:.1f} GB > --max-gb {args.max_gb:g} during {cp['stage']} "
                    f"after {cp['after_s']:.0f} s (does not fit)",
                    flush=True,
                )
                continue
            results[key] = res
            cells = "  ".join(f"{s} {res[s]['s']:7.1f} s / {res[s]['peak_gb']:5.2f} GB" for s in stages if s in res)
            start = "" if c == "reference" else f"  (cluster start {res['cluster_start_s']:.1f} s)"
            print(f"{label:<28} {cells}{start}  fingerprint {res['fingerprint'][:16]}", flush=True)
            marks = "  ".join(f"{k} {v:.1f}" for k, v in res["generate_marks"].items())
            print(f"{'':<28} generation stages end at (s): {marks}", flush=True)
        if not results:
            raise SystemExit("no configuration fitted")
        _summary(args, results, stages)


def _summary(args, results: dict, stages: list[str]) -> None:
    prints = {r["fingerprint"] for r in results.values()}
    rows = next(iter(results.values()))["rows"]
    print(
        f"\n{args.scenario} ({rows['accounts']:,} accounts, {rows['friendships']:,} friendships, "
        f"{rows['messages']:,} messages): fingerprints {'identical' if len(prints) == 1 else 'DIFFER'}"
    )
    k = str(args.workers)
    for s in stages:
        parts = []
        if "1" in results and k in results and k != "1":
            parts.append(f"local:1 / local:{k} = {results['1'][s]['s'] / results[k][s]['s']:.2f}x")
        if "1@1" in results and f"{k}@{k}" in results and k != "1":
            ratio = results["1@1"][s]["s"] / results[f"{k}@{k}"][s]["s"]
            parts.append(f"pinned, 1 core / {k} cores = {ratio:.2f}x")
        if "reference" in results:
            ref = results["reference"][s]["s"]
            for c in ("1", k):
                if c in results:
                    parts.append(f"reference / local:{c} = {ref / results[c][s]['s']:.2f}x")
        print(f"speed-up {s:<9} " + "; ".join(dict.fromkeys(parts)))
    if len(prints) != 1:
        raise SystemExit("fingerprints differ between configurations")


if __name__ == "__main__":
    main()
