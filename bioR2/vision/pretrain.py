"""Pretraining a ViT-MAE through the shared trainer, and the one-call "pretrain then probe".

``pretrain_and_probe`` is the Python API a masking-ratio × model-size sweep calls::

    from bioR2.vision import pretrain_and_probe
    run = pretrain_and_probe("digits", mask_ratio=0.75, width=64, seed=0, steps=600)
    run.accuracy          # held-out linear-probe top-1 accuracy
    run.loss_curve        # [(step, loss, mask_ratio), ...]

Every run with the same ``split_seed`` is probed on the same held-out images, which the
encoder never sees in pretraining; ``seed`` changes the initialisation, the data order and the
masks (and, for an R²MAE range, the ratio drawn at each step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

from ..probe import ProbeRun
from ..masking import parse_mask_ratio
from ..train import TrainConfig, Trainer, TrainResult
from .data import ImageDataset, ImageSet, load_images, split_images
from .model import ViTMAE
from .probe import ProbeResult, probe_model
from .task import MAETask

__all__ = [
    "MAEModelConfig",
    "default_patch_size",
    "build_model",
    "pretrain",
    "pretrain_and_probe",
    "ProbeRun",
    "VISION_DEFAULT_RATIO",
]

VISION_DEFAULT_RATIO = "0.6-0.9"  # the paper's ViT-MAE range


@dataclass
class MAEModelConfig:
    """Size of a ViT-MAE, independent of the images (their size and channels are read from
    the data). ``width`` is the encoder's embedding width; ``decoder_width`` defaults to it.
    ``patch_size`` 0 picks one that gives at most 64 patches (:func:`default_patch_size`)."""

    width: int = 64
    depth: int = 4
    heads: int = 4
    patch_size: int = 0
    decoder_width: int = 0
    decoder_depth: int = 2
    decoder_heads: int = 4
    mlp_ratio: float = 4.0
    norm_pix_loss: bool = False


def default_patch_size(height: int, width: int, max_patches: int = 64) -> int:
    """The smallest patch side dividing both sides that gives at most ``max_patches`` patches
    (8×8 → 2, 28×28 → 4, 32×32 → 4): small images keep enough patches for masking to mean
    something, large ones stay affordable on a CPU."""
    for p in range(2, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) <= max_patches:
            return p
    raise ValueError(f"no patch size divides a {height}x{width} image into 2..{max_patches} patches")


def build_model(images: ImageSet, config: Optional[MAEModelConfig] = None, **overrides: Any) -> ViTMAE:
    """A fresh :class:`ViTMAE` for these images (their size, channels and pixel statistics)."""
    cfg = config or MAEModelConfig()
    if overrides:
        cfg = MAEModelConfig(**{**asdict(cfg), **overrides})
    h, w = images.image_size
    patch = cfg.patch_size or default_patch_size(h, w)
    mean, std = images.channel_stats()
    return ViTMAE(
        image_size=[h, w], patch_size=patch, in_chans=images.channels, embed_dim=cfg.width, depth=cfg.depth,
        num_heads=cfg.heads, decoder_embed_dim=cfg.decoder_width or cfg.width, decoder_depth=cfg.decoder_depth,
        decoder_num_heads=cfg.decoder_heads, mlp_ratio=cfg.mlp_ratio, norm_pix_loss=cfg.norm_pix_loss,
        pixel_mean=mean, pixel_std=std,
    )


def pretrain(model: ViTMAE, train: ImageSet, config: TrainConfig, out_dir: Optional[Union[str, Path]] = None, *,
             val: Optional[ImageSet] = None, resume: bool = False, overwrite: bool = False,
             callbacks: Optional[List[Callable[[Dict[str, Any]], None]]] = None) -> TrainResult:
    """Pretrain ``model`` on ``train`` with :class:`bioR2.train.Trainer` (in place).

    ``out_dir`` receives the run folder (weights, config, log, checkpoints); ``None`` keeps
    everything in memory. ``val`` adds a validation reconstruction loss at the config's fixed
    evaluation ratio.
    """
    if tuple(train.image_size) != model.image_hw or train.channels != model.in_chans:
        raise ValueError(
            f"{train.source}: images are {train.channels}x{train.image_size[0]}x{train.image_size[1]}, "
            f"the model expects {model.in_chans}x{model.image_hw[0]}x{model.image_hw[1]}"
        )
    trainer = Trainer(
        MAETask(model), ImageDataset(train), config, out_dir,
        val_dataset=ImageDataset(val) if val is not None else None,
        resume=resume, overwrite=overwrite, callbacks=callbacks,
    )
    return trainer.fit()




def _resolve_split(data: Union[str, Path, ImageSet, Tuple[ImageSet, ImageSet]], test_fraction: float,
                   split_seed: int) -> Tuple[ImageSet, ImageSet]:
    if isinstance(data, tuple):
        return data
    images = data if isinstance(data, ImageSet) else load_images(data)
    if images.labels is None:
        raise ValueError(f"{images.source}: a linear probe needs labelled images")
    return split_images(images, test_fraction=test_fraction, seed=split_seed)


def pretrain_and_probe(
    data: Union[str, Path, ImageSet, Tuple[ImageSet, ImageSet]] = "digits",
    *,
    mask_ratio: Union[str, float] = VISION_DEFAULT_RATIO,
    width: int = 64,
    seed: int = 0,
    steps: int = 600,
    batch_size: int = 128,
    lr: float = 1.0e-3,
    weight_decay: float = 0.05,
    depth: int = 4,
    heads: int = 4,
    model_config: Optional[MAEModelConfig] = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    eval_mask_ratio: Optional[float] = 0.75,
    out_dir: Optional[Union[str, Path]] = None,
    keep_model: bool = False,
    pool: str = "mean",
    device: str = "cpu",
    train_overrides: Optional[Dict[str, Any]] = None,
) -> ProbeRun:
    """Pretrain a ViT-MAE at ``mask_ratio`` with encoder width ``width`` and ``seed``, then
    report the held-out linear-probe accuracy of its frozen features.

    ``data`` is ``"digits"``, ``"mnist"``, an image folder, a labelled :class:`ImageSet`
    (split here with ``split_seed``) or an explicit ``(train, test)`` pair. ``mask_ratio``
    takes every form of :func:`bioR2.masking.parse_mask_ratio` (``0.75``, ``"0.6-0.9"``,
    ``"0-1"``). The validation reconstruction loss is measured on the held-out images at the
    fixed ``eval_mask_ratio`` with run-independent masks, so it compares across ratios.
    """
    train, test = _resolve_split(data, test_fraction, split_seed)
    ratio = parse_mask_ratio(mask_ratio, "mask_ratio").to_config()
    cfg = model_config or MAEModelConfig(width=width, depth=depth, heads=heads)
    if model_config is not None:
        cfg = MAEModelConfig(**{**asdict(model_config), "width": width})
    torch.manual_seed(seed)  # the initialisation, before the trainer seeds its own streams
    model = build_model(train, cfg)
    tc = dict(steps=steps, batch_size=min(batch_size, len(train)), lr=lr, weight_decay=weight_decay,
              betas=[0.9, 0.95], mask_ratio=ratio, seed=seed, progress=False, device=device,
              eval_mask_ratio=eval_mask_ratio, log_every=max(1, steps // 100))
    tc.update(train_overrides or {})
    curve: List[Tuple[int, float, float]] = []
    result = pretrain(model, train, TrainConfig(**tc), out_dir, val=test if eval_mask_ratio is not None else None,
                      overwrite=True, callbacks=[lambda r: curve.append((r["step"], r["loss"], r["mask_ratio"]))])
    model.eval()
    probe: ProbeResult = probe_model(model, train, test, pool=pool)
    return ProbeRun(
        mask_ratio=ratio, width=width, seed=seed, steps=steps, accuracy=probe.accuracy, macro_f1=probe.macro_f1,
        final_loss=result.last_loss, val_loss=result.val_loss, n_encoder_params=model.num_parameters(),
        loss_curve=curve, model=model if keep_model else None,
    )
