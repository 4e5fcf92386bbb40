"""``bior2 benchmark vision`` (argparse only at import time); ``bior2 pretrain vision`` is generated
from ``bioR2/vision/spec.py``."""

from __future__ import annotations

import argparse


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (results.json, results.md, figures)")
    parser.add_argument("--quick", action="store_true", help="small CPU run (digits, short training; minutes)")
    parser.add_argument("--data", default=None, metavar="digits|mnist|DIR",
                        help="dataset (default: digits with --quick, mnist otherwise)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps per run")
    parser.add_argument("--width", type=int, default=None, help="encoder width")
    parser.add_argument("--ratios", nargs="+", default=None, metavar="P|LOW-HIGH",
                        help="masking schemes to compare (default: 0.6-0.9 0.75 0.6 0.9 0-1)")
    parser.add_argument("--jobs", type=int, default=None, help="runs in parallel, one thread each (default: cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads when --jobs 1")


def run_benchmark(args: argparse.Namespace) -> int:
    import torch

    from .benchmark import run_benchmark as _run

    if args.threads:
        torch.set_num_threads(args.threads)
    results = _run(args.out, quick=args.quick, data=args.data, seeds=args.seeds, steps=args.steps,
                   width=args.width, ratios=args.ratios, jobs=args.jobs)
    print(f"bior2: wrote {args.out}/results.json and results.md ({results['elapsed_s']:.0f} s)")
    return 0
