"""Embedding + annotation, through the Python API and the CLI, on made and real data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bioR2.cli import main
from bioR2.sc import CellTypeClassifier, annotate, embed, fine_tune, pretrain
from bioR2.sc.annotate import reader_for
from bioR2.train import load_model
from sc_helpers import make_counts


TINY = ["--steps", "4", "--batch-size", "16", "--no-progress", "--hidden", "16", "--latent", "4"]


@pytest.mark.slow
def test_tiny_pretrain_annotate_on_real_data_beats_majority():
    from bioR2.sc.example_data import pbmc68k

    adata = pbmc68k()
    rng = np.random.default_rng(0)
    order = rng.permutation(adata.n_obs)
    ref, query = adata[order[:500]].copy(), adata[order[500:]].copy()
    model = pretrain(adata, steps=150, batch_size=64, progress=False, model={"hidden": [128], "latent": 32},
                     seed=0).model
    truth = query.obs["bulk_labels"].astype(str).to_numpy()
    assert annotate(query, model, ref, "bulk_labels", min_confidence=0) is None  # in place (scanpy's habit)
    labels = query.obs["r2mae_label"].astype(str).to_numpy()
    majority = max(np.mean(truth == c) for c in set(truth))
    accuracy = float(np.mean(labels == truth))
    assert accuracy > majority + 0.35, (accuracy, majority)
    assert ((query.obs["r2mae_confidence"] > 0) & (query.obs["r2mae_confidence"] <= 1)).all()


def test_annotate_leaves_query_fields_alone_and_refuses_clobbering():
    adata = make_counts(n_cells=90, n_genes=24)
    model = pretrain(adata, steps=3, batch_size=16, progress=False, model={"hidden": [16], "latent": 4}).model
    query = adata[60:].copy()
    query.obs["note"] = "keep me"
    before = query.obs.copy()
    x_before = query.X.copy()
    annotate(query, model, adata[:60].copy(), "cell_type")
    assert (query.obs[before.columns] == before).all().all()
    assert (query.X != x_before).nnz == 0
    with pytest.raises(ValueError, match="already has"):
        annotate(query, model, adata[:60].copy(), "cell_type")
    with pytest.raises(ValueError, match="obs has no column 'missing'"):
        annotate(query, model, adata[:60].copy(), "missing", key_prefix="other")
    # Unlabelled reference cells (NaN) are left out: the same labels as a reference without them.
    ref = adata[:60].copy()
    ref.obs["cell_type"] = ref.obs["cell_type"].astype(object)
    ref.obs.iloc[:7, ref.obs.columns.get_loc("cell_type")] = np.nan
    with pytest.warns(UserWarning, match=r"obs\['cell_type'\] is missing for 7 of 60 cells"):
        partial = annotate(query, model, ref, "cell_type", overwrite=True, copy=True).obs
    subset = annotate(query, model, adata[7:60].copy(), "cell_type", overwrite=True, copy=True).obs
    np.testing.assert_array_equal(partial["r2mae_label"], subset["r2mae_label"])
    np.testing.assert_allclose(partial["r2mae_confidence"], subset["r2mae_confidence"], rtol=1e-5)
    ref.obs["cell_type"] = np.nan
    with pytest.raises(ValueError, match=r"obs\['cell_type'\] has no labels"):
        annotate(query.copy(), model, ref, "cell_type", overwrite=True)


def test_fine_tune_classifier_saves_and_annotates(tmp_path):
    adata = make_counts(n_cells=96, n_genes=24)
    model = pretrain(adata, steps=3, batch_size=16, progress=False, model={"hidden": [16], "latent": 4}).model
    reader = reader_for(adata, model)
    clf = fine_tune(model, reader, adata.obs["cell_type"], steps=30, batch_size=32, lr=3e-3, out=tmp_path / "ft")
    loaded = load_model(tmp_path / "ft")
    assert isinstance(loaded, CellTypeClassifier) and loaded.classes == clf.classes
    labels = annotate(adata, loaded, min_confidence=0, copy=True).obs["r2mae_label"].astype(str).to_numpy()
    assert np.mean(labels == adata.obs["cell_type"].to_numpy()) > 0.6


def test_cli_pretrain_embed_annotate(tmp_path, capsys):
    import anndata

    adata = make_counts(n_cells=80, n_genes=24)
    adata.obs["note"] = "keep"
    adata.write_h5ad(tmp_path / "ref.h5ad")
    query = adata[50:].copy()
    query.obs = query.obs.drop(columns=["cell_type"])
    query.obsm["X_pca"] = np.ones((query.n_obs, 2))
    query.write_h5ad(tmp_path / "q.h5ad")
    run = tmp_path / "run"
    assert main(["pretrain", "sc", "--h5ad", str(tmp_path / "ref.h5ad"), "--layer", "counts", "--out", str(run),
                 "--mask-ratio", "0.1-0.5", *TINY]) == 0
    assert load_model(run).genes == list(adata.var_names)
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "q.h5ad"), "--layer", "counts",
                 "--out", str(tmp_path / "q_emb.h5ad")]) == 0
    emb = anndata.read_h5ad(tmp_path / "q_emb.h5ad")
    assert emb.obsm["X_r2mae"].shape == (30, 4)
    np.testing.assert_array_equal(emb.obsm["X_pca"], query.obsm["X_pca"])
    np.testing.assert_allclose(emb.obsm["X_r2mae"], embed(query, run, layer="counts", copy=True).obsm["X_r2mae"],
                               rtol=1e-6)
    out = tmp_path / "q_ann.h5ad"
    assert main(["annotate", "--model", str(run), "--reference", str(tmp_path / "ref.h5ad"), "--label-key", "cell_type",
                 "--query", str(tmp_path / "q.h5ad"), "--layer", "counts", "--out", str(out)]) == 0
    ann = anndata.read_h5ad(out)
    assert {"r2mae_label", "r2mae_confidence"} <= set(ann.obs.columns)
    assert (ann.obs["note"] == "keep").all() and (ann.X != query.X).nnz == 0
    np.testing.assert_array_equal(ann.obsm["X_pca"], query.obsm["X_pca"])
    # A query stored CSC (cannot stream by rows) is read in memory, with the same labels.
    import scipy.sparse as sp

    csc = query.copy()
    csc.X = sp.csc_matrix(csc.X)
    csc.layers["counts"] = sp.csc_matrix(csc.layers["counts"])
    csc.write_h5ad(tmp_path / "q_csc.h5ad")
    capsys.readouterr()
    assert main(["annotate", "--model", str(run), "--reference", str(tmp_path / "ref.h5ad"), "--label-key",
                 "cell_type", "--query", str(tmp_path / "q_csc.h5ad"), "--layer", "counts",
                 "--out", str(tmp_path / "q_csc_ann.h5ad")]) == 0
    assert re.search(r"bior2: warning: .*q_csc.h5ad .*stored as CSC", capsys.readouterr().err)  # one line (issue 24)
    np.testing.assert_array_equal(anndata.read_h5ad(tmp_path / "q_csc_ann.h5ad").obs["r2mae_label"],
                                  ann.obs["r2mae_label"])
    # A second annotation would overwrite: refused, and the earlier output is untouched.
    assert main(["annotate", "--model", str(run), "--reference", str(tmp_path / "ref.h5ad"), "--label-key", "cell_type",
                 "--query", str(out), "--out", str(tmp_path / "again.h5ad")]) == 1
    assert "already has" in capsys.readouterr().err
    assert not (tmp_path / "again.h5ad").exists()
    # bad inputs: a clear message, exit 1
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "nope.h5ad"),
                 "--out", str(tmp_path / "x.h5ad")]) == 1
    assert "nope.h5ad" in capsys.readouterr().err
    assert main(["pretrain", "sc", "--h5ad", str(tmp_path / "ref.h5ad"), "--layer", "spliced", "--out",
                 str(tmp_path / "run2"), *TINY]) == 1
    assert "no layer 'spliced'" in capsys.readouterr().err
