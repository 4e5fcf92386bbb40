"""``bior2 benchmark dna``: masking schemes compared on offline regulatory-variant benchmarks.

For each masking scheme (R²MAE ``U(0.05, 0.3)``, GPN's fixed 0.15, MDLM-style ``U(0, 1)``) and
each seed, one model is pretrained for the **same number of steps** on E. coli plus the
training-chromosome ChIP-seq peaks (see :mod:`bioR2.bench.dna_data`), then scores the held-out
SNVs zero-shot (``-LLR``: a less expected alt allele ranks first). Baselines on the same
variants: a k-mer context model trained on the same sequences, a PWM/grammar oracle, and the
positive fraction (the AUPRC of a random ranking). Models and scores are kept in ``DIR`` so an
interrupted run picks up where it stopped.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd

from ..domain import get_domain
from ..metrics import auprc, binary_metrics, paired_difference, summarize
from ..results import build_results, write_results
from ..utils.io import atomic_path
from ..utils.device import DEFAULT_DEVICE
from .common import ResultCache

__all__ = ["SCHEMES", "BenchmarkConfig", "run_benchmark", "run_scoreboard", "SCOREBOARD_TEST_RATIOS"]

def _schemes() -> Dict[str, str]:
    """The compared schemes by results.json name: the spec's R²MAE range, its fixed ratio, U(0, 1)."""
    from .common import method_key

    spec = get_domain("dna")
    return {method_key(r, spec.default_ratio): r for r in spec.comparison_schemes()}


SCHEMES = _schemes()
BASELINES = ("kmer", "kmer_tuned", "pwm_oracle", "positive_fraction")
# Run sizes: the model and training recipe of each is a preset of the DNA spec; what is the
# harness's own (the data mix, scoring, the checkpoints kept) is set here. ``long``: the recipe
# chosen on the validation split of the training sequences (benchmarks/dna_recipe_search.py;
# RESULTS.md "DNA recipe"): 3x denser tiling of the human peaks (peak_stride 8: two thirds of the
# windows are human, where the motifs are) and the model of the spec's dna-bench-long preset,
# trained long enough to fill 2 hours of 2 cores with 3 schemes x 3 seeds, scored at 5 points
# along the way.
PRESETS: Dict[str, Dict[str, Any]] = {
    "default": {"spec_preset": "dna-bench"},
    "long": {"spec_preset": "dna-bench-long", "peak_stride": 8, "curve_points": 5, "threads": 2},
    "quick": {"spec_preset": "dna-bench-quick", "max_positives": 60, "n_boot": 200, "quick": True},
}
# BenchmarkConfig field -> (section, key) of the spec preset that gives it when not overridden.
RECIPE_FIELDS = {"steps": ("train", "steps"), "batch_size": ("train", "batch_size"), "lr": ("train", "lr"),
                 "hidden": ("model", "hidden"), "layers": ("model", "layers"), "window": ("data", "window"),
                 "kernel_size": ("model", "kernel_size"), "dilation_max": ("model", "dilation_max")}


