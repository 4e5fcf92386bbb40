"""``bior2 benchmark vision``: R²MAE against fixed ratios and U(0, 1) by linear probe.

Every masking scheme pretrains the same ViT-MAE for the same number of steps on the same
training images, for each seed; a logistic-regression probe on the frozen (mean-pooled)
features is scored on held-out images no run saw in pretraining. Two references run once per
seed as well: the same probe on a randomly initialised encoder (what pretraining must beat)
and on raw pixels. Results: ``results.json`` (the shared schema; metric ``accuracy``, plus
``macro_f1`` and ``val_loss``, the reconstruction error of held-out images at a fixed 0.75
ratio with run-independent masks), ``results.md``, ``loss_curves.png`` and
``reconstructions.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from .common import (
    describe_standing,
    downsample_curve,
    method_key,
    paired_against,
    plot_loss_curves,
    run_all,
    summarize_methods,
)
from ..masking import mask_patches
from ..results import build_results, methods_table, write_results
from ..train import load_model, save_model
from ..utils.io import atomic_path
from ..vision.data import ImageSet, load_images, split_images
from ..vision.model import build_model
from ..vision.spec import DEFAULT_RATIO as VISION_DEFAULT_RATIO
from ..vision.api import pretrain_and_probe
from ..vision.config import MAEModelConfig
from ..vision.probe import probe_model, probe_pixels

__all__ = ["VisionBenchmarkConfig", "QUICK", "FULL", "run_benchmark", "run_scoreboard", "DEFAULT_RATIOS",
           "SCOREBOARD_TEST_RATIOS"]

# R²MAE's range first; then MAE's default 0.75, the ends of the range, and MDLM's U(0, 1).
DEFAULT_RATIOS = (VISION_DEFAULT_RATIO, "0.75", "0.6", "0.9", "0-1")
RECON_RATIO = 0.75
REFERENCES = {"random_init": "a randomly initialised encoder", "pixels": "raw pixels"}


@dataclass
class VisionBenchmarkConfig:
    """What one benchmark run trains; ``QUICK`` and ``FULL`` are the two presets."""

    data: str = "digits"
    seeds: Tuple[int, ...] = (0, 1, 2)
    ratios: Tuple[str, ...] = DEFAULT_RATIOS
    steps: int = 800
    batch_size: int = 128
    lr: float = 3.0e-3
    model: MAEModelConfig = field(default_factory=lambda: MAEModelConfig(
        width=32, depth=2, heads=2, decoder_width=32, decoder_depth=2, decoder_heads=2))
    test_fraction: float = 0.2
    split_seed: int = 0
    jobs: int = 0  # parallel runs, one thread each; 0: one per CPU core (at most 4)


QUICK = VisionBenchmarkConfig()
FULL = VisionBenchmarkConfig(
    # 7x7 patches (16 per image) keep a width-64, depth-4 MAE affordable on a CPU.
    data="mnist", steps=800, model=MAEModelConfig(width=64, depth=4, heads=4, patch_size=7, decoder_width=64,
                                                   decoder_depth=2, decoder_heads=4),
)


def _one_run(args: Tuple[Tuple[ImageSet, ImageSet], str, int, VisionBenchmarkConfig, str]) -> Dict[str, Any]:
    """One pretrain + probe (in a worker process); the model is saved to ``model_dir``."""
    split, ratio, seed, cfg, model_dir = args
    run = pretrain_and_probe(split, mask_ratio=ratio, width=cfg.model.width, seed=seed, steps=cfg.steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, model_config=cfg.model,
                             eval_mask_ratio=RECON_RATIO, keep_model=True)
    save_model(model_dir, run.model)
    out = run.to_dict()
    out["loss_curve"] = downsample_curve(run.loss_curve, 200)
    return out


SCOREBOARD_TEST_RATIOS = (0.5, 0.75)  # held-out reconstruction loss at these fixed ratios
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


def _scoreboard_one(args: Tuple[Tuple[ImageSet, ImageSet], str, str, int, VisionBenchmarkConfig]) -> Dict[str, Any]:
    """One (schedule, seed) of the scoreboard (in a worker process): pretrain, then the linear
    probe, the kNN accuracy and the held-out reconstruction loss at the fixed test ratios."""
    from ..vision.data import ImageDataset
    from ..vision.probe import extract_features
    from ..vision.task import MAETask
    from .scoreboard import masked_eval

    split, name, ratio, seed, cfg = args
    t = time.perf_counter()
    run = pretrain_and_probe(split, mask_ratio=ratio, width=cfg.model.width, seed=seed, steps=cfg.steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, model_config=cfg.model,
                             eval_mask_ratio=None, keep_model=True)
    train, test = split
    model = run.model.eval()
    out: Dict[str, Any] = {"schedule": name, "ratio": ratio, "seed": seed, "linear_probe_acc": run.accuracy,
                           "macro_f1": run.macro_f1, "final_loss": run.final_loss}
    out["knn_acc"] = knn_accuracy(extract_features(model, train), train.labels, extract_features(model, test),
                                  test.labels)
    task = MAETask(model)
    for r in SCOREBOARD_TEST_RATIOS:
        out[f"recon_loss_{r:g}"] = masked_eval(task, ImageDataset(test), r, batch_size=256)["loss"]
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def _labelled_split(cfg: VisionBenchmarkConfig):
    """``(images, (train, test))``: the labelled images and the held-out split both modes share."""
    images = load_images(cfg.data)
    if images.labels is None:
        raise ValueError(f"{images.source}: the benchmark needs labelled images (class folders)")
    return images, split_images(images, cfg.test_fraction, cfg.split_seed)


def run_scoreboard(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                   seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None, width: Optional[int] = None,
                   schedules: Optional[Dict[str, str]] = None, jobs: Optional[int] = None,
                   config: Optional[VisionBenchmarkConfig] = None) -> Dict[str, Any]:
    """``bior2 benchmark vision --scoreboard``: one ViT-MAE per (schedule, seed) of the vision
    schedule family (no per-sample schedule), the benchmark's recipe otherwise; scored by the
    linear probe, kNN accuracy (k = 5, cosine) and the held-out reconstruction loss at ratios
    0.5 and 0.75 (fixed evaluation masks). Finished runs are cached in ``out/runs``."""
    from .scoreboard import domain_family, scoreboard_section, section_markdown

    start = time.perf_counter()
    cfg = config or (QUICK if quick else FULL)
    overrides: Dict[str, Any] = {k: v for k, v in dict(data=data, steps=steps, jobs=jobs).items() if v is not None}
    if seeds is not None:
        overrides["seeds"] = tuple(seeds)
    if width is not None:
        overrides["model"] = replace(cfg.model, width=width, decoder_width=width)
    cfg = replace(cfg, **overrides)
    schedules = dict(schedules or domain_family("vision"))
    if not cfg.seeds or not schedules:
        raise ValueError("the scoreboard needs at least one seed and one schedule")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images, split = _labelled_split(cfg)
    train, test = split
    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    pairs = [(name, seed) for seed in cfg.seeds for name in schedules]  # seed-major
    tasks = [(split, name, schedules[name], seed, cfg) for name, seed in pairs]
    names = [f"{name}-seed{seed}" for name, seed in pairs]
    # The family's ratios are part of the fingerprint: a schedule whose ratio changes recomputes.
    fingerprint = {**asdict(replace(cfg, seeds=(), ratios=(), jobs=0)), "source": images.source,
                   "n_train": len(train), "test_ratios": list(SCOREBOARD_TEST_RATIOS), "knn_k": KNN_K,
                   "family": {**domain_family("vision"), **schedules}}
    runs = run_all(_scoreboard_one, tasks, names, out_dir / "runs", fingerprint, jobs)
    per = {(r["schedule"], r["seed"]): r for r in runs}
    metrics = [("linear_probe_acc", True), ("knn_acc", True),
               *((f"recon_loss_{r:g}", False) for r in SCOREBOARD_TEST_RATIOS)]
    tasks_out = {m: (hi, {s: [per[(s, seed)][m] for seed in cfg.seeds] for s in schedules}) for m, hi in metrics}
    m = cfg.model
    notes = [f"{images.source}: {len(train)} training / {len(test)} held-out images; ViT-MAE width {m.width}, depth "
             f"{m.depth}, {cfg.steps} steps x batch {cfg.batch_size}, lr {cfg.lr}, the same for every schedule",
             "linear_probe_acc: logistic regression on standardised mean-pooled frozen features; knn_acc: "
             f"{KNN_K}-nearest neighbours, cosine, same features; recon_loss_<r>: masked-patch MSE of the held-out "
             "images at ratio r with the same masks for every model"]
    board = scoreboard_section(cfg.seeds, schedules, tasks_out, notes)
    values = {s: {k: [per[(s, seed)][k] for seed in cfg.seeds] for k, _ in metrics + [("macro_f1", True)]}
              for s in schedules}
    elapsed = time.perf_counter() - start
    results = build_results("vision", images.source, list(cfg.seeds), summarize_methods(values), elapsed,
                            metric="linear_probe_acc", primary_task="scoreboard",
                            config={**asdict(cfg), "n_train": len(train), "n_test": len(test), "jobs": jobs},
                            timings_s={f"{r['schedule']}-seed{r['seed']}": r["seconds"] for r in runs},
                            scoreboard=board)
    md = f"""# Vision benchmark: masking-ratio schedules (scoreboard)

