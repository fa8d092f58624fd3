"""`verify --fresh-seeds K`: re-run plugin entries on datasets the submitter never saw.

A frozen suite is public: a submission can be tuned, knowingly or not, to its datasets'
seeds. Fresh seeds measure how much: the suite's datasets and evaluation worlds are made
again from the same scenarios with seeds derived from the frozen ones (never equal to any
of them), the entry's plugin is fitted and scored exactly as `submit` does, and every cell
is reported as frozen value, fresh value and the gap. A gap is a finding, not a failure.

Fresh run k fits with model seed `suite.seeds[k mod len(seeds)]`: the frozen cell is a mean
over the suite's model seeds on the frozen datasets, the fresh one a mean over K (dataset,
model seed) pairs, so the frozen std over seeds is printed beside every gap to read it by.
The plugin runs sandboxed as in `submit` (harness.py), or in this process when trusted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.errors import SubmissionError, SuiteError
from bench.leaderboard.entries import score_entry
from bench.leaderboard.harness import Plugin, run_plugin
from bench.leaderboard.scoring import frames, tag
from bench.leaderboard.store import ranked
from bench.leaderboard.suite import Suite, check_suite, prepare
from bench.results import recall_key
from common.files import sha256_file

FRESH_KEY = 0x66726573  # 'fres': the spawn key that sets fresh seeds apart from bench.rare.powered's worlds


def frozen_seeds(suite: Suite) -> set[int]:
    return {s.seed for s in suite.datasets.values()} | {w.seed for w in suite.worlds.values()}


def fresh_seed(seed: int, k: int, taken: set[int], salt: int = 0) -> int:
    """The k-th fresh seed for a frozen seed: a hash of (seed, salt, k), moved past any seed
    the suite pins. The salt is what keeps fresh worlds unknown to a plugin: the generator
    and the frozen seeds are public, so seeds derived from them alone could be derived (and
    their worlds, truth included, generated) by the plugin itself; `verify` draws a random
    salt each time and records it, so a run is reproduced with `--salt`. Salt 0 is the
    public derivation from (seed, k) alone, for readings anyone may reproduce."""
    entropy = seed if salt == 0 else [seed, salt]
    state = np.random.SeedSequence(entropy, spawn_key=(FRESH_KEY, k)).generate_state(2, np.uint32)
    s = int(state[0]) << 31 | int(state[1]) >> 1
    while s in taken:
        s += 1
    return s


def new_salt() -> int:
    """A secret for one `verify --fresh-seeds`: 63 random bits from the operating system."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def fresh_suite(suite: Suite, k: int, salt: int = 0) -> Suite:
    """The suite with every dataset and world seed replaced by its k-th fresh seed under
    `salt` and no fingerprint pinned (prepare then checks seed and scenario instead)."""
    taken = frozen_seeds(suite)
    datasets = {n: d.model_copy(update={"seed": fresh_seed(d.seed, k, taken, salt), "fingerprint": None})
                for n, d in suite.datasets.items()}  # fmt: skip
    worlds = {n: w.model_copy(update={"seed": fresh_seed(w.seed, k, taken, salt), "fingerprint": None})
              for n, w in suite.worlds.items()}  # fmt: skip
    name = f"{suite.suite}/fresh-{salt:x}-{k}"  # a salt's worlds never meet another salt's on disk
    new = suite.model_copy(update={"suite": name, "datasets": datasets, "worlds": worlds})
    check_suite(new, f"{suite.suite} (fresh seeds {k})")
    if frozen_seeds(new) & taken:
        raise SuiteError(f"{suite.suite}: fresh seeds {k} collide with a frozen seed")
    return new


