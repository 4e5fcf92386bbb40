"""The CELLxGENE Census recipe on small local data with the Census schema (no network): the
(dataset, donor) split, the assay filter, the memory refusal, and the download flow through a
fake ``cellxgene_census`` module."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import types
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


def census_like(n_cells: int = 60, n_genes: int = 12, seed: int = 0, assays=("10x 3' v3",)):
    """What cellxgene_census.get_anndata returns: soma_joinid-indexed obs/var, raw counts in X.
    Donor ids repeat across datasets, as they do in the Census."""
    import anndata

    rng = np.random.default_rng(seed)
    obs = pd.DataFrame({
        "soma_joinid": np.arange(n_cells), "dataset_id": rng.choice(["ds-a", "ds-b"], n_cells),
        "donor_id": rng.choice([f"D{i}" for i in range(3)], n_cells),
        "cell_type": rng.choice(["T cell", "B cell", "monocyte"], n_cells), "tissue_general": "blood",
        "assay": rng.choice(list(assays), n_cells), "is_primary_data": True,
    }, index=[str(i) for i in range(n_cells)])
    var = pd.DataFrame({"soma_joinid": np.arange(n_genes), "feature_id": [f"ENSG{j:011d}" for j in range(n_genes)],
                        "feature_name": [f"GENE{j}" for j in range(n_genes - 1)] + ["GENE0"]},
                       index=[str(j) for j in range(n_genes)])
    x = sp.csr_matrix(rng.poisson(1.0, (n_cells, n_genes)).astype(np.float32))
    obs["nnz"] = np.diff(x.indptr)
    return anndata.AnnData(x, obs=obs, var=var)


def pairs(adata):
    return set(zip(adata.obs["dataset_id"].astype(str), adata.obs["donor_id"].astype(str)))


def test_prepare_splits_by_dataset_and_donor_and_names_genes(tmp_path):
    import anndata

    recipe = _recipe()
    adata = census_like()
    manifest = recipe.prepare(adata, tmp_path, test_fraction=0.34, seed=1)
    train, test = anndata.read_h5ad(tmp_path / "train.h5ad"), anndata.read_h5ad(tmp_path / "test.h5ad")
    assert train.n_obs + test.n_obs == adata.n_obs
    assert not pairs(train) & pairs(test)  # no (dataset, donor) on both sides
    assert manifest["split"]["by"] == ["dataset_id", "donor_id"] and manifest["split"]["donors"] == 6
    assert {tuple(p) for p in manifest["split"]["test_donors"]} == pairs(test) and len(pairs(test)) == 2
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


def test_same_donor_id_in_two_datasets_is_two_donors(tmp_path):
    """'D0' of dataset a and 'D0' of dataset b are different people: they may land on different sides."""
    import anndata

    recipe = _recipe()
    adata = census_like(n_cells=80)
    crossed = []
    for seed in range(12):
        recipe.prepare(adata, tmp_path / str(seed), test_fraction=0.5, seed=seed)
        train = anndata.read_h5ad(tmp_path / str(seed) / "train.h5ad")
        test = anndata.read_h5ad(tmp_path / str(seed) / "test.h5ad")
        assert not pairs(train) & pairs(test)
        crossed.append(bool(set(train.obs["donor_id"]) & set(test.obs["donor_id"])))
    assert any(crossed)  # a donor-id-only split could never do this


def test_prepare_keeps_only_the_requested_assays(tmp_path):
    import anndata

    recipe = _recipe()
    adata = census_like(assays=("10x 3' v2", "10x 3' v3", "Smart-seq2", "10x 5' v1"))
    manifest = recipe.prepare(adata, tmp_path, assays=recipe.DEFAULT_ASSAYS)
    kept = pd.concat([anndata.read_h5ad(tmp_path / f"{n}.h5ad").obs for n in ("train", "test")])
    assert set(kept["assay"]) == {"10x 3' v2", "10x 3' v3"}
    assert len(kept) == int(adata.obs["assay"].isin(["10x 3' v2", "10x 3' v3"]).sum())
    assert manifest["assays"]["cells_by_assay_before"]["Smart-seq2"] > 0
    assert recipe.parse_assays(None) == list(recipe.DEFAULT_ASSAYS) and recipe.parse_assays("all") is None
    assert recipe.parse_assays("10x 3' v3, Smart-seq2") == ["10x 3' v3", "Smart-seq2"]
    assert recipe.census_filter("lung", assays=["10x 3' v3"]) == (
        "tissue_general == 'lung' and is_primary_data == True and assay in [\"10x 3' v3\"]")
    with pytest.raises(ValueError, match="no cells matched.*Smart-seq2"):
        recipe.prepare(adata, tmp_path / "none", assays=["Drop-seq"])


def test_prepare_refuses_wrong_schema_and_normalised_values(tmp_path):
    import anndata

    recipe = _recipe()
    adata = census_like()
    no_donor = anndata.AnnData(adata.X, obs=adata.obs.drop(columns=["donor_id"]), var=adata.var)
    with pytest.raises(ValueError, match="obs has no column 'donor_id'"):
        recipe.prepare(no_donor, tmp_path)
    no_dataset = anndata.AnnData(adata.X, obs=adata.obs.drop(columns=["dataset_id"]), var=adata.var)
    with pytest.raises(ValueError, match="obs has no column 'dataset_id'"):
        recipe.prepare(no_dataset, tmp_path)
    logged = adata.copy()
    logged.X = sp.csr_matrix(np.log1p(adata.X.toarray()))
    with pytest.raises(ValueError, match="non-integer"):
        recipe.prepare(logged, tmp_path)
    one_donor = adata.copy()
    one_donor.obs["donor_id"] = "D0"
    one_donor.obs["dataset_id"] = "ds-a"
    with pytest.raises(ValueError, match=r"at least 2 \(dataset_id, donor_id\) donors"):
        recipe.prepare(one_donor, tmp_path)


def test_memory_check_refuses_and_suggests_max_cells():
    recipe = _recipe()
    obs = pd.DataFrame({"soma_joinid": np.arange(1000, 11000), "nnz": np.full(10_000, 2000)})
    need = recipe.estimate_bytes(10_000, 60_000, nnz=2000 * 10_000)
    assert need == recipe.PEAK_COPIES * (2000 * 10_000 * 12 + 10_001 * 8) + 10_000 * 1024
    with pytest.raises(recipe.NotEnoughMemory, match=r"census: 10,000 cells x 60,000 genes need about .* GiB .* "
                                                     r"Pass --max-cells ([0-9,]+) \(or fewer\)") as info:
        recipe.plan_cells(obs, 60_000, available=need // 2, source="census")
    suggested = int(info.value.args[0].split("--max-cells ")[1].split(" ")[0].replace(",", ""))
    assert 3000 < suggested < 0.8 * 5000 + 1
    # the suggestion fits, and it loads a reproducible random subset
    coords = recipe.plan_cells(obs, 60_000, max_cells=suggested, available=need // 2, seed=3)
    assert len(coords) == suggested and set(coords) <= set(obs["soma_joinid"])
    assert np.array_equal(coords, recipe.plan_cells(obs, 60_000, max_cells=suggested, available=need // 2, seed=3))
    with pytest.raises(recipe.NotEnoughMemory, match=r"\(--max-cells 9,000\)"):
        recipe.plan_cells(obs, 60_000, max_cells=9000, available=need // 2)
    assert recipe.plan_cells(obs, 60_000, available=need * 2) is None  # all cells fit: load them all
    # without the nnz column: cells x genes x a typical density
    with pytest.raises(recipe.NotEnoughMemory, match="typical 5% non-zero density"):
        recipe.plan_cells(obs[["soma_joinid"]], 60_000, available=10 * 2**20)
    assert recipe.available_memory_bytes() is None or recipe.available_memory_bytes() > 0


# ---------------------------------------------------------------------------- fake Census client
class FakeCensus:
    """Enough of cellxgene_census to run fetch(): obs read with a value filter, var count, get_anndata."""

    def __init__(self, adata):
        self.adata, self.calls = adata, []
        obs = adata.obs

        class Table:
            def __init__(self, df):
                self.df = df

            def concat(self):
                return self

            def to_pandas(self):
                return self.df.reset_index(drop=True)

        fake = self
        experiment = types.SimpleNamespace(
            obs=types.SimpleNamespace(
                schema=types.SimpleNamespace(names=list(obs.columns)),
                read=lambda value_filter, column_names: (fake.calls.append(("obs", value_filter)),
                                                         Table(obs.query(value_filter)[column_names]))[1]),
            ms={"RNA": types.SimpleNamespace(var=types.SimpleNamespace(count=adata.n_vars))})
        self.census = {"census_data": {"homo_sapiens": experiment}}
        self.module = types.ModuleType("cellxgene_census")
        self.module.open_soma = self.open_soma
        self.module.get_anndata = self.get_anndata

    @contextlib.contextmanager
    def open_soma(self, census_version):
        self.calls.append(("open", census_version))
        yield self.census

    def get_anndata(self, census, *, organism, measurement_name, X_name, obs_value_filter, obs_coords,
                    obs_column_names, var_column_names):
        assert (measurement_name, X_name) == ("RNA", "raw")
        self.calls.append(("get_anndata", obs_value_filter, None if obs_coords is None else len(obs_coords)))
        obs = self.adata.obs
        keep = (obs["soma_joinid"].isin(obs_coords) if obs_coords is not None
                else obs.index.isin(obs.query(obs_value_filter).index))
        out = self.adata[np.asarray(keep)].copy()
        out.obs = out.obs[[c for c in obs_column_names if c in out.obs.columns]]
        return out


def test_download_flow_filters_assays_and_refuses_too_many_cells(tmp_path, monkeypatch, capsys):
    import anndata

    recipe = _recipe()
    adata = census_like(n_cells=120, assays=("10x 3' v3", "Smart-seq2"))
    adata.obs.loc[adata.obs.index[:10], "is_primary_data"] = False
    fake = FakeCensus(adata)
    monkeypatch.setitem(sys.modules, "cellxgene_census", fake.module)
    out = tmp_path / "census"
    # far too little memory: refused before any cell is loaded, with the fix in the message
    assert recipe.main(["--tissue", "blood", "--out", str(out), "--memory-gb", "0.00001"]) == 1
    err = capsys.readouterr().err
    assert "need about" in err and "Pass --max-cells" in err and "--memory-gb" in err
    assert not any(c[0] == "get_anndata" for c in fake.calls) and not out.exists()
    # enough memory: the default assays and primary data only, split by (dataset, donor)
    fake.calls.clear()
    assert recipe.main(["--tissue", "blood", "--out", str(out), "--memory-gb", "8", "--test-fraction", "0.34"]) == 0
    obs_filter = fake.calls[1][1]
    assert "is_primary_data == True" in obs_filter and "assay in [\"10x 3' v2\", \"10x 3' v3\"" in obs_filter
    assert fake.calls[0] == ("open", recipe.CENSUS_VERSION) and fake.calls[2][0] == "get_anndata"
    train, test = anndata.read_h5ad(out / "train.h5ad"), anndata.read_h5ad(out / "test.h5ad")
    expected = adata.obs["is_primary_data"] & (adata.obs["assay"] == "10x 3' v3")
    assert train.n_obs + test.n_obs == int(expected.sum()) and not pairs(train) & pairs(test)
    assert set(train.obs["assay"]) | set(test.obs["assay"]) == {"10x 3' v3"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["census"]["matching_cells"] == int(expected.sum()) and manifest["census"]["version"] == "2025-01-30"
    # --max-cells: a random subset by soma_joinid, within the memory budget
    fake.calls.clear()
    assert recipe.main(["--tissue", "blood", "--out", str(tmp_path / "sub"), "--memory-gb", "8",
                        "--max-cells", "40", "--assays", "all"]) == 0
    assert fake.calls[2] == ("get_anndata", None, 40)
    assert "assay in" not in fake.calls[1][1]
    sub = [anndata.read_h5ad(tmp_path / "sub" / f"{n}.h5ad") for n in ("train", "test")]
    assert sum(a.n_obs for a in sub) == 40 and {"Smart-seq2"} <= set(sub[0].obs["assay"]) | set(sub[1].obs["assay"])