Command: `{results['command']}`
Data: {results['dataset']}; seeds {list(cfg.seeds)}; elapsed {elapsed:.0f} s.

{section_markdown(board)}
"""
    write_results(out_dir, results, md)
    return results


def _reference_runs(split: Tuple[ImageSet, ImageSet], seeds: Sequence[int], cfg: VisionBenchmarkConfig
                    ) -> Dict[str, Dict[str, List[float]]]:
    train, test = split
    random_init: Dict[str, List[float]] = {"accuracy": [], "macro_f1": []}
    for seed in seeds:
        torch.manual_seed(seed)
        probe = probe_model(build_model(train, cfg.model).eval(), train, test)
        random_init["accuracy"].append(probe.accuracy)
        random_init["macro_f1"].append(probe.macro_f1)
    pixels = probe_pixels(train, test)
    return {"random_init": random_init,
            "pixels": {"accuracy": [pixels.accuracy], "macro_f1": [pixels.macro_f1]}}  # deterministic: once


def _reconstruction_figure(models: Dict[str, torch.nn.Module], test: ImageSet, path: Path, n_images: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = test.images[:n_images]
    any_model = next(iter(models.values()))
    masking = mask_patches(len(imgs), any_model.num_patches, RECON_RATIO, rng=torch.Generator().manual_seed(0))
    # The masked input as the encoder sees it: hidden patches greyed out.
    p = any_model.patch_size
    grid_mask = masking.mask.reshape(len(imgs), *any_model.grid).float()
    pixel_mask = grid_mask.repeat_interleave(p, 1).repeat_interleave(p, 2)[:, None]
    shown = imgs * (1 - pixel_mask) + 0.5 * pixel_mask
    rows = [("original", imgs), (f"masked {RECON_RATIO:.0%}", shown)]
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


def run_benchmark(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                  seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None, width: Optional[int] = None,
                  ratios: Optional[Sequence[str]] = None, jobs: Optional[int] = None,
                  config: Optional[VisionBenchmarkConfig] = None) -> Dict[str, Any]:
    """Run the benchmark and write its results into ``out_dir``; returns the results dict."""
    start = time.perf_counter()
    cfg = config or (QUICK if quick else FULL)
    overrides: Dict[str, Any] = {}
    if data is not None:
        overrides["data"] = data
    if seeds is not None:
        overrides["seeds"] = tuple(seeds)
    if steps is not None:
        overrides["steps"] = steps
    if ratios is not None:
        overrides["ratios"] = tuple(ratios)
    if jobs is not None:
        overrides["jobs"] = jobs
    if width is not None:
        overrides["model"] = replace(cfg.model, width=width, decoder_width=width)
    cfg = replace(cfg, **overrides)
    if len(cfg.seeds) < 1 or not cfg.ratios:
        raise ValueError("the benchmark needs at least one seed and one masking scheme")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    images, split = _labelled_split(cfg)
    train, test = split

    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    # Finished runs are kept in out_dir/runs/ and reused when the settings match (resumable).
    runs_dir = out_dir / "runs"
    names = [f"{method_key(r, VISION_DEFAULT_RATIO)}-seed{s}" for r in cfg.ratios for s in cfg.seeds]
    tasks = [(split, r, s, cfg, str(runs_dir / n)) for (r, s), n in
             zip([(r, s) for r in cfg.ratios for s in cfg.seeds], names)]
    fingerprint = {**asdict(replace(cfg, seeds=(), ratios=(), jobs=0)), "source": images.source, "n_train": len(train)}
    runs = run_all(_one_run, tasks, names, runs_dir, fingerprint, jobs)

    values: Dict[str, Dict[str, List[float]]] = {}
    curves: Dict[str, List[List[List[float]]]] = {}
    recon_models: Dict[str, torch.nn.Module] = {}
    for (_, ratio, seed, _, model_dir), run in zip(tasks, runs):
        key = method_key(ratio, VISION_DEFAULT_RATIO)
        entry = values.setdefault(key, {"accuracy": [], "macro_f1": [], "val_loss": []})
        entry["accuracy"].append(run["accuracy"])
        entry["macro_f1"].append(run["macro_f1"])
        entry["val_loss"].append(run["val_loss"])
        curves.setdefault(key, []).append(run["loss_curve"])
        if key not in recon_models:
            recon_models[key] = load_model(model_dir).eval()
    values.update(_reference_runs(split, cfg.seeds, cfg))

    methods = summarize_methods(values)
    paired = paired_against(values, "r2mae", "accuracy") if "r2mae" in values else {}
    plot_loss_curves(curves, out_dir / "loss_curves.png",
                     title=f"ViT-MAE on {images.source}: mean over seeds, band = min..max",
                     ylabel="masked-patch MSE (at each run's own ratio)")
    _reconstruction_figure(recon_models, test, out_dir / "reconstructions.png")

    elapsed = time.perf_counter() - start
    results = build_results(
        "vision", images.source, list(cfg.seeds), methods, elapsed,
        metric="accuracy",
        ratios={method_key(r, VISION_DEFAULT_RATIO): r for r in cfg.ratios},
        paired_accuracy_vs_r2mae=paired,
        config={**asdict(cfg), "n_train": len(train), "n_test": len(test), "jobs": jobs},
        loss_curves=curves,
        figures=["loss_curves.png", "reconstructions.png"],
    )
    write_results(out_dir, results, _markdown(results, cfg, len(train), len(test)))
    return results


def _markdown(results: Dict[str, Any], cfg: VisionBenchmarkConfig, n_train: int, n_test: int) -> str:
    methods = results["methods"]
    m = cfg.model
    return f"""# Vision benchmark: ViT-MAE masking schemes by linear probe

Command: `{results['command']}`
Data: {results['dataset']} — {n_train} pretraining/probe-training images, {n_test} held-out images
(stratified split, seed {cfg.split_seed}; no run sees them in pretraining).
Model: ViT-MAE encoder width {m.width}, depth {m.depth}, decoder {m.decoder_width or m.width}×{m.decoder_depth},
{cfg.steps} steps × batch {cfg.batch_size}, lr {cfg.lr}; seeds {list(cfg.seeds)}; elapsed {results['elapsed_s']:.0f} s.
Probe: logistic regression on standardised mean-pooled encoder features (no masking at probe time).
`val_loss`: masked-patch MSE on held-out images at ratio {RECON_RATIO} with the same masks for every run.

{methods_table(methods, ['accuracy', 'macro_f1', 'val_loss'], digits=4)}

`random_init`: the same probe on an untrained encoder of the same size; `pixels`: on raw pixels.

## R²MAE's standing

{describe_standing(methods, results.get('paired_accuracy_vs_r2mae', {}), 'accuracy', REFERENCES)}

Figures: `loss_curves.png` (training loss; each scheme at its own ratios, so levels differ by
design), `reconstructions.png` (held-out images, 75% of patches hidden).
"""
