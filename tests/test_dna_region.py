"""``score-region``: every SNV of a region, the same scores as ``score-variants``, tables and tracks,
and one clear line for each bad region input (nothing written)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch


from bioR2.cli import main
from bioR2.dna import DNAMaskedLM, region_snvs, region_track, score_region, score_variants
from bioR2.dna.region import parse_region, read_region_bed

RNG = np.random.default_rng(5)
SEQ1 = "".join(RNG.choice(list("ACGT"), 300))
SEQ2 = "".join(RNG.choice(list("ACGT"), 120)) + "NNNN" + "".join(RNG.choice(list("acgt"), 40))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("region")
    fasta = root / "g.fa"
    fasta.write_text(f">chr1\n{SEQ1}\n>chr2\n{SEQ2}\n")
    torch.manual_seed(0)
    model = DNAMaskedLM(hidden=16, layers=2, kernel_size=5, dilation_max=2, window=32).eval()
    run = root / "run"
    model.save_pretrained(run)
    return root, fasta, model, run


def test_parse_region():
    assert parse_region("chr1:1,000-2,000") == ("chr1", 999, 2000)
    assert parse_region("chrX") == ("chrX", None, None)
    with pytest.raises(ValueError, match="START must be >= 1"):
        parse_region("chr1:0-5")


def test_region_scores_equal_score_variants(inputs):
    _, fasta, model, _ = inputs
    # one region at a contig start, one across N bases and lowercase to the contig end
    got = score_region(model, fasta, ["chr1:1-40", "chr2:110-164"], window=32, batch_size=7)
    n_acgt = 40 + (164 - 110 + 1 - 4)
    assert len(got) == 3 * n_acgt and list(got.columns) == ["chrom", "pos", "ref", "alt", "score"]
    assert (got["ref"] != got["alt"]).all() and got.groupby(["chrom", "pos"]).size().eq(3).all()
    assert not got["pos"].isin(range(121, 125)).any() or not (got["chrom"] == "chr2").any()
    want = score_variants(model, fasta, got[["chrom", "pos", "ref", "alt"]].copy(), window=32)
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=0, atol=1e-6)
    assert got["score"].std() > 0  # the comparison compared something
    # region_snvs lists the same SNVs without scoring them
    snvs = region_snvs(fasta, ["chr1:1-40", "chr2:110-164"])
    pd.testing.assert_frame_equal(snvs, got.drop(columns="score"))


def test_track_takes_min_mean_max_over_the_alleles():
    scores = pd.DataFrame({"chrom": ["c"] * 6, "pos": [5, 5, 5, 6, 6, 6], "ref": ["A"] * 6,
                           "alt": list("CGTCGT"), "score": [-3.0, 1.0, 2.0, 0.0, 0.5, 1.0]})
    assert region_track(scores, "min")["value"].tolist() == [-3.0, 0.0]
    assert region_track(scores, "max")["value"].tolist() == [2.0, 1.0]
    t = region_track(scores, "mean")
    assert t["value"].tolist() == [0.0, 0.5] and t["start"].tolist() == [4, 5] and t["end"].tolist() == [5, 6]


def test_cli_writes_table_bedgraph_and_bigwig(inputs, tmp_path, capsys):
    _, fasta, model, run = inputs
    bed = tmp_path / "r.bed"
    bed.write_text("# promoters\nchr1\t10\t30\nchr1\t20\t35\n")  # overlapping: merged, scored once
    base = ["score-region", "--model", str(run), "--fasta", str(fasta), "--bed", str(bed), "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "s.parquet")]) == 0
    table = pd.read_parquet(tmp_path / "s.parquet")
    assert len(table) == 3 * 25 and table["pos"].min() == 11 and table["pos"].max() == 35
    assert main(base + ["--out", str(tmp_path / "t.bedgraph"), "--track", "min"]) == 0
    lines = (tmp_path / "t.bedgraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph") and len(lines) == 26
    first = lines[1].split("\t")
    assert first[:3] == ["chr1", "10", "11"]
    assert float(first[3]) == pytest.approx(table["score"][:3].min(), abs=1e-5)
    pyBigWig = pytest.importorskip("pyBigWig")
    assert main(base + ["--out", str(tmp_path / "t.bw"), "--track", "max"]) == 0
    bw = pyBigWig.open(str(tmp_path / "t.bw"))
    assert bw.chroms() == {"chr1": 300, "chr2": 164}
    vals = np.array(bw.values("chr1", 10, 35))
    np.testing.assert_allclose(vals, table.groupby("pos")["score"].max().to_numpy(), atol=1e-5)
    assert "scored 75 SNVs at 25 positions" in capsys.readouterr().out


# ---------------------------------------------------------------------------- bad inputs
def _bed(tmp_path, text):
    path = tmp_path / "r.bed"
    path.write_text(text)
    return ["--bed", str(path)]


BAD = [
    ("past-end", lambda p: ["--region", "chr1:250-301"], r"--region chr1:250-301: ends at 301, past the end of chr1 "
                                                         r"\(300 bases\)"),
    ("unknown-contig", lambda p: ["--region", "chr9:1-10"], r"--region chr9:1-10: contig 'chr9' is not in the genome"),
    ("bad-syntax", lambda p: ["--region", "chr1:10..20"], r"expected CHROM:START-END"),
    ("empty-bed", lambda p: _bed(p, ""), r"r\.bed: the BED file holds no intervals"),
    ("bed-header", lambda p: _bed(p, "chrom\tstart\tend\nchr1\t1\t5\n"),
     r"r\.bed: line 1 looks like a header .*delete the line or start it with '#'"),
    ("too-large", lambda p: ["--region", "chr1", "--max-positions", "100"],
     r"the regions hold 300 positions, more than --max-positions 100"),
    ("no-region", lambda p: [], r"no region given: pass --region"),
    ("bigwig-without-track", lambda p: ["--region", "chr1:1-5", "--out", str(p / "o.bw")],
     r"pass --track min\|mean\|max"),
    ("track-to-table", lambda p: ["--region", "chr1:1-5", "--track", "min", "--out", str(p / "o.tsv")],
     r"name the output \.bedgraph or \.bw"),
    ("all-N", lambda p: ["--region", "chr2:121-124"], r"hold no ACGT base"),
]


@pytest.mark.parametrize("args, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_region_inputs_fail_with_one_line_and_write_nothing(inputs, tmp_path, capsys, args, message):
    _, fasta, _, run = inputs
    extra = args(tmp_path)
    out = [] if "--out" in extra else ["--out", str(tmp_path / "o.tsv")]
    code = main(["score-region", "--model", str(run), "--fasta", str(fasta), "--no-progress"] + out + extra)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    import re

    assert re.search(message, err), err
    assert not [f for f in tmp_path.iterdir() if f.name != "r.bed"]  # nothing half-written


def test_read_region_bed_skips_track_and_comment_lines(tmp_path):
    path = tmp_path / "r.bed"
    path.write_text("track name=x\nbrowser position chr1\n#c\nchr1 0 10\n")
    assert read_region_bed(path).values.tolist() == [["chr1", 0, 10]]


def test_shared_pass_and_per_window_fallback_both_equal_score_variants(inputs):
    from bioR2.dna.mutagenesis import shared_pass_applies
    from bioR2.dna.scorer import VariantScorer
    from bioR2.dna.data import Genome

    _, fasta, model, _ = inputs
    genome = Genome(fasta)
    torch.manual_seed(1)
    wide = DNAMaskedLM(hidden=8, layers=4, kernel_size=5, dilation_max=8, window=32).eval()  # cone > window/2
    trans = DNAMaskedLM(arch="transformer", hidden=8, layers=1, heads=2, max_len=32, window=32).eval()
    assert shared_pass_applies(VariantScorer(model, genome, window=32, device="cpu"))
    for other in (wide, trans):
        assert not shared_pass_applies(VariantScorer(other, genome, window=32, device="cpu"))
    for m in (model, wide, trans):
        got = score_region(m, genome, ["chr1:280-300", "chr2:1-12"], window=32)
        want = score_variants(m, genome, got[["chrom", "pos", "ref", "alt"]].copy(), window=32)
        np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=0, atol=1e-5)


def test_missing_optional_packages_are_one_line_naming_the_extra(inputs, tmp_path, capsys, monkeypatch):
    import sys

    _, fasta, _, run = inputs
    monkeypatch.setitem(sys.modules, "pyBigWig", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pysam", None)
    code = main(["score-region", "--model", str(run), "--fasta", str(fasta), "--region", "chr1:1-5", "--track",
                 "min", "--out", str(tmp_path / "t.bw"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "pip install 'bioR2[tracks]'" in err, err
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chr1\t3\t.\t{SEQ1[2]}\t{'A' if SEQ1[2] != 'A' else 'C'}\t.\t.\t.\n")
    code = main(["score-variants", "--model", str(run), "--fasta", str(fasta), "--variants", str(vcf),
                 "--out", str(tmp_path / "o.vcf"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "needs pysam: pip install 'bioR2[vcf]'" in err, err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["v.vcf"]


def test_results_md_speed_rows_match_their_json():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "benchmarks"
    text = (root / "RESULTS.md").read_text()
    for folder in sorted((root / "results").glob("dna_region_speed*")):
        res = json.loads((folder / "results.json").read_text())
        row = (f"| {res['snvs']:,} | {res['score_region']['snvs_per_s']:,.0f} | "
               f"{res['score_variants']['snvs_per_s']:,.0f} | **{res['ratio']:.1f}×** |")
        assert row in text, f"{folder.name}: RESULTS.md lacks {row}"
