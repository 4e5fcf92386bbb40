"""``pretrain``: FASTA -> windows -> masked-LM through the shared trainer -> a run folder.

The same function backs ``bior2 pretrain dna`` and the benchmark. The run folder holds the
model (``model.safetensors`` + ``config.json``, which carries the vocabulary and the window),
``data_config.json`` (which windows were used and which contigs were held out), the trainer's
``train_config.json``, ``log.jsonl`` and checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import pandas as pd

from ..config import dataclass_from_dict
from ..utils.io import PathLike, atomic_write_json
from .data import Genome, WindowDataset, make_windows, open_genome, split_windows
from .model import DNAMaskedLM
from .task import MaskedLMTask

__all__ = ["DEFAULTS", "pretrain", "build_model"]

DEFAULTS: Dict[str, Any] = {
    "model": {"arch": "convnet", "hidden": 128, "layers": 6, "kernel_size": 9, "dilation_max": 32,
              "heads": 4, "ffn_mult": 4},
    "data": {"window": 512, "stride": None, "contigs": None, "bed": None, "held_out": [],
             "max_n_fraction": 0.1, "reverse_complement": True},
    "task": {"soft_weight_train": 0.1, "soft_weight_eval": 0.0, "count": "bernoulli",
             "mask_prob": 0.8, "random_prob": 0.1},
    "train": {"steps": 1000, "batch_size": 32, "lr": 1e-3, "mask_ratio": "0.05-0.3"},
}


def build_model(model_config: Mapping[str, Any], window: int) -> DNAMaskedLM:
    """A fresh :class:`DNAMaskedLM` from the ``model`` config section."""
    cfg = dict(model_config)
    cfg.setdefault("window", window)
    if cfg.get("arch") == "transformer":
        cfg.setdefault("max_len", max(window, 512))
    unknown = set(cfg) - set(DNAMaskedLM().get_config())
    if unknown:
        raise ValueError(f"config section 'model': unknown key(s) {sorted(unknown)}")
    return DNAMaskedLM(**cfg)


def pretrain(
    genome: Union[Genome, PathLike],
    out_dir: Optional[PathLike],
    *,
    model: Union[None, DNAMaskedLM, Mapping[str, Any]] = None,
    data: Optional[Mapping[str, Any]] = None,
    task: Optional[Mapping[str, Any]] = None,
    train: Union[None, Mapping[str, Any], Any] = None,
    windows: Optional[pd.DataFrame] = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Optional[List[Callable[[Dict[str, Any]], None]]] = None,
):
    """Pretrain a nucleotide masked-LM on ``genome``; returns the trainer's ``TrainResult``.

    ``data``, ``task``, ``model``, ``train`` override :data:`DEFAULTS` section by section
    (``train`` may also be a ready :class:`~bioR2.train.TrainConfig`). ``windows`` (a table
    ``chrom, start, end``) replaces the tiling of ``data``. Windows on ``data["held_out"]``
    contigs are never trained on; they become the validation set.
    """
    from ..train import TrainConfig, Trainer

    genome = open_genome(genome)
    data_cfg = {**DEFAULTS["data"], **(data or {})}
    task_cfg = {**DEFAULTS["task"], **(task or {})}
    if isinstance(train, TrainConfig):
        train_cfg = train
    else:
        train_cfg = dataclass_from_dict(TrainConfig, {**DEFAULTS["train"], **(train or {})}, "train")
    window = int(data_cfg["window"])
    if windows is None:
        windows = make_windows(genome, window=window, stride=data_cfg.get("stride"),
                               contigs=data_cfg.get("contigs"), bed=data_cfg.get("bed"),
                               max_n_fraction=float(data_cfg["max_n_fraction"]))
    else:
        window = int((windows["end"] - windows["start"]).iloc[0])
    held_out: Sequence[str] = list(data_cfg.get("held_out") or [])
    train_w, val_w = split_windows(windows, held_out, genome)
    if len(train_w) == 0:
        raise ValueError(f"{genome.source}: every window is on a held-out contig ({list(held_out)[:5]})")
    if isinstance(model, DNAMaskedLM):
        net = model
    else:
        import torch

        torch.manual_seed(train_cfg.seed)  # the initialisation depends on the run's seed only
        net = build_model({**DEFAULTS["model"], **(model or {})}, window)
    train_set = WindowDataset(genome, train_w, reverse_complement=bool(data_cfg["reverse_complement"]),
                              seed=train_cfg.seed)
    val_set = WindowDataset(genome, val_w, reverse_complement=False) if len(val_w) else None
    lm_task = MaskedLMTask(net, **task_cfg)
    trainer = Trainer(lm_task, train_set, train_cfg, out_dir, val_dataset=val_set, resume=resume,
                      overwrite=overwrite, callbacks=callbacks)
    if out_dir is not None:
        existing = (Path(out_dir) / "checkpoints").exists() or (Path(out_dir) / "model.safetensors").exists()
        if existing and not resume and not overwrite:
            raise FileExistsError(f"{out_dir}: already holds a run; pass --resume to continue it "
                                  "or --overwrite to start again")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(out_dir) / "data_config.json", {
            "genome": str(genome.source), "window": window, "data": data_cfg, "task": task_cfg,
            "n_train_windows": len(train_w), "n_val_windows": len(val_w),
            "train_contigs": sorted(set(train_w["chrom"]))[:50],
        })
    return trainer.fit()
