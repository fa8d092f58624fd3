"""Built-in entry 'random': lowbase's own model, submitted through the plugin path like any other."""

from models.baselines import RandomModel as Model  # noqa: F401 - the plugin class the harness loads
