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
    assert 0.0 <= sc["r2mae_linear_probe"]["accuracy"] <= 1.0
    assert 0.0 <= sc["logreg_genes"]["macro_f1"] <= 1.0
    assert (out / "single_cell" / "query_annotated.h5ad").exists()
    assert (out / "single_cell" / "reference_umap.png").exists()
    assert (out / "dna" / "variants_scored.tsv").exists()
    assert dna["auprc"] > dna["positive_fraction"]
    # a second run into the same folder is refused rather than mixing two demos
    assert main(["demo", "--quick", "--out", str(out)]) == 1
