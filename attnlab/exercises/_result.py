"""What a check returns: pass or fail, and feedback that reads well in a terminal and in Jupyter.

A check also appends its result, as one line of JSON, to the file named by the environment
variable ``ATTNLAB_GRADE_RESULTS`` when it is set. The grader sets it for each notebook it runs,
so that it reads the results from a file of its own instead of from the notebook's outputs,
where a student's ``print`` could imitate them.

References
----------
1. The IPython rich display protocol: ``_repr_html_`` and ``_repr_markdown_``.
"""

from __future__ import annotations

import html
import json
import os
import textwrap
from dataclasses import dataclass

__all__ = ["GRADE_RESULTS_VARIABLE", "STATUSES", "Result", "record"]

GRADE_RESULTS_VARIABLE = "ATTNLAB_GRADE_RESULTS"
STATUSES = ("passed", "failed", "not attempted")
_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "not attempted": "#757575"}


@dataclass(frozen=True)
class Result:
    """The outcome of :func:`attnlab.exercises.check`.

    Parameters
    ----------
    name : str
        The exercise, one of :func:`attnlab.exercises.names`.
    status : {"passed", "failed", "not attempted"}
    feedback : str
        What is wrong, the smallest input that shows it and a hint; or what was checked.
        Paragraphs are separated by blank lines; lines indented by four spaces are code.

    Examples
    --------
    >>> result = Result("causal_mask", "failed", "The diagonal is excluded.")
    >>> result.passed, bool(result)
    (False, False)
    >>> print(result)
    causal_mask: FAILED
      The diagonal is excluded.
    """

    name: str
    status: str
    feedback: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"Result: status must be one of {STATUSES}; got status={self.status!r}."
            )

    @property
    def passed(self) -> bool:
        """True when the answer passed every check."""
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.status.upper()}"]
        for kind, content in self._blocks():
            if kind == "code":
                lines += [f"      {line}" for line in content.splitlines()]
            else:
                lines += textwrap.wrap(
                    content, width=92, initial_indent="  ", subsequent_indent="  "
                )
            lines.append("")
        return "\n".join(lines[:-1])

    __repr__ = __str__

    def _blocks(self) -> list[tuple[str, str]]:
        """The feedback as ("text" or "code", content) blocks, split at blank lines."""
        blocks = []
        for block in self.feedback.split("\n\n"):
            lines = block.strip("\n").splitlines()
            if not lines:
                continue
            if all(line.startswith("    ") for line in lines):
                blocks.append(("code", "\n".join(line[4:] for line in lines)))
            else:
                blocks.append(("text", " ".join(line.strip() for line in lines)))
        return blocks

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.status]
        parts = [
            f'<div style="border-left: 4px solid {colour}; padding: 0.2em 0.8em">',
            f'<p><code>{html.escape(self.name)}</code>: <strong style="color: {colour}">'
            f"{html.escape(self.status)}</strong></p>",
        ]
        for kind, content in self._blocks():
            if kind == "code":
                parts.append(f"<pre><code>{html.escape(content)}</code></pre>")
            else:
                parts.append(f"<p>{html.escape(content)}</p>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_markdown_(self) -> str:
        parts = [f"`{self.name}`: **{self.status}**"]
        for kind, content in self._blocks():
            parts.append(f"```text\n{content}\n```" if kind == "code" else content)
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, str]:
        """``{"name": ..., "status": ..., "feedback": ...}``, for JSON and CSV files."""
        return {"name": self.name, "status": self.status, "feedback": self.feedback}


def record(result: Result) -> None:
    """Append ``result`` to the grader's results file, if a grader asked for one."""
    path = os.environ.get(GRADE_RESULTS_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(result.to_dict()) + "\n")
    except OSError:
        pass  # a grader that went away must not break the student's notebook
