"""`bior2 demo` (the README's main job) runs end to end and writes what it promises."""

from __future__ import annotations

import json

import pytest

from bioR2.cli import main


@pytest.mark.slow
def test_demo_quick_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "demo_summary.json").read_text())
    sc, dna = summary["single_cell"], summary["dna"]
    # better than always answering the commonest cell type, by a margin a broken model cannot reach
    import anndata
    import numpy as np

    from bioR2.sc.example_data import pbmc68k

    counts = pbmc68k().obs["bulk_labels"].value_counts(normalize=True)
    majority = float(counts.iloc[0])
    assert sc["r2mae_linear_probe"]["accuracy"] > majority + 0.15, (sc, majority)
    assert sc["logreg_genes"]["accuracy"] > majority + 0.15, (sc, majority)
    assert sc["r2mae_linear_probe"]["macro_f1"] > 1.0 / len(counts)
    query = anndata.read_h5ad(out / "single_cell" / "query_annotated.h5ad")
    assert query.n_obs == sc["n_query"] and "bulk_labels" not in query.obs  # the query stays unlabelled
    predicted = query.obs["r2mae_label"].astype(str).to_numpy()
    assert len(np.unique(predicted)) > 3 and set(predicted) <= set(counts.index.astype(str))
    assert (out / "single_cell" / "reference_umap.png").exists()
    assert (out / "dna" / "variants_scored.tsv").exists()
    assert dna["auprc"] > dna["positive_fraction"]
    # a second run into the same folder is refused rather than mixing two demos
    assert main(["demo", "--quick", "--out", str(out)]) == 1
