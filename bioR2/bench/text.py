"""``bior2 benchmark text``: R²MAE against fixed ratios and U(0, 1) by linear probe on BBC News.

One tokenizer is trained on the training documents and shared by every run. Each masking scheme
pretrains the same masked LM for the same number of steps, for each seed; a logistic-regression
probe on frozen mean-pooled features of each document's first window is scored on held-out
documents. References: the same probe on a randomly initialised encoder, and TF-IDF over the
same BPE tokens (the classical topic-classification baseline). Results: ``results.json`` (the
shared schema; metric ``accuracy``, plus ``macro_f1`` and ``val_loss``, the MLM loss on
held-out windows at a fixed ratio 0.15 with run-independent masks), ``results.md`` and
``loss_curves.png``.
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
from ..results import build_results, methods_table, write_results
from ..text.data import TextCorpus, load_corpus, split_corpus
from ..text.model import build_model
from ..text.spec import DEFAULT_RATIO as TEXT_DEFAULT_RATIO
from ..text.api import pretrain_and_probe
from ..text.config import TextModelConfig
from ..text.probe import probe_bag_of_tokens, probe_model
from ..text.tokenizer import BPETokenizer

__all__ = ["TextBenchmarkConfig", "QUICK", "FULL", "run_benchmark", "run_scoreboard", "DEFAULT_RATIOS",
           "SCOREBOARD_TEST_RATIOS"]

# R²MAE's range first; then RoBERTa's 0.15, the top of the range, and MDLM's U(0, 1).
DEFAULT_RATIOS = (TEXT_DEFAULT_RATIO, "0.15", "0.4", "0-1")
EVAL_RATIO = 0.15
REFERENCES = {"random_init": "a randomly initialised encoder", "bag_of_tokens": "TF-IDF over the same tokens"}


@dataclass
class TextBenchmarkConfig:
    """What one benchmark run trains; ``QUICK`` and ``FULL`` are the two presets."""

    data: str = "bbc"
    seeds: Tuple[int, ...] = (0, 1, 2)
    ratios: Tuple[str, ...] = DEFAULT_RATIOS
    steps: int = 400
    batch_size: int = 32
    lr: float = 3.0e-3
    model: TextModelConfig = field(default_factory=lambda: TextModelConfig(
        vocab_size=2048, max_len=64, width=64, depth=2, heads=4))
    test_fraction: float = 0.2
    split_seed: int = 0
    jobs: int = 0  # parallel runs, one thread each; 0: one per CPU core (at most 4)


QUICK = TextBenchmarkConfig()
# The full run trains the same model 3x longer (a CPU budget; a larger model needs a GPU).
FULL = TextBenchmarkConfig(steps=1200)


def _one_run(args: Tuple[Tuple[TextCorpus, TextCorpus], BPETokenizer, str, int, TextBenchmarkConfig]) -> Dict[str, Any]:
    split, tokenizer, ratio, seed, cfg = args
    run = pretrain_and_probe(split, mask_ratio=ratio, width=cfg.model.width, seed=seed, steps=cfg.steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, model_config=cfg.model, tokenizer=tokenizer,
                             eval_mask_ratio=EVAL_RATIO)
    out = run.to_dict()
    out["loss_curve"] = downsample_curve(run.loss_curve, 200)
    return out


def _one_run_json(args: Tuple[Any, Dict[str, Any], str, int, TextBenchmarkConfig]) -> Dict[str, Any]:
    """Worker entry: tokenizers travel as their JSON config (Rust objects do not pickle)."""
    split, tok_config, ratio, seed, cfg = args
    return _one_run((split, BPETokenizer(tok_config), ratio, seed, cfg))


def _labelled_split(cfg: TextBenchmarkConfig):
    """``(corpus, train, test, tokenizer)``: the labelled corpus, its held-out split and the BPE
    tokenizer trained on the training documents, as every run of both modes shares them."""
    corpus = load_corpus(cfg.data)
    if corpus.labels is None:
        raise ValueError(f"{corpus.source}: the benchmark needs labelled documents (class folders)")
    train, test = split_corpus(corpus, cfg.test_fraction, cfg.split_seed)
    return corpus, train, test, BPETokenizer.train(train.texts, cfg.model.vocab_size, cfg.model.min_frequency)


def run_benchmark(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                  seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None, width: Optional[int] = None,
                  ratios: Optional[Sequence[str]] = None, jobs: Optional[int] = None,
                  config: Optional[TextBenchmarkConfig] = None) -> Dict[str, Any]:
    """Run the benchmark and write its results into ``out_dir``; returns the results dict."""
    start = time.perf_counter()
    cfg = config or (QUICK if quick else FULL)
    overrides: Dict[str, Any] = {k: v for k, v in dict(data=data, steps=steps, jobs=jobs).items() if v is not None}
    if seeds is not None:
        overrides["seeds"] = tuple(seeds)
    if ratios is not None:
        overrides["ratios"] = tuple(ratios)
    if width is not None:
        overrides["model"] = replace(cfg.model, width=width)
    cfg = replace(cfg, **overrides)
    if not cfg.seeds or not cfg.ratios:
        raise ValueError("the benchmark needs at least one seed and one masking scheme")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    corpus, train, test, tokenizer = _labelled_split(cfg)

    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    pairs = [(ratio, seed) for ratio in cfg.ratios for seed in cfg.seeds]
    tasks = [((train, test), tokenizer.to_config(), ratio, seed, cfg) for ratio, seed in pairs]
    names = [f"{method_key(r, TEXT_DEFAULT_RATIO)}-seed{s}" for r, s in pairs]
    # Finished runs are kept in out_dir/runs/ and reused when the settings match (resumable).
    fingerprint = {**asdict(replace(cfg, seeds=(), ratios=(), jobs=0)), "source": corpus.source,
                   "n_train": len(train), "vocab_size": tokenizer.vocab_size}
    runs = run_all(_one_run_json, tasks, names, out_dir / "runs", fingerprint, jobs)

    values: Dict[str, Dict[str, List[float]]] = {}
    curves: Dict[str, List[List[List[float]]]] = {}
    for (_, _, ratio, seed, _), run in zip(tasks, runs):
        key = method_key(ratio, TEXT_DEFAULT_RATIO)
        entry = values.setdefault(key, {"accuracy": [], "macro_f1": [], "val_loss": []})
        entry["accuracy"].append(run["accuracy"])
        entry["macro_f1"].append(run["macro_f1"])
        entry["val_loss"].append(run["val_loss"])
        curves.setdefault(key, []).append(run["loss_curve"])
    random_init: Dict[str, List[float]] = {"accuracy": [], "macro_f1": []}
    for seed in cfg.seeds:
        torch.manual_seed(seed)
        probe = probe_model(build_model(tokenizer, cfg.model).eval(), train, test)
        random_init["accuracy"].append(probe.accuracy)
        random_init["macro_f1"].append(probe.macro_f1)
    bow = probe_bag_of_tokens(tokenizer, train, test, cfg.model.max_len)
    values["random_init"] = random_init
    values["bag_of_tokens"] = {"accuracy": [bow.accuracy], "macro_f1": [bow.macro_f1]}

    methods = summarize_methods(values)
    paired = paired_against(values, "r2mae", "accuracy") if "r2mae" in values else {}
    plot_loss_curves(curves, out_dir / "loss_curves.png",
                     title=f"masked LM on {corpus.source}: mean over seeds, band = min..max",
                     ylabel="MLM cross-entropy (at each run's own ratio)")
    elapsed = time.perf_counter() - start
    results = build_results(
        "text", corpus.source, list(cfg.seeds), methods, elapsed,
        metric="accuracy",
        ratios={method_key(r, TEXT_DEFAULT_RATIO): r for r in cfg.ratios},
        paired_accuracy_vs_r2mae=paired,
        config={**asdict(cfg), "n_train": len(train), "n_test": len(test), "jobs": jobs,
                "vocab_size": tokenizer.vocab_size},
        loss_curves=curves,
        figures=["loss_curves.png"],
    )
    write_results(out_dir, results, _markdown(results, cfg, len(train), len(test)))
    return results


SCOREBOARD_TEST_RATIOS = (0.15, 0.4)  # held-out MLM loss at these fixed ratios
SCOREBOARD_HELDOUT_WINDOWS = 2048     # held-out windows scored (the first ones, in document order)


def _scoreboard_one(args: Tuple[Any, Dict[str, Any], str, str, int, TextBenchmarkConfig]) -> Dict[str, Any]:
    """One (schedule, seed) of the scoreboard (in a worker process): pretrain, the linear probe,
    and the MLM loss of every held-out window at the fixed test ratios."""
    from ..text.data import TokenWindows
    from ..text.task import MLMTask
    from .scoreboard import masked_eval

    split, tok_config, name, ratio, seed, cfg = args
    t = time.perf_counter()
    run = pretrain_and_probe(split, mask_ratio=ratio, width=cfg.model.width, seed=seed, steps=cfg.steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, model_config=cfg.model,
                             tokenizer=BPETokenizer(tok_config), eval_mask_ratio=None, keep_model=True)
    model = run.model.eval()
    out: Dict[str, Any] = {"schedule": name, "ratio": ratio, "seed": seed, "linear_probe_acc": run.accuracy,
                           "macro_f1": run.macro_f1, "final_loss": run.final_loss}
    windows = TokenWindows(model.tokenizer, split[1].texts, model.max_len)
    task = MLMTask(model)
    for r in SCOREBOARD_TEST_RATIOS:
        ev = masked_eval(task, windows, r, batch_size=64, max_examples=SCOREBOARD_HELDOUT_WINDOWS)
        out[f"mlm_loss_{r:g}"] = ev["loss"]
        out[f"mlm_acc_{r:g}"] = ev.get("masked_accuracy", float("nan"))
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def run_scoreboard(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                   seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None, width: Optional[int] = None,
                   schedules: Optional[Dict[str, str]] = None, jobs: Optional[int] = None,
                   config: Optional[TextBenchmarkConfig] = None) -> Dict[str, Any]:
    """``bior2 benchmark text --scoreboard``: one masked LM per (schedule, seed) of the text
    schedule family with the benchmark's recipe; scored by the BBC linear probe and the MLM loss
    of the held-out windows at ratios 0.15 and 0.4 (fixed evaluation masks). Finished runs are
    cached in ``out/runs``."""
    from .scoreboard import domain_family, scoreboard_section, section_markdown

    start = time.perf_counter()
    cfg = config or (QUICK if quick else FULL)
    overrides: Dict[str, Any] = {k: v for k, v in dict(data=data, steps=steps, jobs=jobs).items() if v is not None}
    if seeds is not None:
        overrides["seeds"] = tuple(seeds)
    if width is not None:
        overrides["model"] = replace(cfg.model, width=width)
    cfg = replace(cfg, **overrides)
    schedules = dict(schedules or domain_family("text"))
    if not cfg.seeds or not schedules:
        raise ValueError("the scoreboard needs at least one seed and one schedule")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus, train, test, tokenizer = _labelled_split(cfg)
    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    pairs = [(name, seed) for seed in cfg.seeds for name in schedules]  # seed-major
    tasks = [((train, test), tokenizer.to_config(), name, schedules[name], seed, cfg) for name, seed in pairs]
    names = [f"{name}-seed{seed}" for name, seed in pairs]
    # The family's ratios are part of the fingerprint: a schedule whose ratio changes recomputes.
    fingerprint = {**asdict(replace(cfg, seeds=(), ratios=(), jobs=0)), "source": corpus.source,
                   "n_train": len(train), "vocab_size": tokenizer.vocab_size,
                   "test_ratios": list(SCOREBOARD_TEST_RATIOS),
                   "heldout_windows": SCOREBOARD_HELDOUT_WINDOWS, "family": {**domain_family("text"), **schedules}}
    runs = run_all(_scoreboard_one, tasks, names, out_dir / "runs", fingerprint, jobs)
    per = {(r["schedule"], r["seed"]): r for r in runs}
    metrics = [("linear_probe_acc", True), *((f"mlm_loss_{r:g}", False) for r in SCOREBOARD_TEST_RATIOS)]
    tasks_out = {m: (hi, {s: [per[(s, seed)][m] for seed in cfg.seeds] for s in schedules}) for m, hi in metrics}
    m = cfg.model
    notes = [f"{corpus.source}: {len(train)} training / {len(test)} held-out documents; BPE {tokenizer.vocab_size} "
             f"tokens, encoder width {m.width}, depth {m.depth}, {m.max_len}-token windows, {cfg.steps} steps x "
             f"batch {cfg.batch_size}, lr {cfg.lr}, the same for every schedule",
             "linear_probe_acc: logistic regression on standardised mean-pooled features of each document's first "
             f"window; mlm_loss_<r>: masked-LM cross-entropy over the first "
             f"{SCOREBOARD_HELDOUT_WINDOWS} held-out windows at ratio r with the same "
             "masks for every model"]
    board = scoreboard_section(cfg.seeds, schedules, tasks_out, notes)
    extra = [("macro_f1", True), *((f"mlm_acc_{r:g}", True) for r in SCOREBOARD_TEST_RATIOS)]
    values = {s: {k: [per[(s, seed)][k] for seed in cfg.seeds] for k, _ in metrics + extra} for s in schedules}
    elapsed = time.perf_counter() - start
    results = build_results("text", corpus.source, list(cfg.seeds), summarize_methods(values), elapsed,
                            metric="linear_probe_acc", primary_task="scoreboard",
                            config={**asdict(cfg), "n_train": len(train), "n_test": len(test), "jobs": jobs,
                                    "vocab_size": tokenizer.vocab_size},
                            timings_s={f"{r['schedule']}-seed{r['seed']}": r["seconds"] for r in runs},
                            scoreboard=board)
    md = f"""# Text benchmark: masking-ratio schedules (scoreboard)

