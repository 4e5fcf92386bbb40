"""``bior2 embed`` and ``bior2 annotate`` (argument parsing only; the work is
:func:`bioR2.sc.embed_file` and :func:`bioR2.sc.annotate_file`). ``bior2 pretrain sc`` is generated
from ``bioR2/sc/spec.py``; ``bior2 benchmark sc`` lives in :mod:`bioR2.bench.cli`.

Option values are checked as they are parsed (the same checks as the Python functions'); the
output path is checked before any work. A gene overlap below 90% is printed as a warning line.

Only argparse (and :mod:`bioR2.sc.io`, standard library only) at import time; torch, anndata and
scanpy are imported inside ``run_*``.
"""

from __future__ import annotations

import argparse
import sys

from ..utils.device import DEFAULT_DEVICE, DEVICE_HELP
from .io import DEFAULT_BATCH_SIZE, DEFAULT_MIN_CONFIDENCE, argparse_type, check_batch_size, check_fraction

FINETUNE_STEPS = 500
DEFAULT_MIN_OVERLAP = 0.5  # bioR2.sc.data.DEFAULT_MIN_OVERLAP (not imported: it pulls numpy and anndata)


def _add_common(parser: argparse.ArgumentParser, flag: str, what: str, out_help: str, keys_help: str) -> None:
    """The options ``embed`` and ``annotate`` share: input, output, reading, devices, overwrite."""
    parser.add_argument(flag, required=True, metavar="FILE", help=f".h5ad file of {what}")
    parser.add_argument("--out", required=True, metavar="OUT.h5ad", help=out_help)
    parser.add_argument("--layer", default=None,
                        help="layer holding the values (default: where the model's training data was; X for .X)")
    parser.add_argument("--use-raw", action="store_true", default=None,
                        help="read .raw.X (default: where the model's training data was)")
    parser.add_argument("--min-overlap", type=argparse_type(check_fraction, "--min-overlap"),
                        default=DEFAULT_MIN_OVERLAP, metavar="F",
                        help="refuse below this fraction of the model's genes, in (0, 1] (default %(default)s; "
                             "below 0.9 is a warning)")
    parser.add_argument("--batch-size", type=argparse_type(check_batch_size, "--batch-size"),
                        default=DEFAULT_BATCH_SIZE, metavar="N", help="cells per forward pass (default %(default)s)")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=DEVICE_HELP)
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace an existing --out file, and {keys_help} the input already has")


def _print_overlap(where: str, alignment) -> None:
    from .annotate import overlap_warning

    message = overlap_warning(where, alignment)
    print(f"bior2: warning: {message}" if message else f"{where}: {alignment.report()}", file=sys.stderr)


def _quietly(call):
    """``call()`` with the gene-overlap warning left to :func:`_print_overlap` (one clean line)."""
    import warnings

    from .annotate import LowGeneOverlapWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowGeneOverlapWarning)
        return call()


# --------------------------------------------------------------------------- embed
def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN",
                        help="run folder (or Hub id) of a pretrained single-cell model")
    _add_common(parser, "--h5ad", "cells", "copy of the input with obsm[KEY]", "keys")
    parser.add_argument("--key-added", default="X_r2mae", metavar="KEY", help="obsm key (default %(default)s)")
    parser.add_argument("--umap", action="store_true",
                        help="also compute neighbors + UMAP: uns[NEIGHBORS_KEY], obsp[NEIGHBORS_KEY_connectivities], "
                             "obsm[X_umap_<KEY without X_>] (loads the file in memory; X_umap is left alone)")
    parser.add_argument("--neighbors-key", default=None, metavar="NAME",
                        help="neighbour graph key with --umap (default: <KEY without X_>_neighbors)")


def run_embed(args: argparse.Namespace) -> int:
    from .annotate import embed_file

    emb, alignment = _quietly(lambda: embed_file(
        args.h5ad, args.model, args.out, layer=args.layer, use_raw=args.use_raw, key_added=args.key_added,
        umap=args.umap, neighbors_key=args.neighbors_key, min_overlap=args.min_overlap,
        batch_size=args.batch_size, device=args.device, overwrite=args.overwrite))
    _print_overlap(args.h5ad, alignment)
    print(f"wrote obsm[{args.key_added!r}] ({emb.shape[0]} x {emb.shape[1]}) to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- annotate
def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN",
                        help="pretrained (or fine-tuned) single-cell model folder, or Hub id")
    parser.add_argument("--reference", metavar="REF.h5ad", help="labelled reference cells")
    parser.add_argument("--label-key", help="obs column of the reference with the cell types")
    parser.add_argument("--reference-layer", default=None,
                        help="reference layer with the values (default: --layer, else the model's)")
    _add_common(parser, "--query", "query cells to label",
                "copy of the query with obs['KEY_label'] and obs['KEY_confidence']",
                "KEY_label / KEY_confidence columns")
    parser.add_argument("--method", choices=["linear", "finetune"], default="linear",
                        help="linear probe on embeddings (default) or fine-tune the encoder")
    parser.add_argument("--min-confidence", type=argparse_type(check_fraction, "--min-confidence", zero_ok=True),
                        default=DEFAULT_MIN_CONFIDENCE, metavar="P",
                        help="label a cell 'Unknown' when its top class's probability is below P, in [0, 1] "
                             "(default %(default)s; 0: label every cell)")
    parser.add_argument("--finetune-steps", type=argparse_type(check_batch_size, "--finetune-steps"), default=None,
                        metavar="N", help=f"steps of fine-tuning, with --method finetune (default {FINETUNE_STEPS})")
    parser.add_argument("--key-added", "--key-prefix", dest="key_added", default="r2mae", metavar="KEY",
                        help="obs columns KEY_label and KEY_confidence (default %(default)s; --key-prefix is "
                             "another name for it)")


def run_annotate(args: argparse.Namespace) -> int:
    from collections import Counter

    from .annotate import annotate_file

    if args.finetune_steps is not None and args.method != "finetune":  # the linear probe has no steps
        raise ValueError(f"--finetune-steps {args.finetune_steps}: only used with --method finetune "
                         f"(this run uses --method {args.method})")
    steps = args.finetune_steps if args.finetune_steps is not None else FINETUNE_STEPS
    result = _quietly(lambda: annotate_file(
        args.query, args.model, args.out, args.reference, args.label_key, method=args.method, layer=args.layer,
        use_raw=args.use_raw, reference_layer=args.reference_layer, key_added=args.key_added,
        min_confidence=args.min_confidence, min_overlap=args.min_overlap, batch_size=args.batch_size,
        device=args.device, overwrite=args.overwrite, fine_tune_options={"steps": steps}))
    if result.reference_alignment is not None:
        _print_overlap(args.reference, result.reference_alignment)
    _print_overlap(args.query, result.alignment)
    counts = Counter(result.labels.tolist()).most_common()
    print(f"labelled {len(result.labels)} cells -> {args.out} ({result.n_unknown} Unknown below confidence "
          f"{result.min_confidence:g}): " + ", ".join(f"{k} {v}" for k, v in counts), file=sys.stderr)
    return 0
