"""Generator performance, measured against references run in the same process tree.

Prints, for each size: wall time and peak RSS of `generate` (a fresh child process per
run, peak = the largest single process), the *floor* and the ratio generate/floor. The
floor draws as many random values as the generator drew (counted in a separate, untimed
single-process run through `data_gen.partition.count_draws`) and writes the same rows,
columns and types as parquet with the same writer, i.e. the cost of the randomness and the
I/O with no simulation logic at all. Both sides run under the CLI's memory policy
(numpy's huge-page advice off, common/memory.py); the floor keeps glibc's default
allocator settings, which measure faster for it than the `heap_reuse` that `generate`
runs under, so it is the stricter floor.

Then the friendship step at 100K accounts against networkx's
Holme-Kim generator (`powerlaw_cluster_graph`, heavy-tailed with clustering, a simpler
model) at the same size and mean degree, and against the same friendship model written
the usual way with networkx (a Python loop per edge stub). Each side of that comparison is
timed in `--repeat` fresh processes and the best run is kept (the same for all three), so a
busy machine does not decide the ratio.

Targets (2 cores, 24 GB): 1M accounts <= 60 s and <= 8 GB; <= 3x the floor; the friendship
step >= 50x faster than networkx.

Then the harm model's cost: the same size with and without groomers and look-alikes
(target: at most +20% at 1M accounts).

    python bench/perf/generate.py [--sizes 100000,1000000] [--workers 2] [--skip-networkx]
                                  [--harm-cost 1000000] [--repeat 3]
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


def run_child(code: str, *args: str) -> tuple[float, float, str]:
    """Run python code in a fresh process; return (wall s, peak RSS GB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code[:60]}...")
    return wall, usage.ru_maxrss / 1024**2, stdout


COUNT = """
import sys
from pathlib import Path
from data_gen import generate, load_scenario
from data_gen.partition import count_draws
scn = load_scenario("quick", accounts=int(sys.argv[1]))
with count_draws() as draws:
    generate(scn, 0, Path(sys.argv[2]), workers=1, overwrite=True)
print(draws[0])
"""

GENERATE = """
import sys, json, time
from pathlib import Path
from data_gen import generate, load_scenario
scn = load_scenario("quick", accounts=int(sys.argv[1]))
if len(sys.argv) > 4 and sys.argv[4] == "no-harm":  # the harm model at its minimum
    scn = scn.model_copy(update={"harm": scn.harm.model_copy(
        update={"groomer_rate": 1e-6, "lookalike_adults": 0.0, "lookalike_teen_couples": 0.0,
                "viral_cascades_per_account": 0.0})})
meta = generate(scn, 0, Path(sys.argv[2]), workers=int(sys.argv[3]), overwrite=True)
print(json.dumps(meta["rows"]))
"""

FLOOR = """
import sys, json
from pathlib import Path
import numpy as np, pyarrow as pa
from data_gen.contract import schema_for
from data_gen.writer import write_dataset
rows = json.loads(sys.argv[1]); draws = int(sys.argv[3]); tasks = ("spam", "scam", "fake", "compromised")
rng = np.random.default_rng(0)
# Draw as many random values as the generator did: the table cells below, plus the rest.
extra = draws - sum(n * len(schema_for(t, tasks)) for t, n in rows.items())
sink = 0.0
while extra > 0:
    k = min(extra, 1 << 22)
    sink += rng.random(k).sum()
    extra -= k
def col(field, n):
    t = field.type
    if pa.types.is_dictionary(t):
        return pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 4, n).astype(np.int8)),
                                              pa.array(["a", "b", "c", "d"]))
    if pa.types.is_boolean(t):
        return pa.array(rng.random(n) < 0.5)
    if pa.types.is_floating(t):
        return pa.array(rng.random(n).astype(t.to_pandas_dtype()))
    return pa.array(rng.integers(0, max(n, 2), n).astype(t.to_pandas_dtype()))
tables = {}
for name, n in rows.items():
    schema = schema_for(name, tasks)
    tables[name] = pa.Table.from_arrays([col(f, n) for f in schema], schema=schema)
write_dataset(tables, {}, Path(sys.argv[2]), overwrite=True)
"""

FRIENDS = """
import sys, time
from data_gen import load_scenario
from data_gen.simulate import population, friendships
scn = load_scenario("quick", accounts=int(sys.argv[1]))
pop, layout = population(scn, 0)
t = time.perf_counter()
keys, _ = friendships(scn, 0, pop, layout)
print(time.perf_counter() - t, len(keys))
"""

NETWORKX = """
import sys, time
import networkx as nx
n, m = int(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
g = nx.powerlaw_cluster_graph(n, m, 0.3, seed=0)
print(time.perf_counter() - t, g.number_of_edges())
"""


