"""A frozen, versioned suite: datasets (preset + overrides + seed + expected fingerprint)
and scenarios (a dataset seen at a visibility, the tasks scored, and which period trains
and which tests for drift).

Like OGB's fixed splits, the suite pins everything an entry's figure depends on besides the
model: `prepare` regenerates each dataset and refuses to go on when a fingerprint differs
(a changed generator must ship a new suite version, never silently move the numbers).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from bench.errors import SuiteError
from common.files import read_mapping, validate_model
from data_gen import GENERATOR_VERSION, generate, load_scenario
from data_gen.reader import Dataset, DatasetError, open_dataset
from data_gen.visibility import check_level

SUITES_DIR = Path(__file__).parent / "suites"
DEFAULT_SUITE = "lowbase-v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    preset: str = "quick"
    overrides: dict = {}
    seed: int = Field(0, ge=0)
    fingerprint: str | None = None  # None only while a suite is being frozen


class ScenarioSpec(_Strict):
    dataset: str
    visibility: str = "full"
    tasks: tuple[str, ...] = Field(min_length=1)
    train_period: int | None = Field(None, ge=1, le=2)  # labels of this period only
    test_period: int | None = Field(None, ge=1, le=2)  # score test accounts of this period only


class Suite(_Strict):
    suite: str
    generator_version: str
    seeds: tuple[int, ...] = Field(min_length=1)
    datasets: dict[str, DatasetSpec]
    scenarios: dict[str, ScenarioSpec]

    def digest(self) -> str:
        """The hash entries carry: any change to the suite changes it."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def load_suite(name_or_path: str = DEFAULT_SUITE) -> Suite:
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in SUITES_DIR.glob("*.yaml"))
        raise SuiteError(f"suite '{name_or_path}': not found (known suites: {known})")
    suite = validate_model(Suite, read_mapping(path, SuiteError, "a suite: a mapping of fields"), path, SuiteError)
    for name, sc in suite.scenarios.items():
        if sc.dataset not in suite.datasets:
            raise SuiteError(f"{path}: scenario '{name}' names unknown dataset '{sc.dataset}'")
        check_level(sc.visibility)
    return suite


def scenario_of(spec: DatasetSpec):
    from bench.config import scenario_with

    return scenario_with(load_scenario(spec.preset), spec.overrides, f"suite dataset ({spec.preset})")


def dataset_dir(root: Path, suite: Suite, name: str) -> Path:
    return Path(root) / suite.suite / name


def prepare(suite: Suite, root: Path, workers: int = 2, step=lambda _: None) -> dict[str, Dataset]:
    """Materialise every dataset of the suite under `root`, reusing ones already there,
    and check each fingerprint against the frozen one."""
    if suite.generator_version != GENERATOR_VERSION:
        raise SuiteError(
            f"suite {suite.suite} was frozen with generator {suite.generator_version}, this is {GENERATOR_VERSION}"
        )
    out = {}
    for name, spec in suite.datasets.items():
        path = dataset_dir(root, suite, name)
        if not (path / "dataset.json").is_file():
            step(f"generating {suite.suite}/{name}")
            generate(scenario_of(spec), spec.seed, path, workers=workers, overwrite=True)
        out[name] = _checked(path, suite, name, spec)
    return out


def open_prepared(suite: Suite, root: Path) -> dict[str, Dataset]:
    """The suite's datasets, which `lowbase leaderboard prepare` must have made."""
    out = {}
    for name, spec in suite.datasets.items():
        path = dataset_dir(root, suite, name)
        if not (path / "dataset.json").is_file():
            raise SuiteError(f"{path}: missing; run `lowbase leaderboard prepare` first")
        out[name] = _checked(path, suite, name, spec)
    return out


def _checked(path: Path, suite: Suite, name: str, spec: DatasetSpec) -> Dataset:
    try:
        ds = open_dataset(path)
    except DatasetError as e:
        raise SuiteError(f"{suite.suite}/{name}: {e}") from None
    got = ds.meta["fingerprint"]
    if spec.fingerprint is not None and got != spec.fingerprint:
        raise SuiteError(
            f"{suite.suite}/{name}: dataset fingerprint {got[:16]} differs from the frozen {spec.fingerprint[:16]}; "
            "the generator changed: refusing to score against a moved suite"
        )
    return ds


def split_ids(ds: Dataset, sc: ScenarioSpec, split: str = "test") -> np.ndarray:
    """Sorted account ids of a split in a scenario (of `test_period` if set)."""
    t = ds.table("splits")
    keep = np.asarray(t["split"].cast(pa.string())) == split
    if sc.test_period is not None:
        keep &= t["period"].to_numpy() == sc.test_period
    return np.sort(t["account_id"].to_numpy()[keep])


def scored_ids(ds: Dataset, sc: ScenarioSpec) -> np.ndarray:
    """The accounts a scenario scores: its test split."""
    return split_ids(ds, sc, "test")


def truth_for(ds: Dataset, tasks, ids: np.ndarray) -> dict[str, np.ndarray]:
    """0/1 truth per task for the given account ids."""
    t = ds.table("truth", ["account_id", *tasks])
    order = np.argsort(t["account_id"].to_numpy())
    pos = order[np.searchsorted(t["account_id"].to_numpy(), ids, sorter=order)]
    return {task: t[task].to_numpy()[pos].astype(np.int8) for task in tasks}
