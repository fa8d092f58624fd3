"""Every error a `lowbase` command reports as bad input, in one place.

The CLI (`bench.cli.console.user_errors`) prints one message naming the field or file and exits
2 for these and for the generator's and the models' input errors; everything else is an
internal error (exit 1). Keeping the types here, not beside the code that raises them, lets
any module raise any of them without importing a sibling (which is how import cycles
start), and this module imports nothing heavy, so `lowbase --help` stays fast.
"""

from __future__ import annotations

from common.files import OutputExistsError


class RunConfigError(ValueError):
    """A run or sweep setting out of range or unknown."""


class ClusterError(RunConfigError):
    """A bad --dask value or a scheduler that does not answer."""


class TrackingStoreError(RunConfigError):
    """The MLflow store (MLFLOW_TRACKING_URI) cannot be opened or created: found before any
    work, named, exit 2."""


class PredictionsError(ValueError):
    """Malformed predictions."""


class SweepError(ValueError):
    """A sweep file that is missing, broken or names an unknown field."""


class SuiteError(ValueError):
    """A suite that is unknown, malformed, or whose datasets do not match."""


class SubmissionError(ValueError):
    """A submission refused before anything was written."""


class EntryError(ValueError):
    """A leaderboard entry that does not re-score to its own figures (verify exits 1)."""


class ResultsError(ValueError):
    """A results file or object that does not match the run-results schema."""


class ReportError(OutputExistsError):
    """The report's `out` is a file, or a non-empty directory that is not a report: never
    replaced."""
