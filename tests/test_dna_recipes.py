"""data_recipes/dna_omim.py parses GPN's OMIM schema (local sample, no network)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dna_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

RECIPE = Path(__file__).resolve().parent.parent / "data_recipes" / "dna_omim.py"


def load_recipe():
    spec = importlib.util.spec_from_file_location("dna_omim", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_omim_schema_sample_parses_and_scores(tmp_path):
    recipe = load_recipe()
    rng = np.random.default_rng(0)
    seqs = {f"chr{c}": "".join(rng.choice(list("ACGT"), 400)) for c in ("1", "2", "X")}
    fasta = tmp_path / "hg38_sample.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    rows = []
    for i, (c, p) in enumerate([("1", 5), ("1", 200), ("2", 50), ("2", 399), ("X", 100), ("X", 300)]):
        ref = seqs[f"chr{c}"][p - 1]
        rows.append({"chrom": c, "pos": p, "ref": ref, "alt": "A" if ref != "A" else "G", "label": i % 2 == 0,
                     "consequence": "upstream_gene"})
    pd.DataFrame(rows).to_parquet(tmp_path / "test.parquet")  # GPN's schema: chrom w/o 'chr', bool label
    omim = recipe.load_omim(tmp_path / "test.parquet")
    assert omim["label"].tolist() == [1, 0, 1, 0, 1, 0]
    from bioR2.dna import DNAMaskedLM

    model = DNAMaskedLM(hidden=16, layers=2, window=64)
    res = recipe.evaluate(model, fasta, omim, tmp_path / "out", n_boot=20)
    assert res["scored"] == 6 and res["skipped"] == 0
    assert 0 <= res["methods"]["model"]["auprc"]["mean"] <= 1
    assert json.loads((tmp_path / "out" / "results.json").read_text())["dataset"].startswith("songlab/omim@")
    bad = pd.DataFrame(rows).drop(columns=["label"])
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"bad.parquet: missing column\(s\) \['label'\]"):
        recipe.load_omim(tmp_path / "bad.parquet")


def test_recipe_pins_revision_and_checksum_file():
    recipe = load_recipe()
    assert len(recipe.OMIM_REVISION) == 40
    assert recipe.OMIM_REVISION in recipe.SOURCES["omim_test.parquet"]["url"]
    sums = json.loads(recipe.CHECKSUMS.read_text())
    assert set(sums) == set(recipe.SOURCES)
