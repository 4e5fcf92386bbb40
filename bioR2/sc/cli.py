"""``bior2 embed`` and ``bior2 annotate`` (argument parsing only; the work is
:func:`bioR2.sc.embed_file` and :func:`bioR2.sc.annotate_file`). ``bior2 pretrain sc`` is generated
from ``bioR2/sc/spec.py``; ``bior2 benchmark sc`` lives in :mod:`bioR2.bench.cli`.

Only argparse at import time; torch, anndata and scanpy are imported inside ``run_*``.
"""

from __future__ import annotations

import argparse
import sys


def _add_input(parser: argparse.ArgumentParser, flag: str = "--h5ad", what: str = "cells") -> None:
    parser.add_argument(flag, required=True, metavar="FILE", help=f".h5ad file of {what}")
    parser.add_argument("--layer", default=None,
                        help="layer holding the values (default: where the model's training data was; X for .X)")
    parser.add_argument("--use-raw", action="store_true", default=None,
                        help="read .raw.X (default: where the model's training data was)")


# --------------------------------------------------------------------------- embed
def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="run folder of a pretrained model")
    _add_input(parser)
    parser.add_argument("--out", required=True, metavar="OUT.h5ad", help="copy of the input with obsm['X_r2mae']")
    parser.add_argument("--key-added", default="X_r2mae", help="obsm key (default X_r2mae)")
    parser.add_argument("--min-overlap", type=float, default=0.5, help="refuse below this fraction of the model's genes")
    parser.add_argument("--umap", action="store_true", help="also compute neighbors + UMAP (loads the file in memory)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing obsm key")


def run_embed(args: argparse.Namespace) -> int:
    from .annotate import embed_file

    emb, alignment = embed_file(args.h5ad, args.model, args.out, layer=args.layer, use_raw=args.use_raw,
                                key_added=args.key_added, min_overlap=args.min_overlap, umap=args.umap,
                                overwrite=args.overwrite)
    print(f"{args.h5ad}: {alignment.report()}", file=sys.stderr)
    print(f"wrote obsm[{args.key_added!r}] ({emb.shape[0]} x {emb.shape[1]}) to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- annotate
def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="pretrained (or fine-tuned) model folder")
    parser.add_argument("--reference", metavar="REF.h5ad", help="labelled reference cells")
    parser.add_argument("--label-key", help="obs column of the reference with the cell types")
    parser.add_argument("--reference-layer", default=None,
                        help="reference layer with the values (default: --layer, else the model's)")
    _add_input(parser, "--query", what="query cells to label")
    parser.add_argument("--out", required=True, metavar="OUT.h5ad",
                        help="copy of the query with obs['r2mae_label'] and obs['r2mae_confidence']")
    parser.add_argument("--method", choices=["linear", "finetune"], default="linear",
                        help="linear probe on embeddings (default) or fine-tune the encoder")
    parser.add_argument("--finetune-steps", type=int, default=500, help="steps of fine-tuning")
    parser.add_argument("--key-prefix", default="r2mae", help="obs columns are PREFIX_label and PREFIX_confidence")
    parser.add_argument("--min-overlap", type=float, default=0.5, help="refuse below this fraction of the model's genes")
    parser.add_argument("--overwrite", action="store_true", help="replace existing PREFIX_label / PREFIX_confidence columns")


def run_annotate(args: argparse.Namespace) -> int:
    from collections import Counter

    from .annotate import annotate_file

    result = annotate_file(args.query, args.model, args.out, args.reference, args.label_key, method=args.method,
                           layer=args.layer, use_raw=args.use_raw, reference_layer=args.reference_layer,
                           key_prefix=args.key_prefix, overwrite=args.overwrite, min_overlap=args.min_overlap,
                           fine_tune_options={"steps": args.finetune_steps})
    counts = Counter(result.labels.tolist()).most_common()
    print(f"labelled {len(result.labels)} cells -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts),
          file=sys.stderr)
    return 0
