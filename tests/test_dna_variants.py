"""Variant files, checks and zero-shot scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch


from bioR2.dna import DNAMaskedLM, Genome, VariantScorer, check_variants, read_variants, score_variants
from bioR2.dna.tokenizer import reverse_complement
from bioR2.dna.variants import score_variants_file

RNG = np.random.default_rng(7)
SEQ1 = "".join(RNG.choice(list("ACGT"), 300))
SEQ2 = "".join(RNG.choice(list("ACGT"), 150))


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    path = tmp_path_factory.mktemp("g") / "g.fa"
    path.write_text(f">chr1\n{SEQ1}\n>chrM\n{SEQ2}\n")
    return path


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DNAMaskedLM(hidden=16, layers=3, kernel_size=5, dilation_max=4, window=32).eval()


def alt_of(base):
    return "A" if base != "A" else "C"


def snv(chrom, pos, seq):
    return (chrom, pos, seq[pos - 1], alt_of(seq[pos - 1]))


def test_vcf_tsv_csv_parquet_read_the_same(tmp_path):
    rows = [("chr1", 10, "A", "G"), ("2", 5, "C", "T")]
    df = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    df.to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    df.rename(columns={"chrom": "Chromosome", "pos": "Position"}).to_csv(tmp_path / "v.csv", index=False)
    df.to_parquet(tmp_path / "v.parquet")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chr1\t10\trs1\tA\tG\t.\tPASS\t.\n2\t5\t.\tC\tT\t.\tPASS\t.\n")
    for name in ("v.tsv", "v.csv", "v.parquet", "v.vcf"):
        got = read_variants(tmp_path / name)
        assert got[["chrom", "ref", "alt"]].astype(str).values.tolist() == [["chr1", "A", "G"], ["2", "C", "T"]], name
        assert pd.to_numeric(got["pos"]).tolist() == [10, 5], name
    (tmp_path / "bad.tsv").write_text("chrom\tposition_x\tref\talt\nchr1\t1\tA\tC\n")
    with pytest.raises(ValueError, match=r"bad.tsv: missing column\(s\) \['pos'\]"):
        read_variants(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError, match="none.vcf"):
        read_variants(tmp_path / "none.vcf")


def test_checks_alias_skip_reasons_and_bad_pos(fasta):
    g = Genome(fasta)
    df = pd.DataFrame([
        snv("1", 1, SEQ1),                      # alias + first base
        snv("MT", 150, SEQ2),                   # chrM alias + last base
        ("chr1", 3, SEQ1[2] + "A", "A"),         # indel
        ("chr1", 3, SEQ1[2], "A,C"),             # multi-allelic
        ("chr1", 3, SEQ1[2], "N"),               # non-ACGT
        ("chr9", 3, "A", "C"),                   # unknown contig
        ("chr1", 301, "A", "C"),                 # past the end
    ], columns=["chrom", "pos", "ref", "alt"])
    out = check_variants(df, g)
    assert out["status"].tolist()[:2] == ["ok", "ok"]
    assert out["_contig"].tolist()[:2] == ["chr1", "chrM"]
    assert out["status"].tolist()[2:] == [
        "skipped: not an SNV (indel or MNV)", "skipped: multi-allelic (several alt alleles)",
        "skipped: non-ACGT allele", "skipped: contig not in genome", "skipped: position past the contig end"]
    bad = df.iloc[:1].copy()
    bad["pos"] = ["x"]
    with pytest.raises(ValueError, match="column 'pos' must be a 1-based integer"):
        check_variants(bad, g)
    nan = df.iloc[:1].copy()
    nan["ref"] = [None]
    with pytest.raises(ValueError, match="column 'ref' is empty"):
        check_variants(nan, g)


def test_ref_mismatch_errors_or_is_marked(fasta, model):
    wrong = "A" if SEQ1[9] != "A" else "C"
    df = pd.DataFrame([snv("chr1", 5, SEQ1), ("chr1", 10, wrong, "G" if wrong != "G" else "T")],
                      columns=["chrom", "pos", "ref", "alt"])
    with pytest.raises(ValueError,
                       match=rf"1 variant\(s\) whose ref allele does not match.*chr1:10 ref={wrong} genome={SEQ1[9]}"):
        score_variants(model, fasta, df)
    out = score_variants(model, fasta, df, skip_mismatch=True)
    assert out["status"].tolist() == ["ok", f"ref_mismatch: genome has {SEQ1[9]}"]
    assert np.isfinite(out["score"].iloc[0]) and np.isnan(out["score"].iloc[1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_unavailable_device_is_a_clear_error(fasta, model):
    with pytest.raises(RuntimeError, match="device='cuda' but CUDA is not available"):
        VariantScorer(model, Genome(fasta), window=32, device="cuda")


def test_contig_edges_are_scored_with_padding(fasta, model):
    df = pd.DataFrame([snv("chr1", 1, SEQ1), snv("chr1", 300, SEQ1), snv("chrM", 2, SEQ2)],
                      columns=["chrom", "pos", "ref", "alt"])
    out = score_variants(model, fasta, df, window=64)  # windows wider than the edge distance
    assert (out["status"] == "ok").all() and np.isfinite(out["score"]).all()


def test_strand_symmetry_on_reverse_complemented_genome(tmp_path, fasta, model):
    rc = tmp_path / "rc.fa"
    rc.write_text(f">chr1\n{reverse_complement(SEQ1)}\n")
    comp = str.maketrans("ACGT", "TGCA")
    positions = [1, 2, 17, 150, 299, 300]
    fwd = pd.DataFrame([snv("chr1", p, SEQ1) for p in positions], columns=["chrom", "pos", "ref", "alt"])
    mirrored = pd.DataFrame({"chrom": "chr1", "pos": [301 - p for p in positions],
                             "ref": [r.translate(comp) for r in fwd.ref], "alt": [a.translate(comp) for a in fwd.alt]})
    for window in (32, 33):  # even and odd windows
        a = score_variants(model, fasta, fwd, window=window)["score"].to_numpy()
        b = score_variants(model, rc, mirrored, window=window)["score"].to_numpy()
        np.testing.assert_allclose(a, b, atol=1e-5)
        assert np.abs(a).max() > 0


def test_llr_matches_a_direct_computation(fasta, model):
    g = Genome(fasta)
    scorer = VariantScorer(model, g, window=32, batch_size=3)
    pos0 = np.array([40, 41, 40])
    ref = [SEQ1[p] for p in pos0]
    alt = [alt_of(r) for r in ref[:2]] + ["G" if ref[2] not in "G" else "T"]
    got = scorer.llr(np.array(["chr1"] * 3, dtype=object), pos0, ref, alt)
    from bioR2.dna.tokenizer import MASK_ID, NucleotideTokenizer
    tok = NucleotideTokenizer()
    ids, _ = tok.encode(SEQ1[40 - 16: 40 + 16])
    ids[16] = MASK_ID
    with torch.no_grad():
        logits = model(torch.as_tensor(ids)[None])[0, 16]
    rc_ids, _ = tok.encode(reverse_complement(SEQ1[40 - 15: 40 + 17]))
    rc_ids[16] = MASK_ID
    with torch.no_grad():
        rlogits = model(torch.as_tensor(rc_ids)[None])[0, 16]
    comp = str.maketrans("ACGT", "TGCA")
    r, a = tok.token_id(ref[0]), tok.token_id(alt[0])
    rr, ra = tok.token_id(ref[0].translate(comp)), tok.token_id(alt[0].translate(comp))
    expect = 0.5 * ((logits[a] - logits[r]) + (rlogits[ra] - rlogits[rr])).item()
    assert got[0] == pytest.approx(expect, abs=1e-5)


def test_streaming_file_scoring_tsv_and_parquet(tmp_path, fasta, model):
    rows = [snv("chr1", p, SEQ1) for p in range(1, 301, 7)] + [("chr1", 5, "AC", "A")]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).assign(extra="x").to_csv(
        tmp_path / "in.tsv", sep="\t", index=False)
    whole = score_variants(model, fasta, tmp_path / "in.tsv", window=32)
    for out in ("out.tsv", "out.parquet"):
        summary = score_variants_file(model, fasta, tmp_path / "in.tsv", tmp_path / out, window=32,
                                      chunk_size=10, batch_size=4, embedding_distance=True)
        assert summary["variants"] == len(rows)
        got = (pd.read_csv(tmp_path / out, sep="\t") if out.endswith("tsv") else pd.read_parquet(tmp_path / out))
        assert list(got.columns) == ["chrom", "pos", "ref", "alt", "extra", "status", "score", "embedding_distance"]
        np.testing.assert_allclose(got["score"].to_numpy(), whole["score"].to_numpy(), atol=1e-5)
        assert got["status"].iloc[-1].startswith("skipped")
        assert (got["embedding_distance"].dropna() > 0).all()


def test_odd_variant_files(tmp_path, fasta, model):
    import gzip

    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    body = "".join(f"{c}\t{p}\t.\t{r.lower()}\t{a}\t.\tPASS\t.\n" for c, p, r, a in
                   [snv("1", 4, SEQ1), snv("chrM", 9, SEQ2)])
    # gnomAD names its bgzip VCFs .vcf.bgz: compressed, whatever the suffix says
    with gzip.open(tmp_path / "v.vcf.bgz", "wt") as fh:
        fh.write(header + body)
    got = score_variants(model, fasta, tmp_path / "v.vcf.bgz", window=32)
    assert got["status"].tolist() == ["ok", "ok"] and got["score"].notna().all()
    (tmp_path / "empty.vcf").write_text(header)
    with pytest.raises(ValueError, match="empty.vcf: no variants"):
        score_variants_file(model, fasta, tmp_path / "empty.vcf", tmp_path / "o.tsv", window=32)
    (tmp_path / "short.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\nchr1\t4\t.\tA\n")
    with pytest.raises(ValueError, match="short.vcf: the VCF header line"):
        read_variants(tmp_path / "short.vcf")
    # a column empty in the whole first chunk and filled later still writes to parquet
    rows = [snv("chr1", p, SEQ1) for p in (3, 5, 7, 9)]
    df = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).assign(note=["", "", "x", "y"])
    df.to_csv(tmp_path / "notes.tsv", sep="\t", index=False)
    score_variants_file(model, fasta, tmp_path / "notes.tsv", tmp_path / "notes.parquet", window=32, chunk_size=2)
    assert pd.read_parquet(tmp_path / "notes.parquet")["note"].tolist() == [None, None, "x", "y"]


def test_failed_scoring_leaves_no_partial_output(tmp_path, fasta, model):
    out = tmp_path / "out.tsv"
    out.write_text("previous good result\n")
    wrong = "A" if SEQ1[199] != "A" else "C"
    rows = [snv("chr1", p, SEQ1) for p in range(1, 100)] + [("chr1", 200, wrong, "T" if wrong != "T" else "G")]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match="does not match the genome"):
        score_variants_file(model, fasta, tmp_path / "in.tsv", out, window=32, chunk_size=20)
    assert out.read_text() == "previous good result\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_probe_out_of_fold():
    from bioR2.dna.probe import cross_val_probe

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 5)) + y[:, None] * 1.5
    p = cross_val_probe(X, y, groups=np.arange(80) % 8)
    assert np.isfinite(p).all()
    from bioR2.metrics import auroc
    assert auroc(y, p) > 0.9
    with pytest.raises(ValueError, match="both classes"):
        cross_val_probe(X, np.zeros(80))


def test_probe_scores_a_labelled_file(tmp_path, fasta, model):
    from bioR2.dna.probe import score_with_probe

    rows = [snv("chr1", p, SEQ1) + (k % 2,) for k, p in enumerate(range(2, 300, 6))]
    rows.append(("chr1", 7, "AC", "A", 1))  # an indel: skipped, no probe score
    df = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label"]).assign(group=lambda d: d.index % 3)
    df.to_csv(tmp_path / "lab.tsv", sep="\t", index=False)
    summary = score_with_probe(model, fasta, tmp_path / "lab.tsv", tmp_path / "out.tsv", label_column="label",
                               group_column="group", window=32)
    assert summary["status_counts"] == {"ok": len(rows) - 1, "skipped: not an SNV (indel or MNV)": 1}
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    ok = out["status"] == "ok"
    assert out.loc[ok, "probe_score"].between(0, 1).all() and out.loc[~ok, "probe_score"].isna().all()
    np.testing.assert_allclose(out["score"], score_variants(model, fasta, df, window=32)["score"], atol=1e-5)
    with pytest.raises(ValueError, match="lab.tsv: no label column 'y'"):
        score_with_probe(model, fasta, tmp_path / "lab.tsv", tmp_path / "out2.tsv", label_column="y", window=32)
    with pytest.raises(ValueError, match="lab.tsv: column 'chrom' holds one group"):
        score_with_probe(model, fasta, tmp_path / "lab.tsv", tmp_path / "out2.tsv", label_column="label",
                         group_column="chrom", window=32)
    assert not (tmp_path / "out2.tsv").exists()


@pytest.mark.parametrize("window", [32, 33, 64])
def test_scores_equal_a_full_forward_scorer(fasta, window):
    # The sparse-cone centre logits give the same scores as running the whole window through
    # the model, next to contig ends too, with several alternative alleles at one site.
    torch.manual_seed(1)
    model = DNAMaskedLM(hidden=16, layers=4, kernel_size=5, dilation_max=8, conv_ffn_mult=2, window=window).eval()
    g = Genome(fasta)
    pos0 = np.array([0, 1, 5, 40, 40, 40, 150, 297, 298, 299, 0, 75, 149])
    contigs = np.array(["chr1"] * 10 + ["chrM"] * 3, dtype=object)
    seqs = {"chr1": SEQ1, "chrM": SEQ2}
    ref = [seqs[c][p] for c, p in zip(contigs, pos0)]
    alt = [alt_of(r) for r in ref]
    alt[4], alt[5] = [b for b in "ACGT" if b not in (ref[3], alt[3])]  # all three alternatives at chr1:41
    fast = VariantScorer(model, g, window=window, batch_size=4).llr(contigs, pos0, ref, alt)

    class FullForward(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.arch, self.tokenizer = inner, inner.arch, inner.tokenizer

        def center_logits(self, ids, c):
            return self.inner(ids)[:, c]

    slow = VariantScorer(FullForward(model), g, window=window, batch_size=5).llr(contigs, pos0, ref, alt)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert np.abs(slow).max() > 0 and len(set(np.round(slow[3:6], 6))) == 3
