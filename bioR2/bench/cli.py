"""``bior2 benchmark dna|sc|vision|text|theory`` (argparse only at import time).

Every benchmark takes the same options, added by :func:`add_common_options`:

``--out DIR``      output folder (results.json, results.md, figures; finished runs are reused)
``--quick``        the small preset (minutes on a laptop CPU)
``--seeds S ...``  seeds: ``0,1,2``, ``0 1 2`` or a range ``0-4``
``--schemes X ..`` masking schemes: ratios (``0.15``, ``0.05-0.3``) or names (``r2mae``,
                   ``fixed_0.15``, ``uniform_0-1``), separated by commas or spaces
``--steps N``      pretraining steps per model (the same for every scheme)
``--jobs N``       runs in parallel
``--scoreboard``   (dna, sc, vision, text) train the domain's whole family of ratio schedules
                   (:func:`bioR2.bench.scoreboard.domain_family`; ``--schemes`` then picks some of
                   them by name) and score several downstream tasks on the same models, into the
                   ``scoreboard`` section of results.json that ``bior2 benchmark scoreboard`` ranks

Heavy imports (torch, the benchmarks) happen inside the ``run_benchmark_*`` functions.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from ..utils.device import DEFAULT_DEVICE, DEVICE_HELP

__all__ = ["add_common_options", "parse_seeds", "parse_schemes", "scheme_ratio", "scheme_name"]


# --------------------------------------------------------------------------- shared options
def _split(values: Sequence[str]) -> List[str]:
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


def parse_seeds(values: Sequence[str]) -> List[int]:
    """``["0,1", "2"]`` or ``["0-2"]`` -> ``[0, 1, 2]`` (seeds are non-negative integers)."""
    seeds: List[int] = []
    for token in _split(values):
        try:
            if "-" in token.strip("-"):
                low, high = (int(t) for t in token.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(token))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--seeds: expected integers like 0,1,2 or 0 1 2 or 0-4, got {token!r}") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError("--seeds: seeds are non-negative integers")
    if not seeds:  # --seeds '' would run nothing and fail after writing the data
        raise argparse.ArgumentTypeError(f"--seeds: no seed given ({' '.join(map(repr, values))}); "
                                         "e.g. --seeds 0,1,2")
    return seeds


def parse_schemes(values: Sequence[str]) -> List[str]:
    """``["0.1-0.2,0.15", "0-1"]`` -> ``["0.1-0.2", "0.15", "0-1"]`` (commas and spaces both separate)."""
    return _split(values)


def scheme_ratio(scheme: str, r2mae_range: str) -> str:
    """A scheme as a masking ratio: ``r2mae`` -> ``r2mae_range``, ``fixed_0.15`` -> ``0.15``,
    ``uniform_0-1`` -> ``0-1``; a ratio stays as it is."""
    if scheme == "r2mae":
        return r2mae_range
    for prefix in ("fixed_", "uniform_"):
        if scheme.startswith(prefix):
            return scheme[len(prefix):]
    return scheme


def scheme_name(scheme: str, r2mae_range: str) -> str:
    """A scheme by its ``results.json`` name (``r2mae``, ``fixed_0.15``, ``uniform_0-1``); a
    token that is neither a name nor a ratio is returned unchanged (the benchmark reports it)."""
    from ..masking import parse_mask_ratio
    from .common import method_key

    if scheme == "r2mae" or scheme.startswith(("fixed_", "uniform_")):
        return scheme
    try:
        parse_mask_ratio(scheme)
    except (ValueError, TypeError):
        return scheme
    return method_key(scheme, r2mae_range)


class _ListAction(argparse.Action):
    """``nargs="+"`` values, each possibly comma-separated, parsed by ``parse`` into one list."""

    def __init__(self, option_strings, dest, parse=None, **kwargs):
        self.parse = parse
        super().__init__(option_strings, dest, nargs="+", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, self.parse(values))
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))


def add_common_options(parser: argparse.ArgumentParser, *, quick: str, seeds: str, schemes: str, steps: str,
                       jobs: str, jobs_default: Optional[int] = None) -> None:
    """The options every ``bior2 benchmark <domain>`` shares, spelled and parsed the same way."""
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (results.json, results.md, figures); finished runs in it are reused")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--seeds", action=_ListAction, parse=parse_seeds, default=None, metavar="S",
                        help=f"seeds, as 0,1,2 or 0 1 2 or 0-2 ({seeds})")
    parser.add_argument("--schemes", action=_ListAction, parse=parse_schemes, default=None, metavar="P|LOW-HIGH|NAME",
                        help="masking schemes, ratios (0.15, 0.05-0.3) or names (r2mae, fixed_0.15, uniform_0-1), "
                             f"separated by commas or spaces ({schemes})")
    parser.add_argument("--steps", type=int, default=None, help=f"pretraining steps per model ({steps})")
    parser.add_argument("--jobs", type=int, default=jobs_default, help=jobs)


def _deprecated_ratios(parser: argparse.ArgumentParser) -> None:
    # The old spelling of --schemes (vision, text, theory --size-sweep), kept hidden.
    parser.add_argument("--ratios", dest="schemes", action=_ListAction, parse=parse_schemes, help=argparse.SUPPRESS)


def _sequential_only(args: argparse.Namespace, domain: str) -> None:
    if args.jobs is not None and args.jobs != 1:
        raise ValueError(f"--jobs: the {domain} benchmark trains its models one after another (use --threads "
                         "for torch threads); only --jobs 1 is accepted")


def _scoreboard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scoreboard", action="store_true",
                        help="train the domain's family of masking-ratio schedules (fixed, r2mae, mdlm, mdlm-flat, "
                             "set, sched, tnorm, beta, sample) with the same recipe and score several downstream "
                             "tasks on each model, into results.json's 'scoreboard' section (read by 'bior2 "
                             "benchmark scoreboard'); --schemes then names schedules of the family")


def _scoreboard_schedules(args: argparse.Namespace, domain: str):
    from .scoreboard import domain_family, select_schedules

    return select_schedules(domain_family(domain), args.schemes)


def _print_means(results) -> None:
    print(json.dumps({m: {k: round(v["mean"], 4) for k, v in e.items() if isinstance(v, dict) and "mean" in v}
                      for m, e in results["methods"].items()}, indent=1), file=sys.stderr)


# --------------------------------------------------------------------------- dna
def add_benchmark_dna_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser, quick="small models and few steps (< 10 min on 2 cores)", seeds="default 0,1,2",
                       schemes=_schemes_help("dna"),
                       steps=f"default {_preset_steps('dna', 'dna-bench')} (preset dna-bench); quick "
                             f"{_preset_steps('dna', 'dna-bench-quick')}",
                       jobs="only 1: the models train one after another (use --threads)")
    parser.add_argument("--task", choices=["motif", "bacterial", "all"], default="all",
                        help="which benchmark to score (the models are pretrained once for both)")
    parser.add_argument("--preset", choices=["default", "long"], default=None,
                        help="run size: default (the DNA spec's dna-bench preset) or long (dna-bench-long, the "
                             "chosen recipe, AUPRC scored at 5 checkpoints; about 37 min per model on 1 shared "
                             "core: --schemes r2mae for the 3 R²MAE seeds only)")
    parser.add_argument("--hidden", type=int, default=None, help="model width")
    parser.add_argument("--layers", type=int, default=None, help="model depth")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per step")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=DEVICE_HELP)
    parser.add_argument("--max-positives", type=int, default=None,
                        help="cap positives per factor / task (quick: 60; default all)")
    _scoreboard_option(parser)
    tg = parser.add_argument_group("TraitGym (score a pretrained model; bioR2.dna.traitgym)")
    tg.add_argument("--traitgym", default=None, metavar="DIR",
                    help="a TraitGym dataset folder (e.g. mendelian_traits_matched_9 with test.parquet): report "
                         "AUPRC_by_chrom_weighted_average of --model on --fasta (hg38)")
    tg.add_argument("--model", default=None, metavar="RUN", help="with --traitgym: the model to score with")
    tg.add_argument("--fasta", default=None, metavar="GENOME", help="with --traitgym: the genome (hg38)")
    tg.add_argument("--subset", default="all", help="with --traitgym: subset/{SUBSET}.parquet (default all)")


def run_benchmark_dna(args: argparse.Namespace) -> int:
    from .dna import SCHEMES, BenchmarkConfig, run_benchmark as run, run_scoreboard

    if args.traitgym or args.model or args.fasta:
        return _run_traitgym(args)
    _sequential_only(args, "dna")
    overrides = {k: getattr(args, k) for k in ("steps", "hidden", "layers", "batch_size", "threads", "device",
                                               "max_positives")
                 if getattr(args, k) is not None}
    if args.seeds is not None:
        overrides["seeds"] = list(args.seeds)
    if args.scoreboard:
        schedules = _scoreboard_schedules(args, "dna")
        results = run_scoreboard(BenchmarkConfig.make(quick=args.quick, preset=args.preset, **overrides), args.out,
                                 schedules)
        _print_means(results)
        print(f"wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)")
        return 0
    if args.schemes is not None:
        overrides["schemes"] = [scheme_name(s, SCHEMES["r2mae"]) for s in args.schemes]
    config = BenchmarkConfig.make(quick=args.quick, preset=args.preset, **overrides)
    results = run(config, args.out, task=args.task)
    _print_means(results)
    print(f"wrote {args.out}/results.json and results.md")
    return 0


def _run_traitgym(args: argparse.Namespace) -> int:
    if not (args.traitgym and args.model and args.fasta):
        raise ValueError("benchmark dna --traitgym DIR needs --model RUN and --fasta GENOME too (all three)")
    from ..dna.traitgym import traitgym_benchmark

    res = traitgym_benchmark(args.model, args.fasta, args.traitgym, args.out, subset=args.subset,
                             batch_size=args.batch_size or 128, device=args.device)
    for name, m in res["methods"].items():
        print(f"{name}: AUPRC_by_chrom_weighted_average {m['AUPRC_by_chrom_weighted_average']:.4f} "
              f"(se {m['se']:.4f}); chance {res['data']['chance_AUPRC']:.3f}")
    print(f"wrote {args.out}/results.json and results.md")
    return 0


# --------------------------------------------------------------------------- sc
def add_benchmark_sc_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser, quick="1 seed, fewer steps: under 10 minutes on 2 cores",
                       seeds="default 0,1,2; quick: 0",
                       schemes=_schemes_help("sc"),
                       steps="default: the sc spec's sc-bench preset (epochs of each model's pretraining cells); "
                             "quick: sc-bench-quick",
                       jobs="worker processes training models side by side, one thread each "
                            "(default: cores, at most 2)")
    parser.add_argument("--dataset", choices=["cbmc", "pbmc68k"], default="cbmc",
                        help="benchmark dataset (default cbmc)")
    parser.add_argument("--protocols", default=None, help="train_fold,transductive (default both)")
    parser.add_argument("--only-nonzero", action="store_true", help="mask only nonzero genes")
    parser.add_argument("--finetune", action="store_true", help="also fine-tune the R²MAE encoder per fold")
    parser.add_argument("--no-extra-cells", action="store_true", help="do not add external unlabelled cells (pbmc68k)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument("--fold-recipes", default=None, metavar="JSON",
                        help="one pretraining/fine-tuning recipe per outer fold, as chosen by "
                             "benchmarks/sc_recipe_search.py --choose (default: the sc-bench preset for every fold)")
    _scoreboard_option(parser)


def _read_fold_recipes(path: str) -> Dict[str, Any]:
    """The recipe choice file of ``--fold-recipes``: ``{"folds": [{"recipe": {...}, ...}, ...], ...}``."""
    try:
        choice = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--fold-recipes {path}: cannot read a JSON recipe choice ({exc})") from None
    folds = choice.get("folds") if isinstance(choice, dict) else None
    if not isinstance(folds, list) or not all(isinstance(f, dict) and isinstance(f.get("recipe"), dict)
                                              for f in folds):
        raise ValueError(f"--fold-recipes {path}: field 'folds' must be a list of {{'recipe': {{...}}}} entries, "
                         "one per outer fold (benchmarks/sc_recipe_search.py --choose writes it)")
    return choice


def run_benchmark_sc(args: argparse.Namespace) -> int:
    import logging

    from .sc import SCHEMES, BenchmarkConfig, run_benchmark as _run, run_scoreboard

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = BenchmarkConfig.preset(args.dataset, args.quick)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    # default: one worker per core, at most 2 (the 2-core machine the run times are quoted for)
    config.jobs = args.jobs if args.jobs is not None else max(1, min(2, os.cpu_count() or 1))
    if args.seeds:
        config.seeds = list(args.seeds)
    if args.scoreboard:
        if args.steps:
            config.steps, config.epochs = args.steps, None
        if args.threads:
            config.threads = args.threads
        config.only_nonzero = config.only_nonzero or args.only_nonzero
        config.extra_cells = not args.no_extra_cells
        results = run_scoreboard(config, args.out, _scoreboard_schedules(args, "sc"))
        print(f"wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)", file=sys.stderr)
        return 0
    if args.schemes:
        config.schemes = [scheme_name(s, SCHEMES["r2mae"]) for s in args.schemes]
        unknown = [s for s in config.schemes if s not in SCHEMES]
        if unknown:
            raise ValueError(f"unknown masking scheme(s) {unknown}; known: {list(SCHEMES)}")
    if args.steps:
        config.steps, config.epochs = args.steps, None
    if args.protocols:
        config.protocols = [p.strip() for p in args.protocols.split(",")]
        unknown = set(config.protocols) - {"train_fold", "transductive"}
        if unknown:
            raise ValueError(f"--protocols: unknown {sorted(unknown)}; use train_fold and/or transductive")
    config.only_nonzero = config.only_nonzero or args.only_nonzero
    config.finetune = config.finetune or args.finetune
    config.extra_cells = not args.no_extra_cells
    if args.threads:
        config.threads = args.threads
    choice = None
    if args.fold_recipes:
        from dataclasses import replace

        choice = _read_fold_recipes(args.fold_recipes)
        config = replace(config, fold_recipes=[f["recipe"] for f in choice["folds"]])
    results = _run(config, args.out, recipe_selection=choice)
    print(f"wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- sc-corpus
def add_benchmark_sc_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (results.json, results.md)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 400 cells a dataset, tiny models (a minute)")
    parser.add_argument("--seeds", action=_ListAction, parse=parse_seeds, default=None, metavar="S",
                        help="seeds, as 0,1,2 or 0 1 2 or 0-2 (default 0,1,2; quick: 0)")
    parser.add_argument("--held-out", nargs="+", default=None, metavar="NAME",
                        help="labelled datasets to hold out (default: every one: pbmc68k cbmc)")
    parser.add_argument("--epochs", type=float, default=None, help="pretraining passes over each model's cells")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")


def run_benchmark_sc_corpus(args: argparse.Namespace) -> int:
    import logging

    from .sc_corpus import CorpusBenchConfig, run_sc_corpus

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = CorpusBenchConfig.preset(args.quick)
    if args.seeds:
        config.seeds = list(args.seeds)
    if args.held_out:
        config.held_out = list(args.held_out)
    if args.epochs is not None:
        if not args.epochs > 0:
            raise ValueError(f"--epochs must be > 0, got {args.epochs}")
        config.epochs = float(args.epochs)
    if args.threads:
        config.threads = args.threads
    results = run_sc_corpus(config, args.out)
    print(f"wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- vision and text
def _preset_steps(domain: str, preset: str) -> int:
    from ..domain import get_domain

    return get_domain(domain).preset(preset).sections["train"]["steps"]


def _schemes_help(domain: str) -> str:
    from ..domain import get_domain

    schemes = get_domain(domain).comparison_schemes()
    return f"default {' '.join(schemes)}; the first, the R²MAE range, is 'r2mae'"


def add_benchmark_vision_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser, quick="small CPU run (digits, short training; minutes)", seeds="default 0 1 2",
                       schemes=_schemes_help("vision"),
                       steps=f"default {_preset_steps('vision', 'vision-bench')} (preset vision-bench); quick "
                             f"{_preset_steps('vision', 'vision-bench-quick')}",
                       jobs="runs in parallel, one thread each (default: cores, at most 4)")
    _deprecated_ratios(parser)
    parser.add_argument("--data", default=None, metavar="digits|mnist|DIR",
                        help="dataset (default: digits with --quick, mnist otherwise)")
    parser.add_argument("--width", type=int, default=None, help="encoder width")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads when --jobs 1")
    _scoreboard_option(parser)


def _run_probe_benchmark(args: argparse.Namespace, domain: str) -> int:
    """``bior2 benchmark vision|text``: the two linear-probe benchmarks share their options and
    their two modes (the masking-scheme comparison, or ``--scoreboard``)."""
    import importlib

    import torch

    from ..domain import get_domain

    bench = importlib.import_module(f"bioR2.bench.{domain}")
    if args.threads:
        torch.set_num_threads(args.threads)
    common = dict(quick=args.quick, data=args.data, seeds=args.seeds, steps=args.steps, width=args.width,
                  jobs=args.jobs)
    if args.scoreboard:
        results = bench.run_scoreboard(args.out, schedules=_scoreboard_schedules(args, domain), **common)
    else:
        default_ratio = get_domain(domain).default_ratio
        ratios = None if args.schemes is None else [scheme_ratio(s, default_ratio) for s in args.schemes]
        results = bench.run_benchmark(args.out, ratios=ratios, **common)
    print(f"bior2: wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)")
    return 0


def run_benchmark_vision(args: argparse.Namespace) -> int:
    return _run_probe_benchmark(args, "vision")


def add_benchmark_text_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser, quick="small CPU run (minutes)", seeds="default 0 1 2",
                       schemes=_schemes_help("text"),
                       steps=f"default {_preset_steps('text', 'text-bench')} (preset text-bench); quick "
                             f"{_preset_steps('text', 'text-bench-quick')}",
                       jobs="runs in parallel, one thread each (default: cores, at most 4)")
    _deprecated_ratios(parser)
    parser.add_argument("--data", default=None, metavar="bbc|DIR", help="labelled corpus (default bbc)")
    parser.add_argument("--width", type=int, default=None, help="encoder width")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads when --jobs 1")
    _scoreboard_option(parser)


def run_benchmark_text(args: argparse.Namespace) -> int:
    return _run_probe_benchmark(args, "text")


# --------------------------------------------------------------------------- theory
def add_benchmark_theory_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Examples: bior2 benchmark theory --out runs/theory ; "
                     "bior2 benchmark theory --size-sweep --out runs/theory-size   # ViT-MAE widths x fixed ratios")
    add_common_options(parser, quick="a seconds-long smoke version (small d, few seeds)",
                       seeds="linear model: paired seeds 0..n-1, default 0-19; size sweep: default 0 1 2",
                       schemes="--size-sweep only: fixed ratios, default 0.3 0.45 0.6 0.75 0.9; the linear model "
                               "sweeps its own grids of ratios and ranges",
                       steps="--size-sweep only: default 600; the linear model is not trained by steps",
                       jobs="worker processes, one BLAS/torch thread each (default 2)", jobs_default=2)
    _deprecated_ratios(parser)
    parser.add_argument("--threads", dest="jobs", type=int, help=argparse.SUPPRESS)  # old name of --jobs
    parser.add_argument("--d", type=int, default=None, help="number of features (default 400)")
    sweep = parser.add_argument_group("model-size sweep (a real network: ViT-MAE from bioR2.vision)")
    sweep.add_argument("--size-sweep", action="store_true",
                       help="instead of the linear model: optimal fixed ratio vs ViT-MAE width, by linear probe")
    sweep.add_argument("--data", default="digits", help="digits | mnist | an image folder (default digits)")
    sweep.add_argument("--widths", type=int, nargs="+", default=None, help="encoder widths (default 16 32 64)")


def _theory_size_sweep(args: argparse.Namespace) -> int:

    from .sizesweep import SizeSweepConfig, run_size_sweep

    kw: Dict[str, Any] = {"data": args.data, "jobs": max(1, args.jobs)}
    if args.widths:
        kw["widths"] = tuple(args.widths)
    if args.schemes:
        try:
            kw["ratios"] = tuple(float(scheme_ratio(s, "")) for s in args.schemes)
        except ValueError:
            raise ValueError(
                f"--schemes: the size sweep takes fixed ratios like 0.3 0.75, got {args.schemes}") from None
    if args.seeds is not None:
        if len(args.seeds) < 1:
            raise ValueError("--seeds: give at least one seed")
        kw["seeds"] = tuple(args.seeds)
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError("--steps must be >= 1")
        kw["steps"] = args.steps
    run_size_sweep(args.out, SizeSweepConfig(**kw), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{args.out}/results.json")
    return 0


def run_benchmark_theory(args: argparse.Namespace) -> int:
    if args.size_sweep:
        return _theory_size_sweep(args)
    if args.schemes is not None or args.steps is not None:
        raise ValueError("--schemes and --steps apply to --size-sweep only (the linear model sweeps its own ratios)")

    from .theory import BenchConfig, run_benchmark as _run

    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    if args.seeds is not None:
        n = len(args.seeds)
        if sorted(args.seeds) != list(range(n)):
            raise ValueError("--seeds: the linear model uses paired seeds 0..n-1; pass e.g. --seeds 0-19")
        if n < 2:
            raise ValueError("--seeds must be >= 2 (standard errors need two)")
        cfg.seeds = cfg.search_seeds = n
        cfg.iso_seeds = min(cfg.iso_seeds, n)
    if args.d is not None:
        if args.d < 20:
            raise ValueError("--d must be >= 20")
        cfg.d = args.d
    # One BLAS thread per process and --jobs worker processes: on small matrices (and on a
    # busy machine) this beats multithreaded BLAS by far.
    cfg.workers = max(1, args.jobs)
    # scipy ships its own OpenBLAS, loaded on first use: load it now so that the limit below
    # covers it (an unlimited BLAS spin-waiting on a busy machine made fits 100x slower).
    import scipy.linalg  # noqa: F401

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn ships threadpoolctl
        threadpool_limits = None
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if threadpool_limits is not None:
        with threadpool_limits(1):
            _run(args.out, cfg, log=log)
    else:  # pragma: no cover
        _run(args.out, cfg, log=log)
    print(f"{args.out}/results.json")
    return 0


# ---------------------------------------------------------------------------- scoreboard
# The committed scoreboard results of a clone (an editable install finds them next to the package).
DEFAULT_SCOREBOARD_RESULTS = str(Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "scoreboard")


def add_benchmark_scoreboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", nargs="+", default=[DEFAULT_SCOREBOARD_RESULTS], metavar="PATH",
                        help="results.json files or folders searched for them (default: the committed "
                             "benchmarks/results/scoreboard of this clone)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write scoreboard.json, scoreboard.md and scoreboard.png here")
    parser.add_argument("--json", action="store_true", help="print the scoreboard as JSON (for scripts)")
    parser.add_argument("--n-boot", type=int, default=1000, help="seed resamples for rank stability (default 1000)")


def run_benchmark_scoreboard(args: argparse.Namespace) -> int:
    import json

    from .scoreboard import run_scoreboard, scoreboard_markdown

    if args.n_boot < 0:
        raise ValueError(f"--n-boot must be >= 0, got {args.n_boot}")
    board = run_scoreboard(args.results, args.out, n_boot=args.n_boot)
    print(json.dumps(board, indent=2) if args.json else scoreboard_markdown(board))
    return 0
