"""AnnData loading: layers, normalisation, gene alignment, error cases, backed mode, chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from bioR2.train import ChunkShuffleSampler
from bioR2.sc.data import (
    CellDataset,
    ExpressionReader,
    GeneAlignment,
    MemorySource,
    gene_moments,
    highly_variable_genes,
    open_cells,
    read_labels,
)
from sc_helpers import make_counts


def test_cp10k_log1p_matches_scanpy():
    import scanpy as sc

    adata = make_counts()
    reader = ExpressionReader(open_cells(adata, layer="counts"))
    ref = adata.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    np.testing.assert_allclose(reader.read(np.arange(adata.n_obs)), ref.X.toarray(), rtol=1e-5, atol=1e-5)


def test_log1p_input_is_passed_through_and_dense_works():
    adata = make_counts()
    adata.X = np.log1p(adata.X.toarray())
    reader = ExpressionReader(open_cells(adata), is_log1p=True)
    np.testing.assert_allclose(reader.read([3, 1]), adata.X[[3, 1]])


def test_alignment_permuted_missing_extra_genes():
    adata = make_counts()
    genes = list(adata.var_names)
    rng = np.random.default_rng(1)
    keep = [g for g in genes if g not in ("G0", "G5", "G7")]
    query = adata[:, keep].copy()
    extra = sp.csr_matrix(rng.poisson(3.0, (adata.n_obs, 5)).astype(np.float32))
    import anndata

    query = anndata.concat([query, anndata.AnnData(extra, obs=query.obs[[]],
                            var=pd.DataFrame(index=[f"X{i}" for i in range(5)]))], axis=1)
    query = query[:, rng.permutation(query.n_vars)].copy()
    aligned = ExpressionReader(open_cells(query), genes)
    assert aligned.alignment.n_shared == len(genes) - 3 and aligned.alignment.n_extra == 5
    # Reference: the original with the three missing genes zeroed.
    zeroed = adata.copy()
    zeroed.X = zeroed.X.toarray()
    zeroed.X[:, [0, 5, 7]] = 0
    expected = ExpressionReader(open_cells(zeroed), genes).read(np.arange(adata.n_obs))
    np.testing.assert_allclose(aligned.read(np.arange(adata.n_obs)), expected, rtol=1e-6)
    assert "3 unobserved" in aligned.alignment.report()


def test_low_overlap_refused_with_numbers():
    with pytest.raises(ValueError, match=r"shares only 2 of the model's 10 genes \(20.0%\)"):
        GeneAlignment.build([f"G{i}" for i in range(10)], ["G0", "G1", "Z"], min_overlap=0.5, where="q.h5ad")


@pytest.mark.parametrize("bad,match",
                         [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-1.0, "negative counts")])
def test_bad_values_refused(bad, match):
    adata = make_counts()
    x = adata.X.toarray()
    x[2, 3] = bad
    adata.X = sp.csr_matrix(x)
    reader = ExpressionReader(open_cells(adata))
    with pytest.raises(ValueError, match=match):
        reader.read(np.arange(adata.n_obs))


def test_duplicate_genes_empty_matrix_missing_layer_and_label(tmp_path):
    adata = make_counts()
    dup = adata.copy()
    dup.var_names = ["G0"] * 2 + list(adata.var_names[2:])
    with pytest.raises(ValueError, match="var_names has 1 duplicate"):
        open_cells(dup)
    with pytest.raises(ValueError, match="empty"):
        open_cells(adata[:0].copy())
    with pytest.raises(ValueError, match="no layer 'spliced'"):
        open_cells(adata, layer="spliced")
    with pytest.raises(ValueError, match="obs has no column 'celltype'"):
        read_labels(open_cells(adata), "celltype")
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(ValueError, match=r"a.h5ad: no layer 'spliced'"):
        open_cells(path, layer="spliced")
    with pytest.raises(ValueError, match="a.h5ad: obs has no column 'celltype'"):
        read_labels(open_cells(path), "celltype")
    with pytest.raises(FileNotFoundError, match="missing.h5ad"):
        open_cells(tmp_path / "missing.h5ad")
    (tmp_path / "junk.h5ad").write_text("not hdf5")
    with pytest.raises(ValueError, match="junk.h5ad"):
        open_cells(tmp_path / "junk.h5ad")


def test_backed_equals_in_memory(tmp_path):
    adata = make_counts(n_cells=200)
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    genes = list(adata.var_names[::-1][:30])
    mem = ExpressionReader(open_cells(adata, layer="counts"), genes)
    backed = ExpressionReader(open_cells(path, layer="counts"), genes)
    idx = np.array([17, 3, 3, 150, 4, 5, 6])
    np.testing.assert_array_equal(mem.read(idx), backed.read(idx))
    np.testing.assert_array_equal(read_labels(open_cells(path), "cell_type"), adata.obs["cell_type"].to_numpy())
    m1, s1 = gene_moments(mem)
    m2, s2 = gene_moments(backed, chunk_size=16)
    np.testing.assert_allclose(m1, m2, rtol=1e-5)
    np.testing.assert_allclose(s1, s2, rtol=1e-4)
    dense = adata.copy()
    dense.X = adata.X.toarray()
    dense.write_h5ad(tmp_path / "dense.h5ad")
    np.testing.assert_array_equal(ExpressionReader(open_cells(tmp_path / "dense.h5ad"), genes).read(idx), mem.read(idx))


def test_csc_and_integer_files_read_like_csr(tmp_path):
    adata = make_counts(n_cells=50)
    idx = np.array([9, 2, 30])
    expected = ExpressionReader(open_cells(adata)).read(idx)
    csc = adata.copy()
    csc.X = sp.csc_matrix(adata.X)
    csc.write_h5ad(tmp_path / "csc.h5ad")
    with pytest.warns(UserWarning, match="csc.h5ad .X: stored as CSC"):
        source = open_cells(tmp_path / "csc.h5ad")  # cannot stream by rows: loaded in memory
    np.testing.assert_allclose(ExpressionReader(source).read(idx), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="csc.h5ad .X: stored as CSC"):
        open_cells(tmp_path / "csc.h5ad", backed=True)
    ints = adata.copy()
    ints.X = adata.X.toarray().astype(np.int64)  # dense integer counts
    ints.write_h5ad(tmp_path / "int.h5ad")
    np.testing.assert_allclose(ExpressionReader(open_cells(tmp_path / "int.h5ad")).read(idx), expected, rtol=1e-6)


def test_log_normalised_values_read_as_counts_warn():
    import warnings

    adata = make_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whole-number counts: no warning
        ExpressionReader(open_cells(adata, layer="counts")).read([0, 1])
    adata.X = adata.X.log1p()  # a log-normalised .X, counts in a layer: the usual mistake
    reader = ExpressionReader(open_cells(adata))
    with pytest.warns(UserWarning, match=r"AnnData .X: read as counts, but holds non-integer values"):
        reader.read([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ExpressionReader(open_cells(adata), is_log1p=True).read([0, 1])


def test_negative_values_hint_at_scaled_data():
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()  # .X is z-scored
    with pytest.raises(ValueError, match="z-scored"):
        ExpressionReader(open_cells(adata), is_log1p=True).read(np.arange(10))


def test_chunk_sampler_covers_all_and_resumes():
    s = ChunkShuffleSampler(1000, chunk_size=64, seed=3)
    s.set_epoch(2)
    order = list(s)
    assert sorted(order) == list(range(1000))
    # each chunk of 64 consecutive cells is visited in one stretch
    first = order[:64]
    assert max(first) - min(first) < 64
    s.set_start(100)
    assert list(s) == order[100:]
    # Distributed: equal shares that cover every cell, also with fewer chunks than ranks
    for n, chunk, world in ((1000, 64, 2), (1000, 64, 3), (100, 64, 3)):
        ranks = [ChunkShuffleSampler(n, chunk, world, r, seed=3) for r in range(world)]
        for r in ranks:
            r.set_epoch(2)
        shares = [list(r) for r in ranks]
        assert {len(x) for x in shares} == {len(ranks[0])} == {-(-n // world)}, (n, chunk, world)
        assert set().union(*shares) == set(range(n))


def test_dataset_getitems_and_hvg():
    adata = make_counts()
    reader = ExpressionReader(open_cells(adata))
    ds = CellDataset(reader, rows=np.arange(10, 50), batch_codes=np.arange(adata.n_obs) % 2, with_counts=True)
    batch = ds.__getitems__([0, 5])
    assert batch["x"].shape == (2, adata.n_vars) and batch["batch"].tolist() == [0, 1]
    np.testing.assert_array_equal(batch["counts"].numpy(), adata.X[[10, 15]].toarray())


def test_hvg_matches_scanpy_seurat_flavour_backed(tmp_path):
    import anndata
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()
    logged = anndata.AnnData(pbmc.raw.X.copy(), var=pbmc.raw.var.copy())
    logged.write_h5ad(tmp_path / "logged.h5ad")
    sc.pp.highly_variable_genes(logged, n_top_genes=100, flavor="seurat")
    mine = highly_variable_genes(open_cells(tmp_path / "logged.h5ad"), 100, is_log1p=True, chunk_size=128)
    assert set(mine) == set(logged.var_names[logged.var["highly_variable"]])


def test_dataset_cache_serves_the_values_of_per_batch_reads(tmp_path, monkeypatch):
    import pickle

    import bioR2.sc.data as data_module

    adata = make_counts(n_cells=90, n_genes=25)
    reader = ExpressionReader(MemorySource(adata))
    rows = np.arange(5, 80)
    codes = np.arange(adata.n_obs) % 3
    cached = CellDataset(reader, rows, batch_codes=codes)
    plain = CellDataset(reader, rows, batch_codes=codes, cache=False)
    picks = [7, 0, 74, 7, 33]
    for a, b in ((cached.__getitems__(picks), plain.__getitems__(picks)), (cached[3], plain[3])):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert cached._cached is not None and plain._cached is None
    cached.with_counts = plain.with_counts = True  # (a model's nb loss switches it on later)
    a, b = cached.__getitems__(picks), plain.__getitems__(picks)
    assert set(a) == {"x", "counts", "batch"} and all(torch.equal(a[k], b[k]) for k in a)
    assert cached._cached[0] is True
    assert pickle.loads(pickle.dumps(cached))._cached is None  # a spawned worker reads per batch

    monkeypatch.setattr(data_module, "CACHE_MAX_BYTES", cached.cache_bytes() - 1)  # too large: per batch
    small = CellDataset(reader, rows, with_counts=True)
    small.set_epoch(0)
    assert small._cached is None
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    backed = CellDataset(ExpressionReader(open_cells(path, backed=True)), rows)
    backed.set_epoch(0)  # a backed file streams: never cached unless asked
    assert backed._cached is None
    assert torch.equal(backed.__getitems__(picks)["x"], plain.__getitems__(picks)["x"])
    forced = CellDataset(ExpressionReader(open_cells(path, backed=True)), rows, cache=True)
    assert torch.equal(forced.__getitems__(picks)["x"], plain.__getitems__(picks)["x"])
    assert forced._cached is not None
