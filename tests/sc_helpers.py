"""Small AnnData objects for the single-cell tests (made here; nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def make_counts(n_cells: int = 120, n_genes: int = 40, n_types: int = 3, seed: int = 0, density: float = 0.3):
    """An AnnData of Poisson counts with ``n_types`` cell types that differ in a block of genes."""
    import anndata

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_types, n_cells)
    rate = np.full((n_cells, n_genes), density * 2.0)
    block = max(1, n_genes // (2 * n_types))
    for t in range(n_types):
        rate[labels == t, t * block:(t + 1) * block] += 6.0
    counts = rng.poisson(rate).astype(np.float32)
    adata = anndata.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"cell_type": [f"type{t}" for t in labels],
                          "batch": rng.choice(["a", "b"], n_cells)}, index=[f"c{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"G{j}" for j in range(n_genes)]),
    )
    adata.layers["counts"] = adata.X.copy()
    return adata
