"""Issue 5, item 5: do larger models prefer higher masking ratios in a real network?

The paper reports optimal ratios 0.6 / 0.7 / 0.8 for 8 / 16 / 32 base channels. Here: ViT-MAE
encoders of several widths (``bioR2.vision``, pretrained through the shared trainer), each at
a grid of *fixed* masking ratios and several seeds, scored by the held-out linear-probe
accuracy of the frozen features. The optimal ratio of a width is the grid ratio with the best
mean accuracy; its uncertainty is a bootstrap over seeds (resampling the seeds of every
ratio), and a quadratic fit of accuracy vs ratio gives a smoothed optimum.

The linear model's counterpart is ``p*`` growing with ``γ = d/n`` (see
:mod:`bioR2.bench.theory`). This module only orchestrates: the model, masking, training
and probe are :mod:`bioR2.vision`'s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["SizeSweepConfig", "run_size_sweep", "optimal_ratios"]


@dataclass
class SizeSweepConfig:
    """What the sweep trains: the vision spec's ``vision-size-sweep`` preset (the model shape,
    the training recipe and the data) at each width and fixed ratio (defaults sized for a 2-core
    CPU: ~20 CPU-minutes). ``data`` and ``steps`` override the preset."""

    widths: Tuple[int, ...] = (16, 32, 64)
    ratios: Tuple[float, ...] = (0.3, 0.45, 0.6, 0.75, 0.9)
    seeds: Tuple[int, ...] = (0, 1, 2)
    preset: str = "vision-size-sweep"
    data: Optional[str] = None
    steps: Optional[int] = None
    jobs: int = 2  # worker processes, one torch thread each
    n_boot: int = 2000

    def __post_init__(self) -> None:
        if not self.widths or not self.ratios or not self.seeds:
            raise ValueError("the size sweep needs at least one width, one ratio and one seed")
        for r in self.ratios:
            if not 0.0 <= float(r) < 1.0:
                raise ValueError(f"size sweep: fixed ratios must be in [0, 1), got {r}")
        heads = self.recipe()["model"]["heads"]
        for w in self.widths:
            if w < heads or w % heads:
                raise ValueError(f"size sweep: width {w} must be a positive multiple of heads={heads}")

    def overrides(self) -> Dict[str, Dict[str, Any]]:
        out: Dict[str, Dict[str, Any]] = {}
        if self.data is not None:
            out["data"] = {"source": self.data}
        if self.steps is not None:
            out["train"] = {"steps": int(self.steps)}
        return out

    def recipe(self) -> Dict[str, Any]:
        """The resolved preset (data, model, train sections), JSON-able."""
        from ..pipeline import resolve_run_config, typed_sections

        sections, train = typed_sections("vision", resolve_run_config("vision", preset=self.preset,
                                                                      sections=self.overrides()))
        out = sections.to_dict()
        out["train"] = {k: v for k, v in train.to_dict().items() if k != "mask_ratio"}
        return out


def _one_run(job: Tuple[Any, int, float, int, "SizeSweepConfig"]) -> Dict[str, Any]:
    """One pretrain + probe (in a worker process with one thread)."""
    from ..probing import pretrain_and_probe

    split, width, ratio, seed, cfg = job
    t0 = time.process_time()
    run = pretrain_and_probe("vision", split, preset=cfg.preset, model_config={"width": width, "decoder_width": width},
                             train_overrides=cfg.overrides().get("train"), mask_ratio=float(ratio), seed=seed,
                             eval_mask_ratio=None)
    return {"width": width, "ratio": float(ratio), "seed": seed, "accuracy": run.accuracy,
            "macro_f1": run.macro_f1, "final_loss": run.final_loss, "n_encoder_params": run.n_encoder_params,
            "cpu_s": time.process_time() - t0}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def optimal_ratios(runs: Sequence[Dict[str, Any]], ratios: Sequence[float], n_boot: int = 2000,
                   seed: int = 0) -> Dict[str, Any]:
    """Per width: mean ± sd accuracy per ratio, the best grid ratio, its bootstrap distribution
    over seeds, and the vertex of a quadratic fit (clipped to the grid's range)."""
    rng = np.random.default_rng(seed)
    ratios = [float(r) for r in ratios]
    out: Dict[str, Any] = {}
    for width in sorted({r["width"] for r in runs}):
        acc = {p: np.array([r["accuracy"] for r in runs if r["width"] == width and r["ratio"] == p]) for p in ratios}
        means = np.array([acc[p].mean() for p in ratios])
        best = ratios[int(np.argmax(means))]
        # Bootstrap: resample each ratio's seeds with replacement, take the argmax of the means.
        boot = np.zeros(len(ratios))
        for _ in range(n_boot):
            m = [rng.choice(acc[p], size=acc[p].size).mean() for p in ratios]
            boot[int(np.argmax(m))] += 1
        coef = np.polyfit(ratios, means, 2) if len(ratios) >= 3 else None
        vertex = None
        if coef is not None and coef[0] < 0:
            vertex = float(np.clip(-coef[1] / (2 * coef[0]), min(ratios), max(ratios)))
        out[str(width)] = {
            "mean": means.tolist(),
            "sd": [float(acc[p].std(ddof=1)) if acc[p].size > 1 else 0.0 for p in ratios],
            "values": {f"{p:g}": acc[p].tolist() for p in ratios},
            "best_ratio": best,
            "best_accuracy": float(means.max()),
            "bootstrap_best": {f"{p:g}": float(c / n_boot) for p, c in zip(ratios, boot)},
            "quadratic_vertex": vertex,
            "n_encoder_params": next(r["n_encoder_params"] for r in runs if r["width"] == width),
        }
    return out


def run_size_sweep(out_dir, cfg: Optional[SizeSweepConfig] = None, log: Callable[[str], None] = print,
                   command: Optional[str] = None) -> Dict[str, Any]:
    """Train every (width, ratio, seed), write ``results.json``, ``results.md`` and
    ``fig_size_sweep.png`` into ``out_dir``; returns the results dict."""
    from ..results import build_results, write_results
    from ..vision import load_images, split_images
    from ..theory.plotting import plot_size_sweep

    cfg = cfg or SizeSweepConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    recipe = cfg.recipe()
    d = recipe["data"]
    images = load_images(d["source"], image_size=d["image_size"], grayscale=d["grayscale"])
    if images.labels is None:
        raise ValueError(f"{images.source}: the size sweep needs labelled images for its linear probe")
    split = split_images(images, d["test_fraction"], d["split_seed"])
    # Largest models first: they take longest, so the pool ends with short jobs.
    jobs = [(split, w, p, s, cfg) for w in sorted(cfg.widths, reverse=True) for p in cfg.ratios for s in cfg.seeds]
    runs: List[Dict[str, Any]] = []
    if cfg.jobs > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=mp.get_context("spawn"),
                                    initializer=_init_worker) as pool:
            for i, run in enumerate(pool.map(_one_run, jobs)):
                runs.append(run)
                log(f"[size sweep {time.time() - t0:6.0f}s] {i + 1}/{len(jobs)} width={run['width']} "
                    f"p={run['ratio']:g} seed={run['seed']}: accuracy {run['accuracy']:.4f}")
    else:
        _init_worker()
        for i, job in enumerate(jobs):
            runs.append(_one_run(job))
            log(f"[size sweep {time.time() - t0:6.0f}s] {i + 1}/{len(jobs)} width={runs[-1]['width']} "
                f"p={runs[-1]['ratio']:g}: accuracy {runs[-1]['accuracy']:.4f}")
    per_width = optimal_ratios(runs, cfg.ratios, cfg.n_boot)
    curves = {f"width {w} ({per_width[w]['n_encoder_params']:,} params)": per_width[w] for w in per_width}
    plot_size_sweep(list(cfg.ratios), curves, out_dir / "fig_size_sweep.png",
                    title=f"ViT-MAE on {images.source}: probe accuracy vs fixed ratio ({len(cfg.seeds)} seeds)")
    bests = [per_width[str(w)]["best_ratio"] for w in sorted(cfg.widths)]
    methods = {f"width {w}, p={p:g}": {"accuracy": {"mean": per_width[str(w)]["mean"][i],
                                                    "sd": per_width[str(w)]["sd"][i],
                                                    "values": per_width[str(w)]["values"][f"{p:g}"]}}
               for w in sorted(cfg.widths) for i, p in enumerate(cfg.ratios)}
    results = build_results(
        "theory-size-sweep", images.source, list(cfg.seeds), methods, time.time() - t0, command=command,
        config={**asdict(cfg), "recipe": recipe}, per_width=per_width, runs=runs,
        optimal_ratio_by_width={str(w): b for w, b in zip(sorted(cfg.widths), bests)},
        larger_models_prefer_higher_ratios=bool(all(b2 >= b1 for b1, b2 in zip(bests, bests[1:]))
                                                and bests[-1] > bests[0]),
        cpu_s=round(sum(r["cpu_s"] for r in runs), 1), figures=["fig_size_sweep.png"],
    )
    write_results(out_dir, results, _markdown(results, cfg, recipe, len(split[0]), len(split[1])))
    return results


