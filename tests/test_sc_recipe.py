"""The CELLxGENE Census recipe's parsing, on a small local AnnData with the Census schema."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

RECIPE = Path(__file__).resolve().parent.parent / "data_recipes" / "cellxgene_census.py"


def _recipe():
    spec = importlib.util.spec_from_file_location("cellxgene_census_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def census_like(n_cells: int = 60, n_genes: int = 12, seed: int = 0):
    """What cellxgene_census.get_anndata returns: soma_joinid-indexed obs/var, raw counts in X."""
    import anndata

    rng = np.random.default_rng(seed)
    obs = pd.DataFrame({
        "soma_joinid": np.arange(n_cells), "donor_id": rng.choice([f"D{i}" for i in range(6)], n_cells),
        "cell_type": rng.choice(["T cell", "B cell", "monocyte"], n_cells), "tissue_general": "blood",
        "assay": "10x 3' v3", "is_primary_data": True,
    }, index=[str(i) for i in range(n_cells)])
    var = pd.DataFrame({"soma_joinid": np.arange(n_genes), "feature_id": [f"ENSG{j:011d}" for j in range(n_genes)],
                        "feature_name": [f"GENE{j}" for j in range(n_genes - 1)] + ["GENE0"]},
                       index=[str(j) for j in range(n_genes)])
    return anndata.AnnData(sp.csr_matrix(rng.poisson(1.0, (n_cells, n_genes)).astype(np.float32)), obs=obs, var=var)


def test_prepare_splits_by_donor_and_names_genes(tmp_path):
    import anndata

    recipe = _recipe()
    adata = census_like()
    manifest = recipe.prepare(adata, tmp_path, test_fraction=0.34, seed=1)
    train, test = anndata.read_h5ad(tmp_path / "train.h5ad"), anndata.read_h5ad(tmp_path / "test.h5ad")
    assert train.n_obs + test.n_obs == adata.n_obs
    assert not set(train.obs["donor_id"]) & set(test.obs["donor_id"])
    assert set(test.obs["donor_id"]) == set(manifest["split"]["test_donors"]) and len(manifest["split"]["test_donors"]) == 2
    assert list(train.var_names[:2]) == ["GENE0", "GENE1"] and train.var_names.is_unique  # duplicate symbol made unique
    assert (train.var["feature_id"] == adata.var["feature_id"].to_numpy()).all()
    assert train.X.sum() + test.X.sum() == adata.X.sum()
    recorded = json.loads((tmp_path / "manifest.json").read_text())
    from bioR2.utils.io import sha256_file

    assert recorded["files"]["train.h5ad"]["sha256"] == sha256_file(tmp_path / "train.h5ad")
    assert recipe.census_filter("blood") == "tissue_general == 'blood' and is_primary_data == True"
    # the output is directly usable by bioR2's loader
    from bioR2.sc.data import ExpressionReader, open_cells

    assert ExpressionReader(open_cells(tmp_path / "train.h5ad")).read([0, 1]).shape == (2, adata.n_vars)


def test_prepare_refuses_wrong_schema_and_normalised_values(tmp_path):
    import anndata

    recipe = _recipe()
    adata = census_like()
    no_donor = anndata.AnnData(adata.X, obs=adata.obs.drop(columns=["donor_id"]), var=adata.var)
    with pytest.raises(ValueError, match="obs has no column 'donor_id'"):
        recipe.prepare(no_donor, tmp_path)
    logged = adata.copy()
    logged.X = sp.csr_matrix(np.log1p(adata.X.toarray()))
    with pytest.raises(ValueError, match="non-integer"):
        recipe.prepare(logged, tmp_path)
    one_donor = adata.copy()
    one_donor.obs["donor_id"] = "D0"
    with pytest.raises(ValueError, match="at least 2 donors"):
        recipe.prepare(one_donor, tmp_path)
