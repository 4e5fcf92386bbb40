"""The expression MAE: masked-only loss, save/load with the gene list, embeddings, alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioR2.masking import MaskRNG
from bioR2.sc import ExpressionMAE, ExpressionMAETask, embed, masked_mse, pretrain
from bioR2.sc.annotate import embed_reader, reader_for
from bioR2.train import load_model
from sc_helpers import make_counts



def test_masked_mse_only_sees_masked_entries():
    pred = torch.zeros(4, 6)
    target = torch.randn(4, 6)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[:, :2] = True
    base = masked_mse(pred, target, mask)
    changed = target.clone()
    changed[:, 2:] += 100.0  # unmasked entries: no effect
    assert torch.equal(masked_mse(pred, changed, mask), base)
    changed[:, 0] += 1.0
    assert masked_mse(pred, changed, mask) > base
    assert float(masked_mse(pred, target, torch.zeros_like(mask))) == 0.0


def test_task_masks_with_the_core_and_scores_masked_entries():
    torch.manual_seed(0)
    model = ExpressionMAE([f"g{i}" for i in range(12)], hidden=[16], latent=4, dropout=0.0)
    task = ExpressionMAETask(model)
    x = torch.rand(8, 12) * 3
    terms = task.loss_terms({"x": x}, 0.25, MaskRNG(0, 0, torch.arange(8)))
    mask = terms["mask"]
    assert mask.sum(dim=1).tolist() == [3] * 8  # exact count: round(0.25 * 12) per cell
    out = model.decode(model.encode(x, mask))
    target = model.standardise(x)
    assert torch.allclose(terms["loss"], masked_mse(out, target, mask))
    # the same batch, step and indices give the same mask (deterministic across ranks/resumes)
    again = task.loss_terms({"x": x}, 0.25, MaskRNG(0, 0, torch.arange(8)))["mask"]
    assert torch.equal(again, mask)


def test_save_load_keeps_genes_and_embeddings(tmp_path):
    adata = make_counts(n_cells=80, n_genes=30)
    model = pretrain(adata, tmp_path / "run", layer="counts", steps=5, batch_size=16, progress=False,
                     model={"hidden": [16], "latent": 8}).model
    loaded = load_model(tmp_path / "run")
    assert isinstance(loaded, ExpressionMAE)
    assert loaded.genes == list(adata.var_names)
    assert torch.equal(loaded.gene_mean, model.gene_mean)
    e1 = embed(adata, model, layer="counts", copy=True).obsm["X_r2mae"]
    e2 = embed(adata, tmp_path / "run", layer="counts", copy=True).obsm["X_r2mae"]
    np.testing.assert_array_equal(e1, e2)
    assert e1.shape == (80, 8)
    assert (tmp_path / "run" / "data.json").exists()


def test_query_with_permuted_missing_extra_genes_embeds_like_aligned_original():
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    adata = make_counts(n_cells=60, n_genes=30)
    model = pretrain(adata, layer="counts", steps=3, batch_size=16, progress=False,
                     model={"hidden": [16], "latent": 8}).model
    missing = ["G2", "G11"]
    keep = [g for g in adata.var_names if g not in missing]
    rng = np.random.default_rng(0)
    extra = anndata.AnnData(sp.csr_matrix(rng.poisson(2.0, (60, 4)).astype(np.float32)), obs=adata.obs[[]],
                            var=pd.DataFrame(index=[f"NEW{i}" for i in range(4)]))
    query = anndata.concat([adata[:, keep], extra], axis=1)
    query = query[:, rng.permutation(query.n_vars)].copy()
    original = adata.copy()
    x = original.X.toarray()
    x[:, [list(adata.var_names).index(g) for g in missing]] = 0
    original.X = sp.csr_matrix(x)
    # .X named explicitly: the model was trained on layer "counts", which it would read by default.
    # The missing genes are unobserved: hidden from the encoder (as masked entries are), not read
    # as zeros, so the query embeds like the original with those genes hidden.
    from bioR2.sc.annotate import reader_for

    reader = reader_for(original, model, layer="X")
    hidden = torch.zeros(len(model.genes), dtype=torch.bool)
    hidden[[model.genes.index(g) for g in missing]] = True
    expected = model.embed_array(torch.from_numpy(reader.read(np.arange(60))), hidden).numpy()
    np.testing.assert_allclose(embed(query, model, layer="X", copy=True).obsm["X_r2mae"], expected,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected, embed(original, model, layer="X", copy=True).obsm["X_r2mae"], atol=1e-4)
    # extra and permuted genes alone change nothing
    full = anndata.concat([adata, extra], axis=1)
    full = full[:, rng.permutation(full.n_vars)].copy()
    np.testing.assert_allclose(embed(full, model, layer="X", copy=True).obsm["X_r2mae"],
                               embed(adata, model, layer="X", copy=True).obsm["X_r2mae"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shares only"):
        embed(adata[:, :5].copy(), model, layer="X")


def test_nb_loss_and_batch_covariate_train():
    adata = make_counts(n_cells=64, n_genes=20)
    model = pretrain(adata, steps=3, batch_size=16, progress=False, batch_key="batch",
                     model={"hidden": [16], "latent": 4, "loss": "nb"}, only_nonzero=True, count="bernoulli",
                     mask_ratio={"low": 0.2, "high": 0.4}).model  # the config-file form of a range
    assert model.batch_categories == ["a", "b"]
    x = torch.from_numpy(reader_for(adata, model).read(np.arange(4)))
    recon = model.reconstruct(x, torch.zeros_like(x, dtype=torch.bool))
    assert recon.shape == x.shape and torch.isfinite(recon).all()


def test_log1p_model_refuses_nothing_but_negative(tmp_path):
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()
    model = pretrain(pbmc, use_raw=True, is_log1p=True, steps=2, batch_size=32, progress=False,
                     model={"hidden": [16], "latent": 4}).model
    emb = embed_reader(reader_for(pbmc, model, use_raw=True), model)
    assert emb.shape == (pbmc.n_obs, 4) and np.isfinite(emb).all()
    with pytest.raises(ValueError, match="negative"):
        embed(pbmc, model, use_raw=False)  # .X is z-scored (the model, trained on .raw, would read .raw)


def _reference_first_layer(model, z, mask):
    """The first encoder layer as autograd sees it: where + cat + linear (the pre-speed-up code)."""
    filled = torch.where(mask, model.mask_value.expand_as(z), z)
    return model.encoder[0](torch.cat([filled, mask.to(z.dtype)], dim=1))


def test_masked_input_layer_matches_autograd_forward_and_gradients():
    from bioR2.sc.model import as_float_mask, _MaskedInputLinear

    torch.manual_seed(0)
    model = ExpressionMAE([f"g{i}" for i in range(30)], hidden=[24], latent=5, dropout=0.0)
    with torch.no_grad():
        model.mask_value.normal_()
    z = torch.randn(16, 30).clamp(-10, 10)
    mask = torch.rand(16, 30) < 0.4
    grad_out = torch.randn(16, 24)
    first = model.encoder[0]
    params = [model.mask_value, first.weight, first.bias]

    ref = _reference_first_layer(model, z, mask)
    ref_grads = torch.autograd.grad(ref, params, grad_out)
    fast = _MaskedInputLinear.apply(z, as_float_mask(mask, z.dtype), *params)
    fast_grads = torch.autograd.grad(fast, params, grad_out)
    assert torch.equal(fast, ref)  # the same addmm on the same input
    assert torch.equal(fast_grads[1], ref_grads[1]) and torch.equal(fast_grads[2], ref_grads[2])
    # mask_value's gradient is summed in another order: equal up to float rounding
    torch.testing.assert_close(fast_grads[0], ref_grads[0], rtol=1e-5, atol=1e-6)
    assert torch.equal(fast_grads[0] == 0, ~mask.any(0))  # genes never hidden get no gradient

    with torch.no_grad():  # reconstruct / eval: the plain layer, same numbers
        assert torch.equal(model.encode_standardised(z, mask), model._encoder_rest(ref))
    z_grad = z.clone().requires_grad_(True)  # a differentiable input takes autograd's path
    out = model.encode_standardised(z_grad, mask)
    assert torch.equal(out, model._encoder_rest(ref))
    assert torch.autograd.grad(out.sum(), z_grad)[0].abs().sum() > 0


def test_task_loss_and_gradients_match_the_reference_computation():
    from bioR2.masking import mask_expression

    torch.manual_seed(1)
    model = ExpressionMAE([f"g{i}" for i in range(20)], hidden=[16], latent=4, dropout=0.0)
    task = ExpressionMAETask(model)
    x = torch.rand(12, 20) * 3
    rng = MaskRNG(seed=2, step=3, example_ids=torch.arange(12))
    terms = task.loss_terms({"x": x}, 0.3, rng)
    grads = torch.autograd.grad(terms["loss_sum"], list(model.parameters()), allow_unused=True)

    mask = mask_expression(x, 0.3, rng=rng).mask
    z = model.standardise(x)
    out = model.decode(model._encoder_rest(_reference_first_layer(model, z, mask)))
    loss_sum = ((out - z) ** 2).masked_fill(~mask, 0.0).sum()
    ref_grads = torch.autograd.grad(loss_sum, list(model.parameters()), allow_unused=True)
    assert torch.equal(terms["mask"], mask) and int(terms["n_items"]) == int(mask.sum())
    assert torch.equal(terms["loss_sum"], loss_sum)
    recon = out * model.gene_std + model.gene_mean
    assert torch.equal(terms["masked_mse"], masked_mse(recon, x, mask))
    for (name, _), g, r in zip(model.named_parameters(), grads, ref_grads):
        if name == "mask_value":
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
        elif r is not None:
            assert torch.equal(g, r), name
