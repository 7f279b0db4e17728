"""The ``redvec`` command's entry point: imports the CLI inside the error handling, so
that Ctrl-C while Python is still loading redvec (its first fraction of a second) ends
the command with "interrupted" and exit code 130, never a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    """The `redvec` console script: installs the Ctrl-C handler before anything is imported,
    then runs the command line (exit code 130 on Ctrl-C, never a traceback)."""
    try:
        from redvec.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()
