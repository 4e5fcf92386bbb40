"""Checks on a run's options made before anything is written: a wrong device, fp16 on the CPU or
a negative worker count fails here, with one line naming the option, and never leaves a run
folder holding ``run_config.yaml`` and ``data.json`` of a run that could not start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .config import TrainConfig

__all__ = ["check_train_config", "check_before_writing"]

# (field, smallest allowed value, what the value means) of the trainer's count options
_AT_LEAST = (
    ("num_workers", 0, "DataLoader worker processes; 0 loads in the main process"),
    ("save_every", 0, "0 checkpoints only at the end"),
    ("eval_every", 0, "0 validates only at the end"),
    ("eval_batches", 1, "validation batches"),
    ("keep_checkpoints", 1, "checkpoints kept"),
    ("warmup_steps", 0, "unset means 5% of the steps"),
)

_FLAGS = {"num_workers": "--num-workers", "save_every": "--save-every", "eval_every": "--eval-every",
          "warmup_steps": "--warmup-steps", "device": "--device", "precision": "--precision"}


def _name(field: str) -> str:
    flag = _FLAGS.get(field)
    return f"train.{field} ({flag})" if flag else f"train.{field}"


def check_train_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the option when a trainer option cannot work here.

    Checks the count options (``num_workers >= 0``, ``save_every >= 0``, ...), that
    ``device`` names a device this machine has, and that ``precision="fp16"`` has CUDA.
    """
    for field, low, meaning in _AT_LEAST:
        value = getattr(cfg, field)
        if value is not None and int(value) < low:  # None: automatic (resolved later)
            raise ValueError(f"{_name(field)} must be >= {low} ({meaning}), got {value}")
    from .distributed import resolve_device
    from .tensorboard import check_log_to

    check_log_to(str(cfg.log_to))

    try:
        device = resolve_device(str(cfg.device), int(os.environ.get("LOCAL_RANK", "0")),
                                option=_name("device"))
    except RuntimeError as exc:  # CUDA asked for and absent
        raise ValueError(f"{exc}; use --device cpu (or auto)") from None
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ValueError(f"{_name('precision')}=fp16 needs a CUDA device (this run uses {device}); "
                         "use bf16 or fp32 on the CPU")


def check_before_writing(cfg: TrainConfig, out_dir: Optional[Path]) -> None:
    """Everything about a run that can be checked before its folder is created: the trainer's
    options (:func:`check_train_config`) and the ``--out`` path. (``resume=True`` with nothing to
    resume starts a new run: the harness asks for it on purpose; ``bior2 pretrain --resume`` says so.)"""
    check_train_config(cfg)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir}: is a file, not a run folder; give the path of a new folder "
                                 "(a file is never replaced by a run, even with --overwrite)")
    if out_dir is not None and not out_dir.exists():
        folder = out_dir.absolute().parent  # the run folder is created under its nearest existing folder
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise NotADirectoryError(f"--out {out_dir}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"--out {out_dir}: the folder {folder} is not writable")
