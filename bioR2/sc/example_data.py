"""Example single-cell data for the demo and the tutorials (no download): scanpy's bundled
``pbmc68k_reduced`` (700 cells x 765 genes, label ``bulk_labels``) as AnnData of raw counts.

Its ``.X`` is z-scored; counts are rebuilt from ``.raw`` (log1p CP10k) as
``round(expm1(raw.X) * n_counts / 1e4)``. ``.X``, ``obsm`` and ``louvain`` are not used.
The benchmark's datasets (:mod:`bioR2.bench.sc_datasets`) build on the same helpers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["pbmc68k", "labelled_anndata"]


def labelled_anndata(counts, labels, genes, label_key: str, source: str):
    """An AnnData of raw ``counts`` (cells x ``genes``, CSR float32) with ``obs[label_key]`` and
    ``uns["source"]``: how the bundled example datasets are handed out."""
    import anndata

    obs = pd.DataFrame({label_key: pd.Categorical(labels)}, index=[f"cell_{i}" for i in range(counts.shape[0])])
    adata = anndata.AnnData(X=sp.csr_matrix(counts, dtype=np.float32), obs=obs,
                            var=pd.DataFrame(index=pd.Index(genes, dtype=str)))
    adata.uns["source"] = source
    return adata


def pbmc68k():
    """pbmc68k_reduced with counts rebuilt from ``.raw`` (label ``bulk_labels``)."""
    import scanpy as sc

    ref = sc.datasets.pbmc68k_reduced()
    raw = ref.raw.X
    raw = raw.toarray() if sp.issparse(raw) else np.asarray(raw)
    counts = np.round(np.expm1(raw) * ref.obs["n_counts"].to_numpy()[:, None] / 1e4)
    return labelled_anndata(counts, ref.obs["bulk_labels"].astype(str).to_numpy(), list(ref.raw.var_names),
                            "bulk_labels", "scanpy pbmc68k_reduced; counts = round(expm1(raw.X) * n_counts / 1e4)")
