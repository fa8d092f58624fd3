"""A frozen, versioned suite: datasets (preset + overrides + seed + expected fingerprint),
scenarios (a dataset seen at a visibility, the tasks scored, how they are measured, and
which period trains and which tests for drift) and, for the rare harm, the evaluation
worlds every entry is measured on.

Like OGB's fixed splits, the suite pins everything an entry's figure depends on besides the
model: `prepare` regenerates each dataset and world and refuses to go on when a fingerprint
differs (a changed generator must ship a new suite version, never silently move the numbers).

Two designs (docs/design.md "Leaderboard" and "Evaluation design for rare harms"):

- `test-split`: a prevalent task is measured on the training dataset's test split, at
  operating thresholds set on its validation split.
- `powered`: a rare harm. Thresholds come from the training dataset's validation split at
  fixed FPR budgets; the TPR per sophistication level from *enriched* worlds (fresh seeds,
  groomer rate raised, uniform level mix); the FPR from *negative* worlds (fresh seeds at the
  dataset's own rate). The worlds are pinned here, each with the training datasets it serves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.errors import SuiteError
from common.files import read_mapping, validate_model
from data_gen import GENERATOR_VERSION, Scenario, generate, load_scenario
from data_gen.reader import Dataset, DatasetError, open_dataset
from data_gen.visibility import check_level

SUITES_DIR = Path(__file__).parent / "suites"
DEFAULT_SUITE = "lowbase-v2"
POWERED_TASK = "groomer"  # the one task with sophistication levels
ENRICHED_RATE = 1e-2  # bench.rare.powered's default; a world may pin its own


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
    design: Literal["test-split", "powered"] = "test-split"


class WorldSpec(_Strict):
    """An evaluation world of the powered design: `enriched` (the scenario with the groomer
    rate at `rate` and a uniform level mix, for the TPR per level) or `negative` (the
    scenario as it is, for the FPR). Made from the scenario of `datasets[0]`; every dataset
    listed must give the same world scenario, so one world can serve several."""

    role: Literal["enriched", "negative"]
    datasets: tuple[str, ...] = Field(min_length=1)
    seed: int = Field(ge=0)
    rate: float | None = Field(None, gt=0, le=0.1)  # enriched only
    fingerprint: str | None = None

    @model_validator(mode="after")
    def _rate_for_enriched_only(self) -> WorldSpec:
        if self.role == "negative" and self.rate is not None:
            raise ValueError("'rate' is for enriched worlds (a negative world keeps its dataset's rate)")
        return self


class EvaluationSpec(_Strict):
    """The fixed operating points: FPR budgets set on the validation split (powered), the
    base rates precision is projected to (powered), the target precisions set on the
    validation split (test-split)."""

    fpr_budgets: tuple[float, ...] = Field((1e-3, 1e-4), min_length=1)
    base_rates: tuple[float, ...] = Field((1e-4, 1e-5), min_length=1)
    target_precisions: tuple[float, ...] = Field((0.95, 0.99), min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> EvaluationSpec:
        for name in ("fpr_budgets", "base_rates", "target_precisions"):
            if not all(0 < v < 1 for v in getattr(self, name)):
                raise ValueError(f"'{name}': every value must lie in (0, 1)")
        return self


# Fields added after suites were first frozen: left out of a suite's hash when its YAML does
# not set them, so the hash of a frozen suite (which its entries carry) never moves.
_LATER_FIELDS = ("evaluation", "worlds")


class Suite(_Strict):
    suite: str
    generator_version: str
    seeds: tuple[int, ...] = Field(min_length=1)
    datasets: dict[str, DatasetSpec]
    scenarios: dict[str, ScenarioSpec]
    evaluation: EvaluationSpec = EvaluationSpec()
    worlds: dict[str, WorldSpec] = {}

    def digest(self) -> str:
        """The hash entries carry: any change to the suite changes it."""
        doc = self.model_dump(mode="json")
        for key in _LATER_FIELDS:
            if key not in self.model_fields_set:
                doc.pop(key)
        for name, sc in self.scenarios.items():
            if "design" not in sc.model_fields_set:
                doc["scenarios"][name].pop("design")
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def worlds_of(self, dataset: str, role: str) -> list[str]:
        """Names of the evaluation worlds of a role that serve a training dataset."""
        return [n for n, w in self.worlds.items() if w.role == role and dataset in w.datasets]


def load_suite(name_or_path: str = DEFAULT_SUITE) -> Suite:
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml")))
        raise SuiteError(f"suite '{name_or_path}': not found (known suites: {known})")
    suite = validate_model(Suite, read_mapping(path, SuiteError, "a suite: a mapping of fields"), path, SuiteError)
    check_suite(suite, path)
    return suite


def check_suite(suite: Suite, origin: object) -> None:
    """What pydantic cannot see: names that must resolve, and a powered scenario's needs."""
    for name, sc in suite.scenarios.items():
        if sc.dataset not in suite.datasets:
            raise SuiteError(f"{origin}: scenario '{name}' names unknown dataset '{sc.dataset}'")
        check_level(sc.visibility)
        if sc.design != "powered":
            continue
        if sc.tasks != (POWERED_TASK,):
            raise SuiteError(f"{origin}: scenario '{name}', field 'tasks': a powered scenario scores [{POWERED_TASK}]")
        if sc.train_period is not None or sc.test_period is not None:
            raise SuiteError(f"{origin}: scenario '{name}': a powered scenario has no train_period/test_period")
        for role in ("enriched", "negative"):
            if not suite.worlds_of(sc.dataset, role):
                raise SuiteError(
                    f"{origin}: scenario '{name}' (powered) needs at least one {role} world serving "
                    f"dataset '{sc.dataset}' under field 'worlds'"
                )
    for name, w in suite.worlds.items():
        unknown = [d for d in w.datasets if d not in suite.datasets]
        if unknown:
            raise SuiteError(f"{origin}: world '{name}', field 'datasets': unknown dataset(s) {unknown}")
        made = {world_scenario(suite, name, d).model_dump_json() for d in w.datasets}
        if len(made) > 1:
            raise SuiteError(
                f"{origin}: world '{name}' serves datasets {list(w.datasets)} whose {w.role} scenarios differ: "
                "give each its own world"
            )


