"""Warnings that name the user's line, not a line inside bioR2.

``warnings.warn(message, stacklevel=caller_stacklevel())`` points the warning at the line that
called into the package, however deep inside bioR2 it is raised (a fixed ``stacklevel=2`` names
bioR2's own caller when the warning comes from a helper).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["caller_stacklevel"]

_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _inside(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE + os.sep)
    except (OSError, ValueError):
        return False


def caller_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` made by this function's caller that names the
    line calling into the bioR2 package from outside (the user's script or notebook cell): the
    caller of the outermost bioR2 frame, so wrappers in between (``torch.no_grad``,
    ``contextlib``) are passed over too."""
    frame = sys._getframe(1)  # the function about to warn: stacklevel 1
    level, outermost = 1, 1
    while frame is not None:
        if _inside(frame.f_code.co_filename):
            outermost = level
        frame = frame.f_back
        level += 1
    return outermost + 1
