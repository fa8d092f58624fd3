"""End-to-end cost of `lowbase run`, cold (no cached dataset) in a fresh MLflow store.

Runs the real CLI in a child process with a temporary working directory and SQLite store,
and prints wall time, peak RSS (the largest process of the run: the parent, or one of the
generator's worker processes), the time per step (from the run's own progress lines) and
MLflow's share of the run, which the run records itself as `timing/mlflow_share`.
Targets (2 cores, 24 GB): quick (100K) <= 3 min and <= 4 GB; standard (1M) <= 15 min and
<= 16 GB; MLflow logging <= 5% of run time.

    python bench/perf/run.py [--preset quick] [--models dec,gbdt-raw,logreg,rules,random]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.memory import turn_off_hugepage_advice

TARGETS = {"quick": (180, 4.0), "standard": (900, 16.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--models", default="dec,gbdt-raw,logreg,rules,random")
    ap.add_argument("--keep", action="store_true", help="Keep the temporary working directory.")
    args = ap.parse_args()
    print(f"numpy huge-page advice: {'off' if turn_off_hugepage_advice() else 'on'} (common/memory.py)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="lowbase-perf-run-"))
    root = Path(__file__).resolve().parents[2]  # time this checkout's code, wherever it is installed
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "bench.cli.app", "run", "--preset", args.preset, "--models", args.models,
           "--workdir", str(tmp / "work")]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    if proc.returncode != 0:
        sys.exit(f"lowbase run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    steps = re.findall(r"^\s*([\d.]+)s (.+)$", proc.stderr, flags=re.M)
    print(f"lowbase run --preset {args.preset}: {wall:.1f} s wall, peak RSS {peak:.2f} GB")
    for (t, msg), nxt in zip(steps, [*steps[1:], (f"{wall}", "end")], strict=True):
        print(f"  {float(nxt[0]) - float(t):7.1f} s  {msg}")
    share = _metric(tmp / "mlflow.db", "timing/mlflow_share")
    mlflow_s = _metric(tmp / "mlflow.db", "timing/mlflow_s")
    print(f"MLflow logging: {mlflow_s:.2f} s = {share:.1%} of the run (target <= 5%)")
    if args.preset in TARGETS:
        t_max, gb_max = TARGETS[args.preset]
        print(
            f"targets: time <= {t_max} s: {'met' if wall <= t_max else 'NOT met'} ({wall / t_max:.2f}x of budget); "
            f"memory <= {gb_max} GB: {'met' if peak <= gb_max else 'NOT met'}; "
            f"MLflow <= 5%: {'met' if share <= 0.05 else 'NOT met'}"
        )
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")


def _metric(db: Path, key: str) -> float:
    with sqlite3.connect(db) as con:
        row = con.execute("select value from metrics where key = ? order by timestamp desc limit 1", (key,)).fetchone()
    return float(row[0]) if row else float("nan")


if __name__ == "__main__":
    main()
