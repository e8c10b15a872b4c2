"""The ``attnlab`` command: parse the arguments, delegate to the library, report.

``attnlab demo`` fits average pooling and three Nadaraya-Watson poolings to the book's toy
regression (:func:`attnlab.compare.compare_methods`), prints their test errors and writes the
figures (:mod:`attnlab.plotting.demo`), metrics and weights; ``attnlab heatmap`` draws
attention weights saved from any model, read without ever unpickling; ``attnlab grade`` runs a
class's notebooks and collects their exercise checks (:func:`attnlab.grading.grade_command`).
Arguments are parsed before torch or matplotlib is imported, so ``--help`` and usage errors
answer at once.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.1-10.2
   (Chinese 2nd edition) / 11.1-11.2 (English).
"""

from __future__ import annotations

import argparse
import sys

from attnlab.cli import demo, grade, heatmap
from attnlab.cli._common import EXIT_CODES, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["build_parser", "main"]

COMMANDS = {"demo": demo, "heatmap": heatmap, "grade": grade}
"""Each command's module: ``add_parser(commands)`` declares its options, ``run(args)`` runs it."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``attnlab`` command (imports neither torch nor matplotlib)."""
    from attnlab import __version__

    parser = argparse.ArgumentParser(
        prog="attnlab",
        description="Learn attention by doing it: fit and draw attention pooling (attnlab demo),\n"
        "draw attention weights saved from your own model (attnlab heatmap), or grade a\n"
        "class's exercise notebooks (attnlab grade).",
        epilog=f"Run 'attnlab demo' to start; 'attnlab COMMAND --help' for details.\n\n"
        f"{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``attnlab`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Run as a program (``argv`` None) it draws off-screen with matplotlib's Agg backend; called
    from Python with ``argv`` it leaves the caller's backend as it is.

    Examples
    --------
    >>> main(["--version"])
    attnlab ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors: return the code instead
        return EXIT_OK if exit_.code is None else int(exit_.code)
    run = COMMANDS[args.command].run
    args.off_screen = argv is None
    try:
        return run(args)
    except UsageError as error:
        print(f"attnlab {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"attnlab {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except MemoryError:
        print(
            f"attnlab {args.command}: error: out of memory; free some memory, or draw fewer or "
            "smaller panels.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"attnlab {args.command}: interrupted", file=sys.stderr)
        return 130
