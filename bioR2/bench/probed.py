"""The linear-probe benchmarks (``bior2 benchmark vision`` and ``bior2 benchmark text``): one
driver for both, each domain adding only what is its own (a :class:`ProbeDomain`).

Every masking scheme pretrains the same model — the spec's benchmark preset (``vision-bench``,
``text-bench-quick``, ...) plus the command's overrides — for the same number of steps on the
same training examples, for each seed; a logistic-regression probe on the frozen features is
scored on held-out examples no run saw in pretraining (``data.test_fraction`` of the labelled
set, drawn with ``data.split_seed``). References run beside the schemes: the same probe on a
randomly initialised encoder and the domain's classical baseline (raw pixels, TF-IDF).

``--scoreboard`` trains the domain's family of ratio schedules with the same recipe and scores
several tasks on each model (the scoreboard section of results.json).

Sizes, ranges and training settings are never written here: they are the spec's.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..domain import DomainSpec, get_domain
from ..results import build_results, methods_table, write_results
from .common import (
    compare_schedules,
    describe_standing,
    downsample_curve,
    method_key,
    paired_against,
    plot_loss_curves,
    summarize_methods,
)

__all__ = ["ProbeBenchmarkConfig", "ProbeDomain", "run_probe_benchmark", "run_probe_scoreboard", "entry_points"]


@dataclass
class ProbeBenchmarkConfig:
    """What a probe benchmark run compares; everything else is the spec preset's.

    ``preset``: the spec's benchmark recipe (data, model, training). ``data``, ``steps`` and
    ``width`` override it, and ``overrides`` (``{"model": {"depth": 1}}``) any other option of
    the preset's sections; ``ratios`` default to the spec's comparison set
    (:meth:`~bioR2.domain.DomainSpec.comparison_schemes`); ``jobs`` 0: one per core, at most 4.
    """

    domain: str
    preset: str
    seeds: Tuple[int, ...] = (0, 1, 2)
    ratios: Optional[Tuple[str, ...]] = None
    data: Optional[str] = None
    steps: Optional[int] = None
    width: Optional[int] = None
    jobs: int = 0
    overrides: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)  # {section: {key: value}}

    @property
    def spec(self) -> DomainSpec:
        return get_domain(self.domain)

    def schemes(self) -> Tuple[str, ...]:
        return tuple(self.ratios) if self.ratios else self.spec.comparison_schemes()

    def sections(self, probe_domain: "ProbeDomain") -> Dict[str, Dict[str, Any]]:
        """The overrides of the preset, as config sections."""
        out: Dict[str, Dict[str, Any]] = {name: dict(body) for name, body in self.overrides.items()}
        if self.data is not None:
            out.setdefault("data", {})["source"] = self.data
        if self.steps is not None:
            out.setdefault("train", {})["steps"] = int(self.steps)
        if self.width is not None:
            out.setdefault("model", {}).update(probe_domain.width_override(int(self.width)))
        return out

    def recipe(self, probe_domain: "ProbeDomain") -> Dict[str, Any]:
        """The resolved recipe every run shares (JSON-able): data, model and train sections."""
        from ..pipeline import resolve_run_config, typed_sections

        cfg, train = typed_sections(self.spec, resolve_run_config(self.spec, preset=self.preset,
                                                                  sections=self.sections(probe_domain)))
        out = cfg.to_dict()
        out["train"] = {k: v for k, v in train.to_dict().items() if k != "mask_ratio"}
        return out


class ProbeDomain:
    """What a probed domain adds to the shared driver. Subclasses set ``name``, ``words`` (what
    an example is: "images", "documents"), ``references`` (reference method -> words) and
    implement the methods below."""

    name: str = ""
    name_of_spec: str = ""  # the domain's spec ("vision", "text")
    words: str = "examples"
    references: Dict[str, str] = {}
    extra_figures: Tuple[str, ...] = ()

    def width_override(self, width: int) -> Dict[str, Any]:
        """The model section that ``--width`` sets."""
        return {"width": width}

    def load(self, recipe: Dict[str, Any]) -> Tuple[str, Any, Any, Dict[str, Any]]:
        """``(source, train, test, shared)``: the labelled split and what every run shares (a tokenizer)."""
        raise NotImplementedError

    def run_options(self, shared: Dict[str, Any]) -> Dict[str, Any]:
        """Extra :func:`~bioR2.probing.pretrain_and_probe` options (picklable) of every run."""
        return {}

    def references_values(self, train: Any, test: Any, shared: Dict[str, Any], recipe: Dict[str, Any],
                          seeds: Sequence[int]) -> Dict[str, Dict[str, List[float]]]:
        raise NotImplementedError

    def scoreboard_scores(self, model: Any, train: Any, test: Any, eval_ratios: Sequence[float]) -> Dict[str, float]:
        """The scoreboard's metrics of a trained model besides the probe (``recon_loss_<r>``, ...)."""
        raise NotImplementedError

    def scoreboard_metrics(self, eval_ratios: Sequence[float]) -> Tuple[List[Tuple[str, bool]], List[str]]:
        """``([(ranked metric, higher is better), ...], [reported-only metrics])``."""
        raise NotImplementedError

    def figures(self, out_dir: Path, models: Dict[str, Any], test: Any) -> None:
        """Figures beside ``loss_curves.png`` (``extra_figures``) from one model per scheme."""

    def model_words(self, recipe: Dict[str, Any]) -> str:
        raise NotImplementedError

    def probe_words(self) -> str:
        raise NotImplementedError