@dataclasses.dataclass
class BenchmarkConfig:
    """A benchmark run (``make(quick=True)`` for the < 10 minute version). ``steps``,
    ``batch_size``, ``lr``, ``hidden``, ``layers``, ``window``, ``kernel_size`` and
    ``dilation_max`` are overrides of the DNA
    spec's ``spec_preset``; :meth:`make` fills in the preset's values."""

    seeds: List[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    schemes: List[str] = dataclasses.field(default_factory=lambda: list(SCHEMES))
    spec_preset: str = "dna-bench"
    steps: Optional[int] = None
    hidden: Optional[int] = None
    layers: Optional[int] = None
    window: Optional[int] = None
    kernel_size: Optional[int] = None
    dilation_max: Optional[int] = None
    peak_stride: int = 36
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    max_positives: Optional[int] = None
    n_boot: int = 1000
    threads: Optional[int] = None
    device: str = DEFAULT_DEVICE
    precision: str = "fp32"  # training and scoring autocast: fp32 | bf16 (| fp16 on CUDA)
    score_batch: int = 256
    quick: bool = False
    preset: str = "default"
    curve_points: int = 0  # > 0: also score this many evenly spaced checkpoints (AUPRC vs steps)

    def __post_init__(self) -> None:
        from ..pipeline import resolve_run_config, typed_sections

        sections, train = typed_sections("dna", resolve_run_config("dna", preset=self.spec_preset))
        recipe = {"train": train, "model": sections.model, "data": sections.data}
        for name, (section, key) in RECIPE_FIELDS.items():
            if getattr(self, name) is None:  # not overridden: the spec preset's
                setattr(self, name, getattr(recipe[section], key))

    @classmethod
    def make(cls, quick: bool = False, preset: Optional[str] = None, **overrides: Any) -> "BenchmarkConfig":
        if preset is not None and preset not in PRESETS or preset == "quick":
            raise ValueError(f"unknown DNA benchmark preset {preset!r}; choose from {sorted(set(PRESETS) - {'quick'})}")
        if quick and preset not in (None, "default"):
            raise ValueError("--quick and --preset both size the run: give one of them")
        base: Dict[str, Any] = dict(PRESETS["quick"] if quick else PRESETS[preset or "default"])
        if preset is not None:
            base["preset"] = preset
        base.update(overrides)
        cfg = cls(**base)
        unknown = [s for s in cfg.schemes if s not in SCHEMES]
        if unknown:
            raise ValueError(f"unknown masking scheme(s) {unknown}; known: {list(SCHEMES)}")
        return cfg


def _pretrain_windows(genome, data, cfg: BenchmarkConfig) -> pd.DataFrame:
    from ..dna.data import make_windows

    peaks = [c for c in data.pretrain_contigs if c != "ecoli_train"]
    parts = [make_windows(genome, window=cfg.window, stride=cfg.window, contigs=["ecoli_train"])]
    if peaks:
        parts.append(make_windows(genome, window=cfg.window, stride=cfg.peak_stride, contigs=peaks))
    return pd.concat(parts, ignore_index=True)


def _model_fingerprint(scheme: str, seed: int, cfg: BenchmarkConfig, ratio: Optional[str] = None) -> Dict[str, Any]:
    """The settings a trained model depends on: a model saved with other settings is never
    reused, nor resumed from its checkpoints."""
    out = {"steps": cfg.steps, "mask_ratio": ratio or SCHEMES[scheme], "seed": seed, "batch_size": cfg.batch_size,
           "lr": cfg.lr, "hidden": cfg.hidden, "layers": cfg.layers, "window": cfg.window}
    if (cfg.kernel_size, cfg.dilation_max) != (9, 32):  # runs of the long-time default shape keep theirs
        out.update(kernel_size=cfg.kernel_size, dilation_max=cfg.dilation_max)
    if cfg.precision != "fp32":  # fp32 runs keep the fingerprint (and cached models) they always had
        out["precision"] = cfg.precision
    if cfg.peak_stride != 36:  # the data mix (older runs all used 36)
        out["peak_stride"] = cfg.peak_stride
    if cfg.curve_points:  # the checkpoints kept for the curve
        out["curve_points"] = cfg.curve_points
    return out


def _train_one(genome, windows, scheme: str, seed: int, cfg: BenchmarkConfig, out: Path,
               ratio: Optional[str] = None, models: str = "models"):
    """Pretrain one model (or reuse a finished one); returns ``(run_dir, reused)``.

    The models share the benchmarks' one cache (:class:`bioR2.bench.common.ResultCache`, in
    ``out/models``): a model finished with the same settings is reused, one started with them
    resumes from its checkpoints, and one of other settings is deleted and trained afresh.
    ``ratio`` (any form of :func:`~bioR2.masking.parse_mask_ratio`) trains ``scheme`` at that
    ratio instead of ``SCHEMES[scheme]`` (the scoreboard's schedules).
    """
    from ..dna import pretrain

    ratio = ratio or SCHEMES[scheme]
    name = f"{scheme}_seed{seed}"
    cache = ResultCache(Path(out) / models, _model_fingerprint(scheme, seed, cfg, ratio))
    run = cache.dir / name
    if cache.get(name) is not None and (run / "model.safetensors").exists():
        return run, True  # trained by an earlier invocation
    if run.exists() and not cache.started(name):  # another configuration's run: never resume from it
        shutil.rmtree(run)
    cache.start(name)
    every, keep = max(100, cfg.steps // 5), 2
    if cfg.curve_points:  # evenly spaced checkpoints, all kept, for the AUPRC-vs-steps curve
        every, keep = max(1, cfg.steps // cfg.curve_points), cfg.curve_points + 1
    shape = {"hidden": cfg.hidden, "layers": cfg.layers, "kernel_size": cfg.kernel_size,
             "dilation_max": cfg.dilation_max}
    pretrain((genome, windows), run, preset=cfg.spec_preset, model=shape,
             data={"window": cfg.window},
             train={"steps": cfg.steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": seed,
                    "mask_ratio": ratio, "log_every": 25, "progress": False, "keep_checkpoints": keep,
                    "save_every": every, "device": cfg.device, "precision": cfg.precision},
             resume=True, overwrite=True)
    cache.put(name, {"run": name})
    return run, False


def _metrics(labels, scores, groups, cfg: BenchmarkConfig, seed: int = 0) -> Dict[str, Dict[str, float]]:
    return binary_metrics(labels, scores, groups=groups, n_boot=cfg.n_boot, seed=seed)


def _task_frames(data, task: str) -> Dict[str, pd.DataFrame]:
    tasks = ["motif", "bacterial"] if task == "all" else [task]
    return {t: getattr(data, t).copy() for t in tasks}


def run_benchmark(cfg: BenchmarkConfig, out_dir, task: str = "all") -> Dict[str, Any]:
    """Run the benchmark and write ``results.json``, ``results.md``, PR curves and scores."""
    import torch

    from ..train import load_model
    from .dna_data import build_benchmark_data, kmer_scores, pwm_oracle_scores, save_variant_sets, sd_oracle_scores
    from .dna_kmer import selection_section as dna_selection, tune_kmer, tuned_kmer_scores, validation_split
    from ..dna.data import Genome
    from ..dna.scorer import VariantScorer

    if task not in ("motif", "bacterial", "all"):
        raise ValueError(f"task must be motif, bacterial or all, got {task!r}")
    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = build_benchmark_data(max_positives=cfg.max_positives)
    save_variant_sets(data, out)
    genome = Genome(data.fasta)
    frames = _task_frames(data, task)

    # baselines (deterministic: one value each)
    train_seqs = [genome.fetch(c, 0, genome.length(c)) for c in data.pretrain_contigs]
    for name, df in frames.items():
        ctx = [genome.fetch(c, p - 4, p + 3) for c, p in zip(df.chrom, df.pos)]
        ctx = [s if len(s) == 7 else "N" * 7 for s in ctx]
        df["kmer"] = -kmer_scores(train_seqs, ctx, df.ref.tolist(), df.alt.tolist())
        df["pwm_oracle"] = pwm_oracle_scores(genome, df, data.pwms) if name == "motif" else sd_oracle_scores(genome, df)
    del train_seqs
    # the k-mer baseline tuned (context, data weighting) on the validation split of the training data
    split = validation_split(data, genome, max_positives=cfg.max_positives)
    kmer_choice = tune_kmer(split, genome)
    for name, scores in tuned_kmer_scores(data, genome, frames, kmer_choice).items():
        frames[name]["kmer_tuned"] = scores
    selection = {**dna_selection(split, data, frames), "kmer_tuned": kmer_choice}

    # scores of models an earlier (interrupted) invocation already trained and scored
    cached: Dict[str, pd.DataFrame] = {}
    for name, df in frames.items():
        path = out / f"scores_{name}.tsv"
        if path.exists():
            old = pd.read_csv(path, sep="\t")
            same = len(old) == len(df) and (old[["chrom", "pos", "ref", "alt"]].astype(str).values
                                            == df[["chrom", "pos", "ref", "alt"]].astype(str).values).all()
            if same:
                cached[name] = old
    windows = _pretrain_windows(genome, data, cfg)
    timings: Dict[str, float] = {}
    # seed-major order: a run cut short still has every scheme at the seeds it finished
    for seed in cfg.seeds:
        for scheme in cfg.schemes:
            col = f"{scheme}_seed{seed}"
            t = time.perf_counter()
            run, reused = _train_one(genome, windows, scheme, seed, cfg, out)
            timings[f"train_{col}"] = round(time.perf_counter() - t, 1)
            if reused and all(name in cached and col in cached[name] for name in frames):
                for name, df in frames.items():
                    df[col] = cached[name][col].to_numpy()
                continue
            t = time.perf_counter()
            model = load_model(run)
            scorer = VariantScorer(model, genome, window=cfg.window, batch_size=cfg.score_batch, device=cfg.device,
                                   precision=cfg.precision)
            for df in frames.values():
                df[col] = -scorer.llr(df.chrom.to_numpy(), df.pos.to_numpy() - 1, df.ref.tolist(), df.alt.tolist())
            timings[f"score_{col}"] = round(time.perf_counter() - t, 1)
            for name, df in frames.items():  # keep scores on disk as the run goes
                with atomic_path(out / f"scores_{name}.tsv") as tmp:
                    df.to_csv(tmp, sep="\t", index=False)
    if cfg.curve_points:
        for seed in cfg.seeds:
            for scheme in cfg.schemes:
                _score_curve(genome, frames, out / "models" / f"{scheme}_seed{seed}", scheme, seed, cfg, out)

    tasks_out: Dict[str, Any] = {}
    for name, df in frames.items():
        tasks_out[name] = _evaluate(df, name, cfg)
        _plot_pr(df, name, cfg, out / f"pr_curves_{name}.png")
    primary = "motif" if "motif" in tasks_out else "bacterial"
    extra: Dict[str, Any] = {}
    if cfg.curve_points:
        extra["curve"] = _curve_summary(out, frames, cfg)
        _plot_curve(extra["curve"], out / "auprc_vs_steps.png")
    results = build_results(
        "dna", "motif+bacterial" if task == "all" else task, cfg.seeds, tasks_out[primary]["methods"],
        time.perf_counter() - t0, primary_task=primary, tasks=tasks_out, config=dataclasses.asdict(cfg),
        data=data.info, timings_s=timings, pretrain_windows=len(windows), selection=selection,
        comparisons={name: t["comparisons"] for name, t in tasks_out.items()},
        human_window_fraction=round(float((windows.chrom != "ecoli_train").mean()), 3), **extra,
    )
    write_results(out, results, _markdown(results))
    return results


# --------------------------------------------------------------------------- AUPRC vs steps
def _task_auprcs(frames: Dict[str, pd.DataFrame], scores: Dict[str, Any]) -> Dict[str, float]:
    """AUPRC of each task, each motif factor and each bacterial kind (against every negative)."""
    out: Dict[str, float] = {}
    for name, df in frames.items():
        y = df["label"].to_numpy()
        s = scores[name]
        out[name] = auprc(y, s)
        if name == "motif":
            for factor in sorted(df.factor.unique()):
                sel = (df.factor == factor).to_numpy()
                if 0 < y[sel].sum() < sel.sum():
                    out[f"motif_{factor}"] = auprc(y[sel], s[sel])
        else:
            for kind in sorted(df.loc[y == 1, "kind"].unique()):
                sel = (y == 0) | ((df.kind == kind).to_numpy() & (y == 1))
                out[f"bacterial_{kind}"] = auprc(y[sel], s[sel])
    return out


def _score_curve(genome, frames: Dict[str, pd.DataFrame], run: Path, scheme: str, seed: int,
                 cfg: BenchmarkConfig, out: Path) -> None:
    """Score every kept checkpoint of one model (cached in ``out/curve.json``)."""
    import json

    from ..dna.scorer import VariantScorer
    from ..train import load_model
    from ..utils.io import atomic_write_json

    path = out / "curve.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    col = f"{scheme}_seed{seed}"
    for ckpt in sorted((run / "checkpoints").glob("step-*")):
        step = int(ckpt.name.split("-")[1])
        key = f"{col}@{step}"
        if key in saved:
            continue
        if step == cfg.steps:  # the final model: its scores are already in the frames
            scores = {name: df[col].to_numpy() for name, df in frames.items()}
        else:
            scorer = VariantScorer(load_model(ckpt), genome, window=cfg.window, batch_size=cfg.score_batch,
                                   device=cfg.device, precision=cfg.precision)
            scores = {name: -scorer.llr(df.chrom.to_numpy(), df.pos.to_numpy() - 1, df.ref.tolist(),
                                        df.alt.tolist()) for name, df in frames.items()}
        saved[key] = {"scheme": scheme, "seed": seed, "step": step, **_task_auprcs(frames, scores)}
        atomic_write_json(path, saved)


def _curve_summary(out: Path, frames: Dict[str, pd.DataFrame], cfg: BenchmarkConfig) -> Dict[str, Any]:
    """AUPRC vs training steps: mean ± sd over seeds per scheme and step, the k-mer line, and, per
    metric, the step at which the R²MAE curve (a straight line in log(steps) through its last three
    points) would reach the k-mer baseline if it has not yet."""
    import json

    import numpy as np

    saved = json.loads((out / "curve.json").read_text())
    kmer = _task_auprcs(frames, {name: df["kmer"].to_numpy() for name, df in frames.items()})
    metrics = list(kmer)
    table: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for scheme in cfg.schemes:
        steps = sorted({v["step"] for v in saved.values() if v["scheme"] == scheme and v["seed"] in cfg.seeds})
        table[scheme] = {}
        for step in steps:
            rows = [v for v in saved.values() if v["scheme"] == scheme and v["step"] == step and v["seed"] in cfg.seeds]
            table[scheme][str(step)] = {m: summarize([r[m] for r in rows]) for m in metrics}
    crossing: Dict[str, Any] = {}
    r2 = table.get("r2mae", {})
    if len(r2) >= 3:
        steps = np.array(sorted(int(s) for s in r2), dtype=float)
        for m in metrics:
            y = np.array([r2[str(int(s))][m]["mean"] for s in steps])
            if y[-1] >= kmer[m]:
                crossing[m] = {"reached_at_step": int(steps[np.argmax(y >= kmer[m])])}
                continue
            slope, icpt = np.polyfit(np.log(steps[-3:]), y[-3:], 1)
            est = float(np.exp((kmer[m] - icpt) / slope)) if slope > 0 else None
            crossing[m] = {"slope_per_log_step": round(float(slope), 4),
                           "estimated_step": None if est is None else int(round(est))}
    return {"kmer": kmer, "schemes": table, "r2mae_crossing": crossing,
            "method": "every kept checkpoint scored on the full variant sets; crossing: a straight line in "
                      "log(steps) through R²MAE's last three points, extended to the k-mer baseline"}


def _plot_curve(curve: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [m for m in ("motif", "motif_oct4", "motif_mafk", "bacterial") if m in curve["kmer"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, m in zip(axes[0], panels):
        for scheme, by_step in curve["schemes"].items():
            steps = sorted(by_step, key=int)
            ax.errorbar([int(s) for s in steps], [by_step[s][m]["mean"] for s in steps],
                        yerr=[by_step[s][m]["sd"] for s in steps], marker="o", ms=3, label=scheme)
        ax.axhline(curve["kmer"][m], color="black", ls="--", lw=1, label="k-mer")
        ax.set_title(m.replace("motif_", "motif: "))
        ax.set_xlabel("training steps")
        ax.set_ylabel("AUPRC")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# --------------------------------------------------------------------------- scoreboard
SCOREBOARD_TEST_RATIOS = get_domain("dna").eval_ratios  # held-out masked-token accuracy at these fixed ratios
SCOREBOARD_HELDOUT_WINDOWS = 2048      # held-out windows scored (the first ones, in contig order)


def _scoreboard_model(run: Path, genome, frames: Dict[str, pd.DataFrame], heldout,
                      cfg: BenchmarkConfig) -> Dict[str, Any]:
    """The scoreboard's downstream numbers of one pretrained model: AUPRC per motif factor and
    per bacterial kind (each kind's positives against every negative, as the per-kind tables of
    the benchmark do), and the held-out masked-token accuracy and loss at fixed ratios."""
    from ..dna.scorer import VariantScorer
    from ..dna.task import MaskedLMTask
    from ..train import load_model
    from .scoreboard import masked_eval

    model = load_model(run).eval()
    scorer = VariantScorer(model, genome, window=cfg.window, batch_size=cfg.score_batch, device=DEFAULT_DEVICE)
    scores = {name: -scorer.llr(df.chrom.to_numpy(), df.pos.to_numpy() - 1, df.ref.tolist(), df.alt.tolist())
              for name, df in frames.items()}
    out: Dict[str, Any] = {f"{k}_auprc": v for k, v in _task_auprcs(frames, scores).items()}
    task = MaskedLMTask(model)
    for r in SCOREBOARD_TEST_RATIOS:
        ev = masked_eval(task, heldout, r, batch_size=cfg.score_batch)
        out[f"masked_acc_{r:g}"] = ev["masked_accuracy"]
        out[f"masked_loss_{r:g}"] = ev["loss"]
    return out


def run_scoreboard(cfg: BenchmarkConfig, out_dir, schedules: Optional[Dict[str, str]] = None,
                   keep_models: bool = False) -> Dict[str, Any]:
    """``bior2 benchmark dna --scoreboard``: pretrain one model per (schedule, seed) of the DNA
    schedule family (:func:`bioR2.bench.scoreboard.domain_family`) with ``cfg``'s recipe, score
    every downstream task on it, and write results.json with a ``scoreboard`` section.

    Each finished (schedule, seed) keeps its numbers in ``out/scoreboard_runs`` (the shared
    :class:`~bioR2.bench.common.ResultCache`), so an interrupted run resumes; the model
    weights are deleted once scored unless ``keep_models``.
    """
    import torch

    from ..dna.data import Genome, WindowDataset, make_windows
    from .common import summarize_methods
    from .dna_data import build_benchmark_data
    from .scoreboard import domain_family, scoreboard_section, section_markdown

    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    schedules = dict(schedules or domain_family("dna"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = build_benchmark_data(max_positives=cfg.max_positives)
    genome = Genome(data.fasta)
    frames = {"motif": data.motif.copy(), "bacterial": data.bacterial.copy()}
    windows = _pretrain_windows(genome, data, cfg)
    held = make_windows(genome, window=cfg.window, stride=cfg.window, contigs=data.held_out)
    held = held.iloc[:SCOREBOARD_HELDOUT_WINDOWS].reset_index(drop=True)
    heldout = WindowDataset(genome, held, reverse_complement=False)
    base = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("seeds", "schemes", "threads", "n_boot")}
    # The family's ratios are part of the fingerprint: a schedule whose ratio changes recomputes.
    cache = ResultCache(out / "scoreboard_runs", {**base, "heldout_windows": len(held),
                                                  "test_ratios": list(SCOREBOARD_TEST_RATIOS),
                                                  "family": {**domain_family("dna"), **schedules}})
    timings: Dict[str, float] = {}
    per_run: Dict[str, Dict[str, Any]] = {}
    for seed in cfg.seeds:  # seed-major: a run cut short has every schedule at the seeds it finished
        for name, ratio in schedules.items():
            key = f"{name}_seed{seed}"
            saved = cache.get(key)
            if saved is None:
                t = time.perf_counter()
                run, _ = _train_one(genome, windows, name, seed, cfg, out, ratio=ratio, models="scoreboard_models")
                saved = {"ratio": ratio, "seed": seed, **_scoreboard_model(run, genome, frames, heldout, cfg),
                         "seconds": round(time.perf_counter() - t, 1)}
                cache.put(key, saved)
                if not keep_models:
                    shutil.rmtree(run, ignore_errors=True)
            per_run[key] = saved
            timings[key] = saved.get("seconds", 0.0)
    factors = sorted(k for k in per_run[next(iter(per_run))] if k.startswith("motif_") and k != "motif_auprc"
                     and k.endswith("_auprc"))
    kinds = sorted(k for k in per_run[next(iter(per_run))] if k.startswith("bacterial_") and k != "bacterial_auprc")
    metrics = [*factors, *kinds, *(f"masked_acc_{r:g}" for r in SCOREBOARD_TEST_RATIOS)]
    values = {m: {s: [per_run[f"{s}_seed{seed}"][m] for seed in cfg.seeds] for s in schedules} for m in metrics}
    tasks = {m: (True, values[m]) for m in metrics}
    notes = [f"{cfg.steps} steps x {cfg.batch_size} windows of {cfg.window} bp, convnet {cfg.layers} x {cfg.hidden}, "
             "the same for every schedule; AUPRC: zero-shot -LLR of the held-out SNVs"
             + (f" (at most {cfg.max_positives} positives per factor / task)" if cfg.max_positives else ""),
             f"masked_acc_<r>: masked-token accuracy on the first {len(held)} held-out windows (held-out E. coli "
             "and chr1/chr2 peaks), fixed evaluation masks at ratio r, soft-masked bases weigh 0"]
    board = scoreboard_section(cfg.seeds, schedules, tasks, notes)
    method_values = {s: {m: [per_run[f"{s}_seed{seed}"][m] for seed in cfg.seeds]
                         for m in ["motif_auprc", "bacterial_auprc", *metrics,
                                   *(f"masked_loss_{r:g}" for r in SCOREBOARD_TEST_RATIOS)]}
                     for s in schedules}
    results = build_results("dna", "motif+bacterial", cfg.seeds, summarize_methods(method_values),
                            time.perf_counter() - t0, primary_task="scoreboard", config=dataclasses.asdict(cfg),
                            data=data.info, timings_s=timings, pretrain_windows=len(windows),
                            heldout_windows=len(held), scoreboard=board)
    md = ["# bioR2 DNA benchmark: masking-ratio schedules (scoreboard)", "",
          f"Command: `{results['command']}`  ",
          f"bioR2 {results['bior2_version']}, {results['elapsed_s']:.0f} s, seeds {list(cfg.seeds)}.", "",
          section_markdown(board), ""]
    write_results(out, results, "\n".join(md))
    return results


def _baselines(df: pd.DataFrame) -> List[str]:
    return [b for b in ("kmer", "kmer_tuned", "pwm_oracle") if b in df]


def _comparisons(methods: Dict[str, Any], cfg: BenchmarkConfig, flat: bool = False) -> Dict[str, Any]:
    """``r2mae_vs_<method>`` on AUPRC: one fixed test set, so paired over seeds (the baselines are
    deterministic; the other schemes share R²MAE's seeds). ``flat``: a stratum's entries
    (``{scheme: summary, baseline: value}``) rather than ``{method: {"auprc": summary}}``."""
    from ..stats import paired_comparison

    def values(m):
        v = methods.get(m)
        if v is None:
            return None
        v = v if flat else v["auprc"]
        return v["values"] if isinstance(v, dict) else [v]

    r2 = values("r2mae")
    if r2 is None:
        return {}
    out = {}
    for other in [*(s for s in cfg.schemes if s != "r2mae"), "kmer", "kmer_tuned", "pwm_oracle"]:
        b = values(other)
        if b is None:
            continue
        seeded = other in cfg.schemes and len(b) == len(r2)
        out[f"r2mae_vs_{other}"] = paired_comparison(r2, [[v] for v in b] if seeded else b[0], metric="auprc")
    return out


def _evaluate(df: pd.DataFrame, name: str, cfg: BenchmarkConfig) -> Dict[str, Any]:
    y = df["label"].to_numpy()
    groups = df["group"].to_numpy()
    methods: Dict[str, Any] = {}
    per_seed_ci: Dict[str, Any] = {}
    for scheme in cfg.schemes:
        vals = {"auprc": [], "auroc": []}
        cis = []
        for seed in cfg.seeds:
            m = _metrics(y, df[f"{scheme}_seed{seed}"].to_numpy(), groups, cfg, seed)
            vals["auprc"].append(m["auprc"]["value"])
            vals["auroc"].append(m["auroc"]["value"])
            cis.append({"seed": seed, **m})
        methods[scheme] = {k: summarize(v) for k, v in vals.items()}
        per_seed_ci[scheme] = cis
    for base in _baselines(df):
        m = _metrics(y, df[base].to_numpy(), groups, cfg)
        methods[base] = {k: {**summarize([m[k]["value"]]), "ci_low": m[k]["ci_low"], "ci_high": m[k]["ci_high"]}
                         for k in ("auprc", "auroc")}
    methods["positive_fraction"] = {"auprc": summarize([float(y.mean())]), "auroc": summarize([0.5])}
    paired = {}
    if "r2mae" in cfg.schemes:
        for other in cfg.schemes:
            if other == "r2mae":
                continue
            paired[f"r2mae - {other}"] = {
                k: paired_difference(methods["r2mae"][k]["values"], methods[other][k]["values"])
                for k in ("auprc", "auroc")}
    strata: Dict[str, Any] = {}
    key = "factor" if name == "motif" else "kind"
    if name == "motif":
        for level, sub in df.groupby(key):
            ys = sub["label"].to_numpy()
            if ys.min() == ys.max():
                continue
            entry = {"positives": int(ys.sum()), "variants": int(len(ys)), "positive_fraction": float(ys.mean())}
            for scheme in cfg.schemes:
                entry[scheme] = summarize([auprc(ys, sub[f"{scheme}_seed{s}"]) for s in cfg.seeds])
            for base in _baselines(df):
                entry[base] = auprc(ys, sub[base])
            strata[str(level)] = entry
    else:  # bacterial: each positive kind against all negatives
        neg = df[df.label == 0]
        for level, sub in df[df.label == 1].groupby(key):
            both = pd.concat([sub, neg])
            ys = both["label"].to_numpy()
            entry = {"positives": int(ys.sum()), "variants": int(len(ys)), "positive_fraction": float(ys.mean())}
            for scheme in cfg.schemes:
                entry[scheme] = summarize([auprc(ys, both[f"{scheme}_seed{s}"]) for s in cfg.seeds])
            for base in _baselines(df):
                entry[base] = auprc(ys, both[base])
            strata[str(level)] = entry
    comparisons = _comparisons(methods, cfg)
    if name == "motif":  # Oct4 and MafK each on their own
        for level, entry in strata.items():
            comparisons.update({f"{k}_{level}": v for k, v in _comparisons(entry, cfg, flat=True).items()})
    return {"methods": methods, "bootstrap_ci_per_seed": per_seed_ci, "paired_differences": paired,
            "comparisons": comparisons,
            f"per_{key}_auprc": strata, "variants": int(len(y)), "positives": int(y.sum()),
            "bootstrap": f"{cfg.n_boot} resamples of {'peaks' if name == 'motif' else 'loci (ORFs / 2-kb bins)'}"}


def _plot_pr(df: pd.DataFrame, name: str, cfg: BenchmarkConfig, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    y = df["label"].to_numpy()
    fig, ax = plt.subplots(figsize=(5, 4))
    seed = cfg.seeds[0]
    cols = ([(f"{s}_seed{seed}", f"{s} (seed {seed})") for s in cfg.schemes]
            + [("kmer", "k-mer"), ("pwm_oracle", "oracle")])
    for col, label in cols:
        p, r, _ = precision_recall_curve(y, df[col].to_numpy())
        ax.plot(r, p, label=f"{label}: {auprc(y, df[col]):.3f}", lw=1.2)
    ax.axhline(y.mean(), color="grey", ls="--", lw=1, label=f"positive fraction {y.mean():.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"DNA {name} benchmark: AUPRC")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _fmt(entry: Dict[str, Any], metric: str) -> str:
    v = entry[metric]
    if "ci_low" in v:
        return f"{v['mean']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]"
    if len(v["values"]) > 1:
        return f"{v['mean']:.3f} ± {v['sd']:.3f} (n={len(v['values'])})"
    return f"{v['mean']:.3f}"


def _markdown(results: Dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        "# bioR2 DNA benchmark",
        "",
        f"Command: `{results['command']}`  ",
        f"bioR2 {results['bior2_version']}, {results['elapsed_s']:.0f} s, seeds {results['seeds']}, "
        f"{cfg['steps']} steps x {cfg['batch_size']} windows of {cfg['window']} bp per model "
        f"(convnet {cfg['layers']} blocks x {cfg['hidden']}), every scheme at the same step count.",
        "",
        "**What this measures:** whether zero-shot masked-LM scores (−LLR of alt vs ref at the masked "
        "centre, both strands) rank SNVs that break transcription-factor motifs (human Oct4 / MafK "
        "ChIP-seq peaks on held-out chr1+chr2, JASPAR 2024) or bacterial translation-initiation grammar "
        "(Shine–Dalgarno / start codon of long ORFs in a held-out 15% of E. coli) above ref/alt-matched "
        "background SNVs — i.e. how much *motif grammar* a model learned. **What it does not measure:** "
        "Mendelian pathogenicity or effects in real patients (OMIM/ClinVar); see `data_recipes/` for that.",
        "",
    ]
    for name, t in results["tasks"].items():
        lines += [f"## {name}: {t['variants']} variants, {t['positives']} positives", ""]
        lines += ["| method | AUPRC | AUROC |", "|---|---|---|"]
        for m, e in t["methods"].items():
            lines.append(f"| {m} | {_fmt(e, 'auprc')} | {_fmt(e, 'auroc')} |")
        lines += ["", "Models: mean ± sd over seeds; baselines: value [95% bootstrap CI over "
                  f"{t['bootstrap']}]. Per-seed bootstrap CIs are in results.json.", ""]
        if t["paired_differences"]:
            lines += ["Paired differences over seeds (same seed = same data order and initialisation):", "",
                      "| comparison | ΔAUPRC mean ± se | ΔAUROC mean ± se |", "|---|---|---|"]
            for k, v in t["paired_differences"].items():
                lines.append(f"| {k} | {v['auprc']['mean']:+.3f} ± {v['auprc']['se']:.3f} | "
                             f"{v['auroc']['mean']:+.3f} ± {v['auroc']['se']:.3f} |")
            lines.append("")
        if t.get("comparisons"):
            from ..stats import comparison_table

            lines += ["R²MAE minus each method (AUPRC; 95% t-interval over seeds, which covers seed-to-seed spread, "
                      "not the sampling of the test set; `ahead` only when it excludes 0; `_oct4` / `_mafk`: "
                      "that factor's variants only):", "", *comparison_table(t["comparisons"]), ""]
        strata_key = next(k for k in t if k.startswith("per_"))
        strata = t[strata_key]
        if strata:
            schemes = [s for s in SCHEMES if s in next(iter(strata.values()))]
            bases = [b for b in ("kmer", "kmer_tuned", "pwm_oracle") if b in next(iter(strata.values()))]
            lines += [f"AUPRC {strata_key.replace('_', ' ')[4:]}:", "",
                      "| stratum | positives / variants | positive fraction | " + " | ".join(schemes)
                      + " | " + " | ".join(bases) + " |",
                      "|---|---|---|" + "---|" * (len(schemes) + len(bases))]
            for level, e in strata.items():
                cells = [f"{e[s]['mean']:.3f} ± {e[s]['sd']:.3f}" for s in schemes] + [f"{e[b]:.3f}" for b in bases]
                lines.append(f"| {level} | {e['positives']} / {e['variants']} | {e['positive_fraction']:.3f} | "
                             + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"![PR curves](pr_curves_{name}.png)", ""]
    curve = results.get("curve")
    if curve:
        metrics = list(curve["kmer"])
        lines += ["## AUPRC vs training steps (mean ± sd over seeds; every kept checkpoint scored)", "",
                  "| scheme | step | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
        for scheme, by_step in curve["schemes"].items():
            for step in sorted(by_step, key=int):
                e = by_step[step]
                lines.append(f"| {scheme} | {step} | " + " | ".join(
                    f"{e[m]['mean']:.3f} ± {e[m]['sd']:.3f}" for m in metrics) + " |")
        lines.append("| k-mer | — | " + " | ".join(f"{curve['kmer'][m]:.3f}" for m in metrics) + " |")
        lines += ["", "Where R²MAE would reach the k-mer baseline (" + curve["method"] + "):", ""]
        for m, c in curve["r2mae_crossing"].items():
            if "reached_at_step" in c:
                lines.append(f"- {m}: reached by step {c['reached_at_step']}")
            elif c["estimated_step"] is None:
                lines.append(f"- {m}: not reached, and not rising over the last three points")
            else:
                lines.append(f"- {m}: not reached; about step {c['estimated_step']:,} at the current slope "
                             f"({c['slope_per_log_step']:+.3f} AUPRC per e-fold of steps)")
        lines += ["", "![AUPRC vs steps](auprc_vs_steps.png)", ""]
    lines += ["Oracles: motif — drop of the best PWM score (the ChIP'd factor's own JASPAR matrices) "
              "over windows covering the variant, an upper bound for motif knowledge; bacterial — an "
              "SD/ATG rule that does not know ORF lengths (so it is not a strict upper bound).", ""]
    return "\n".join(lines)
