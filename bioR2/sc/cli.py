"""``bior2 pretrain sc``, ``bior2 embed`` and ``bior2 annotate`` (``bior2 benchmark sc``: :mod:`bioR2.bench.cli`).

Only argparse at import time; torch, anndata and scanpy are imported inside ``run_*``.
"""

from __future__ import annotations

import argparse
import sys

from ..cliutils import add_run_options, add_train_options, resolve_config, train_config

DEFAULT_RATIO = "0.1-0.5"


def _hidden(text: str):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden: expected sizes like 512,256, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden: expected positive sizes like 512,256, got {text!r}")
    return sizes


def _add_input(parser: argparse.ArgumentParser, flag: str = "--h5ad", prefix: str = "", what: str = "cells") -> None:
    parser.add_argument(flag, required=True, metavar="FILE", help=f".h5ad file of {what}")
    dest = prefix.replace("-", "_")
    parser.add_argument(f"--{prefix}layer", dest=f"{dest}layer", default=None,
                        help="layer holding the counts (default: .X)")
    parser.add_argument(f"--{prefix}use-raw", dest=f"{dest}use_raw", action="store_true",
                        help="read .raw.X instead of .X / a layer")


# --------------------------------------------------------------------------- pretrain
def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    _add_input(parser)
    g = parser.add_argument_group("data")
    g.add_argument("--log1p", action="store_true",
                   help="the values are already log1p(CP10k)-normalised (default: raw counts, normalised here)")
    g.add_argument("--n-top-genes", type=int, default=None, help="keep the N most variable genes (default: all)")
    g.add_argument("--batch-key", default=None, help="obs column with a batch covariate for the decoder")
    g.add_argument("--in-memory", action="store_true", help="load the file in memory (default: backed, streamed)")
    m = parser.add_argument_group("model and masking")
    m.add_argument("--hidden", type=_hidden, default=None, help="encoder hidden sizes (default 512,256)")
    m.add_argument("--latent", type=int, default=None, help="embedding size (default 64)")
    m.add_argument("--dropout", type=float, default=None, help="dropout (default 0.1)")
    m.add_argument("--loss", choices=["mse", "nb"], default=None, help="mse on log-expression (default) or NB on counts")
    m.add_argument("--only-nonzero", action="store_true", help="mask only detected (nonzero) genes")
    m.add_argument("--count", choices=["exact", "bernoulli"], default=None, help="masked genes per cell: exact or Bernoulli")
    add_run_options(parser, default_ratio=DEFAULT_RATIO)
    add_train_options(parser)


SC_FLAGS = {
    "hidden": "model.hidden", "latent": "model.latent", "dropout": "model.dropout", "loss": "model.loss",
    "count": "masking.count", "n_top_genes": "data.n_top_genes", "batch_key": "data.batch_key",
}


def run_pretrain(args: argparse.Namespace) -> int:
    from ..cliutils import TRAIN_FLAGS
    from .pretrain import MODEL_DEFAULTS, pretrain

    defaults = {
        "train": {"mask_ratio": DEFAULT_RATIO, "steps": 2000, "batch_size": 256},
        "model": dict(MODEL_DEFAULTS),
        "masking": {"only_nonzero": False, "count": "exact"},
        "data": {"n_top_genes": None, "batch_key": None},
    }
    config = resolve_config(args, defaults, dict(TRAIN_FLAGS, **SC_FLAGS))
    if args.only_nonzero:
        config["masking"]["only_nonzero"] = True
    train = train_config(config)
    options = {k: v for k, v in train.to_dict().items() if k != "mask_ratio"}
    pretrain(args.h5ad, args.out, layer=args.layer, use_raw=args.use_raw, is_log1p=args.log1p,
             backed=False if args.in_memory else None, n_top_genes=config["data"]["n_top_genes"],
             batch_key=config["data"]["batch_key"], mask_ratio=train.mask_ratio,
             only_nonzero=bool(config["masking"]["only_nonzero"]), count=config["masking"]["count"],
             model=config["model"], resume=args.resume, overwrite=args.overwrite, **options)
    print(f"model written to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- embed
def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="run folder of a pretrained model")
    _add_input(parser)
    parser.add_argument("--out", required=True, metavar="OUT.h5ad", help="copy of the input with obsm['X_r2mae']")
    parser.add_argument("--key-added", default="X_r2mae", help="obsm key (default X_r2mae)")
    parser.add_argument("--min-overlap", type=float, default=0.5, help="refuse below this fraction of the model's genes")
    parser.add_argument("--umap", action="store_true", help="also compute neighbors + UMAP (loads the file in memory)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing obsm key")


