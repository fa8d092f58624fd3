"""Built-in entry 'dec': lowbase's own model, submitted through the plugin path like any other."""

from models.dec import DecModel as Model  # noqa: F401 - the plugin class the harness loads
