"""The single-cell spec: one pretrain (Python and generated CLI), reproducible runs, and the data
set-up stored with the model (scvi-tools' setup_anndata habit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bioR2.cli import main
from bioR2.sc import ExpressionMAE, embed, pretrain
from bioR2.sc.annotate import read_setup, reader_for
from bioR2.train import load_model
from sc_helpers import make_counts



TINY = ["--steps", "4", "--batch-size", "16", "--no-progress", "--hidden", "16", "--latent", "4"]


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_spec_defaults_presets_and_the_one_ratio():
    from bioR2.domain import get_domain
    from bioR2.pipeline import resolve_run_config, typed_sections
    from bioR2.sc.spec import DEFAULT_RATIO, SPEC

    assert get_domain("sc") is SPEC and SPEC.default_ratio == DEFAULT_RATIO == "0.1-0.5"
    cfg, train = typed_sections(SPEC, resolve_run_config(SPEC))
    # length and batch are automatic (None) until the run's cells are known (resolve_train)
    assert (train.steps, train.epochs, train.batch_size, train.mask_ratio.to_config()) == (None, None, None,
                                                                                           DEFAULT_RATIO)
    resolved = SPEC.resolve_train(cfg, train, _cells(1000))
    assert (resolved.epochs, resolved.batch_size, resolved.steps) == (50.0, 256, round(50 * 1000 / 256))
    assert (cfg.model.hidden, cfg.model.latent, cfg.model.loss) == ([512, 256], 128, "mse")
    assert (cfg.task.only_nonzero, cfg.task.count) == (False, "exact")
    assert {p.name for p in SPEC.presets} >= {"sc-tiny", "sc-small", "sc-base"}
    small, _ = typed_sections(SPEC, resolve_run_config(SPEC, preset="sc-small"))
    assert small.model == cfg.model  # sc-small is the default shape
    with pytest.raises(ValueError, match="n_top_genes"):
        typed_sections(SPEC, resolve_run_config(SPEC, sections={"data": {"genes": ["G1"], "n_top_genes": 5}}))


def test_pretrain_returns_a_result_and_caps_the_default_batch(tmp_path):
    adata = make_counts(n_cells=40, n_genes=20)
    result = pretrain(adata, tmp_path / "run", steps=2, progress=False, preset="sc-tiny")
    assert isinstance(result.model, ExpressionMAE) and result.model.hidden == [64] and result.model.latent == 16
    assert result.config["train"]["batch_size"] == 40  # 256 capped to the 40 cells
    assert result.summary["n_cells"] == 40 and result.summary["n_genes"] == 20
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert info["domain"] == "sc" and info["n_cells"] == 40 and info["layer"] is None


def test_pretrain_twice_with_the_same_seed_is_bit_identical():
    adata = make_counts(n_cells=64, n_genes=20)
    options = dict(steps=4, batch_size=16, progress=False, model={"hidden": [16], "latent": 4}, seed=5)
    torch.manual_seed(123)  # the global generator's state before the call does not matter
    first = _weights(pretrain(adata, **options).model)
    torch.rand(7)
    second = _weights(pretrain(adata, **options).model)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = _weights(pretrain(adata, **dict(options, seed=6)).model)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_cli_pretrain_twice_gives_identical_weights(tmp_path):
    adata = make_counts(n_cells=64, n_genes=20)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    for name in ("a", "b"):
        assert main(["pretrain", "sc", "--h5ad", str(tmp_path / "cells.h5ad"), "--layer", "counts", "--seed", "3",
                     "--out", str(tmp_path / name), *TINY]) == 0
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()
    # and the Python API with the same settings trains the same weights
    python = pretrain(str(tmp_path / "cells.h5ad"), layer="counts", seed=3, steps=4, batch_size=16, progress=False,
                      model={"hidden": [16], "latent": 4}).model
    cli = load_model(tmp_path / "a")
    assert all(torch.equal(v, cli.state_dict()[k]) for k, v in python.state_dict().items())


def test_run_config_reruns_the_same_run(tmp_path):
    adata = make_counts(n_cells=48, n_genes=16)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    assert main(["pretrain", "sc", "--h5ad", str(tmp_path / "cells.h5ad"), "--out", str(tmp_path / "a"),
                 "--only-nonzero", "--count", "bernoulli", *TINY]) == 0
    assert main(["pretrain", "sc", "--config", str(tmp_path / "a" / "run_config.yaml"),
                 "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def _counts_in_a_layer():
    """Counts in layer "counts"; .X holds other (doubled) values, so reading the wrong one shows."""
    adata = make_counts(n_cells=60, n_genes=20)
    adata.X = sp.csr_matrix(adata.layers["counts"].toarray() * 2 + 1)
    return adata


def test_model_remembers_where_its_data_was_read(tmp_path):
    adata = _counts_in_a_layer()
    run = tmp_path / "run"
    model = pretrain(adata, run, layer="counts", batch_key="batch", steps=2, batch_size=16, progress=False,
                     model={"hidden": [16], "latent": 4}).model
    for m in (model, load_model(run)):  # in memory and from the run folder
        assert (m.layer, m.use_raw, m.batch_key, m.is_log1p, m.target_sum) == ("counts", False, "batch", False, 1e4)
        assert read_setup(m) == ("counts", False)
    by_default = embed(adata, run, copy=True).obsm["X_r2mae"]
    np.testing.assert_array_equal(by_default, embed(adata, model, layer="counts", copy=True).obsm["X_r2mae"])
    # an explicit option still wins: .X by name, or use_raw=False
    x = embed(adata, model, layer="X", copy=True).obsm["X_r2mae"]
    assert not np.allclose(x, by_default)
    np.testing.assert_array_equal(x, embed(adata, model, use_raw=False, copy=True).obsm["X_r2mae"])
    assert (read_setup(model, use_raw=False) == (None, False)
            and read_setup(model, layer="spliced") == ("spliced", False))
    # a model saved before the set-up was stored reads .X, as it always did
    old = dict(model.get_config())
    for key in ("layer", "use_raw", "batch_key"):
        old.pop(key)
    assert read_setup(ExpressionMAE(**old)) == (None, False)


def test_model_trained_on_raw_reads_raw():
    adata = make_counts(n_cells=50, n_genes=16)
    logged = adata.copy()
    logged.X = sp.csr_matrix(np.log1p(adata.X.toarray() / np.maximum(adata.X.sum(1).A, 1) * 1e4))
    logged.raw = logged
    logged.X = sp.csr_matrix(-np.ones(logged.shape, dtype=np.float32))  # scaled: unreadable
    model = pretrain(logged, use_raw=True, is_log1p=True, steps=2, batch_size=16, progress=False,
                     model={"hidden": [8], "latent": 4}).model
    assert embed(logged, model, copy=True).obsm["X_r2mae"].shape == (50, 4)
    assert reader_for(logged, model).source.use_raw
    with pytest.raises(ValueError, match="negative"):
        embed(logged.copy(), model, use_raw=False)


def test_cli_embed_and_annotate_read_the_stored_layer(tmp_path):
    import anndata

    adata = _counts_in_a_layer()
    adata.write_h5ad(tmp_path / "ref.h5ad")
    run = tmp_path / "run"
    assert main(["pretrain", "sc", "--h5ad", str(tmp_path / "ref.h5ad"), "--layer", "counts", "--out", str(run),
                 *TINY]) == 0
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "ref.h5ad"),
                 "--out", str(tmp_path / "plain.h5ad")]) == 0
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "ref.h5ad"), "--layer", "counts",
                 "--out", str(tmp_path / "named.h5ad")]) == 0
    assert main(["embed", "--model", str(run), "--h5ad", str(tmp_path / "ref.h5ad"), "--layer", "X",
                 "--out", str(tmp_path / "x.h5ad")]) == 0
    plain, named, x = (anndata.read_h5ad(tmp_path / f"{n}.h5ad").obsm["X_r2mae"] for n in ("plain", "named", "x"))
    np.testing.assert_array_equal(plain, named)
    assert not np.allclose(plain, x)
    for name, extra in (("ann_plain", []), ("ann_named", ["--layer", "counts"])):
        assert main(["annotate", "--model", str(run), "--reference", str(tmp_path / "ref.h5ad"), "--label-key",
                     "cell_type", "--query", str(tmp_path / "ref.h5ad"), "--out", str(tmp_path / f"{name}.h5ad"),
                     *extra]) == 0
    a, b = (anndata.read_h5ad(tmp_path / f"{n}.h5ad").obs for n in ("ann_plain", "ann_named"))
    np.testing.assert_array_equal(a["r2mae_label"], b["r2mae_label"])
    np.testing.assert_allclose(a["r2mae_confidence"], b["r2mae_confidence"])


def test_opened_sources_and_rows_train_through_the_same_pretrain():
    from bioR2.sc.data import ExpressionReader, open_cells

    adata = make_counts(n_cells=60, n_genes=16)
    reader = ExpressionReader(open_cells(adata, layer="counts"))
    result = pretrain((reader, np.arange(40)), steps=2, batch_size=8, progress=False,
                      model={"hidden": [8], "latent": 4})
    assert result.summary["n_cells"] == 40 and result.model.layer == "counts"
    with pytest.raises(ValueError, match="disagree"):
        pretrain(reader, layer="spliced", steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="disagree"):
        pretrain(reader, n_top_genes=5, steps=1, batch_size=8, progress=False)


def _cells(n: int):
    """What resolve_train reads of a run's cells: how many, and whether the file is read backed."""
    import numpy as np
    from bioR2.domain import DomainData

    return DomainData(train=list(range(n)), content={"rows": np.arange(n), "backed": False})


