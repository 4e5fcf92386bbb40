"""Checks on an output path, made before any work starts: an output never replaces an input,
never replaces an existing file unless asked, and a folder that cannot take it is named at once
rather than after an hour of computing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

__all__ = ["check_output_path"]

PathLike = Union[str, "os.PathLike[str]"]


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links and bind mounts: same inode
    except OSError:
        return False


def check_output_path(out: PathLike, inputs: Iterable[Optional[PathLike]] = (), *, overwrite: bool = False,
                      option: str = "--out") -> Path:
    """Refuse an output that is one of ``inputs`` (by resolved path or inode), an existing
    folder, an existing file without ``overwrite``, or a path under a folder that is not
    writable. Returns the output as a :class:`Path`."""
    out_path = Path(out)
    for given in inputs:
        if given is None:
            continue
        src = Path(given)
        if src.exists() and out_path.exists() and _same_file(out_path, src):
            raise ValueError(f"{option} {out_path}: is the input file {src}; write the output to a new path "
                             "(an input is never overwritten)")
        if not out_path.exists() and out_path.resolve() == src.resolve():
            raise ValueError(f"{option} {out_path}: is the input path {src}; write the output to a new path")
    if out_path.is_dir():
        raise IsADirectoryError(f"{option} {out_path}: is a folder; give a file path, e.g. {out_path / 'out'}")
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{option} {out_path}: already exists; pass --overwrite (overwrite=True) to replace it")
    # The nearest existing folder must be writable (missing folders are created on writing).
    folder = out_path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{option} {out_path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {out_path}: the folder {folder} is not writable")
    return out_path
