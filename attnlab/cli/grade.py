"""``attnlab grade``: execute a class's notebooks and collect their exercise checks.

The work is :func:`attnlab.grading.grade_command`; this module declares its options.
"""

from __future__ import annotations

import argparse

from attnlab.cli._common import seconds

__all__ = ["add_parser", "run"]


def add_parser(commands) -> None:
    from attnlab.grading import DEFAULT_TIMEOUT, DESCRIPTION, EPILOG  # no torch: --help is instant

    grade = commands.add_parser(
        "grade",
        help="execute student notebooks and collect their exercise checks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument(
        "paths", nargs="+", metavar="NOTEBOOK_OR_DIR", help="notebooks, or folders of them"
    )
    grade.add_argument("--out", metavar="CSV", help="write the report to this CSV file")
    grade.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds for all the cells of one notebook (default: {DEFAULT_TIMEOUT:g})",
    )
    grade.add_argument(
        "--quiet", action="store_true", help="print the table only; no progress lines"
    )


def run(args: argparse.Namespace) -> int:
    from attnlab.grading import grade_command

    return grade_command(args.paths, out=args.out, timeout=args.timeout, quiet=args.quiet)