def _markdown(res: Dict[str, Any], cfg: SizeSweepConfig, recipe: Dict[str, Any], n_train: int, n_test: int) -> str:
    pw = res["per_width"]
    m, t = recipe["model"], recipe["train"]
    L = ["# Model-size sweep: optimal masking ratio vs ViT-MAE width", "",
         f"Command: `{res['command']}` — {res['elapsed_s']:.0f} s wall, {res['cpu_s']:.0f} s CPU in the runs.",
         f"Data: {res['dataset']} ({n_train} pretraining/probe-training images, {n_test} held-out). "
         f"ViT-MAE depth {m['depth']}, heads {m['heads']}, decoder {m['decoder_depth']} blocks of the encoder's width "
         f"(preset `{cfg.preset}`); {t['steps']} steps × batch {t['batch_size']}, lr {t['lr']}; fixed ratios "
         f"{list(cfg.ratios)}; seeds {list(cfg.seeds)}. "
         "Score: held-out linear-probe accuracy of the frozen, mean-pooled encoder features.", "",
         "![size sweep](fig_size_sweep.png)", "",
         "| width (encoder params) | " + " | ".join(f"p={p:g}" for p in cfg.ratios)
         + " | best p | P(best) bootstrap | quadratic vertex |",
         "|---|" + "---|" * (len(cfg.ratios) + 3)]
    for w in sorted(pw, key=int):
        e = pw[w]
        cells = [f"{m:.4f} ± {s:.4f}" for m, s in zip(e["mean"], e["sd"])]
        pb = e["bootstrap_best"][f"{e['best_ratio']:g}"]
        vx = f"{e['quadratic_vertex']:.2f}" if e["quadratic_vertex"] is not None else "— (not concave)"
        L.append(f"| {w} ({e['n_encoder_params']:,}) | " + " | ".join(cells)
                 + f" | {e['best_ratio']:g} | {pb:.2f} | {vx} |")
    L += ["", f"Paper (8/16/32 base channels): optimal 0.6 / 0.7 / 0.8. Here, by width "
          f"{', '.join(f'{w}: {b:g}' for w, b in res['optimal_ratio_by_width'].items())} — larger models prefer higher "
          f"ratios: **{'yes' if res['larger_models_prefer_higher_ratios'] else 'no'}** (mean ± sd over seeds; "
          "'P(best)' is how often the best ratio stays best when each ratio's seeds are resampled)."]
    return "\n".join(L)
