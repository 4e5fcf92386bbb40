"""Optional TensorBoard logging (``train.log_to = "tensorboard"``, ``--log-to tensorboard``): the
same records as ``log.jsonl``, as scalars under ``RUN/tensorboard/``. TensorBoard is not a
dependency of bioR2: asking for it without the ``tensorboard`` package is an error that says how
to install it, raised before the run starts (:func:`check_log_to`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional

from .log import JsonlLog

__all__ = ["LOG_TO", "check_log_to", "TensorBoardLog", "open_run_log"]

LOG_TO = ("jsonl", "tensorboard")  # log.jsonl is always written; "tensorboard" adds event files


def check_log_to(value: str) -> None:
    """Raise ``ValueError`` for an unknown ``train.log_to``, or ``"tensorboard"`` without the package."""
    if value not in LOG_TO:
        raise ValueError(f"train.log_to (--log-to) must be one of {', '.join(LOG_TO)}, got {value!r}")
    if value == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise ValueError("train.log_to (--log-to) tensorboard needs the tensorboard package, which is not "
                             "installed: pip install tensorboard (or drop --log-to; log.jsonl is always written)"
                             ) from None


class TensorBoardLog:
    """Numeric fields of each record as TensorBoard scalars at the record's step
    (``train/loss``, ``train/mask_ratio``, ..., ``val/val_loss``)."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def write(self, record: Dict[str, Any]) -> None:
        step = int(record.get("step", 0))
        group = "val" if "val_loss" in record else "train"
        for key, value in record.items():
            if key in ("step", "rank") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                self.writer.add_scalar(f"{group}/{key}", float(value), step)

    def close(self) -> None:
        self.writer.close()


class _RunLog:
    """``log.jsonl`` plus, when asked for, TensorBoard: one ``write`` / ``close`` for the trainer."""

    def __init__(self, jsonl: JsonlLog, board: Optional[TensorBoardLog]) -> None:
        self.jsonl, self.board = jsonl, board

    def write(self, record: Dict[str, Any]) -> None:
        self.jsonl.write(record)
        if self.board is not None:
            self.board.write(record)

    def close(self) -> None:
        self.jsonl.close()
        if self.board is not None:
            self.board.close()


def open_run_log(out_dir: Path, enabled: bool, resume_step: Optional[int], log_to: str = "jsonl"):
    """The trainer's log of a run folder: ``log.jsonl`` (rank 0), and TensorBoard event files in
    ``out_dir/tensorboard`` with ``log_to="tensorboard"``."""
    jsonl = JsonlLog(out_dir / "log.jsonl", enabled, resume_step=resume_step)
    if log_to != "tensorboard" or not enabled:
        return jsonl
    check_log_to(log_to)
    return _RunLog(jsonl, TensorBoardLog(out_dir / "tensorboard"))
