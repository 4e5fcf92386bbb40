"""The per-step JSON-lines log and the rank-0 progress bar."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from ..utils.io import atomic_write_text

__all__ = ["JsonlLog", "make_progress", "progress_bar", "in_notebook", "quiet_tqdm_auto"]


class JsonlLog:
    """Appends one JSON object per line to ``path`` (only where ``enabled``: rank 0).

    On resume, records after the checkpoint's step are dropped first, so the log reads as one
    continuous run with no duplicated steps; a run that starts from step 0 (a new run, or
    ``--overwrite``) starts a new log rather than appending to an old run's records.
    """

    def __init__(self, path: Path, enabled: bool, resume_step: Optional[int] = None):
        self.path = Path(path)
        self.enabled = enabled
        self._fh = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut by the kill
                if rec.get("step", -1) <= resume_step:
                    kept.append(line)
            atomic_write_text(self.path, "".join(k + "\n" for k in kept))
        self._fh = open(self.path, "a" if resume_step is not None else "w", buffering=1)

    def write(self, record: Dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# Seconds before a default (enabled=None) progress bar appears; shorter jobs print no bar.
AUTO_DELAY = 2.0


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where stderr is not a terminal but a bar is still wanted)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def quiet_tqdm_auto() -> None:
    """In a Jupyter kernel without ipywidgets, import ``tqdm.auto`` once with tqdm's "IProgress
    not found" warning silenced (a no-op elsewhere).

    Libraries that import ``tqdm.auto`` (umap-learn, which ``bioR2.sc.embed(..., umap=True)``
    runs) then fall back to tqdm's text bar, as :func:`progress_bar` does, instead of printing a
    warning into the notebook. Called when this module is imported, i.e. whenever
    ``bioR2.train`` is: before any of bioR2's code can run UMAP.
    """
    if "tqdm.autonotebook" in sys.modules or not in_notebook():
        return
    try:
        import ipywidgets  # noqa: F401  (installed: tqdm.auto makes widgets, no warning)
        return
    except ImportError:
        pass
    import warnings

    from tqdm.std import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import tqdm.auto  # noqa: F401


def progress_bar(total: Optional[int] = None, *, enabled: Optional[bool] = None, initial: int = 0,
                 unit: str = "it", desc: Optional[str] = None, is_main: bool = True):
    """A progress bar, or ``None`` when off: ``enabled=None`` shows one in a terminal or a
    notebook, ``False`` never, ``True`` always. In Jupyter it is a widget when ipywidgets is
    installed and a text bar otherwise (never tqdm's IProgress warning).

    A bar shown by default (``enabled=None``) appears only once the work has taken
    :data:`AUTO_DELAY` seconds: a job that is over before then (embedding a few hundred cells)
    prints nothing, in a terminal or in a notebook's stored output. ``enabled=True`` shows it at once.
    """
    show = is_main and (enabled if enabled is not None else (sys.stderr.isatty() or in_notebook()))
    if not show:
        return None
    tqdm = None
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401  (tqdm.notebook needs it)
            from tqdm.notebook import tqdm
        except ImportError:
            tqdm = None
    if tqdm is None:
        from tqdm.std import tqdm
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, dynamic_ncols=True,
                delay=AUTO_DELAY if enabled is None else 0.0)


def make_progress(total: int, initial: int, enabled: Optional[bool], is_main: bool):
    """The trainer's step bar on rank 0 (see :func:`progress_bar`); ``None`` when off."""
    return progress_bar(total, enabled=enabled, initial=initial, unit="step", is_main=is_main)


quiet_tqdm_auto()