def _copy_with(src: str, out: str, write) -> None:
    """Copy ``src`` to ``out`` atomically and let ``write(h5py_file)`` add fields to the copy;
    the input's other fields are carried over byte for byte and X is never loaded."""
    import shutil
    from pathlib import Path

    import h5py

    from ..utils.io import atomic_path

    if Path(out).resolve() == Path(src).resolve():
        raise ValueError(f"{out}: --out must differ from the input file")
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)
        with h5py.File(tmp, "r+") as fh:
            write(fh)


def run_embed(args: argparse.Namespace) -> int:
    from anndata.io import write_elem

    from .annotate import embed_reader, reader_for

    if args.umap:
        import anndata

        from .annotate import embed
        from ..utils.io import atomic_path

        adata = anndata.read_h5ad(args.h5ad)
        if args.key_added in adata.obsm and not args.overwrite:
            raise ValueError(f"{args.h5ad}: obsm already has {args.key_added!r}; pass --overwrite")
        embed(adata, args.model, layer=args.layer, use_raw=args.use_raw, key_added=args.key_added,
              min_overlap=args.min_overlap, umap=True)
        with atomic_path(args.out) as tmp:
            adata.write_h5ad(tmp)
        return 0
    reader = reader_for(args.h5ad, args.model, layer=args.layer, use_raw=args.use_raw, min_overlap=args.min_overlap)
    print(f"{args.h5ad}: {reader.alignment.report()}", file=sys.stderr)
    emb = embed_reader(reader, args.model)

    def write(fh):
        if f"obsm/{args.key_added}" in fh:
            if not args.overwrite:
                raise ValueError(f"{args.h5ad}: obsm already has {args.key_added!r}; pass --overwrite")
            del fh[f"obsm/{args.key_added}"]
        write_elem(fh, f"obsm/{args.key_added}", emb)

    _copy_with(args.h5ad, args.out, write)
    print(f"wrote obsm[{args.key_added!r}] ({emb.shape[0]} x {emb.shape[1]}) to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- annotate
def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="pretrained (or fine-tuned) model folder")
    parser.add_argument("--reference", metavar="REF.h5ad", help="labelled reference cells")
    parser.add_argument("--label-key", help="obs column of the reference with the cell types")
    parser.add_argument("--reference-layer", default=None, help="reference layer with counts (default: --layer)")
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
    import h5py
    import pandas as pd
    from anndata.io import read_elem, write_elem

    from .annotate import annotate
    from .data import open_cells

    label_col, conf_col = f"{args.key_prefix}_label", f"{args.key_prefix}_confidence"
    open_cells(args.query, layer=args.layer, use_raw=args.use_raw)  # checks the file first
    with h5py.File(args.query, "r") as fh:
        existing = [c for c in (label_col, conf_col) if c in fh["obs"]]
    if existing and not args.overwrite:
        raise ValueError(f"{args.query}: obs already has {existing}; pass --overwrite or another --key-prefix")
    result = annotate(args.query, args.model, args.reference, args.label_key, method=args.method, layer=args.layer,
                      use_raw=args.use_raw, reference_layer=args.reference_layer, min_overlap=args.min_overlap,
                      fine_tune_options={"steps": args.finetune_steps})

    def write(fh):
        obs = read_elem(fh["obs"])
        obs[label_col] = pd.Categorical(result.labels, categories=sorted(set(result.classes)))
        obs[conf_col] = result.confidence
        del fh["obs"]
        write_elem(fh, "obs", obs)

    _copy_with(args.query, args.out, write)
    counts = pd.Series(result.labels).value_counts()
    print(f"labelled {len(result.labels)} cells -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
          file=sys.stderr)
    return 0
