"""``score-variants`` VCF -> VCF: every input column and header line kept, scores per ALT in INFO
(Number=A), bgzip + tabix, ``--region`` on an indexed VCF, and a clash of INFO names refused."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest
import torch


from bioR2.cli import main
from bioR2.dna import DNAMaskedLM, score_variants
from bioR2.dna.variants import score_variants_file

pysam = pytest.importorskip("pysam")

RNG = np.random.default_rng(3)
SEQ = "".join(RNG.choice(list("ACGT"), 200))
HEAD = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=200>\n"
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
        '##FILTER=<ID=lowq,Description="low quality">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n")


def others(b):
    return [x for x in "ACGT" if x != b]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vcf")
    fasta = root / "g.fa"
    fasta.write_text(f">chr1\n{SEQ}\n")
    body = [
        f"chr1\t20\trs1\t{SEQ[19]}\t{','.join(others(SEQ[19])[:2])}\t50.5\tPASS\tDP=7\tGT\t0/1",
        f"chr1\t60\t.\t{SEQ[59]}\t{others(SEQ[59])[0]}\t.\tlowq\t.\tGT\t1/1",
        f"chr1\t100\trs3\t{SEQ[99]}{SEQ[100]}\t{SEQ[99]},{others(SEQ[99])[0]}\t9\tPASS\tDP=2\tGT\t0/2",
        f"chr1\t150\trs4\t{SEQ[149]}\t{others(SEQ[149])[2]}\t30\tPASS\tDP=1\tGT\t0/1",
    ]
    vcf = root / "in.vcf"
    vcf.write_text(HEAD + "\n".join(body) + "\n")
    gz = root / "in.vcf.gz"
    pysam.tabix_compress(str(vcf), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    torch.manual_seed(0)
    model = DNAMaskedLM(hidden=16, layers=2, kernel_size=5, dilation_max=2, window=32).eval()
    run = root / "run"
    model.save_pretrained(run)
    return fasta, vcf, gz, model, run, body


def _records(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        lines = fh.read().splitlines()
    return [l for l in lines if l.startswith("##")], [l.split("\t") for l in lines if not l.startswith("#")]


@pytest.mark.parametrize("name", ["o.vcf", "o.vcf.gz"])
def test_vcf_round_trip_keeps_every_column_and_scores_each_alt(inputs, tmp_path, name):
    fasta, vcf, _, model, _, body = inputs
    out = tmp_path / name
    summary = score_variants_file(model, fasta, vcf, out, chunk_size=2)
    assert summary["records"] == 4 and summary["variants"] == 6
    meta, recs = _records(out)
    for line in HEAD.splitlines()[:-1]:
        assert line in meta  # the input's header lines
    assert '##INFO=<ID=BIOR2_SCORE,Number=A,Type=Float' in "\n".join(meta)
    assert len(recs) == 4
    for got, want in zip(recs, body):
        want = want.split("\t")
        assert got[:7] == want[:7] and got[8:] == want[8:]  # CHROM..FILTER, FORMAT and samples as they came
        info = dict(kv.split("=") for kv in got[7].split(";"))
        if want[7] != ".":
            assert info["DP"] == want[7].split("=")[1]  # the input's INFO kept
        assert len(info["BIOR2_SCORE"].split(",")) == len(want[4].split(","))  # one per ALT
    # the multi-allelic first record: both alleles scored, equal to score-variants on each SNV
    alts = body[0].split("\t")[4].split(",")
    single = score_variants(model, fasta, pd.DataFrame({"chrom": "chr1", "pos": 20, "ref": SEQ[19], "alt": alts}))
    got = [float(x) for x in dict(kv.split("=") for kv in recs[0][7].split(";"))["BIOR2_SCORE"].split(",")]
    np.testing.assert_allclose(got, single["score"].to_numpy(), atol=1e-5)
    # the MNV record: "." for both of its alleles, with the reason
    info = dict(kv.split("=") for kv in recs[2][7].split(";"))
    assert info["BIOR2_SCORE"] == ".,." and info["BIOR2_STATUS"].startswith("skipped_not_an_SNV")
    if name.endswith(".gz"):
        assert (tmp_path / "o.vcf.gz.tbi").exists()
        assert [r.pos for r in pysam.VariantFile(str(out)).fetch("chr1", 50, 160)] == [60, 100, 150]
    # pysam reads it back as a valid VCF with the score per allele
    rec = next(iter(pysam.VariantFile(str(out))))
    assert len(rec.info["BIOR2_SCORE"]) == 2 and rec.qual == pytest.approx(50.5)


def test_region_reads_only_that_region_of_an_indexed_vcf(inputs, tmp_path):
    fasta, vcf, gz, model, run, _ = inputs
    assert main(["score-variants", "--model", str(run), "--fasta", str(fasta), "--variants", str(gz),
                 "--region", "chr1:50-120", "--out", str(tmp_path / "r.vcf.gz"), "--no-progress"]) == 0
    _, recs = _records(tmp_path / "r.vcf.gz")
    assert [r[1] for r in recs] == ["60", "100"]
    assert main(["score-variants", "--model", str(run), "--fasta", str(fasta), "--variants", str(gz),
                 "--region", "chr1:1-30", "--out", str(tmp_path / "r.tsv"), "--no-progress"]) == 0
    table = pd.read_csv(tmp_path / "r.tsv", sep="\t")
    assert table["pos"].tolist() == [20, 20] and table["score"].notna().all()


def test_table_output_scores_a_multiallelic_record_per_allele(inputs, tmp_path):
    fasta, vcf, _, model, _, _ = inputs
    score_variants_file(model, fasta, vcf, tmp_path / "o.tsv")
    table = pd.read_csv(tmp_path / "o.tsv", sep="\t")
    assert table["pos"].tolist() == [20, 20, 60, 100, 100, 150]
    assert table["score"].notna().tolist() == [True, True, True, False, False, True]


BAD = [
    ("info-clash", lambda i, p: ["--variants", str(_with_info(i, p)), "--out", str(p / "o.vcf")],
     r"already declares INFO field BIOR2_SCORE; pass --info-name"),
    ("region-unindexed", lambda i, p: ["--variants", str(i[1]), "--region", "chr1:1-50", "--out", str(p / "o.vcf")],
     r"in\.vcf: --region needs an indexed VCF .*tabix -p vcf"),
    ("ref-mismatch", lambda i, p: ["--variants", str(_mismatch(i, p)), "--out", str(p / "o.vcf.gz")],
     r"1 variant\(s\) whose ref allele does not match the genome .*\(record 4\).*--skip-mismatch"),
    ("region-table", lambda i, p: ["--variants", str(_tsv(p)), "--region", "chr1:1-50", "--out", str(p / "o.tsv")],
     r"v\.tsv: --region reads a region of an indexed VCF; this input is not a VCF"),
]


def _with_info(i, p):
    path = p / "clash.vcf"
    path.write_text(i[1].read_text().replace("##FILTER", '##INFO=<ID=BIOR2_SCORE,Number=1,Type=Float,'
                                                        'Description="old">\n##FILTER'))
    return path


def _mismatch(i, p):
    path = p / "bad.vcf"
    lines = i[1].read_text().splitlines()
    wrong = others(SEQ[149])[1]
    lines[-1] = lines[-1].replace(f"\t{SEQ[149]}\t", f"\t{wrong}\t", 1)
    path.write_text("\n".join(lines) + "\n")
    return path


def _tsv(p):
    path = p / "v.tsv"
    pd.DataFrame({"chrom": ["chr1"], "pos": [20], "ref": [SEQ[19]], "alt": [others(SEQ[19])[0]]}).to_csv(
        path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("args, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_vcf_inputs_fail_with_one_line_and_write_nothing(inputs, tmp_path, capsys, args, message):
    fasta, _, _, _, run, _ = inputs
    extra = args(inputs, tmp_path)
    before = set(tmp_path.iterdir())
    code = main(["score-variants", "--model", str(run), "--fasta", str(fasta), "--no-progress"] + extra)
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert re.search(message, err), err
    assert set(tmp_path.iterdir()) == before


def test_another_info_name_keeps_the_existing_field(inputs, tmp_path):
    fasta, _, _, model, _, _ = inputs
    clash = _with_info(inputs, tmp_path)
    score_variants_file(model, fasta, clash, tmp_path / "o.vcf", info_name="R2")
    meta, recs = _records(tmp_path / "o.vcf")
    assert any(m.startswith("##INFO=<ID=BIOR2_SCORE,Number=1") for m in meta)
    assert any(m.startswith("##INFO=<ID=R2,Number=A") for m in meta)
    assert any(m.startswith("##INFO=<ID=R2_STATUS,Number=A") for m in meta)
    assert "R2=" in recs[0][7]
