"""``bior2 score-variants`` and ``bior2 benchmark dna`` (``bior2 pretrain dna`` is generated from
``bioR2/dna/spec.py``).

Only argparse at import time; torch and friends are imported inside the ``run_*`` functions.
"""

from __future__ import annotations

import argparse
import json
import sys

from .spec import DEFAULT_RATIO

# ---------------------------------------------------------------------------- score-variants
def add_score_variants_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="run folder of `bior2 pretrain dna`")
    parser.add_argument("--fasta", required=True, metavar="GENOME", help="the reference genome")
    parser.add_argument("--variants", required=True, metavar="FILE",
                        help="VCF, or TSV/CSV/parquet with chrom, pos (1-based), ref, alt")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output table: .tsv, .tsv.gz or .parquet (input columns + status + score)")
    parser.add_argument("--window", type=int, default=None, help="window length (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=128, help="sites per forward pass (x2 strands)")
    parser.add_argument("--chunk-size", type=int, default=50_000, help="variants read and written at a time")
    parser.add_argument("--skip-mismatch", action="store_true",
                        help="mark ref alleles that disagree with the genome instead of failing")
    parser.add_argument("--embedding-distance", action="store_true",
                        help="also write embedding_distance (ref vs alt window embeddings)")
    parser.add_argument("--labels", default=None, metavar="COLUMN",
                        help="a 0/1 column of the input: also fit a logistic-regression probe on the "
                             "embeddings and write its out-of-fold probability as probe_score")
    parser.add_argument("--groups", default=None, metavar="COLUMN",
                        help="with --labels: keep each group (e.g. chrom) in one fold")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--progress", action="store_true", default=None, help="always show a progress bar")


def run_score_variants(args: argparse.Namespace) -> int:
    from .variants import score_variants_file

    if args.labels:
        from .probe import score_with_probe

        summary = score_with_probe(args.model, args.fasta, args.variants, args.out, label_column=args.labels,
                                   group_column=args.groups, window=args.window, batch_size=args.batch_size,
                                   skip_mismatch=args.skip_mismatch, device=args.device,
                                   precision=args.precision)
    else:
        summary = score_variants_file(args.model, args.fasta, args.variants, args.out, window=args.window,
                                      batch_size=args.batch_size, chunk_size=args.chunk_size,
                                      skip_mismatch=args.skip_mismatch,
                                      embedding_distance=args.embedding_distance, device=args.device,
                                      precision=args.precision, progress=args.progress)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary["status_counts"].items()))
    print(f"scored {summary['variants']} variants ({counts}) -> {summary['out']}")
    return 0


# ---------------------------------------------------------------------------- benchmark
def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=["motif", "bacterial", "all"], default="all",
                        help="which benchmark to score (the models are pretrained once for both)")
    parser.add_argument("--quick", action="store_true", help="small models and few steps (< 10 min on 2 cores)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--seeds", type=_csv_list, default=None, metavar="0,1,2", help="pretraining seeds")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per model (matched across schemes)")
    parser.add_argument("--hidden", type=int, default=None, help="model width")
    parser.add_argument("--layers", type=int, default=None, help="model depth")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per step")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--schemes", type=_csv_list, default=None, metavar="NAME,...",
                        help="masking schemes to compare (default r2mae,fixed_0.15,uniform_0-1)")


def run_benchmark(args: argparse.Namespace) -> int:
    from .benchmark import BenchmarkConfig, run_benchmark as run

    overrides = {k: getattr(args, k) for k in ("steps", "hidden", "layers", "batch_size", "threads", "device")
                 if getattr(args, k) is not None}
    if args.seeds is not None:
        overrides["seeds"] = [int(s) for s in args.seeds]
    if args.schemes is not None:
        overrides["schemes"] = list(args.schemes)
    config = BenchmarkConfig.make(quick=args.quick, **overrides)
    results = run(config, args.out, task=args.task)
    print(json.dumps({m: {k: round(v["mean"], 4) for k, v in e.items() if isinstance(v, dict) and "mean" in v}
                      for m, e in results["methods"].items()}, indent=1), file=sys.stderr)
    print(f"wrote {args.out}/results.json and results.md")
    return 0
