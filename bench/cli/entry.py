"""The `lowbase` console entry point, light on purpose: it checks the address-space limit
before the libraries load, since under too small a `ulimit -v` their imports fail with a
traceback or a segmentation fault instead of a message."""

from __future__ import annotations

import sys

from common.memory import IMPORT_ADDRESS_SPACE, address_space_shortfall


def main() -> None:
    if message := address_space_shortfall(
        IMPORT_ADDRESS_SPACE, "loading lowbase's libraries (torch, MKL, NumPy, pyarrow)"
    ):
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)
    from bench.cli.app import main as run  # the libraries load here

    run()


if __name__ == "__main__":
    main()
