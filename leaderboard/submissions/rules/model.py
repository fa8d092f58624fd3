"""Built-in entry 'rules': lowbase's own model, submitted through the plugin path like any other."""

from models.baselines import RulesModel as Model  # noqa: F401 - the plugin class the harness loads
