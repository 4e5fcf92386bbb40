"""TraitGym as it ships (a folder with test.parquet and subset/), its metric (AUPRC per chromosome,
weighted by the chromosome's share of variants), ``bior2 benchmark dna --traitgym``, and
``--variants`` folders (parquet shards, datasets save_to_disk). The real data need hg38, which this
machine has not: the tests build a small fixture in TraitGym's format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score


from bioR2.cli import main
from bioR2.dna import DNAMaskedLM, read_variants, score_variants
from bioR2.dna.traitgym import auprc_by_chrom_weighted_average, read_traitgym

RNG = np.random.default_rng(21)
SEQS = {"chr1": "".join(RNG.choice(list("ACGT"), 300)), "chr2": "".join(RNG.choice(list("ACGT"), 200))}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("tg")
    fasta = root / "hg.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in SEQS.items()))
    rows = []
    for chrom, n in (("chr1", 20), ("chr2", 10)):
        for k, p in enumerate(RNG.choice(np.arange(5, len(SEQS[chrom]) - 5), n, replace=False)):
            ref = SEQS[chrom][p - 1]
            rows.append((chrom[3:], int(p), ref, [b for b in "ACGT" if b != ref][k % 3], k % 10 == 0,
                         f"{chrom}_{k // 10}", "PLS" if k % 2 else "dELS"))
    V = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label", "match_group", "consequence"])
    tg = root / "mendelian_traits_matched_9"
    (tg / "subset").mkdir(parents=True)
    V.to_parquet(tg / "test.parquet", index=False)
    V[["chrom", "pos", "ref", "alt"]].to_parquet(tg / "subset" / "all.parquet", index=False)
    V[V["consequence"] == "PLS"][["chrom", "pos", "ref", "alt"]].to_parquet(tg / "subset" / "PLS.parquet",
                                                                             index=False)
    torch.manual_seed(0)
    model = DNAMaskedLM(hidden=16, layers=2, kernel_size=5, dilation_max=2, window=32).eval()
    run = root / "run"
    model.save_pretrained(run)
    return root, fasta, tg, V, model, run


def test_metric_is_the_per_chromosome_auprc_weighted_by_size():
    chrom = ["1"] * 4 + ["2"] * 6
    label = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    score = [0.9, 0.1, 0.95, 0.2, 0.3, 0.8, 0.1, 0.7, 0.2, 0.25]
    got = auprc_by_chrom_weighted_average(chrom, label, score)
    a1 = average_precision_score(label[:4], score[:4])
    a2 = average_precision_score(label[4:], score[4:])
    assert got["AUPRC_by_chrom_weighted_average"] == pytest.approx(0.4 * a1 + 0.6 * a2)
    assert [r["n"] for r in got["by_chrom"]] == [4, 6] and got["se"] > 0
    assert got["AUPRC_by_chrom_weighted_average"] != pytest.approx(average_precision_score(label, score))


def test_reads_traitgym_layout_and_subsets(fixture):
    _, _, tg, V, _, _ = fixture
    assert len(read_traitgym(tg)) == 30
    pls = read_traitgym(tg, "PLS")
    assert len(pls) == (V["consequence"] == "PLS").sum() and set(pls["consequence"]) == {"PLS"}
    with pytest.raises(FileNotFoundError, match="no subset/missing.parquet"):
        read_traitgym(tg, "missing")


def test_benchmark_dna_traitgym_reports_the_metric(fixture, tmp_path, capsys):
    _, fasta, tg, V, model, run = fixture
    out = tmp_path / "res"
    assert main(["benchmark", "dna", "--traitgym", str(tg), "--fasta", str(fasta), "--model", str(run),
                 "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    scores = pd.read_parquet(out / "scores.parquet")
    want = score_variants(model, fasta, V[["chrom", "pos", "ref", "alt"]].copy())["score"].to_numpy()
    np.testing.assert_allclose(scores["score"].to_numpy(), want, atol=1e-6)
    m = res["methods"]["LLR.minus"]
    expect = auprc_by_chrom_weighted_average(V["chrom"], V["label"], -want)["AUPRC_by_chrom_weighted_average"]
    assert m["AUPRC_by_chrom_weighted_average"] == pytest.approx(expect)
    assert res["data"]["chance_AUPRC"] == pytest.approx(V["label"].mean())
    assert "absLLR.plus" in res["methods"] and "AUPRC_by_chrom_weighted_average" in (out / "results.md").read_text()
    assert "LLR.minus: AUPRC_by_chrom_weighted_average" in capsys.readouterr().out


def test_benchmark_traitgym_needs_model_and_fasta(fixture, tmp_path, capsys):
    _, _, tg, _, _, _ = fixture
    assert main(["benchmark", "dna", "--traitgym", str(tg), "--out", str(tmp_path / "o")]) != 0
    assert "needs --model RUN and --fasta GENOME too" in capsys.readouterr().err


def test_variants_folders_read_like_the_file(fixture, tmp_path):
    import pyarrow as pa

    _, fasta, tg, V, model, _ = fixture
    want = score_variants(model, fasta, tg / "test.parquet")
    # a TraitGym folder (its test.parquet), parquet shards, and a datasets save_to_disk folder
    shards = tmp_path / "shards"
    shards.mkdir()
    V.iloc[:12].to_parquet(shards / "part-0.parquet")
    V.iloc[12:].to_parquet(shards / "part-1.parquet")
    ds = tmp_path / "ds"
    ds.mkdir()
    table = pa.Table.from_pandas(V, preserve_index=False)
    with pa.OSFile(str(ds / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (ds / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (ds / "dataset_info.json").write_text("{}")
    for folder in (tg, shards, ds):
        got = score_variants(model, fasta, folder)
        np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), atol=1e-6)
        assert list(got["label"]) == list(V["label"]) and got.index[0] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="a folder with no parquet files"):
        read_variants(empty)