def _pretrain_and_probe(domain: str, split: Tuple[Any, Any], preset: str, sections: Dict[str, Dict[str, Any]],
                        ratio: str, seed: int, options: Dict[str, Any], keep_model: bool,
                        validate: bool = True):
    from ..probing import pretrain_and_probe

    model = dict(sections.get("model", {}))
    train = dict(sections.get("train", {}))
    extra = {} if validate else {"eval_mask_ratio": None}
    return pretrain_and_probe(domain, split, preset=preset, model_config=model, train_overrides=train,
                              mask_ratio=ratio, seed=seed, keep_model=keep_model, **extra, **options)


def _one_run(job: Tuple[Any, str, str, int]) -> Dict[str, Any]:
    """One pretrain + probe (in a worker process); the model is saved to ``model_dir``."""
    from ..train import save_model

    (domain, split, preset, sections, options, model_dir), _name, ratio, seed = job
    run = _pretrain_and_probe(domain, split, preset, sections, ratio, seed, options, keep_model=True)
    save_model(Path(model_dir) / f"{method_key(ratio, get_domain(domain).default_ratio)}-seed{seed}", run.model)
    out = run.to_dict()
    out["loss_curve"] = downsample_curve(run.loss_curve, 200)
    return out


def run_probe_benchmark(probe_domain: ProbeDomain, cfg: ProbeBenchmarkConfig,
                        out_dir: Union[str, Path]) -> Dict[str, Any]:
    """Compare the masking schemes by held-out linear-probe accuracy; writes results.json,
    results.md and the figures into ``out_dir`` and returns the results."""
    from ..train import load_model

    start = time.perf_counter()
    spec = cfg.spec
    schemes = cfg.schemes()
    if len(cfg.seeds) < 1 or not schemes:
        raise ValueError("the benchmark needs at least one seed and one masking scheme")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = cfg.recipe(probe_domain)
    source, train, test, shared = probe_domain.load(recipe)
    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    runs_dir = out_dir / "runs"
    names = {method_key(r, spec.default_ratio): r for r in schemes}
    payload = (spec.name, (train, test), cfg.preset, cfg.sections(probe_domain), probe_domain.run_options(shared),
               str(runs_dir))
    fingerprint = {"recipe": recipe, "preset": cfg.preset, "source": source, "n_train": len(train),
                   **{k: v for k, v in shared.items() if isinstance(v, (int, float, str))}}
    per = compare_schedules(_one_run, payload, names, cfg.seeds, runs_dir, fingerprint, jobs,
                            name_of=lambda name, seed: f"{name}-seed{seed}", seed_major=False)

    values: Dict[str, Dict[str, List[float]]] = {}
    curves: Dict[str, List[List[List[float]]]] = {}
    models: Dict[str, Any] = {}
    for name in names:
        entry = values.setdefault(name, {"accuracy": [], "macro_f1": [], "val_loss": []})
        for seed in cfg.seeds:
            run = per[(name, seed)]
            for metric in entry:
                entry[metric].append(run[metric])
            curves.setdefault(name, []).append(run["loss_curve"])
        models[name] = load_model(runs_dir / f"{name}-seed{cfg.seeds[0]}").eval()
    values.update(probe_domain.references_values(train, test, shared, recipe, cfg.seeds))

    methods = summarize_methods(values)
    paired = paired_against(values, "r2mae", "accuracy") if "r2mae" in values else {}
    plot_loss_curves(curves, out_dir / "loss_curves.png",
                     title=f"{probe_domain.name} on {source}: mean over seeds, band = min..max",
                     ylabel=f"{probe_domain.loss_words} (at each run's own ratio)")
    probe_domain.figures(out_dir, models, test)
    elapsed = time.perf_counter() - start
    config = _config_record(cfg, recipe, schemes, jobs, len(train), len(test), shared)
    results = build_results(spec.name, source, list(cfg.seeds), methods, elapsed, metric="accuracy",
                            ratios=names, paired_accuracy_vs_r2mae=paired, config=config, loss_curves=curves,
                            figures=["loss_curves.png", *probe_domain.extra_figures])
    write_results(out_dir, results, _markdown(probe_domain, results, recipe, len(train), len(test)))
    return results


