"""The `lowbase` command line: the app, where every command is registered, and the entry point.

Exit codes are part of the contract: 0 success, 2 bad input (with a message naming the
field or file), 1 internal error. Long work shows a progress bar on stderr.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from bench.cli import ceiling, certify, data, frontier, leaderboard, models, runs
from bench.cli.console import err, user_errors
from common import kernels
from common.memory import address_space_limit, turn_off_hugepage_advice
from data_gen import GENERATOR_VERSION

app = typer.Typer(
    name="lowbase",
    help="A benchmark for metadata-only classifiers against rare, adversarial harms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Every command, registered in one place in the order `--help` lists them.
for name, command in (
    ("generate", data.generate_cmd),
    ("inspect", data.inspect_cmd),
    ("train", models.train_cmd),
    ("evaluate", models.evaluate_cmd),
    ("run", runs.run_cmd),
    ("sweep", runs.sweep_cmd),
    ("report", runs.report_cmd),
    ("certify", certify.certify_cmd),
    ("ceiling", ceiling.ceiling_cmd),
    ("frontier", frontier.frontier_cmd),
    ("ui", runs.ui_cmd),
):
    app.command(name)(command)
app.add_typer(leaderboard.app, name="leaderboard")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the generator version.")] = False,
    kernel_mode: Annotated[
        str,
        typer.Option(
            "--kernels",
            envvar=kernels.MODE_ENV,
            help="pinned: DEC's torch work on generic kernels and one thread, the same figures on any "
            "x86-64 CPU; native: this CPU's fastest kernels, figures comparable on this machine type "
            "only (docs/running.md#determinism).",
        ),
    ] = kernels.PINNED,
) -> None:
    if version:
        print(f"lowbase generator {GENERATOR_VERSION}")
        raise typer.Exit(0)
    with user_errors():
        kernels.use(kernel_mode)  # before any command runs torch: both libraries read it once


def main() -> None:
    """Console entry point: anything not handled as bad input is an internal error (exit 1)."""
    turn_off_hugepage_advice()
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except MemoryError as e:
        limit = address_space_limit()
        under = f" under an address-space limit (ulimit -v) of {limit / 2**30:.2f} GiB" if limit else ""
        err.print(f"[bold red]out of memory[/]{under}: {escape(str(e) or 'an allocation failed')}", highlight=False)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the contract maps every other failure to exit 1
        err.print(f"[bold red]internal error:[/] {type(e).__name__}: {escape(str(e))}", highlight=False)
        if os.environ.get("LOWBASE_DEBUG"):
            traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":  # python -m bench.cli.app, as the tests run it
    main()
