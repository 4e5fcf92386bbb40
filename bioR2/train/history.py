"""A run's training history as a pandas DataFrame (one row per logged step, like scvi-tools'
``model.history``), read from the run's ``log.jsonl`` or from the records of a run in memory.

>>> from bioR2.train import read_log
>>> history = read_log("runs/pbmc")            # index: step; columns: loss, mask_ratio, lr, val_loss, ...
>>> history["loss"].plot(); history["val_loss"].dropna()
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Union

from ..utils.io import PathLike

if TYPE_CHECKING:  # pandas is imported when a history is asked for
    import pandas as pd

__all__ = ["history_frame", "read_log", "LOG_FILE"]

LOG_FILE = "log.jsonl"


def history_frame(records: Iterable[Dict[str, Any]]) -> "pd.DataFrame":
    """One row per step (the index), a column per logged value: a training record and the
    validation record of the same step share a row (``val_loss`` is NaN where none was taken).
    The ``rank`` a callback adds is dropped."""
    import pandas as pd

    rows = [{k: v for k, v in r.items() if k != "rank"} for r in records if isinstance(r, dict) and "step" in r]
    if not rows:
        return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
    frame = pd.DataFrame(rows)
    frame = frame.groupby("step", sort=True).first()  # first non-missing value of each column per step
    frame.index = frame.index.astype("int64")
    return frame


def read_log(run: Union[PathLike, Any]) -> "pd.DataFrame":
    """The training history of a run folder (or its ``log.jsonl``, or a
    :class:`~bioR2.pipeline.PretrainResult`) as a DataFrame indexed by step: ``loss``,
    ``mask_ratio``, ``lr``, throughput, and ``val_loss`` / ``val_mask_ratio`` at validation steps.

    A line cut short by a killed run is skipped. Raises ``FileNotFoundError`` naming the file
    when the run has no log.
    """
    if hasattr(run, "run_dir") and hasattr(run, "log"):  # a PretrainResult
        return run.history
    path = Path(run)
    if path.is_dir():
        path = path / LOG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log (a run folder of `bior2 pretrain` holds {LOG_FILE})")
    records = []
    with open(path) as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if isinstance(rec, dict):
                records.append(rec)
    return history_frame(records)
