"""README / RESULTS tables of the comparisons agree with the committed results.json files
(benchmarks/tables.py generates them; a hand-edited number fails here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("bench_tables", ROOT / "benchmarks" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_and_results_tables_match_the_committed_json(tables):
    assert tables.check(tables.DOCUMENTS) == []
    for doc in tables.DOCUMENTS:
        text = doc.read_text()
        assert "<!-- table:sc-comparisons -->" in text and "<!-- table:dna-comparisons -->" in text


def test_the_numbers_in_the_text_are_the_json_numbers(tables):
    readme = (ROOT / "README.md").read_text()
    dna = json.loads((ROOT / "benchmarks/results/dna_kmer_tuned/results.json").read_text())
    c = dna["comparisons"]["motif/r2mae_vs_kmer_tuned"]
    lo, hi = c["ci95"]
    assert (f"| long, issue 14 recipe | motif | kmer_tuned | {c['diff']:+.4f} | [{lo:+.4f}, {hi:+.4f}] | seed (3) | "
            f"{c['verdict']} |") in readme
    # an older sc run: the comparison is recomputed from its per-(seed, fold) values, paired over folds
    import numpy as np

    cbmc = json.loads((ROOT / "benchmarks/results/sc/full_cbmc/results.json").read_text())
    r2 = np.asarray(cbmc["methods"]["r2mae"]["macro_f1"]["values"]).reshape(len(cbmc["seeds"]), -1).mean(0)
    scvi = np.asarray(cbmc["methods"]["scvi_logreg"]["macro_f1"]["values"])
    row = next(line for line in readme.splitlines()
               if line.startswith("| cbmc, full (issue 13 recipe)") and "| scvi_logreg |" in line)
    assert f"{float((r2 - scvi).mean()):+.4f} [" in row and "fold (5)" in row


def test_a_hand_edited_number_is_caught(tables, tmp_path):
    doc = tmp_path / "doc.md"
    good = tables.render("intro\n<!-- table:dna-comparisons -->\n<!-- /table:dna-comparisons -->\n")
    doc.write_text(good)
    assert tables.check([doc]) == []
    row = next(line for line in good.splitlines() if "| motif | kmer_tuned |" in line)
    doc.write_text(good.replace(row, row.replace("behind", "ahead")))
    assert tables.check([doc]) == [str(doc)]
    with pytest.raises(KeyError, match="unknown table"):
        tables.render("<!-- table:nope -->\n<!-- /table:nope -->")


def test_a_benchmark_runs_own_dna_section_reads_per_factor(tables):
    """A ``bior2 benchmark dna`` results.json (per-task comparisons, factor entries suffixed) reads
    as tasks motif_<factor>, like the flat form."""
    c = {"metric": "auprc", "diff": 0.1, "ci95": [0.05, 0.15], "unit": "seed", "n": 3, "verdict": "ahead"}
    results = {"comparisons": {"motif": {"r2mae_vs_kmer_tuned": c, "r2mae_vs_kmer_tuned_Oct4": c},
                               "bacterial": {"r2mae_vs_kmer": c}},
               "tasks": {"motif": {"per_factor_auprc": {"Oct4": {}, "MafK": {}}}, "bacterial": {}}}
    assert set(tables.dna_comparisons(results)) == {"motif/r2mae_vs_kmer_tuned", "motif_oct4/r2mae_vs_kmer_tuned",
                                                   "bacterial/r2mae_vs_kmer"}
