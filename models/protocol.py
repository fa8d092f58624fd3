"""The one model protocol every classifier implements, built-in models and leaderboard plugins alike.

A model is fitted on a `ModelInput` (an observable view of a dataset) and scores every
account for every task. It saves itself without pickle: JSON for parameters, LightGBM text
models, torch state dicts; the dataset fingerprint, the visibility level and the feature
schema go with it, and loading against an incompatible dataset fails with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from common import kernels
from common.files import (
    OutputExistsError,
    atomic_dir,
    check_target,
    read_mapping,
    require_keys,
    sha256_file,
    unlisted_entries,
    write_marker,
)
from models.inputs import ModelInput

# /2: the card lists the SHA-256 of every file beside it (`files`); /1 cards had none and
# are refused with the way out (train again).
MODEL_FORMAT = "lowbase-model/2"
CARD = "model.json"


class ModelError(ValueError):
    """A model directory that is missing, malformed or incompatible (the CLI exits 2)."""


class Model(Protocol):
    name: str

    def fit(self, data: ModelInput, seed: int) -> None: ...

    def predict_scores(self, data: ModelInput) -> pd.DataFrame:
        """Columns account_id, task, score: one row per account and task."""
        ...

    def state(self, out: Path) -> dict:
        """Write any binary parts into `out` and return the JSON-able rest."""
        ...

    @classmethod
    def from_state(cls, state: dict, path: Path) -> Model: ...


def scores_frame(tasks: tuple[str, ...], scores: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(scores.values())))
    return pd.DataFrame(
        {
            "account_id": np.tile(np.arange(n, dtype=np.int64), len(tasks)),
            "task": np.repeat(np.array(tasks, dtype=object), n),
            "score": np.concatenate([np.asarray(scores[t], dtype=np.float64) for t in tasks]),
        }
    )


def save_model(model: Model, data: ModelInput, seed: int, out: Path, overwrite: bool = False) -> Path:
    """Write atomically: a hidden temporary sibling, model.json last, then one rename. With
    `overwrite`, an existing model directory (a model.json of this format) is replaced;
    any other non-empty directory never is."""
    with atomic_dir(out, check=lambda p: check_model_target(p, overwrite)) as tmp:
        card = {
            "format": MODEL_FORMAT,
            "model": model.name,
            "seed": seed,
            "dataset_fingerprint": data.view.fingerprint,
            "visibility": data.view.level,
            "feature_names": list(data.features.names),
            "tasks": list(data.tasks),
            "kernels": kernels.describe(),
            "state": model.state(tmp),
        }
        card["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.name != CARD}
        write_marker(tmp / CARD, json.dumps(card, indent=2, sort_keys=True) + "\n")
    return Path(out).resolve()


def _foreign_to_model(path: Path) -> list[str]:
    """Every entry of `path` unless it holds a model card this tool wrote (a model card
    vouches for its whole directory: the state files are the model's own)."""
    names = [p.name for p in Path(path).iterdir()]
    return unlisted_entries(
        path, CARD, lambda card: names if str(card["format"]).startswith("lowbase-model/") else None
    )


def check_model_target(out: Path, overwrite: bool) -> None:
    """`--out` of a model: empty, missing, or (with `overwrite`) a model this tool saved."""
    try:
        check_target(out, overwrite, _foreign_to_model, owned="a lowbase model directory")
    except OutputExistsError as e:
        raise ModelError(str(e)) from None


def load_card(path: Path) -> dict:
    path = Path(path)
    card_path = path / CARD
    card = read_mapping(card_path, ModelError, "a lowbase model card: not a lowbase model directory?")
    if card.get("format") == "lowbase-model/1":
        raise ModelError(f"{card_path}: saved without file hashes by an earlier lowbase (format lowbase-model/1): "
                         "train it again")  # fmt: skip
    keys = ("format", "model", "dataset_fingerprint", "visibility", "feature_names", "tasks", "state", "files")
    require_keys(card, keys, card_path, ModelError)
    if card["format"] != MODEL_FORMAT:
        raise ModelError(f"{card_path}: format '{card['format']}', expected '{MODEL_FORMAT}'")
    verify_files(card, path)
    return card


def verify_files(card: dict, path: Path) -> None:
    """Every file of the model directory is one the card lists, by a plain name, with the
    SHA-256 it was saved with: checked before any parser (LightGBM, torch) reads a byte, so
    a truncated, swapped or replaced file is refused by name instead of crashing a parser
    or scoring with the wrong weights."""
    files = card["files"]
    if not isinstance(files, dict):
        raise ModelError(f"{path / CARD}: 'files' must map file names to SHA-256 digests")
    present = {p.name for p in Path(path).iterdir()} - {CARD}
    for name in sorted(set(files) | present):
        where = path / name
        if not plain_name(name):
            raise ModelError(f"{path / CARD}: file name {name!r} is not a plain name inside the model directory")
        if name not in files:
            raise ModelError(f"{where}: not listed in {CARD} (a model directory holds only its own files)")
        if name not in present or not where.is_file():
            raise ModelError(f"{where}: listed in {CARD} but missing")
        if sha256_file(where) != files[name]:
            raise ModelError(f"{where}: its SHA-256 differs from the one saved in {CARD} (changed or damaged)")


def plain_name(name: object) -> bool:
    """A file name a model may refer to: one path component, not hidden, no separator."""
    return isinstance(name, str) and bool(name) and name == Path(name).name and not name.startswith(".")


def model_file(path: Path, name: object) -> Path:
    """The file `name` of the model directory `path`, refused unless it is a plain name
    (no absolute path, no `..`): a card must not point a parser outside its directory."""
    if not plain_name(name):
        raise ModelError(f"{Path(path) / CARD}: file name {name!r} is not a plain name inside the model directory")
    return Path(path) / str(name)


def check_compatible(card: dict, data: ModelInput, path: Path) -> None:
    """A model scores only the dataset family it was trained for: same tasks and the same
    feature schema (fingerprints may differ, e.g. a drift period or another seed)."""
    if list(data.tasks) != card["tasks"]:
        raise ModelError(f"{path}: trained for tasks {card['tasks']}, dataset has {list(data.tasks)}")
    if data.view.level != card["visibility"]:
        raise ModelError(f"{path}: trained at visibility '{card['visibility']}', asked for '{data.view.level}'")
    names = list(data.features.names)
    if names != card["feature_names"]:
        missing = sorted(set(card["feature_names"]) - set(names))[:5]
        raise ModelError(f"{path}: feature schema differs from the dataset's (e.g. missing {missing})")
