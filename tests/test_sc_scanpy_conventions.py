"""``embed`` and ``annotate`` behave as scanpy functions do: results under keys a user names, never
over an existing key unless asked, ``copy=`` semantics, provenance in ``uns["bior2"]``; low gene
overlap is visible; low-confidence cells are "Unknown"; the model and its inputs share a device."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import bioR2
from bioR2.cli import main
from bioR2.sc import LowGeneOverlapWarning, annotate, annotate_file, embed, embed_file, pretrain
from sc_helpers import make_counts



@pytest.fixture(scope="module")
def cells():
    return make_counts(n_cells=90, n_genes=24)


@pytest.fixture(scope="module")
def model(cells):
    return pretrain(cells, layer="counts", steps=3, batch_size=16, progress=False,
                    model={"hidden": [16], "latent": 4}).model


@pytest.fixture(scope="module")
def run(tmp_path_factory, cells):
    out = tmp_path_factory.mktemp("sc") / "run"
    pretrain(cells, out, layer="counts", steps=3, batch_size=16, progress=False,
             model={"hidden": [16], "latent": 4})
    return out


def with_scanpy_fields(adata):
    """An AnnData carrying the fields scanpy's own neighbors/umap would have written."""
    adata = adata.copy()
    adata.obsm["X_umap"] = np.ones((adata.n_obs, 2), dtype=np.float32)
    adata.uns["neighbors"] = {"connectivities_key": "connectivities", "params": {"use_rep": "X_pca"}}
    adata.obsp["connectivities"] = sp.identity(adata.n_obs, format="csr")
    adata.obsp["distances"] = sp.identity(adata.n_obs, format="csr")
    return adata


# ---------------------------------------------------------------------------- keys and overwriting
def test_embed_with_umap_writes_its_own_keys_and_leaves_scanpys_alone(cells, model):
    adata = with_scanpy_fields(cells)
    before_uns = dict(adata.uns["neighbors"])
    assert embed(adata, model, umap=True) is None
    assert adata.obsm["X_r2mae"].shape == (90, 4)
    assert adata.obsm["X_umap_r2mae"].shape == (90, 2)
    assert {"r2mae_neighbors_connectivities", "r2mae_neighbors_distances"} <= set(adata.obsp)
    assert adata.uns["r2mae_neighbors"]["connectivities_key"] == "r2mae_neighbors_connectivities"
    assert adata.uns["r2mae_neighbors"]["params"]["use_rep"] == "X_r2mae"
    # the user's fields are untouched
    np.testing.assert_array_equal(adata.obsm["X_umap"], np.ones((90, 2)))
    assert adata.uns["neighbors"] == before_uns
    assert (adata.obsp["connectivities"] != sp.identity(90)).nnz == 0


def test_key_added_and_neighbors_key_name_the_results(cells, model):
    adata = cells.copy()
    embed(adata, model, key_added="X_mine", umap=True, neighbors_key="graph")
    assert {"X_mine", "X_umap_mine"} <= set(adata.obsm) and "X_r2mae" not in adata.obsm
    assert "graph" in adata.uns and "graph_connectivities" in adata.obsp
    embed(adata, model, key_added="plain")
    assert "plain" in adata.obsm


def test_one_overwrite_rule_for_embed_and_annotate(cells, model):
    adata = cells.copy()
    embed(adata, model)
    first = adata.obsm["X_r2mae"].copy()
    with pytest.raises(ValueError, match=r"adata already has obsm\['X_r2mae'\]; pass overwrite=True \(--overwrite\)"):
        embed(adata, model)
    with pytest.raises(ValueError, match=r"already has obsm\['X_umap_r2mae'\], uns\['r2mae_neighbors'\], "
                                         r"obsp\['r2mae_neighbors_connectivities'\]"):
        embed(_umap_done(cells, model), model, umap=True)
    embed(adata, model, overwrite=True)
    np.testing.assert_allclose(adata.obsm["X_r2mae"], first, rtol=1e-6)
    query = cells[60:].copy()
    annotate(query, model, cells[:60].copy(), "cell_type")
    with pytest.raises(ValueError, match=r"query already has obs\['r2mae_label'\], obs\['r2mae_confidence'\]; "
                                         r"pass overwrite=True \(--overwrite\)"):
        annotate(query, model, cells[:60].copy(), "cell_type")
    annotate(query, model, cells[:60].copy(), "cell_type", overwrite=True)


def _umap_done(cells, model):
    adata = cells.copy()
    embed(adata, model, umap=True)
    del adata.obsm["X_r2mae"]  # the UMAP and graph keys remain
    return adata


def test_copy_true_returns_a_new_anndata_and_leaves_the_input(cells, model):
    adata = cells.copy()
    out = embed(adata, model, copy=True)
    assert out is not adata and "X_r2mae" in out.obsm
    assert "X_r2mae" not in adata.obsm and "bior2" not in adata.uns
    query = cells[60:].copy()
    labelled = annotate(query, model, cells[:60].copy(), "cell_type", copy=True)
    assert "r2mae_label" in labelled.obs and "r2mae_label" not in query.obs
    with pytest.raises(ValueError, match="annotate writes into an AnnData.*annotate_file"):
        annotate("query.h5ad", model, cells, "cell_type")