# The same friendship model written the way one would with networkx: a Python loop per
# stub, weighted community choice by bisect, triadic closure through G.neighbors. Shares
# the population (not part of the step) with the vectorised generator.
NETWORKX_MODEL = """
import sys, time, bisect, random
from itertools import accumulate
import networkx as nx
import numpy as np
from data_gen import load_scenario
from data_gen.friendships import _CONTEXT, ASSORT
from data_gen.simulate import population
scn = load_scenario("quick", accounts=int(sys.argv[1]))
pop, _ = population(scn, 0)
t = time.perf_counter()
rnd = random.Random(0)
n, gc = scn.accounts, scn.graph
w = pop.sociability.tolist()
mean_w = sum(w) / n
probs = _CONTEXT.copy()
probs *= (1 - gc.assortative_share) / probs.sum(axis=1, keepdims=True)
probs[:, ASSORT] = gc.assortative_share
comm_arrays = [pop.school, pop.workplace, pop.local, pop.family, None, pop.region]
members = []
for arr in comm_arrays:
    groups = {}
    if arr is not None:
        for i, c in enumerate(arr.tolist()):
            if c >= 0:
                groups.setdefault(c, []).append(i)
    members.append({c: (m, list(accumulate(w[i] for i in m))) for c, m in groups.items()})
by_band = {}
for i in sorted(range(n), key=lambda i: (pop.band[i], w[i])):
    by_band.setdefault(int(pop.band[i]), []).append(i)
rank = {i: r for lst in by_band.values() for r, i in enumerate(lst)}
G = nx.Graph()
G.add_nodes_from(range(n))
band = pop.band.tolist()
comm_of = [a.tolist() if a is not None else None for a in comm_arrays]
for i in range(n):
    rate = min(w[i] / mean_w * gc.mean_degree / 2, gc.max_degree / 2) * (1 - gc.triadic_share)
    for _ in range(np.random.poisson(rate)):
        ctx = rnd.choices(range(6), weights=probs[band[i]])[0]
        if ctx == ASSORT:
            lst = by_band[band[i]]
            r = min(max(rank[i] + round(rnd.gauss(0, max(3, 0.003 * len(lst)))), 0), len(lst) - 1)
            j = lst[r]
        else:
            c = comm_of[ctx][i]
            if c < 0 or c not in members[ctx]:
                c, ctx = comm_of[2][i], 2
            m, cw = members[ctx][c]
            j = m[min(bisect.bisect(cw, rnd.random() * cw[-1]), len(m) - 1)]
        if j != i:
            G.add_edge(i, j)
for i in range(n):
    rate = min(w[i] / mean_w * gc.mean_degree / 2, gc.max_degree / 2) * gc.triadic_share
    for _ in range(np.random.poisson(rate)):
        nb = list(G[i])
        if nb:
            mid = rnd.choice(nb)
            k = rnd.choice(list(G[mid]))
            if k != i:
                G.add_edge(i, k)
print(time.perf_counter() - t, G.number_of_edges())
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-networkx", action="store_true")
    ap.add_argument("--harm-cost", type=int, default=1_000_000, help="accounts for the harm-cost pair (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh runs per side of the friendship comparison")
    args = ap.parse_args()
    print(f"numpy huge-page advice: {'off' if turn_off_hugepage_advice() else 'on'} (common/memory.py)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            wall, rss, out = run_child(GENERATE, str(n), f"{tmp}/g{n}", str(args.workers))
            rows = json.loads(out)
            _, _, out = run_child(COUNT, str(n), f"{tmp}/c{n}")
            draws = int(out)
            fwall, frss, _ = run_child(FLOOR, json.dumps(rows), f"{tmp}/f{n}", str(draws))
            total_rows = sum(rows.values())
            print(
                f"generate {n:>10,} accounts, workers={args.workers}: {wall:7.1f} s  peak {rss:5.2f} GB  "
                f"rows {total_rows:,}  random values {draws:,} | floor {fwall:6.1f} s peak {frss:5.2f} GB | "
                f"ratio {wall / fwall:4.2f}x",
                flush=True,
            )
        if args.harm_cost:
            n = args.harm_cost
            with_harm, _, _ = run_child(GENERATE, str(n), f"{tmp}/h{n}", str(args.workers))
            without, _, _ = run_child(GENERATE, str(n), f"{tmp}/n{n}", str(args.workers), "no-harm")
            print(
                f"harm model cost at {n:,} accounts: {with_harm:.1f} s with groomers (rate 1.2e-3) and "
                f"look-alikes vs {without:.1f} s without | +{100 * (with_harm / without - 1):.0f}%"
            )
        n = 100_000
        ours, edges = best_of(args.repeat, FRIENDS, str(n))
        print(f"friendship step {n:,} accounts: {ours:.2f} s, {edges:,} edges (mean degree {2 * edges / n:.1f})")
        if not args.skip_networkx:
            m = max(1, round(edges / n))
            ref, ref_edges = best_of(args.repeat, NETWORKX, str(n), str(m))
            print(
                f"networkx powerlaw_cluster_graph({n:,}, m={m}) [a simpler model]: {ref:.2f} s, "
                f"{ref_edges:,} edges | speed-up {ref / ours:.0f}x"
            )
            ref, ref_edges = best_of(args.repeat, NETWORKX_MODEL, str(n))
            print(
                f"networkx, the same friendship model per stub: {ref:.2f} s, {ref_edges:,} edges | "
                f"speed-up {ref / ours:.0f}x"
            )


def best_of(repeat: int, code: str, *args: str) -> tuple[float, int]:
    """(best time, edges) over `repeat` fresh processes running `code`, which prints both."""
    runs = []
    for _ in range(max(1, repeat)):
        _, _, out = run_child(code, *args)
        secs, edges = out.split()
        runs.append((float(secs), int(edges)))
    return min(runs)


if __name__ == "__main__":
    main()
