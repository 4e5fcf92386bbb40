"""``bior2 benchmark vision``: R²MAE against fixed ratios and U(0, 1) by linear probe (the shared
driver :mod:`bioR2.bench.probed`, with what is vision's own: images, the raw-pixel reference,
kNN accuracy and masked-patch reconstruction on the scoreboard, a reconstruction figure).

The recipe is the vision spec's ``vision-bench-quick`` (``--quick``: digits, a 2 x 32 ViT-MAE) or
``vision-bench`` (MNIST 5k, 4 x 64 with 7x7 patches). Results: ``results.json`` (metric
``accuracy``, plus ``macro_f1`` and ``val_loss``, the reconstruction error of held-out images at
the spec's evaluation ratio with run-independent masks), ``results.md``, ``loss_curves.png`` and
``reconstructions.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import torch

from ..masking import mask_patches
from ..utils.io import atomic_path
from .probed import ProbeDomain, entry_points

__all__ = ["VisionBenchmark", "QUICK_PRESET", "FULL_PRESET", "run_benchmark", "run_scoreboard", "knn_accuracy"]

QUICK_PRESET, FULL_PRESET = "vision-bench-quick", "vision-bench"


KNN_K = 5


def knn_accuracy(train_x, train_y, test_x, test_y, k: int = KNN_K) -> float:
    """k-nearest-neighbour accuracy (majority of ``k``; cosine similarity: L2-normalised
    features) on frozen features, fit on the training split, scored on the held-out one."""
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    def unit(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    clf = KNeighborsClassifier(n_neighbors=k).fit(unit(train_x), np.asarray(train_y))
    return float((clf.predict(unit(test_x)) == np.asarray(test_y)).mean())




class VisionBenchmark(ProbeDomain):
    """Images, the raw-pixel reference and the vision scoreboard's scores."""

    name_of_spec = "vision"
    name = "ViT-MAE"
    words = "images"
    loss_words = "masked-patch MSE"
    references = {"random_init": "a randomly initialised encoder", "pixels": "raw pixels"}
    reference_notes = "`random_init`: the same probe on an untrained encoder of the same size; `pixels`: on raw pixels."
    figure_notes = ("Figures: `loss_curves.png` (training loss; each scheme at its own ratios, so levels differ by "
                    "design), `reconstructions.png` (held-out images, the evaluation ratio of patches hidden).")
    extra_figures = ("reconstructions.png",)

    def width_override(self, width: int) -> Dict[str, Any]:
        return {"width": width, "decoder_width": width}

    def load(self, recipe: Dict[str, Any]):
        from ..vision.data import load_images, split_images

        d = recipe["data"]
        images = load_images(d["source"], image_size=d["image_size"], grayscale=d["grayscale"])
        if images.labels is None:
            raise ValueError(f"{images.source}: the benchmark needs labelled images (class folders)")
        train, test = split_images(images, d["test_fraction"], d["split_seed"])
        self.eval_ratio = recipe["train"]["eval_mask_ratio"]
        return images.source, train, test, {}

    def references_values(self, train, test, shared, recipe, seeds) -> Dict[str, Dict[str, List[float]]]:
        from ..vision.config import MAEModelConfig
        from ..vision.model import build_model
        from ..vision.probe import probe_model, probe_pixels

        random_init: Dict[str, List[float]] = {"accuracy": [], "macro_f1": []}
        for seed in seeds:
            torch.manual_seed(seed)
            probe = probe_model(build_model(train, MAEModelConfig(**recipe["model"])).eval(), train, test)
            random_init["accuracy"].append(probe.accuracy)
            random_init["macro_f1"].append(probe.macro_f1)
        pixels = probe_pixels(train, test)
        return {"random_init": random_init,
                "pixels": {"accuracy": [pixels.accuracy], "macro_f1": [pixels.macro_f1]}}  # deterministic: once

    def scoreboard_scores(self, model, train, test, eval_ratios: Sequence[float]) -> Dict[str, float]:
        from ..vision.data import ImageDataset
        from ..vision.probe import extract_features
        from ..vision.task import MAETask
        from .scoreboard import masked_eval

        out = {"knn_acc": knn_accuracy(extract_features(model, train), train.labels, extract_features(model, test),
                                       test.labels)}
        task = MAETask(model)
        for r in eval_ratios:
            out[f"recon_loss_{r:g}"] = masked_eval(task, ImageDataset(test), r, batch_size=256)["loss"]
        return out

    def scoreboard_metrics(self, eval_ratios: Sequence[float]) -> Tuple[List[Tuple[str, bool]], List[str]]:
        return [("knn_acc", True), *((f"recon_loss_{r:g}", False) for r in eval_ratios)], []

    def model_words(self, recipe: Dict[str, Any]) -> str:
        m = recipe["model"]
        return (f"ViT-MAE encoder width {m['width']}, depth {m['depth']}, decoder "
                f"{m['decoder_width'] or m['width']}×{m['decoder_depth']}")

    def probe_words(self) -> str:
        return ("logistic regression on standardised mean-pooled frozen features (no masking at probe time); "
                f"knn_acc: {KNN_K}-nearest neighbours, cosine, same features; recon_loss_<r>: masked-patch MSE of "
                "the held-out images at ratio r with the same masks for every model")

    def figures(self, out_dir: Path, models: Dict[str, Any], test) -> None:
        _reconstruction_figure(models, test, out_dir / "reconstructions.png", ratio=self.eval_ratio)


run_benchmark, run_scoreboard = entry_points(VisionBenchmark, QUICK_PRESET, FULL_PRESET)


def _reconstruction_figure(models: Dict[str, torch.nn.Module], test: Any, path: Path, ratio: float,
                           n_images: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = test.images[:n_images]
    any_model = next(iter(models.values()))
    masking = mask_patches(len(imgs), any_model.num_patches, ratio, rng=torch.Generator().manual_seed(0))
    # The masked input as the encoder sees it: hidden patches greyed out.
    p = any_model.patch_size
    grid_mask = masking.mask.reshape(len(imgs), *any_model.grid).float()
    pixel_mask = grid_mask.repeat_interleave(p, 1).repeat_interleave(p, 2)[:, None]
    shown = imgs * (1 - pixel_mask) + 0.5 * pixel_mask
    rows = [("original", imgs), (f"masked {ratio:.0%}", shown)]
    for name, model in models.items():
        rows.append((name, model.reconstruct(imgs, masking)))
    fig, axes = plt.subplots(len(rows), n_images, figsize=(1.3 * n_images, 1.35 * len(rows)), squeeze=False)
    for r, (name, batch) in enumerate(rows):
        for c in range(n_images):
            ax = axes[r][c]
            img = batch[c].permute(1, 2, 0).numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.suptitle("held-out images: masked-patch reconstruction (seed 0 of each scheme)", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