def plugin_of(entry: dict, repo: Path) -> tuple[Path, str]:
    """The plugin file and class an entry was made with, checked against the hash the entry
    recorded: fresh seeds re-run exactly the submitted code, or refuse."""
    name = entry.get("name", "?")
    if entry.get("kind") != "plugin" or not entry.get("plugin") or not entry.get("source"):
        raise SubmissionError(f"entry '{name}': not a plugin entry with a recorded source; nothing to re-run")
    rel, _, cls = entry["plugin"].partition(":")
    directory = Path(entry["source"])
    directory = directory if directory.is_absolute() else repo / directory
    path = directory / rel
    if not path.is_file():
        raise SubmissionError(f"entry '{name}': plugin {path} not found (field 'source' of the entry)")
    want = entry.get("submitted_sha256", {}).get(Path(rel).as_posix())
    if want != sha256_file(path):
        raise SubmissionError(f"entry '{name}': plugin {path} differs from the code the entry was made with")
    return path, cls


def fresh_runs(
    suite: Suite, root: Path, k: int, workers: int, step: Callable[[str], None], salt: int = 0
) -> list[tuple]:
    """Per fresh index: (fresh suite, its prepared datasets and worlds, their frames)."""
    out = []
    for i in range(k):
        fs = fresh_suite(suite, i, salt)
        ds = prepare(fs, root, workers, step)
        out.append((fs, ds, frames(fs, ds)))
    return out


def fresh_figures(
    entry: dict,
    runs: list[tuple],
    repo: Path,
    step: Callable[[str], None],
    done: Callable[[], None] = lambda: None,
    trusted: bool = False,
) -> list[dict]:
    """The entry's figures on each fresh run (one model seed each); `done` after each run.
    The plugin runs sandboxed, one process per run (in this process when `trusted`)."""
    plugin = Plugin(*plugin_of(entry, repo), trusted=trusted)
    out = []
    for i, (fs, ds, fr) in enumerate(runs):
        seed = fs.seeds[i % len(fs.seeds)]
        step(f"{entry['name']}: fresh seeds {i + 1}/{len(runs)} (model seed {seed})")
        parts = run_plugin(plugin, fs, ds, fr, [seed], entry["name"], step)
        figs, _ = score_entry([ranked(p) for p in parts], fs, fr)
        out.append(figs)
        done()
    return out


def headline(suite: Suite) -> list[tuple[str, str, str]]:
    """The cells the table shows: (scenario, task, metric)."""
    out = []
    for sc, spec in suite.scenarios.items():
        for task in spec.tasks:
            if spec.design == "powered":
                ms = [f"recall_fpr{tag(b)}" for b in sorted(suite.evaluation.fpr_budgets, reverse=True)]
                strict = tag(min(suite.evaluation.fpr_budgets))
                ms += [f"precision_pi{tag(pi)}_fpr{strict}" for pi in suite.evaluation.base_rates] + ["auroc"]
            else:
                ms = ["auroc", recall_key(min(suite.evaluation.target_precisions))]
            out += [(sc, task, m) for m in ms]
    return out


def gaps(entry: dict, fresh: list[dict], suite: Suite, cells: list[tuple] | None = None) -> list[dict]:
    """Per cell: frozen mean, std and per-seed values, fresh mean and per-run values, gap
    (fresh mean - frozen mean; None where either is undefined)."""
    cells = cells if cells is not None else [
        (sc, t, m) for sc, tasks in entry["figures"].items() for t, mets in tasks.items() for m in mets
    ]  # fmt: skip
    out = []
    for sc, task, m in cells:
        frozen = entry["figures"].get(sc, {}).get(task, {}).get(m)
        if frozen is None:
            continue
        vals = [f.get(sc, {}).get(task, {}).get(m, {}).get("mean") for f in fresh]
        ok = [v for v in vals if v is not None]
        mean = float(np.mean(ok)) if ok else None
        out.append({
            "scenario": sc, "task": task, "metric": m,
            "frozen": {"mean": frozen["mean"], "std": frozen["std"], "per_seed": frozen["per_seed"]},
            "fresh": {"mean": mean, "per_run": vals},
            "gap": None if mean is None or frozen["mean"] is None else mean - frozen["mean"],
        })  # fmt: skip
    return out
