"""Built-in entry 'logreg': lowbase's own model, submitted through the plugin path like any other."""

from models.baselines import LogRegModel as Model  # noqa: F401 - the plugin class the harness loads
