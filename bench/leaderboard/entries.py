"""Leaderboard entries: figures that are nothing but what their stored predictions give.

An entry is `NAME.json` (metadata, figures, hashes of the submitted files, of the stored
predictions and of the suite, the worlds it was measured on, and the command that
reproduces it) beside `NAME.parquet`, the predictions stored as ranks (store.py). `verify`
reads the ranks back, recomputes every threshold and figure with the same code `submit`
used (scoring.py), and names every cell that differs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.errors import EntryError
from bench.leaderboard.scoring import PoweredFrame, aggregate, expected_lengths, seed_figures
from bench.leaderboard.store import Parts, ranked, read_ranks, write_ranks
from bench.leaderboard.suite import Suite
from common.files import dumps_json, sha256_file, write_text_atomic

ENTRY_FORMAT = "lowbase-entry/2"
LEGACY_FORMAT = "lowbase-entry/1"  # test-split figures only, from ranks of test scores (lowbase-v1)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def score_entry(per_seed_ranks: list[Parts], suite: Suite, fr: dict) -> tuple[dict, dict]:
    """(figures, validation), each aggregated over seeds, from ranked parts."""
    figs, kinds, vals = zip(*(seed_figures(p, suite, fr) for p in per_seed_ranks), strict=True)
    return aggregate(list(figs), list(kinds)), aggregate(list(vals))


def worlds_record(suite: Suite, datasets: dict, fr: dict) -> dict:
    """The evaluation worlds an entry was measured on: fingerprint, seed, and what each
    contributes (offenders per level, or negatives)."""
    out: dict = {}
    for frame in fr.values():
        if not isinstance(frame, PoweredFrame):
            continue
        for w, (fp, levels) in frame.enriched.items():
            counts = {f"L{li}": int((levels == li).sum()) for li in range(4)}
            out[w] = {"role": "enriched", "fingerprint": fp, "seed": int(datasets[f"worlds/{w}"].meta["seed"]),
                      "offenders": counts}  # fmt: skip
        for w, (fp, n) in frame.negatives.items():
            out[w] = {"role": "negative", "fingerprint": fp, "seed": int(datasets[f"worlds/{w}"].meta["seed"]),
                      "negatives": n}  # fmt: skip
    return out


def make_entry(meta: dict, suite: Suite, datasets: dict, fr: dict, per_seed_ranks: list[Parts], seeds, **extra) -> dict:
    figures, validation = score_entry(per_seed_ranks, suite, fr)
    return {
        "format": ENTRY_FORMAT,
        **meta,
        "suite": suite.suite,
        "suite_sha256": suite.digest(),
        "evaluation": suite.evaluation.model_dump(mode="json"),
        "seeds": list(seeds),
        "figures": figures,
        "validation": validation,
        "dataset_fingerprints": {k: d.meta["fingerprint"] for k, d in datasets.items() if not k.startswith("worlds/")},
        "worlds": worlds_record(suite, datasets, fr),
        **extra,
    }


def write_entry(directory: Path, entry: dict, per_seed_ranks: list[Parts]) -> Path:
    """Ranks parquet first, then the JSON (the entry's existence), each via a temp rename."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = slug(entry["name"])
    pq_path, js_path = directory / f"{stem}.parquet", directory / f"{stem}.json"
    if js_path.exists():
        raise FileExistsError(f"{js_path}: an entry named '{entry['name']}' exists")
    write_ranks(pq_path, per_seed_ranks, entry["seeds"])
    entry = {**entry, "predictions": {"file": pq_path.name, "sha256": sha256_file(pq_path),
                                      "bytes": pq_path.stat().st_size}}  # fmt: skip
    return write_text_atomic(js_path, dumps_json(entry))


def load_entries(directory: Path) -> list[tuple[Path, dict]]:
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            out.append((p, json.loads(p.read_text())))
        except json.JSONDecodeError as e:
            raise EntryError(f"{p}: not valid JSON ({e})") from None
    return out


def verify_entry(path: Path, entry: dict, suite: Suite, datasets: dict, fr: dict) -> None:
    """Raise EntryError naming the entry, and the cells, when its suite, worlds, stored
    predictions or figures do not check out."""
    name = path.name
    if entry.get("format") != ENTRY_FORMAT:
        raise EntryError(f"{name}: format {entry.get('format')!r}, expected {ENTRY_FORMAT}")
    if entry.get("suite_sha256") != suite.digest():
        raise EntryError(f"{name}: made for another version of suite {suite.suite} (suite hash differs)")
    fps = {k: d.meta["fingerprint"] for k, d in datasets.items() if not k.startswith("worlds/")}
    if entry.get("dataset_fingerprints") != fps:
        raise EntryError(f"{name}: dataset fingerprints differ from the prepared suite's")
    if entry.get("worlds") != worlds_record(suite, datasets, fr):
        raise EntryError(f"{name}: evaluation worlds (fingerprints, offenders, negatives) differ from the suite's")
    pq_path = path.with_name(entry["predictions"]["file"])
    if not pq_path.is_file():
        raise EntryError(f"{name}: stored predictions {pq_path.name} missing")
    if sha256_file(pq_path) != entry["predictions"]["sha256"]:
        raise EntryError(f"{name}: stored predictions {pq_path.name} do not match their hash")
    per_seed = read_ranks(pq_path, entry["seeds"])
    _check_shapes(name, per_seed, entry, suite, fr)
    # Stored ranks are ranks already; ranking them again is the identity on their order.
    figures, validation = score_entry([ranked(p) for p in per_seed], suite, fr)
    diffs = cell_diffs(entry["figures"], figures) + [
        f"validation {d}" for d in cell_diffs(entry["validation"], validation)
    ]
    if diffs:
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        raise EntryError(f"{name}: figures differ from what its stored predictions give: {shown}")


def _check_shapes(name: str, per_seed: list[Parts], entry: dict, suite: Suite, fr: dict) -> None:
    entered = [s for s in suite.scenarios if s in entry["figures"]]
    if not entered or any(s not in suite.scenarios for s in entry["figures"]):
        raise EntryError(f"{name}: figures name scenarios {sorted(entry['figures'])}, not the suite's")
    for seed, parts in zip(entry["seeds"], per_seed, strict=True):
        want = {(s, t) for s in entered for t in suite.scenarios[s].tasks}
        if set(parts) != want:
            raise EntryError(f"{name}: seed {seed}: stored (scenario, task) pairs differ from the entered scenarios'")
        for (s, t), by_part in parts.items():
            lengths = expected_lengths(fr[s], t)
            if set(by_part) != set(lengths):
                raise EntryError(
                    f"{name}: seed {seed}, {s}/{t}: stored parts {sorted(by_part)}, expected {sorted(lengths)}"
                )
            for part, n in lengths.items():
                got = len(by_part[part])
                limit = fr[s].negatives[part[4:]][1] if n is None else n
                if (n is not None and got != n) or got > limit:
                    want = n if n is not None else f"<= {limit}"
                    raise EntryError(
                        f"{name}: seed {seed}, {s}/{t}, part '{part}': {got} stored scores, expected {want}"
                    )


def cell_diffs(stored, again, where: str = "", tol: float = 1e-12) -> list[str]:
    """'scenario/task/metric.per_seed[i]: stored X, recomputed Y' for each differing value."""
    if isinstance(again, dict):
        if not isinstance(stored, dict) or stored.keys() != again.keys():
            return [f"{where or 'figures'}: stored keys {sorted(stored) if isinstance(stored, dict) else stored!r}, "
                    f"recomputed {sorted(again)}"]  # fmt: skip
        return [d for k in again for d in cell_diffs(stored[k], again[k], _join(where, k), tol)]
    if isinstance(again, list):
        if not isinstance(stored, list) or len(stored) != len(again):
            return [f"{where}: stored {stored!r}, recomputed {again!r}"]
        return [
            d
            for i, (a, b) in enumerate(zip(stored, again, strict=True))
            for d in cell_diffs(a, b, f"{where}[{i}]", tol)
        ]
    if _same_value(stored, again, tol):
        return []
    return [f"{where}: stored {stored!r}, recomputed {again!r}"]


def _join(where: str, key: str) -> str:
    if not where:
        return key
    return f"{where}.{key}" if key in ("mean", "std", "per_seed", "kinds") else f"{where}/{key}"


def _same_value(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(a - b) <= tol
    return a == b