def test_epochs_are_the_default_and_a_step_count_given_later_wins():
    import dataclasses

    from bioR2.pipeline import resolve_run_config, typed_sections
    from bioR2.sc.spec import SPEC, default_epochs

    def resolved(n_cells, **kw):
        cfg, train = typed_sections(SPEC, resolve_run_config(SPEC, **kw))
        return SPEC.resolve_train(cfg, train, _cells(n_cells))

    train = resolved(1000)
    assert train.epochs == 50.0 and train.steps == round(50 * 1000 / 256) and train.is_resolved
    with pytest.raises(AttributeError, match="frozen"):
        train.steps = 3  # the resolved config is what the run records: it cannot drift afterwards
    assert dataclasses.replace(train, steps=3).steps == 3
    # a small dataset trains on batches of all of it; a large one on fewer passes
    assert resolved(100).batch_size == 100 and resolved(1_000_000).epochs == 8.0
    # an explicit 50 epochs is kept for a large dataset (it is not mistaken for the default)
    assert resolved(1_000_000, sections={"train": {"epochs": 50}}).epochs == 50.0
    # steps from any later layer (flag, --set, Python option) mean steps; epochs given there win back
    train = resolved(10**6, sections={"train": {"steps": 7}})
    assert train.epochs is None and train.steps == 7
    assert resolved(1000, overrides=["train.steps=9"]).steps == 9
    train = resolved(512, overrides=["train.epochs=3"])
    assert train.epochs == 3.0 and train.steps == 6
    # scVI-like: fewer passes over a large dataset, 50 over a small one
    assert default_epochs(5_000) == 50.0 and default_epochs(1_000_000) == 8.0 and default_epochs(10**9) == 1.0
    with pytest.raises(ValueError, match="train.epochs"):
        typed_sections(SPEC, resolve_run_config(SPEC, overrides=["train.epochs=0"]))


def test_pretrain_by_epochs_trains_that_many_passes(tmp_path):
    adata = make_counts(n_cells=40, n_genes=12)
    result = pretrain(adata, tmp_path / "run", epochs=2, batch_size=16, progress=False, preset="sc-tiny")
    assert result.steps == round(2 * 40 / 16)
