"""What every `lowbase` command shares: the two consoles and the bad-input contract.

Bad input (any error type below) prints one message naming the field or file and exits 2;
everything else propagates to `cli.main`, which maps it to exit 1.
"""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from bench.errors import PredictionsError, ResultsError, RunConfigError, SubmissionError, SuiteError
from common import kernels
from common.files import OutputExistsError
from common.kernels import KernelError
from common.memory import MemoryLimitError
from data_gen import ScenarioError
from data_gen.reader import DatasetError
from data_gen.visibility import VisibilityError
from models.protocol import ModelError

err = Console(stderr=True, soft_wrap=True)
out = Console()

USER_ERRORS = (
    ScenarioError,
    DatasetError,
    OutputExistsError,
    VisibilityError,
    ModelError,
    PredictionsError,
    RunConfigError,
    ResultsError,
    SuiteError,
    SubmissionError,
    KernelError,
    MemoryLimitError,
)


@contextmanager
def user_errors():
    """Bad input -> one clear message and exit 2; nothing else is caught here."""
    try:
        yield
    except USER_ERRORS as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(2) from None


def kernel_note(card: dict) -> None:
    """A model trained under other kernels than this process scores with gives figures of
    neither mode exactly (`common.kernels`): say so. A card without the record predates the
    pin: it was trained native."""
    trained = card.get("kernels", {}).get("mode", kernels.NATIVE)
    if trained != kernels.mode():
        err.print(
            f"note: the model was trained with {trained} kernels and scores with {kernels.mode()} ones here; "
            f"for the figures of its own mode run with --kernels {trained}",
            highlight=False,
        )


def store_first(mlflow: bool) -> None:
    """Open the MLflow store before any work when the command will log to it, so a bad
    MLFLOW_TRACKING_URI exits 2 naming it in seconds, not after the computing."""
    if mlflow:
        from bench.run.tracking import setup  # MLflow comes with it: only when logging

        setup()


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A table of plain cells: rich on a terminal, Markdown (full width, pipeable) otherwise."""
    if not out.is_terminal:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        print(f"\n{title}\n\n" + "\n".join(lines), flush=True)
        return
    from rich.table import Table

    t = Table(title=title)
    for i, h in enumerate(header):
        t.add_column(escape(h), justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*(escape(c) for c in r))
    out.print(t)


DASK_HELP = "local:K (a local Dask cluster of K worker processes) or a scheduler address HOST:PORT"
