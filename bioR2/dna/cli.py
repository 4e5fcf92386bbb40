"""``bior2 pretrain dna`` and ``bior2 score-variants`` (``bior2 benchmark dna``: :mod:`bioR2.bench.cli`).

Only argparse at import time; torch and friends are imported inside the ``run_*`` functions.
"""

from __future__ import annotations

import argparse

from ..cliutils import TRAIN_FLAGS, add_run_options, add_train_options, resolve_config, train_config

DEFAULT_RATIO = "0.05-0.3"

_DATA_FLAGS = {
    "window": "data.window",
    "stride": "data.stride",
    "contigs": "data.contigs",
    "bed": "data.bed",
    "held_out": "data.held_out",
    "max_n_fraction": "data.max_n_fraction",
    "arch": "model.arch",
    "hidden": "model.hidden",
    "layers": "model.layers",
    "kernel_size": "model.kernel_size",
    "heads": "model.heads",
}


def _csv_list(text: str):
    return [t for t in (s.strip() for s in text.split(",")) if t]


# ---------------------------------------------------------------------------- pretrain
def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fasta", required=True, metavar="GENOME",
                        help="genome: FASTA (plain or bgzip) or GenBank/EMBL")
    add_run_options(parser, default_ratio=DEFAULT_RATIO)
    d = parser.add_argument_group("data")
    d.add_argument("--window", type=int, default=None, help="window length in bases (default 512)")
    d.add_argument("--stride", type=int, default=None, help="step between windows (default: the window)")
    d.add_argument("--contigs", type=_csv_list, default=None, metavar="C1,C2",
                   help="train only on these contigs (default: all)")
    d.add_argument("--bed", default=None, help="train only on windows tiling these BED intervals")
    d.add_argument("--held-out", type=_csv_list, default=None, metavar="C1,C2",
                   help="contigs never trained on (used for validation), e.g. chr1,chr2")
    d.add_argument("--max-n-fraction", type=float, default=None, help="drop windows with more N (default 0.1)")
    m = parser.add_argument_group("model")
    m.add_argument("--arch", choices=["convnet", "transformer"], default=None,
                   help="dilated-conv residual network (default) or transformer")
    m.add_argument("--hidden", type=int, default=None, help="model width (default 128)")
    m.add_argument("--layers", type=int, default=None, help="number of blocks (default 6)")
    m.add_argument("--kernel-size", type=int, default=None, help="convolution kernel size (default 9)")
    m.add_argument("--heads", type=int, default=None, help="attention heads (transformer)")
    add_train_options(parser)


def run_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import DEFAULTS, pretrain

    config = resolve_config(args, DEFAULTS, {**TRAIN_FLAGS, **_DATA_FLAGS})
    train = train_config(config)
    result = pretrain(args.fasta, args.out, model=config.get("model"), data=config.get("data"),
                      task=config.get("task"), train=train, resume=args.resume, overwrite=args.overwrite)
    msg = f"pretrained {result.steps} steps; last loss {result.last_loss:.4f}"
    if result.val_loss is not None:
        msg += f"; held-out loss {result.val_loss:.4f}"
    print(f"{msg}; model in {result.out_dir}")
    return 0


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
