"""lowbase's synthetic platform generator.

Public API: `load_scenario` (config.py), `generate` (generate.py), and the dataset reader
(`reader.open_dataset`). This layer imports nothing from `models` or `bench`.
"""

from data_gen.config import PRESETS, Scenario, ScenarioError, load_scenario
from data_gen.generate import GENERATOR_VERSION, generate

__all__ = ["PRESETS", "GENERATOR_VERSION", "Scenario", "ScenarioError", "generate", "load_scenario"]
