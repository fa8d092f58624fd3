"""Typed settings of `lowbase frontier`: the adversary's strategies, validated at the edge.

A strategy is a named point in the groomer knob space (data_gen.config.HarmConfig) for one
sophistication level. A sweep file names the level, two axes a reader can follow and any
extra points:

- **effort**: how hard the offender pushes toward harm (children contacted, pace from
  first contact to the ask);
- **mimicry**: how closely the account copies the child it presents (everyday life,
  sociability, a child's schedule, family ties, targets among mutual friends, the age of
  the persona's account).

Each axis is an ordered mapping from a label to knob values; the grid is every pair, named
`effort=<label>,mimicry=<label>`, and the pair whose knobs are all empty is the default
behaviour every other point is compared with. A knob that holds one value per level
(`targets_median`, `persona_sociability`, ...) is given as one number and lands at the
sweep's level only; the other levels keep the scenario's values. Every strategy's scenario
is validated like a scenario file, so a bad value is refused with the strategy and the
field named, before any world is generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import RunConfigError
from bench.setup.config import scenario_with
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import load_scenario
from data_gen.config import HarmConfig, Scenario, ScenarioError
from data_gen.visibility import check_level

DEFAULT = "default"  # the label of each axis's point that changes nothing
# Knobs whose scenario value is one number per level (L0..L3).
LEVEL_KNOBS = tuple(
    name
    for name, f in HarmConfig.model_fields.items()
    if str(f.annotation).startswith("tuple[float, float, float, float]") and name != "sophistication_mix"
)


def _only_default() -> dict[str, dict[str, Any]]:
    return {DEFAULT: {}}


class StrategySpec(BaseModel):
    """One extra point a user writes out: a name and its knob values."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    knobs: dict[str, Any] = Field(default_factory=dict)


class FrontierConfig(BaseModel):
    """A frontier sweep file (`bench/sweeps/frontier-L3.yaml` is one)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("frontier", min_length=1, max_length=80)
    preset: str = "quick"
    accounts: int | None = Field(None, ge=1000, le=100_000_000)  # the preset's size when None
    seed: int = Field(0, ge=0, le=2**31 - 1)
    level: str = "L3"
    visibility: str = "full"
    # The detector retrained per strategy: one class at the whole pool (the ceiling's
    # largest curve point), gbdt-raw by default, the class that holds the ceiling on quick.
    model: str = "gbdt-raw"
    min_per_level: int = Field(1000, ge=10, le=100_000)
    fpr_accounts: int = Field(1_000_000, ge=0, le=10**9)
    checkpoint_every: int = Field(14, ge=1, le=365)
    effort: dict[str, dict[str, Any]] = Field(default_factory=lambda: _only_default())
    mimicry: dict[str, dict[str, Any]] = Field(default_factory=lambda: _only_default())
    strategies: list[StrategySpec] = Field(default_factory=list)

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v not in SOPHISTICATION_LEVELS:
            raise ValueError(f"expected one of {', '.join(SOPHISTICATION_LEVELS)}, got {v!r}")
        return v

    @field_validator("visibility")
    @classmethod
    def _visibility(cls, v: str) -> str:
        check_level(v)
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from models import MODELS  # torch comes with it: only when a frontier is configured

        if v not in MODELS:
            raise ValueError(f"unknown model {v!r}; expected one of {', '.join(MODELS)}")
        return v

    @field_validator("effort", "mimicry")
    @classmethod
    def _axis(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if DEFAULT not in v or v[DEFAULT]:
            raise ValueError(f"each axis needs a '{DEFAULT}' point with no knobs (the behaviour compared against)")
        return v

    @model_validator(mode="after")
    def _names(self) -> FrontierConfig:
        names = [s.name for s in self.strategies]
        grid = {grid_name(e, m) for e in self.effort for m in self.mimicry}
        if len(set(names)) != len(names) or grid & set(names):
            raise ValueError("strategies: every name must be unique and differ from the grid's names")
        return self


def grid_name(effort: str, mimicry: str) -> str:
    return f"effort={effort},mimicry={mimicry}"


class Strategy(BaseModel):
    """One point of a frontier: its name, the axis labels it sits at (None for a written
    point) and the knob values it sets at its level."""

    model_config = ConfigDict(frozen=True)
    name: str
    effort: str | None
    mimicry: str | None
    knobs: dict[str, Any]

    @property
    def is_default(self) -> bool:
        return not self.knobs


def strategies(cfg: FrontierConfig) -> list[Strategy]:
    """The default point first, then the grid (effort outer, mimicry inner, in file order),
    then the written points. A knob set on both axes of a grid point is refused."""
    out = [Strategy(name=grid_name(DEFAULT, DEFAULT), effort=DEFAULT, mimicry=DEFAULT, knobs={})]
    for e, e_knobs in cfg.effort.items():
        for m, m_knobs in cfg.mimicry.items():
            if e == m == DEFAULT:
                continue
            both = set(e_knobs) & set(m_knobs)
            if both:
                raise RunConfigError(f"frontier: effort '{e}' and mimicry '{m}' both set {', '.join(sorted(both))}")
            out.append(Strategy(name=grid_name(e, m), effort=e, mimicry=m, knobs={**e_knobs, **m_knobs}))
    out += [Strategy(name=s.name, effort=None, mimicry=None, knobs=dict(s.knobs)) for s in cfg.strategies]
    return out


def strategy_scenario(scn: Scenario, level: str, strategy: Strategy) -> Scenario:
    """`scn` with the strategy's knobs at `level` (a per-level knob's other levels kept),
    validated as a scenario file is; errors name the strategy and the field."""
    i = SOPHISTICATION_LEVELS.index(level)
    harm = scn.harm.model_dump()
    fields: dict[str, Any] = {}
    for knob, value in strategy.knobs.items():
        if knob not in harm:
            raise RunConfigError(f"frontier strategy '{strategy.name}': harm has no knob '{knob}'")
        if knob in LEVEL_KNOBS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RunConfigError(
                    f"frontier strategy '{strategy.name}': harm.{knob} is one number per level; give the {level} value"
                )
            per_level = list(harm[knob])
            per_level[i] = float(value)
            value = per_level
        fields[f"harm.{knob}"] = value
    try:
        return scenario_with(scn, fields, f"frontier strategy '{strategy.name}'")
    except ScenarioError as e:
        raise RunConfigError(str(e)) from None


def load_frontier(path: Path) -> FrontierConfig:
    """A frontier sweep file, validated, with every strategy's scenario checked."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise RunConfigError(f"{path}: cannot read the frontier file ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise RunConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise RunConfigError(f"{path}: expected a mapping of frontier settings")
    try:
        cfg = FrontierConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RunConfigError(f"{path}: field '{where}': {first['msg']}") from None
    base = base_scenario(cfg)
    for s in strategies(cfg):
        strategy_scenario(base, cfg.level, s)
    return cfg


def base_scenario(cfg: FrontierConfig) -> Scenario:
    try:
        return load_scenario(cfg.preset, cfg.accounts)
    except ScenarioError as e:
        raise RunConfigError(f"frontier: preset '{cfg.preset}': {e}") from None
