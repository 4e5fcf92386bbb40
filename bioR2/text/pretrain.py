"""Pretraining a masked LM through the shared trainer, and "pretrain then probe" in one call.

::

    from bioR2.text import pretrain_and_probe
    run = pretrain_and_probe("bbc", mask_ratio="0.15-0.4", seed=0, steps=400)
    run.accuracy      # held-out BBC category accuracy of a linear probe on frozen features

The tokenizer is trained on the pretraining documents only; held-out documents are never
seen by the tokenizer, the pretraining or the probe's fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

from ..probe import ProbeRun
from ..masking import parse_mask_ratio
from ..train import TrainConfig, Trainer, TrainResult
from .data import TextCorpus, TokenWindows, load_corpus, split_corpus
from .model import MaskedLM
from .probe import probe_model
from .task import MLMTask
from .tokenizer import BPETokenizer

__all__ = ["TextModelConfig", "build_model", "pretrain", "pretrain_and_probe", "TextProbeRun",
           "TEXT_DEFAULT_RATIO"]

TEXT_DEFAULT_RATIO = "0.15-0.4"  # the paper's RoBERTa range


@dataclass
class TextModelConfig:
    """Tokenizer and encoder sizes.

    ``dropout`` is 0 by default (RoBERTa uses 0.1): CPU-sized runs of a few thousand steps
    underfit rather than overfit, and dropout's random masks cost about a quarter of a small
    model's step time on a CPU."""

    vocab_size: int = 4096
    min_frequency: int = 2
    max_len: int = 128
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0


def build_model(tokenizer: BPETokenizer, config: Optional[TextModelConfig] = None, **overrides: Any) -> MaskedLM:
    """A fresh :class:`MaskedLM` around ``tokenizer``."""
    cfg = config or TextModelConfig()
    if overrides:
        cfg = TextModelConfig(**{**asdict(cfg), **overrides})
    return MaskedLM(tokenizer.to_config(), max_len=cfg.max_len, width=cfg.width, depth=cfg.depth,
                    num_heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout)


def pretrain(model: MaskedLM, train: TextCorpus, config: TrainConfig, out_dir: Optional[Union[str, Path]] = None, *,
             val: Optional[TextCorpus] = None, resume: bool = False, overwrite: bool = False,
             callbacks: Optional[List[Callable[[Dict[str, Any]], None]]] = None) -> TrainResult:
    """Pretrain ``model`` on every ``max_len`` window of ``train``'s documents (in place)."""
    windows = TokenWindows(model.tokenizer, train.texts, model.max_len)
    val_windows = TokenWindows(model.tokenizer, val.texts, model.max_len) if val is not None else None
    trainer = Trainer(MLMTask(model), windows, config, out_dir, val_dataset=val_windows,
                      resume=resume, overwrite=overwrite, callbacks=callbacks)
    return trainer.fit()


# Kept under its earlier name; the class is shared with vision.
TextProbeRun = ProbeRun


def pretrain_and_probe(
    data: Union[str, Path, TextCorpus, Tuple[TextCorpus, TextCorpus]] = "bbc",
    *,
    mask_ratio: Union[str, float] = TEXT_DEFAULT_RATIO,
    width: int = 128,
    seed: int = 0,
    steps: int = 400,
    batch_size: int = 32,
    lr: float = 1.0e-3,
    weight_decay: float = 0.01,
    model_config: Optional[TextModelConfig] = None,
    tokenizer: Optional[BPETokenizer] = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    eval_mask_ratio: Optional[float] = 0.15,
    out_dir: Optional[Union[str, Path]] = None,
    keep_model: bool = False,
    device: str = "cpu",
    train_overrides: Optional[Dict[str, Any]] = None,
) -> TextProbeRun:
    """Pretrain a masked LM at ``mask_ratio`` and report the held-out linear-probe accuracy.

    ``data``: ``"bbc"``, a text folder with class folders, a labelled :class:`TextCorpus` (split
    here) or a ``(train, test)`` pair. ``tokenizer`` reuses a trained tokenizer (a benchmark
    trains one per split and shares it across runs); otherwise one is trained on the training
    documents. The validation MLM loss is measured on held-out windows at the fixed
    ``eval_mask_ratio`` with run-independent masks, so it compares across ratios.
    """
    if isinstance(data, tuple):
        train, test = data
    else:
        corpus = data if isinstance(data, TextCorpus) else load_corpus(data)
        if corpus.labels is None:
            raise ValueError(f"{corpus.source}: a linear probe needs labelled documents (class folders)")
        train, test = split_corpus(corpus, test_fraction, split_seed)
    cfg = TextModelConfig(**{**asdict(model_config or TextModelConfig()), "width": width})
    ratio = parse_mask_ratio(mask_ratio, "mask_ratio").to_config()
    tok = tokenizer or BPETokenizer.train(train.texts, cfg.vocab_size, cfg.min_frequency)
    torch.manual_seed(seed)
    model = build_model(tok, cfg)
    tc = dict(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, betas=[0.9, 0.98],
              mask_ratio=ratio, seed=seed, progress=False, device=device, eval_mask_ratio=eval_mask_ratio,
              log_every=max(1, steps // 100), eval_batches=10)
    tc.update(train_overrides or {})
    curve: List[Tuple[int, float, float]] = []
    result = pretrain(model, train, TrainConfig(**tc), out_dir, val=test if eval_mask_ratio is not None else None,
                      overwrite=True, callbacks=[lambda r: curve.append((r["step"], r["loss"], r["mask_ratio"]))])
    model.eval()
    probe = probe_model(model, train, test)
    return TextProbeRun(
        mask_ratio=ratio, width=width, seed=seed, steps=steps, accuracy=probe.accuracy, macro_f1=probe.macro_f1,
        final_loss=result.last_loss, val_loss=result.val_loss, n_encoder_params=model.num_parameters(),
        loss_curve=curve, model=model if keep_model else None,
    )