# ---------------------------------------------------------------------------- provenance
def test_uns_records_how_each_result_was_made_and_survives_h5ad(tmp_path, cells, model, run):
    import anndata

    query = cells[60:].copy()
    embed(query, run, umap=True)
    annotate(query, run, tmp_path_ref(tmp_path, cells), "cell_type", min_confidence=0.4)
    records = query.uns["bior2"]
    emb = records["X_r2mae"]
    assert emb["function"] == "embed" and emb["model"] == str(run.resolve())
    assert emb["bior2_version"] == bioR2.__version__
    assert (emb["layer"], emb["use_raw"]) == ("counts", False)
    assert emb["gene_overlap"] == {"n_shared": 24, "n_model_genes": 24, "fraction": 1.0}
    assert emb["neighbors_key"] == "r2mae_neighbors" and emb["umap_key"] == "X_umap_r2mae"
    ann = records["r2mae_label"]
    assert ann["function"] == "annotate" and ann["method"] == "linear" and ann["label_key"] == "cell_type"
    assert ann["min_confidence"] == pytest.approx(0.4)
    assert ann["reference"] == str((tmp_path / "ref.h5ad").resolve())
    assert ann["reference_gene_overlap"]["fraction"] == 1.0
    assert set(ann["fields"]) == {"obs/r2mae_label", "obs/r2mae_confidence"}
    query.write_h5ad(tmp_path / "q.h5ad")
    back = anndata.read_h5ad(tmp_path / "q.h5ad").uns["bior2"]
    assert back["r2mae_label"]["label_key"] == "cell_type" and back["X_r2mae"]["model"] == str(run.resolve())
    # an in-memory model says so
    other = cells.copy()
    embed(other, model)
    assert other.uns["bior2"]["X_r2mae"]["model"] == "ExpressionMAE object (not loaded from a folder)"


def tmp_path_ref(tmp_path, cells):
    path = tmp_path / "ref.h5ad"
    if not path.exists():
        cells[:60].copy().write_h5ad(path)
    return path


def test_files_get_the_record_too_and_keep_earlier_ones(tmp_path, cells, run):
    import anndata

    ref = tmp_path_ref(tmp_path, cells)
    cells[60:].copy().write_h5ad(tmp_path / "q.h5ad")
    embed_file(tmp_path / "q.h5ad", run, tmp_path / "q_emb.h5ad")
    result = annotate_file(tmp_path / "q_emb.h5ad", run, tmp_path / "q_ann.h5ad", ref, "cell_type")
    back = anndata.read_h5ad(tmp_path / "q_ann.h5ad")
    assert set(back.uns["bior2"]) == {"X_r2mae", "r2mae_label"}
    assert back.uns["bior2"]["r2mae_label"]["min_confidence"] == pytest.approx(0.5)
    assert back.uns["bior2"]["r2mae_label"]["n_unknown"] == result.n_unknown
    assert "Unknown" in back.obs["r2mae_label"].cat.categories
    # the file UMAP path writes the same keys as embed(umap=True)
    embed_file(tmp_path / "q.h5ad", run, tmp_path / "q_umap.h5ad", umap=True)
    umap = anndata.read_h5ad(tmp_path / "q_umap.h5ad")
    assert {"X_r2mae", "X_umap_r2mae"} <= set(umap.obsm) and "X_umap" not in umap.obsm
    assert umap.uns["bior2"]["X_r2mae"]["umap_key"] == "X_umap_r2mae"


# ---------------------------------------------------------------------------- gene overlap
def test_gene_overlap_below_90_percent_is_a_visible_warning(cells, model):
    partial = cells[:, :20].copy()  # 20 of 24 genes: 83%
    with pytest.warns(LowGeneOverlapWarning, match=r"only 20 of the model's 24 genes are in the data \(83\.3%\)"):
        embed(partial, model)
    assert issubclass(LowGeneOverlapWarning, UserWarning)
    assert partial.uns["bior2"]["X_r2mae"]["gene_overlap"]["n_shared"] == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embed(cells.copy(), model)  # all genes: silent
    with pytest.raises(ValueError, match="below the minimum overlap of 90%"):
        embed(partial, model, min_overlap=0.9, overwrite=True)


def test_cli_prints_a_low_overlap_warning(tmp_path, cells, run, capsys):
    cells[:, :20].copy().write_h5ad(tmp_path / "partial.h5ad")
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "partial.h5ad"),
                 "--out", str(tmp_path / "out.h5ad")]) == 0
    err = capsys.readouterr().err
    assert "bior2: warning: " in err and "only 20 of the model's 24 genes" in err
    assert "UserWarning" not in err


