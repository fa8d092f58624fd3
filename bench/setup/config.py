"""Typed settings of `lowbase run` and `lowbase sweep`, validated at the edge.

Light on imports on purpose: the CLI imports this for its error types before any command
runs, and `lowbase --help` should not wait for torch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.errors import RunConfigError
from bench.setup.cluster import parse_dask
from common import kernels
from common.files import validate_model
from data_gen import load_scenario
from data_gen.config import Scenario, ScenarioError, scenario_from_dict
from data_gen.visibility import check_level


class RunConfig(BaseModel):
    """Everything a run depends on besides the code: validated at the edge, logged as params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "quick"  # preset name or scenario YAML path
    accounts: int | None = Field(None, ge=200)
    seed: int = Field(0, ge=0)
    overrides: dict[str, Any] = {}  # dotted scenario fields, e.g. {"harm.groomer_rate": 1e-3}
    models: tuple[str, ...] = ("dec", "gbdt-raw", "logreg", "rules", "random")
    visibility: str = "full"
    precision: float = Field(0.95, gt=0.0, lt=1.0)  # the operating point (paper 7.2.2)
    project_rates: tuple[float, ...] = (1e-4, 1e-5, 1e-6)
    platform_accounts: float = Field(3e9, gt=0)
    minutes_per_review: float = Field(5.0, ge=0)
    # Days between detection-before-harm checkpoints; None: weekly up to 200K accounts,
    # fortnightly above (each checkpoint featurises two worlds as of that day).
    checkpoint_days: int | None = Field(None, ge=1, le=366)
    # Groomer rates at which to regenerate and retrain the primary model (empirical base-rate
    # sweep); None picks by population size so each rate still holds >= ~30 test groomers.
    empirical_rates: tuple[float, ...] | None = None
    drift: bool = True  # also train on period 1 and test on period 2 of a drift variant
    # The powered groomer evaluation (bench/rare/powered.py): TPR per level on enriched worlds,
    # FPR pooled over fresh worlds at the scenario's rate, thresholds from validation, the
    # training-world truth and label budgets beside the realistic labels, detection before harm on the
    # enriched world with spam and scam as positive controls.
    powered: bool = True
    # Negatives for the FPR; None: 10 worlds of the scenario's size, at most 1M accounts
    # (the quick preset: 1M), at least one world.
    fpr_accounts: int | None = Field(None, ge=0)
    tpr_worlds: int = Field(1, ge=1, le=100)
    enriched_rate: float = Field(1e-2, gt=0, le=0.05)
    label_budgets: tuple[int, ...] = (10, 30, 100, 300)
    resamples: int = Field(200, ge=10)
    workers: int = Field(2, ge=1, le=256)
    # `--dask local:K | ADDRESS`: where generation, features and LightGBM run. Excluded from
    # dumps (so from run names, sweep hashes and logged params): it changes where the work
    # runs, not the dataset (identical bytes) nor what is computed.
    dask: str | None = Field(None, exclude=True)

    @field_validator("models")
    @classmethod
    def _known_models(cls, v):
        from models import MODELS  # torch comes with it: only when a run is configured

        bad = [m for m in v if m not in MODELS]
        if bad or not v:
            raise ValueError(f"unknown model(s) {bad}; expected some of {', '.join(MODELS)}")
        return v

    @field_validator("dask")
    @classmethod
    def _dask(cls, v):
        parse_dask(v)  # ClusterError is a ValueError: reported naming the field
        return v

    @field_validator("label_budgets")
    @classmethod
    def _budgets(cls, v):
        if any(b < 2 for b in v):
            raise ValueError("each label budget must be >= 2 (one labelled offender in train, one in val)")
        return tuple(sorted(set(v)))

    @field_validator("visibility")
    @classmethod
    def _level(cls, v):
        return check_level(v)

    @field_validator("project_rates", "empirical_rates")
    @classmethod
    def _rates(cls, v):
        if v is not None and any(not 0 < r < 1 for r in v):
            raise ValueError("rates must lie in (0, 1)")
        return v


def fpr_accounts(cfg: RunConfig, scn: Scenario) -> int:
    """Negatives to score for the pooled FPR (`RunConfig.fpr_accounts`, or its default)."""
    if cfg.fpr_accounts is not None:
        return cfg.fpr_accounts
    return max(scn.accounts, min(10 * scn.accounts, 1_000_000))


def checkpoint_every(cfg: RunConfig, scn: Scenario) -> int:
    """Days between detection-before-harm checkpoints (`RunConfig.checkpoint_days`, or its default)."""
    if cfg.checkpoint_days is not None:
        return cfg.checkpoint_days
    return 7 if scn.accounts <= 200_000 else 14


def make_run_config(origin: str = "run", **fields) -> RunConfig:
    """RunConfig from user input; a bad field raises RunConfigError naming it."""
    return validate_model(RunConfig, fields, origin, RunConfigError)


def run_name(cfg: RunConfig, scn: Scenario) -> str:
    """A stable name per (scenario, config, kernels): reruns of the same thing share it, and
    a pinned run never overwrites a native one (`common.kernels`; native names are the ones
    runs had before the pin existed)."""
    blob = json.dumps({**cfg.model_dump(mode="json"), **kernels.key_fields()}, sort_keys=True)
    return f"{scn.name}-s{cfg.seed}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def scenario_with(scn: Scenario, overrides: dict[str, Any], origin: str = "overrides") -> Scenario:
    """The scenario with dotted fields replaced, validated like a YAML file would be."""
    data = scn.model_dump()
    for key, value in overrides.items():
        node, *path = key.split(".")
        target = data
        for part in [node, *path][:-1]:
            if not isinstance(target.get(part), dict):
                raise ScenarioError(f"{origin}: field '{key}': no such scenario section '{part}'")
            target = target[part]
        target[key.split(".")[-1]] = value
    return scenario_from_dict(data, origin)


def resolve_scenario(cfg: RunConfig) -> Scenario:
    return scenario_with(
        load_scenario(cfg.preset, cfg.accounts), dict(cfg.overrides), f"run overrides of '{cfg.preset}'"
    )
