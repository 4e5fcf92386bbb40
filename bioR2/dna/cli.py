"""``bior2 score-variants`` (``bior2 pretrain dna`` is generated from ``bioR2/dna/spec.py``;
``bior2 benchmark dna`` lives in :mod:`bioR2.bench.cli`).

Only argparse at import time; torch and friends are imported inside the ``run_*`` functions.
"""

from __future__ import annotations

import argparse

from ..utils.device import DEFAULT_DEVICE, DEVICE_HELP


# ---------------------------------------------------------------------------- score-variants
def _positive_int(flag: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: expected a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag}: must be >= 1, got {value}")
        return value
    return parse


def add_score_variants_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN",
                        help="run folder of `bior2 pretrain dna`, a GPN checkpoint folder (GPNForMaskedLM), "
                             "or a Hub id ORG/NAME[@REV]")
    parser.add_argument("--fasta", required=True, metavar="GENOME", help="the reference genome")
    parser.add_argument("--variants", required=True, metavar="FILE",
                        help="VCF, or TSV/CSV/parquet with chrom, pos (1-based), ref, alt; or a folder: parquet "
                             "shards, a datasets save_to_disk folder, a TraitGym dataset (its test.parquet)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output: .tsv/.tsv.gz, .csv/.csv.gz, .parquet, or .vcf/.vcf.gz (a VCF input's "
                             "records as they came, score and status added to INFO per ALT; .vcf.gz bgzipped + .tbi); "
                             "input columns + status + score")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--window", type=_positive_int("--window"), default=None,
                        help="window length (default: the model's)")
    parser.add_argument("--batch-size", type=_positive_int("--batch-size"), default=128,
                        help="sites per forward pass (x2 strands)")
    parser.add_argument("--chunk-size", type=_positive_int("--chunk-size"), default=50_000,
                        help="variants read and written at a time")
    parser.add_argument("--skip-mismatch", action="store_true",
                        help="mark ref alleles that disagree with the genome instead of failing")
    parser.add_argument("--embedding-distance", action="store_true",
                        help="also write embedding_distance (ref vs alt window embeddings)")
    parser.add_argument("--labels", default=None, metavar="COLUMN",
                        help="a 0/1 column of the input: also fit a logistic-regression probe on the "
                             "embeddings and write its out-of-fold probability as probe_score")
    parser.add_argument("--groups", default=None, metavar="COLUMN",
                        help="with --labels: keep each group (e.g. chrom) in one fold")
    parser.add_argument("--region", default=None, metavar="CHROM:START-END",
                        help="read only this region of an indexed VCF (.tbi/.csi; needs pysam)")
    parser.add_argument("--info-name", default="BIOR2_SCORE", metavar="NAME",
                        help="VCF output: the INFO field the scores go to (Number=A, one per ALT)")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=DEVICE_HELP)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="always show a progress bar")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def run_score_variants(args: argparse.Namespace) -> int:
    from ..utils.outputs import check_output_path
    from .variants import check_output_format, score_variants_file

    # Everything about --out is checked before any work: format, not an input, not a folder,
    # not an existing file unless --overwrite, a writable folder.
    if args.groups and not args.labels:  # --groups only shapes the folds of the --labels probe
        raise ValueError(f"--groups {args.groups}: only used with --labels COLUMN (the probe's folds); "
                         "add --labels or drop --groups")
    check_output_format(args.out)
    check_output_path(args.out, [args.variants, args.fasta], overwrite=args.overwrite)
    if args.labels and args.region:
        raise ValueError("--region cannot be combined with --labels (the probe reads the whole file)")
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
                                      precision=args.precision, progress=args.progress, region=args.region,
                                      info_name=args.info_name)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary["status_counts"].items()))
    print(f"scored {summary['variants']} variants ({counts}) -> {summary['out']}")
    return 0


# ---------------------------------------------------------------------------- score-region
def add_score_region_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN",
                        help="run folder of `bior2 pretrain dna`, a GPN checkpoint folder, or a Hub id ORG/NAME[@REV]")
    parser.add_argument("--fasta", required=True, metavar="GENOME", help="the reference genome")
    parser.add_argument("--region", action="append", default=[], metavar="CHROM:START-END",
                        help="a region, 1-based and inclusive (chr1:1000-2000), or a whole contig; repeatable")
    parser.add_argument("--bed", default=None, metavar="FILE", help="regions from a BED file (0-based, half-open)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="every SNV (3 per base): .tsv/.tsv.gz, .csv/.csv.gz, .parquet; with --track, one "
                             "value per base: .bedgraph or .bw (bigWig, needs pyBigWig)")
    parser.add_argument("--track", choices=["min", "mean", "max"], default=None,
                        help="write a per-base track: the min/mean/max of the three alleles' scores")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--max-positions", type=_positive_int("--max-positions"), default=None,
                        help="refuse regions with more bases (default: sized to the available memory)")
    parser.add_argument("--window", type=_positive_int("--window"), default=None,
                        help="window length (default: the model's)")
    parser.add_argument("--batch-size", type=_positive_int("--batch-size"), default=128,
                        help="positions per forward pass (x2 strands)")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=DEVICE_HELP)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="always show a progress bar")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def run_score_region(args: argparse.Namespace) -> int:
    from ..utils.outputs import check_output_path
    from .data import open_genome
    from .region import check_region_output, resolve_regions, score_region_file

    # --out, the regions and the genome are all checked before the model is loaded
    check_region_output(args.out, args.track)
    check_output_path(args.out, [args.bed, args.fasta], overwrite=args.overwrite)
    genome = open_genome(args.fasta)
    resolve_regions(genome, args.region, args.bed, max_positions=args.max_positions)
    summary = score_region_file(args.model, genome, args.out, args.region, bed=args.bed, track=args.track,
                                window=args.window, batch_size=args.batch_size,
                                max_positions=args.max_positions, device=args.device,
                                precision=args.precision, progress=args.progress)
    print(f"scored {summary['snvs']} SNVs at {summary['positions']} positions -> {summary['out']}")
    return 0
