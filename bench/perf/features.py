"""Feature-building performance against the sparse products it is made of, in one run.

Three timings on the same dataset:

- **end to end**: `build_features(view)`, from the parquet tables to the full matrix
  (reading, raw block, adjacency matrices, aggregates). Target: 1M accounts <= 60 s on 2
  cores.
- **aggregation**: `deep_features(raw, mats)`, the deep aggregates from the raw block and
  the relation matrices: the same inputs as the reference, plus building `[X | X*X]` and
  allocating and writing the whole output matrix (~3.6 GB at 1M accounts; first-touch of
  fresh memory is slow and erratic on small VMs).
- **reference**: the aggregates' sums as bare scipy sparse products, on the same
  matrices, with no bookkeeping: per relation `A @ [X | X*X]` (sums and sums of squares
  in one product; the features take them, with the maxima and quantiles, from one gather
  of the neighbours' rows, models/aggregates.py), `A @ (A @ X)` (two hops, on the sums of
  the first product) and `A @ deg` (walks); for groups `M @ (M^T @ [X | X*X])` and
  `M @ size`, the products the features compute. Neighbour maxima and quantiles are not
  products and have no counterpart here. `[X | X*X]` is built outside the timing. Timed before and after the features;
  the ratios use the mean of the two. Target: <= 2x the reference.

Prints the three times, both ratios and peak RSS. The aggregation ratio compares like with
like (same inputs, the products vs everything computed from them); the end-to-end ratio
also counts reading the tables and building the matrices, which the reference does not
do. Timings on a shared 2-core machine are noisy: run it more than once.

Everything above runs under the CLI's memory policy (common/memory.py: numpy's
huge-page advice off). That policy slows the bare products, whose fresh outputs fault in
faster with huge pages, so the reference is also timed in a child process with numpy's
default advice and the aggregation ratio against it is printed too (skip: --no-default-advice).

    python bench/perf/features.py DATASET_DIR [--visibility full] [--no-default-advice]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

from common.memory import ENV, turn_off_hugepage_advice
from data_gen.reader import open_dataset
from models.features import build_features, deep_features, feature_inputs


def reference(raw: np.ndarray, mats: dict) -> float:
    xx = np.hstack([raw, raw * raw])  # an input of the products, built outside the timing
    t = time.perf_counter()
    for name, a in mats.items():
        if name == "group":
            a @ (a.T @ xx)
            a @ np.asarray(a.sum(axis=0)).ravel()
        else:
            both = a @ xx
            a @ both[:, : raw.shape[1]]
            a @ np.diff(a.indptr).astype(np.float32)[:, None]
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--visibility", default="full")
    ap.add_argument("--no-default-advice", action="store_true", help="skip the reference under numpy's default")
    ap.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference_only:  # the child: the reference under whatever advice it was started with
        raw, mats = feature_inputs(open_dataset(args.data, verify_hashes=False).view(args.visibility))
        print((reference(raw.X, mats) + reference(raw.X, mats)) / 2)
        return
    print(f"numpy huge-page advice: {'off' if turn_off_hugepage_advice() else 'on'} (common/memory.py)", flush=True)
    view = open_dataset(args.data, verify_hashes=False).view(args.visibility)
    raw, mats = feature_inputs(view)
    ref = [reference(raw.X, mats)]
    t = time.perf_counter()
    agg = deep_features(raw, dict(mats)).X.shape[1]
    agg_s = time.perf_counter() - t
    t = time.perf_counter()
    feats = build_features(view)
    e2e = time.perf_counter() - t
    ref.append(reference(raw.X, mats))
    r = sum(ref) / len(ref)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    assert agg == feats.X.shape[1] and np.isfinite(feats.X).all()
    print(
        f"features for {view.n_accounts:,} accounts at '{args.visibility}', {agg} columns: "
        f"end to end {e2e:.1f} s | aggregation {agg_s:.1f} s | sparse products alone "
        f"{ref[0]:.1f} / {ref[1]:.1f} s | ratio aggregation {agg_s / max(r, 1e-9):.1f}x, "
        f"end to end {e2e / max(r, 1e-9):.1f}x | peak RSS {peak:.2f} GB"
    )
    if not args.no_default_advice:
        del feats
        env = {**os.environ, ENV: "1"}
        cmd = [sys.executable, __file__, args.data, "--visibility", args.visibility, "--reference-only"]
        ref1 = float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        print(
            f"reference with numpy's default huge-page advice ({ENV}=1): {ref1:.1f} s | "
            f"ratio aggregation {agg_s / max(ref1, 1e-9):.1f}x, end to end {e2e / max(ref1, 1e-9):.1f}x"
        )


if __name__ == "__main__":
    main()
