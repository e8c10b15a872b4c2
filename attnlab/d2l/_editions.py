"""One class, two editions: bind a constructor call to the edition whose signature it matches.

The Chinese second edition passes input sizes to every layer (``key_size``, ``query_size``, ...);
the English edition infers them with lazy layers. The d2l layer's classes accept both forms and
pick the one the call binds to; the two forms never overlap, so the choice is unambiguous.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["CHINESE", "ENGLISH", "bind_edition", "signature"]

ENGLISH = "English"
CHINESE = "Chinese"


def _shown(args: tuple, kwargs: dict) -> str:
    parts = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


def signature(*required: str, **optional: Any) -> inspect.Signature:
    """A constructor's signature: ``required`` names, then ``optional`` ones with defaults."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature(
        [inspect.Parameter(name, kind) for name in required]
        + [inspect.Parameter(name, kind, default=value) for name, value in optional.items()]
    )


def bind_edition(
    func: str,
    args: tuple,
    kwargs: dict,
    english: inspect.Signature,
    chinese: inspect.Signature,
) -> tuple[str, dict[str, Any]]:
    """Return the edition a call matches and its arguments by name, defaults filled in.

    A call that matches neither signature raises a ``TypeError`` that shows both.
    """
    for edition, form in ((ENGLISH, english), (CHINESE, chinese)):
        try:
            bound = form.bind(*args, **kwargs)
        except TypeError:
            continue
        bound.apply_defaults()
        return edition, dict(bound.arguments)
    forms = " or ".join(
        f"{func}{form} ({edition} edition)"
        for edition, form in ((ENGLISH, english), (CHINESE, chinese))
    )
    raise TypeError(
        f"{func}: the arguments must follow one edition's signature, {forms}; "
        f"got {func}({_shown(args, kwargs)})."
    )
