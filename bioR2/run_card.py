"""The model card of a finished run: ``RUN/README.md``, written when ``pretrain`` finishes (the
same card ``bior2 push`` uploads; it is rewritten there with the Hub id)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

from .utils.io import PathLike
from .utils.warn import caller_stacklevel

__all__ = ["write_run_card"]


def write_run_card(run_dir: PathLike, **card: Any) -> Optional[Path]:
    """Write the model card of ``run_dir`` (:func:`bioR2.hub.write_model_card`; ``card`` passes its
    ``tags``, ``what``, ``use``, ``limits``, ``pipeline_tag``, ``datasets``) and return its path.

    The trained model matters more than its card: a card that cannot be written is a warning
    (``bior2 push --local-dir DIR`` writes it later), never a failed run.
    """
    try:
        from .hub import write_model_card

        return write_model_card(run_dir, **card)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded; say what went wrong and go on
        warnings.warn(f"{Path(run_dir) / 'README.md'}: model card not written ({type(exc).__name__}: {exc}); "
                      "`bior2 push --model RUN --local-dir DIR` writes it later", stacklevel=caller_stacklevel())
        return None
