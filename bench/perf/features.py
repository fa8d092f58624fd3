"""Feature-building performance against the sparse products it is made of, in one run.

Builds the full feature matrix (raw + deep) of a dataset, then times the reference: the
bare scipy sparse products the aggregates reduce to (A @ X, A @ X**2, A @ (A @ X) per
relation, and M (M^T X) for groups) on the same matrices, with no bookkeeping. Prints
both, the ratio, and peak RSS. Targets (2 cores): 1M accounts <= 60 s; <= 2x the
reference.

    python bench/perf/features.py DATASET_DIR [--visibility full]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from data_gen.reader import open_dataset
from models.features import build_features, edge_types, raw_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--visibility", default="full")
    args = ap.parse_args()
    view = open_dataset(args.data, verify_hashes=False).view(args.visibility)
    t = time.perf_counter()
    feats = build_features(view)
    ours = time.perf_counter() - t
    # Reference: the same relations and raw block, only the products.
    raw = raw_features(view).X
    mats = edge_types(view)
    t = time.perf_counter()
    for name, a in mats.items():
        if name == "group":
            a @ (a.T @ raw)
            a @ (a.T @ (raw * raw))
        else:
            s = a @ raw
            a @ (raw * raw)
            a @ s
    ref = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"features for {view.n_accounts:,} accounts at '{args.visibility}': {feats.X.shape[1]} columns in "
        f"{ours:.1f} s (peak RSS {peak:.2f} GB) | sparse products alone {ref:.1f} s | "
        f"ratio {ours / max(ref, 1e-9):.1f}x"
    )
    print("note: the feature time includes reading the tables and the raw block; the reference does not")
    assert np.isfinite(feats.X).all()


if __name__ == "__main__":
    main()
