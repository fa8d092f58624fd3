"""The `lowbase` command line: one module per command group, each with the printers of its output."""