Command: `{results['command']}`
Data: {results['dataset']}; seeds {list(cfg.seeds)}; elapsed {elapsed:.0f} s.

{section_markdown(board)}
"""
    write_results(out_dir, results, md)
    return results


def _markdown(results: Dict[str, Any], cfg: TextBenchmarkConfig, n_train: int, n_test: int) -> str:
    m = cfg.model
    return f"""# Text benchmark: masked-LM masking schemes by linear probe

Command: `{results['command']}`
Data: {results['dataset']} — {n_train} training documents, {n_test} held-out documents (stratified split,
seed {cfg.split_seed}; the tokenizer, the pretraining and the probe's fit never see them).
Model: byte-level BPE ({results['config']['vocab_size']} tokens, trained on the training documents),
encoder width {m.width}, depth {m.depth}, windows of {m.max_len} tokens, {cfg.steps} steps × batch {cfg.batch_size},
lr {cfg.lr}; seeds {list(cfg.seeds)}; elapsed {results['elapsed_s']:.0f} s.
Probe: logistic regression on standardised mean-pooled features of each document's first window.
`val_loss`: MLM cross-entropy on held-out windows at ratio {EVAL_RATIO} with the same masks for every run.

{methods_table(results['methods'], ['accuracy', 'macro_f1', 'val_loss'], digits=4)}

`random_init`: the same probe on an untrained encoder of the same size; `bag_of_tokens`: TF-IDF
over the same first-window tokens + logistic regression.

## R²MAE's standing

{describe_standing(results['methods'], results.get('paired_accuracy_vs_r2mae', {}), 'accuracy', REFERENCES)}

Figure: `loss_curves.png` (training loss; each scheme at its own ratios, so levels differ by design).
"""