def _config_record(cfg: ProbeBenchmarkConfig, recipe: Dict[str, Any], schemes: Sequence[str], jobs: int,
                   n_train: int, n_test: int, shared: Dict[str, Any]) -> Dict[str, Any]:
    """results.json's ``config``: the harness's choices and the resolved recipe (the keys earlier
    results carried: data, steps, batch_size, lr, model, test_fraction, split_seed)."""
    train, data = recipe["train"], recipe["data"]
    out = {"domain": cfg.domain, "preset": cfg.preset, "data": data["source"], "seeds": list(cfg.seeds),
           "ratios": list(schemes), "steps": train["steps"], "batch_size": train["batch_size"], "lr": train["lr"],
           "model": recipe["model"], "test_fraction": data["test_fraction"], "split_seed": data["split_seed"],
           "jobs": jobs, "n_train": n_train, "n_test": n_test, "recipe": recipe}
    out.update({k: v for k, v in shared.items() if isinstance(v, (int, float, str))})
    return out


def _scoreboard_one(job: Tuple[Any, str, str, int]) -> Dict[str, Any]:
    """One (schedule, seed) of the scoreboard (in a worker process): pretrain, the linear probe
    and the domain's scores of the held-out examples at the spec's evaluation ratios."""
    (domain, split, preset, sections, options, probe_domain), name, ratio, seed = job
    t = time.perf_counter()
    run = _pretrain_and_probe(domain, split, preset, sections, ratio, seed, options, keep_model=True,
                              validate=False)
    out: Dict[str, Any] = {"schedule": name, "ratio": ratio, "seed": seed, "linear_probe_acc": run.accuracy,
                           "macro_f1": run.macro_f1, "final_loss": run.final_loss}
    out.update(probe_domain.scoreboard_scores(run.model.eval(), split[0], split[1], get_domain(domain).eval_ratios))
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def run_probe_scoreboard(probe_domain: ProbeDomain, cfg: ProbeBenchmarkConfig, out_dir: Union[str, Path],
                         schedules: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """``bior2 benchmark <domain> --scoreboard``: one model per (schedule, seed) of the domain's
    schedule family, with the benchmark's recipe; scored by the linear probe and the domain's
    held-out scores. Finished runs are cached in ``out/runs``."""
    from .scoreboard import domain_family, scoreboard_section, section_markdown

    start = time.perf_counter()
    spec = cfg.spec
    schedules = dict(schedules or domain_family(spec.name))
    if not cfg.seeds or not schedules:
        raise ValueError("the scoreboard needs at least one seed and one schedule")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = cfg.recipe(probe_domain)
    source, train, test, shared = probe_domain.load(recipe)
    jobs = cfg.jobs or min(4, os.cpu_count() or 1)
    payload = (spec.name, (train, test), cfg.preset, cfg.sections(probe_domain), probe_domain.run_options(shared),
               probe_domain)
    # The family's ratios are part of the fingerprint: a schedule whose ratio changes recomputes.
    fingerprint = {"recipe": recipe, "preset": cfg.preset, "source": source, "n_train": len(train),
                   "test_ratios": list(spec.eval_ratios), "family": {**domain_family(spec.name), **schedules},
                   **{k: v for k, v in shared.items() if isinstance(v, (int, float, str))}}
    per = compare_schedules(_scoreboard_one, payload, schedules, cfg.seeds, out_dir / "runs", fingerprint, jobs)
    ranked, reported = probe_domain.scoreboard_metrics(spec.eval_ratios)
    metrics = [("linear_probe_acc", True), *ranked]
    tasks_out = {m: (hi, {s: [per[(s, seed)][m] for seed in cfg.seeds] for s in schedules}) for m, hi in metrics}
    t = recipe["train"]
    notes = [f"{source}: {len(train)} training / {len(test)} held-out {probe_domain.words}; "
             f"{probe_domain.model_words(recipe)}, {t['steps']} steps x batch {t['batch_size']}, lr {t['lr']}, "
             "the same for every schedule", probe_domain.probe_words()]
    board = scoreboard_section(cfg.seeds, schedules, tasks_out, notes)
    keys = [m for m, _ in metrics] + ["macro_f1", *reported]
    values = {s: {k: [per[(s, seed)][k] for seed in cfg.seeds] for k in keys} for s in schedules}
    elapsed = time.perf_counter() - start
    results = build_results(spec.name, source, list(cfg.seeds), summarize_methods(values), elapsed,
                            metric="linear_probe_acc", primary_task="scoreboard",
                            config=_config_record(cfg, recipe, list(schedules.values()), jobs, len(train), len(test),
                                                  shared),
                            timings_s={f"{r['schedule']}-seed{r['seed']}": r["seconds"] for r in per.values()},
                            scoreboard=board)
    md = f"""# {spec.display_name.capitalize()} benchmark: masking-ratio schedules (scoreboard)

Command: `{results['command']}`
Data: {results['dataset']}; seeds {list(cfg.seeds)}; elapsed {elapsed:.0f} s.

{section_markdown(board)}
"""
    write_results(out_dir, results, md)
    return results


def _markdown(probe_domain: ProbeDomain, results: Dict[str, Any], recipe: Dict[str, Any], n_train: int,
              n_test: int) -> str:
    spec = get_domain(results["benchmark"])
    t, d = recipe["train"], recipe["data"]
    eval_ratio = t["eval_mask_ratio"]
    return f"""# {spec.display_name.capitalize()} benchmark: masking schemes by linear probe

Command: `{results['command']}`
Data: {results['dataset']} — {n_train} training {probe_domain.words}, {n_test} held-out {probe_domain.words}
(stratified split, seed {d['split_seed']}; no run sees them in pretraining).
Model: {probe_domain.model_words(recipe)}, {t['steps']} steps × batch {t['batch_size']}, lr {t['lr']}
(preset `{results['config']['preset']}`); seeds {results['seeds']}; elapsed {results['elapsed_s']:.0f} s.
Probe: {probe_domain.probe_words()}.
`val_loss`: the masked loss of the held-out {probe_domain.words} at ratio {eval_ratio} with the same masks for
every run.

{methods_table(results['methods'], ['accuracy', 'macro_f1', 'val_loss'], digits=4)}

{probe_domain.reference_notes}

## R²MAE's standing

{describe_standing(results['methods'], results.get('paired_accuracy_vs_r2mae', {}), 'accuracy',
                   probe_domain.references)}

{probe_domain.figure_notes}
"""


def config_from_options(domain: str, preset: str, *, seeds: Optional[Sequence[int]] = None,
                        ratios: Optional[Sequence[str]] = None, **overrides: Any) -> ProbeBenchmarkConfig:
    """A :class:`ProbeBenchmarkConfig` from command options (``None``: not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    cfg = ProbeBenchmarkConfig(domain=domain, preset=preset, **given)
    if seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=tuple(seeds))
    if ratios is not None:
        cfg = dataclasses.replace(cfg, ratios=tuple(ratios))
    return cfg


Runner = Callable[..., Dict[str, Any]]


def entry_points(domain_cls: type, quick_preset: str, full_preset: str) -> Tuple[Runner, Runner]:
    """``(run_benchmark, run_scoreboard)`` of a probed domain: what ``bior2 benchmark <domain>``
    and its ``--scoreboard`` call, with ``--quick`` choosing ``quick_preset`` over ``full_preset``."""
    domain = domain_cls.name_of_spec

    def options(quick: bool, ratios: Optional[Sequence[str]], **given: Any) -> ProbeBenchmarkConfig:
        seeds = given.pop("seeds", None)
        return config_from_options(domain, quick_preset if quick else full_preset, seeds=seeds, ratios=ratios,
                                   **given)

    def run_benchmark(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                      seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None,
                      width: Optional[int] = None, ratios: Optional[Sequence[str]] = None,
                      jobs: Optional[int] = None, config: Optional[ProbeBenchmarkConfig] = None) -> Dict[str, Any]:
        """Run the benchmark and write its results into ``out_dir``; returns the results dict.
        ``config`` replaces the command's options (tests: a smaller model through ``overrides``)."""
        cfg = config or options(quick, ratios, data=data, seeds=seeds, steps=steps, width=width, jobs=jobs)
        return run_probe_benchmark(domain_cls(), cfg, out_dir)

    def run_scoreboard(out_dir: Union[str, Path], *, quick: bool = False, data: Optional[str] = None,
                       seeds: Optional[Sequence[int]] = None, steps: Optional[int] = None,
                       width: Optional[int] = None, schedules: Optional[Dict[str, str]] = None,
                       jobs: Optional[int] = None) -> Dict[str, Any]:
        """``bior2 benchmark <domain> --scoreboard``: the domain's schedule family with the
        benchmark's recipe, scored by the probe and the domain's held-out scores."""
        cfg = options(quick, None, data=data, seeds=seeds, steps=steps, width=width, jobs=jobs)
        return run_probe_scoreboard(domain_cls(), cfg, out_dir, schedules)

    return run_benchmark, run_scoreboard
