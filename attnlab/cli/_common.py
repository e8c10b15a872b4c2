"""What the commands of ``attnlab`` share: exit codes, the usage error, argument types, stage
lines, the off-screen backend.

References
----------
1. The Python Standard Library, ``argparse``.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Stages",
    "UsageError",
    "integer",
    "positive_float",
    "seconds",
    "use_off_screen",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


EXIT_CODES = """\
exit codes:
  0  success
  1  runtime failure (for example, the output cannot be written)
  2  usage error or bad input (bad arguments, a non-empty output folder without --force,
     a weights file that cannot be read safely)"""


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


def integer(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}; got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not 0 < value < 1000:
        raise argparse.ArgumentTypeError(f"expected a positive number below 1000; got {text}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text}")
    return value


def use_off_screen(args: argparse.Namespace) -> None:
    """As a program, draw off-screen (matplotlib's Agg backend, unless pyplot is in use)."""
    if args.off_screen:
        from attnlab.plotting._figures import use_off_screen_backend

        use_off_screen_backend()


class Stages:
    """One line per stage on stderr, ``attnlab demo: <what>``, unless quiet."""

    def __init__(self, command: str, quiet: bool) -> None:
        self.command, self.quiet = command, quiet
        self.start = time.perf_counter()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"attnlab {self.command}: {text}", file=sys.stderr, flush=True)