def scenario_of(spec: DatasetSpec) -> Scenario:
    from bench.setup.config import scenario_with

    return scenario_with(load_scenario(spec.preset), spec.overrides, f"suite dataset ({spec.preset})")


def world_scenario(suite: Suite, name: str, dataset: str | None = None) -> Scenario:
    """The scenario a world is generated from: its (first) dataset's scenario, enriched for
    the TPR (bench.rare.powered.enriched: groomer rate raised, uniform level mix)."""
    from bench.rare.powered import enriched

    w = suite.worlds[name]
    scn = scenario_of(suite.datasets[dataset or w.datasets[0]])
    return enriched(scn, w.rate or ENRICHED_RATE) if w.role == "enriched" else scn


def dataset_dir(root: Path, suite: Suite, name: str) -> Path:
    return Path(root) / suite.suite / name


def world_dir(root: Path, suite: Suite, name: str) -> Path:
    return Path(root) / suite.suite / "worlds" / name


def require_current(suite: Suite, what: str) -> None:
    """Refuse a suite frozen with another generator version: nothing can be scored on it."""
    if suite.generator_version != GENERATOR_VERSION:
        raise SuiteError(
            f"suite {suite.suite} was frozen with generator {suite.generator_version}, this is {GENERATOR_VERSION}: "
            f"its datasets cannot be made again, so it cannot be {what}; it is retired, its entries and table "
            "stand as its final state (show still renders them)"
        )


def _planned(suite: Suite, root: Path) -> list[tuple[str, Path, Scenario, int, str | None]]:
    """(label, directory, scenario, seed, expected fingerprint) of every dataset and world."""
    out = [
        (name, dataset_dir(root, suite, name), scenario_of(spec), spec.seed, spec.fingerprint)
        for name, spec in suite.datasets.items()
    ]
    out += [
        (f"worlds/{name}", world_dir(root, suite, name), world_scenario(suite, name), w.seed, w.fingerprint)
        for name, w in suite.worlds.items()
    ]
    return out


def prepare(suite: Suite, root: Path, workers: int = 2, step=lambda _: None) -> dict[str, Dataset]:
    """Materialise every dataset and evaluation world of the suite under `root`, reusing
    ones already there, and check each fingerprint against the frozen one. Keys: dataset
    names, and `worlds/NAME` for the worlds."""
    require_current(suite, "prepared")
    out = {}
    for label, path, scn, seed, fp in _planned(suite, root):
        if not (path / "dataset.json").is_file():
            step(f"generating {suite.suite}/{label} ({scn.accounts:,} accounts, seed {seed})")
            generate(scn, seed, path, workers=workers, overwrite=True)
        out[label] = _checked(path, f"{suite.suite}/{label}", scn, seed, fp)
    return out


def open_prepared(suite: Suite, root: Path, what: str = "scored") -> dict[str, Dataset]:
    """The suite's datasets and worlds, which `lowbase leaderboard prepare` must have made."""
    require_current(suite, what)
    out = {}
    for label, path, scn, seed, fp in _planned(suite, root):
        if not (path / "dataset.json").is_file():
            raise SuiteError(f"{path}: missing; run `lowbase leaderboard prepare --suite {suite.suite}` first")
        out[label] = _checked(path, f"{suite.suite}/{label}", scn, seed, fp)
    return out


def _checked(path: Path, label: str, scn: Scenario, seed: int, expected: str | None) -> Dataset:
    """Open a prepared dataset; with a frozen fingerprint it must match, without one (a suite
    being frozen, fresh seeds) its seed and scenario must be the ones asked for."""
    try:
        ds = open_dataset(path)
    except DatasetError as e:
        raise SuiteError(f"{label}: {e}") from None
    got = ds.meta["fingerprint"]
    if expected is not None and got != expected:
        raise SuiteError(
            f"{label}: dataset fingerprint {got[:16]} differs from the frozen {expected[:16]}; "
            "the generator changed: refusing to score against a moved suite"
        )
    if expected is None and (ds.meta["seed"] != seed or ds.meta["scenario"] != scn.model_dump(mode="json")):
        raise SuiteError(f"{path}: holds another seed or scenario than {label} asks for; remove it and prepare again")
    return ds


def split_ids(ds: Dataset, sc: ScenarioSpec, split: str = "test") -> np.ndarray:
    """Sorted account ids of a split in a scenario: the test split of `test_period`, the
    validation split of `train_period` (where a model trained on that period would have set
    its threshold), when these are set."""
    return ds.split_ids(split, sc.test_period if split == "test" else sc.train_period if split == "val" else None)


def scored_ids(ds: Dataset, sc: ScenarioSpec) -> np.ndarray:
    """The accounts a scenario scores: its test split."""
    return split_ids(ds, sc, "test")


def truth_for(ds: Dataset, tasks, ids: np.ndarray) -> dict[str, np.ndarray]:
    """0/1 truth per task for the given account ids."""
    return {task: y[ids].astype(np.int8) for task, y in ds.truth_by_id(*tasks).items()}
