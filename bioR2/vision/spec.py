"""The vision domain's spec: configs, presets and builders behind ``bioR2.pretrain("vision", ...)``
and ``bior2 pretrain vision``, and :func:`pretrain_and_probe`, the one-call API a masking-ratio ×
model-size sweep calls::

    from bioR2.vision import pretrain_and_probe
    run = pretrain_and_probe("digits", mask_ratio=0.75, width=64, seed=0, steps=600)
    run.accuracy          # held-out linear-probe top-1 accuracy
    run.loss_curve        # [(step, loss, mask_ratio), ...]

Every run with the same ``split_seed`` is probed on the same held-out images, which the
encoder never sees in pretraining; ``seed`` changes the initialisation, the data order and the
masks (and, for an R²MAE range, the ratio drawn at each step).

Only the standard library at import time (the CLI reads the configs without torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..domain import Command, DomainData, DomainSpec, ModelCard, Preset
from .config import MAEModelConfig, VisionDataConfig, VisionProbeConfig
from ..probing import finish_probe, hold_out

if TYPE_CHECKING:
    pass

__all__ = ["SPEC", "VisionDataConfig", "MAEModelConfig", "VisionProbeConfig",
           "DEFAULT_RATIO"]

DEFAULT_RATIO = "0.6-0.9"  # the paper's ViT-MAE range, written once for the package


def _build_data(source: Any, cfg, train_cfg) -> DomainData:
    """The images (``source``: a name or folder, an ``ImageSet``, or a ``(train, test)`` pair),
    with a labelled share held out for the probe."""
    from .data import ImageDataset, ImageSet, load_images, split_images

    d = cfg.data
    if not isinstance(source, (tuple, ImageSet)):
        source = load_images(d.source if source is None else source, image_size=d.image_size, grayscale=d.grayscale)
    train, test = hold_out(source, split_images, cfg)
    info = {"source": str(train.source), "n_train": len(train), "n_test": 0 if test is None else len(test),
            "image_shape": [train.channels, *train.image_size], "data": d.to_dict()}
    return DomainData(train=ImageDataset(train), val=ImageDataset(test) if test is not None and d.validate else None,
                      content={"train": train, "test": test}, info=info)


def _resolve_train(cfg, train_cfg, data: DomainData):
    """A training set smaller than a batch trains on batches of all of it."""
    from dataclasses import replace

    return replace(train_cfg, batch_size=min(int(train_cfg.batch_size), len(data.content["train"])))


def _build_model(cfg, data: DomainData, train_cfg):
    from .model import build_model

    return build_model(data.content["train"], cfg.model)


def _build_task(model, cfg, data: DomainData):
    from .task import MAETask

    train = data.content["train"]
    if tuple(train.image_size) != model.image_hw or train.channels != model.in_chans:
        raise ValueError(
            f"{train.source}: images are {train.channels}x{train.image_size[0]}x{train.image_size[1]}, "
            f"the model expects {model.in_chans}x{model.image_hw[0]}x{model.image_hw[1]}"
        )
    return MAETask(model)


def _finish(result, cfg, data: DomainData) -> Dict[str, Any]:
    from .probe import probe_model

    return finish_probe(result, cfg, data, lambda model, train, test: probe_model(
        model, train, test, pool=cfg.probe.pool, C=cfg.probe.C))


SPEC = DomainSpec(
    name="vision",
    description="pretrain a ViT masked autoencoder on images (digits, MNIST or a folder), then a linear probe",
    default_ratio=DEFAULT_RATIO,
    sections={"data": VisionDataConfig, "model": MAEModelConfig, "probe": VisionProbeConfig},
    train_defaults={"steps": 1000, "batch_size": 128, "lr": 3.0e-3, "weight_decay": 0.05, "betas": [0.9, 0.95],
                    "eval_mask_ratio": 0.75, "log_every": 10},
    presets=(
        Preset("vision-tiny", "2 x 32 encoder and decoder (the quick benchmark's model)",
               {"model": {"width": 32, "depth": 2, "heads": 2, "decoder_width": 32, "decoder_depth": 2,
                          "decoder_heads": 2}}),
        Preset("vision-small", "4 x 64 encoder, 2 x 64 decoder (the default shape)",
               {"model": {"width": 64, "depth": 4, "heads": 4, "decoder_width": 0, "decoder_depth": 2,
                          "decoder_heads": 4}}),
        Preset("vision-base", "MAE's ViT-Base: 12 x 768 encoder, 8 x 512 decoder (a GPU model)",
               {"model": {"width": 768, "depth": 12, "heads": 12, "decoder_width": 512, "decoder_depth": 8,
                          "decoder_heads": 16}}),
        # The benchmark's recipes (bior2 benchmark vision [--quick]): the same for every masking scheme.
        Preset("vision-bench-quick", "bior2 benchmark vision --quick: digits, the vision-tiny model, 800 steps x 128, "
               "lr 3e-3",
               {"data": {"source": "digits"},
                "model": {"width": 32, "depth": 2, "heads": 2, "decoder_width": 32, "decoder_depth": 2,
                          "decoder_heads": 2},
                "train": {"steps": 800, "batch_size": 128, "lr": 3.0e-3}}),
        # 7x7 patches (16 per image) keep a width-64, depth-4 MAE affordable on a CPU.
        Preset("vision-bench", "bior2 benchmark vision: MNIST 5k, 4 x 64 encoder with 7x7 patches, 800 steps x 128, "
               "lr 3e-3",
               {"data": {"source": "mnist"},
                "model": {"width": 64, "depth": 4, "heads": 4, "patch_size": 7, "decoder_width": 64,
                          "decoder_depth": 2, "decoder_heads": 4},
                "train": {"steps": 800, "batch_size": 128, "lr": 3.0e-3}}),
        # The model-size sweep (bior2 benchmark theory --size-sweep): widths are swept over this shape.
        Preset("vision-size-sweep", "bior2 benchmark theory --size-sweep: digits, 2-block encoder and decoder with 2 "
               "heads, 600 steps x 128, lr 3e-3",
               {"data": {"source": "digits"},
                "model": {"width": 32, "depth": 2, "heads": 2, "decoder_width": 32, "decoder_depth": 2,
                          "decoder_heads": 2},
                "train": {"steps": 600, "batch_size": 128, "lr": 3.0e-3}}),
    ),
    build_data=_build_data,
    build_model=_build_model,
    build_task=_build_task,
    finish=_finish,
    resolve=_resolve_train,
    source_help="'digits', 'mnist', an image folder, an ImageSet or a (train, test) pair",
    display_name="vision",
    card=ModelCard(
        what="image model",
        tags=("vision", "image"),
        use="Image features for linear probes and reconstruction of masked patches.",
        limits="Trained on the small image set below at its resolution; not a general-purpose vision model.",
        pipeline_tag="image-feature-extraction",
    ),
    fixed_ratio=0.75,  # MAE's
    per_example_ratios=False,  # MAE keeps one number of patches per batch
    compare_ratios=("0.75", "0.6", "0.9"),
    eval_ratios=(0.5, 0.75),
    published_schedules={"tnorm": "tnorm:0.55,0.25,0.5-1"},  # MAGE (Li et al. 2023): mean 0.55, sd 0.25 on [0.5, 1]
    commands=(
        Command("benchmark", "vision", "bioR2.bench.cli", "benchmark_vision",
                "linear-probe benchmark on digits/MNIST"),
    ),
)
