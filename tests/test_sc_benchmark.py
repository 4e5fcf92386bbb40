"""`bior2 benchmark sc` end to end at toy size: every method, paired differences, the sweep."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_benchmark_writes_every_method(tmp_path, monkeypatch):
    import numpy as np

    from bioR2.bench import sc_baselines as baselines, sc_datasets as datasets
    from bioR2.bench import sc as bench

    # Real labels and counts, fewer genes; scVI replaced by a stand-in so the test stays fast
    # (the plumbing around it is what is tested here; scVI itself is exercised by the benchmark).
    def small_pbmc():
        adata = datasets.pbmc68k()
        return adata[:, :120].copy(), "bulk_labels"

    def fake_scvi(train, test, *, epochs, **kwargs):  # a projection that depends on the cells it is fit on
        w = np.random.default_rng(train.shape[0]).normal(size=(train.shape[1], 10))
        return {e: (np.log1p(train) @ w * e, np.log1p(test) @ w * e) for e in epochs}

    monkeypatch.setattr(datasets, "load_dataset", lambda name: small_pbmc())
    monkeypatch.setattr(baselines, "scvi_available", lambda: True)
    monkeypatch.setattr(baselines, "scvi_latents", fake_scvi)
    # two candidates per grid: the tuning plumbing is what is tested (tests/test_sc_protocol.py has the rest)
    monkeypatch.setattr(baselines, "GRIDS", {k: v[:2] for k, v in baselines.GRIDS.items()})
    real_grid = baselines.scvi_grid
    monkeypatch.setattr(baselines, "scvi_grid", lambda epochs: real_grid(epochs)[:2])

    config = bench.BenchmarkConfig(dataset="pbmc68k", seeds=[0], steps=3, batch_size=64, hidden=[16], latent=4,
                                   extra_cells=False, scvi_epochs=1, sweep=[0.1, 0.5], finetune=True, finetune_steps=2,
                                   umap=False)  # UMAP (numba start-up) is exercised by the tutorial
    bench.run_benchmark(config, tmp_path, command="test")
    results = json.loads((tmp_path / "results.json").read_text())
    expected = set(bench.SCHEMES) | {"pca_logreg", "logreg", "logreg_balanced", "knn_pca", "scvi_logreg",
                                     "r2mae_genes+emb", "r2mae_finetune"}
    assert expected <= set(results["methods"])
    for method in expected:
        assert set(results["methods"][method]) >= {"accuracy", "macro_f1", "per_class_f1"}
        assert len(results["methods"][method]["accuracy"]["values"]) == 5  # 1 seed x 5 folds
    assert set(results["paired"]) == {"train_fold", "transductive"}
    assert results["paired"]["train_fold"]["fixed_0.15"]["macro_f1"]["n"] == 5
    assert set(results["reconstruction"]) == set(bench.SCHEMES)
    assert set(results["reconstruction"]["r2mae"]) == {"0.1", "0.5"}
    assert set(results["transductive"]) >= set(bench.SCHEMES)
    text = (tmp_path / "results.md").read_text()
    assert "Paired differences" in text and "Masked-value MSE" in text
    # every comparison's verdict follows from its interval, and the text reports that verdict
    comparisons = results["comparisons"]
    assert {"r2mae_vs_logreg", "r2mae_vs_logreg_balanced", "r2mae_vs_pca_logreg", "r2mae_vs_knn_pca",
            "r2mae_vs_scvi_logreg", "finetune_vs_logreg", "transductive_r2mae_vs_scvi_logreg"} <= set(comparisons)
    for name, c in comparisons.items():
        lo, hi = c["ci95"]
        assert lo <= c["diff"] <= hi, name
        assert c["verdict"] == ("ahead" if lo > 0 else "behind" if hi < 0 else "tie"), name
        assert c["unit"] == "fold" and c["n"] == 5, name  # one seed: every comparison pairs over the 5 folds
        assert f"| {name} | macro_f1 | {c['diff']:+.4f} |" in text and f"| {c['verdict']} |" in text
    assert "Is R²MAE better?" in text and any(f"**{w}**." in text for w in ("ahead", "tie", "behind"))
    best = max(["pca_logreg", "logreg", "logreg_balanced", "knn_pca", "scvi_logreg"],
               key=lambda m: results["methods"][m]["macro_f1"]["mean"])
    assert f"`{best}`" in text and f"**{comparisons['r2mae_vs_' + best]['verdict']}**." in text
    r2 = np.asarray(results["methods"]["r2mae"]["macro_f1"]["values"])
    lr = np.asarray(results["methods"]["logreg"]["macro_f1"]["values"])
    assert comparisons["r2mae_vs_logreg"]["diff"] == pytest.approx(float((r2 - lr).mean()), abs=1e-6)
    # selection: nested inside every training fold, never a test cell of its fold
    assert results["selection"]["overlap_with_test"] == 0 and results["selection"]["n"] > 0
    assert set(results["tuning"]) == {"logreg", "logreg_balanced", "pca_logreg", "knn_pca", "scvi_logreg"}
    assert all(len(v) == 5 for v in results["tuning"].values())
    # the transductive table's scVI is trained on every cell, like the transductive masked autoencoders
    assert (results["transductive"]["scvi_logreg"]["macro_f1"]["values"]
            != results["methods"]["scvi_logreg"]["macro_f1"]["values"])
    assert (tmp_path / "reconstruction.png").exists() and results["figures"] == ["reconstruction.png"]

    # every model's result is kept: a second run (an interrupted one resumed) trains nothing again
    def no_training(*args, **kwargs):
        raise AssertionError("a finished job was recomputed")

    monkeypatch.setattr(bench, "_train_model", no_training)
    again = bench.run_benchmark(config, tmp_path, command="test")
    assert again["methods"]["r2mae"]["macro_f1"] == results["methods"]["r2mae"]["macro_f1"]
