"""Writing results into ``.h5ad`` files without touching the rest of the file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Union

__all__ = ["copy_h5ad_with"]


def copy_h5ad_with(src: Union[str, os.PathLike], out: Union[str, os.PathLike], write: Callable[[Any], None]) -> None:
    """Copy ``src`` to ``out`` atomically and let ``write(h5py_file)`` add fields to the copy.

    The input's other fields are carried over byte for byte and its matrix is never loaded; if
    ``write`` raises, ``out`` is not created (or an existing ``out`` is left as it was).
    """
    import h5py

    from ..utils.io import atomic_path

    if Path(out).resolve() == Path(src).resolve():
        raise ValueError(f"{out}: the output must differ from the input file")
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)
        with h5py.File(tmp, "r+") as fh:
            write(fh)