# ---------------------------------------------------------------------------- Unknown
def test_min_confidence_labels_unsure_cells_unknown_and_keeps_confidence(cells, model):
    ref, query = cells[:60].copy(), cells[60:].copy()
    every = annotate(query, model, ref, "cell_type", min_confidence=0, copy=True).obs
    assert "Unknown" in every["r2mae_label"].cat.categories and (every["r2mae_label"] != "Unknown").all()
    cut = float(np.median(every["r2mae_confidence"]))
    some = annotate(query, model, ref, "cell_type", min_confidence=cut, copy=True).obs
    np.testing.assert_array_equal(some["r2mae_confidence"], every["r2mae_confidence"])
    low = every["r2mae_confidence"].to_numpy() < cut
    assert low.any() and (some["r2mae_label"][low] == "Unknown").all()
    np.testing.assert_array_equal(some["r2mae_label"][~low].astype(str), every["r2mae_label"][~low].astype(str))
    assert list(some["r2mae_label"].cat.categories) == ["type0", "type1", "type2", "Unknown"]


def test_cli_min_confidence(tmp_path, cells, run, capsys):
    import anndata

    ref = tmp_path_ref(tmp_path, cells)
    cells[60:].copy().write_h5ad(tmp_path / "q.h5ad")
    assert main(["annotate", "--model", str(run), "--reference", str(ref), "--label-key", "cell_type",
                 "--query", str(tmp_path / "q.h5ad"), "--out", str(tmp_path / "a.h5ad"), "--min-confidence", "1"]) == 0
    assert (anndata.read_h5ad(tmp_path / "a.h5ad").obs["r2mae_label"] == "Unknown").all()
    assert "(30 Unknown below confidence 1)" in capsys.readouterr().err


# ---------------------------------------------------------------------------- devices
@pytest.fixture
def fake_accelerator(monkeypatch):
    """``device="auto"`` resolves to torch's meta device: a second device on a CPU-only machine,
    so a network and an input on different devices raise, as CPU and CUDA would. Results read
    back as zeros (a meta tensor has no values); the devices they came from are recorded."""
    import bioR2.train.distributed as distributed

    annotate_module = importlib.import_module("bioR2.sc.annotate")  # the module (bioR2.sc.annotate is the function)

    real = distributed.resolve_device

    def resolve(preference, local_rank=0, option="train.device"):
        return torch.device("meta") if preference in ("auto", "meta") else real(preference, local_rank, option)

    seen = []

    def to_numpy(tensor):
        seen.append(tensor.device)
        return np.zeros(tuple(tensor.shape), dtype=np.float32)

    monkeypatch.setattr(distributed, "resolve_device", resolve)
    monkeypatch.setattr(annotate_module, "_numpy", to_numpy)
    with pytest.raises(RuntimeError, match="device"):  # the fake device really is another device
        torch.nn.Linear(2, 2).to("meta")(torch.ones(1, 2))
    return seen


def test_embed_runs_on_the_resolved_device_and_leaves_the_model_where_it_was(cells, model, fake_accelerator):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    adata = cells.copy()
    embed(adata, model, batch_size=32)  # device="auto"
    assert fake_accelerator == [torch.device("meta")] * 3  # 90 cells, 32 a batch
    assert adata.obsm["X_r2mae"].shape == (90, 4)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    embed(adata, model, device="cpu", overwrite=True)  # an explicit device is used as given
    assert fake_accelerator[3:] == [torch.device("cpu")]


def test_a_fine_tuned_head_and_its_inputs_share_a_device(cells, model, fake_accelerator, monkeypatch):
    annotate_module = importlib.import_module("bioR2.sc.annotate")
    real_fine_tune = annotate_module.fine_tune
    asked = []

    def fine_tune_on_the_accelerator(*args, device, **options):
        # trained (here on the CPU), then left on the accelerator, as the trainer leaves it
        asked.append(device)
        return real_fine_tune(*args, device="cpu", **options).to(device)

    monkeypatch.setattr(annotate_module, "fine_tune", fine_tune_on_the_accelerator)
    query = cells[60:].copy()
    annotate(query, model, cells[:60].copy(), "cell_type", method="finetune", fine_tune_options={"steps": 2},
             min_confidence=0)
    assert asked == [torch.device("meta")]
    assert fake_accelerator and set(fake_accelerator) == {torch.device("meta")}
    assert query.obs["r2mae_label"].notna().all()
    # the linear probe embeds reference and query on the device too
    fake_accelerator.clear()
    annotate(query, model, cells[:60].copy(), "cell_type", overwrite=True, min_confidence=0)
    assert set(fake_accelerator) == {torch.device("meta")}


def test_cli_device_and_batch_size(tmp_path, cells, run, capsys):
    import anndata

    cells.copy().write_h5ad(tmp_path / "c.h5ad")
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "c.h5ad"), "--out", str(tmp_path / "e.h5ad"),
                 "--device", "cpu", "--batch-size", "7"]) == 0
    expected = embed(cells, run, copy=True).obsm["X_r2mae"]
    np.testing.assert_allclose(anndata.read_h5ad(tmp_path / "e.h5ad").obsm["X_r2mae"], expected, rtol=1e-5, atol=1e-6)
    if not torch.cuda.is_available():
        assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "c.h5ad"),
                     "--out", str(tmp_path / "g.h5ad"), "--device", "cuda"]) == 1
        assert "device='cuda' but CUDA is not available here" in capsys.readouterr().err
