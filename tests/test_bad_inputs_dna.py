"""Mistakes in a user's own DNA input (genomes, variant tables, scoring outputs): each gets one
clear error (or warning) naming the file, the field or the value and what to do, never a Python
traceback from deep inside a library.

Most rows are one table: ``(id, setup, expected exception, expected message)``, where
``setup(tmp_path)`` builds the bad input and returns the call that must fail.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from bioR2.dna import Genome, check_variants, read_variants, score_variants
from bioR2.dna.data import make_windows
from bioR2.dna.variants import check_output_format, score_variants_file
from bad_input_helpers import (
    assert_one_clear_error,
    RNG,
    SEQ,
    VCF_HEAD,
    snv_rows,
    tiny_model,
    variants_tsv,
    write_bgzip_fasta,
    write_fasta,
)


def truncated_bgzip(tmp_path):
    big = "".join(RNG.choice(list("ACGT"), 200_000))
    full = write_bgzip_fasta(tmp_path / "full.fa.gz", {"chr1": big})
    data = full.read_bytes()
    cut = tmp_path / "g.fa.gz"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def row4_truncated_bgzip_pretraining(tmp_path):
    path = truncated_bgzip(tmp_path)
    return lambda: make_windows(path, window=100)


def row4_truncated_bgzip_scoring(tmp_path):
    path = truncated_bgzip(tmp_path)
    variants = variants_tsv(tmp_path / "v.tsv", snv_rows([10, 20]))
    return lambda: score_variants(tiny_model(), path, variants)


def row4_corrupt_bgzip_block(tmp_path):
    big = "".join(RNG.choice(list("ACGT"), 200_000))
    path = write_bgzip_fasta(tmp_path / "g.fa.gz", {"chr1": big})
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)  # damaged inside, end-of-file block intact
    path.write_bytes(bytes(data))
    return lambda: make_windows(path, window=100)


def row8_window_longer_than_contigs(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": SEQ[:40], "chr2": SEQ[:30]})
    return lambda: make_windows(path, window=100)


def row8_all_n(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": "N" * 500, "chr2": "n" * 300})
    return lambda: make_windows(path, window=100)


def row10_space_separated_vcf(tmp_path):
    path = tmp_path / "v.vcf"
    path.write_text(VCF_HEAD + "chr1\t10\t.\tA\tG\t.\t.\t.\n" + "chr1 12 . C T . . .\n")
    return lambda: read_variants(path)


def row10_vcf_line_numbers(tmp_path):
    path = tmp_path / "v.vcf"
    path.write_text(VCF_HEAD + "chr1\t10\t.\tA\tG\t.\t.\t.\n" + "chr1\tten\t.\tC\tT\t.\t.\t.\n")
    genome = Genome(write_fasta(tmp_path / "g.fa", {"chr1": SEQ}))
    return lambda: check_variants(read_variants(path), genome, source=str(path))


def row10_tsv_line_numbers(tmp_path):
    path = tmp_path / "v.tsv"
    path.write_text("chrom\tpos\tref\talt\nchr1\t10\tA\tG\n\nchr1\t12\t\tT\n")
    genome = Genome(write_fasta(tmp_path / "g.fa", {"chr1": SEQ}))
    return lambda: check_variants(read_variants(path), genome, source=str(path))


def row10_space_separated_tsv_header(tmp_path):
    path = tmp_path / "v.tsv"
    path.write_text("chrom pos ref alt\nchr1 10 A G\n")
    return lambda: read_variants(path)


def row15_unknown_extension(tmp_path):
    variants = variants_tsv(tmp_path / "v.tsv", snv_rows([10]))
    # refused before the (missing) model is even looked at: nothing computed, nothing written
    return lambda: score_variants_file(tmp_path / "no-model", tmp_path / "no.fa", variants, tmp_path / "s.xlsx")


def row16_all_contigs_unknown_file(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": SEQ, "chr2": SEQ[:100]})
    variants = variants_tsv(tmp_path / "v.tsv", snv_rows([10, 20], chrom="NC_000001.11")
                            + snv_rows([5], chrom="scaffold_9"))
    return lambda: score_variants_file(tiny_model(), fasta, variants, tmp_path / "out.tsv")


def row16_all_contigs_unknown_dataframe(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": SEQ})
    df = pd.DataFrame(snv_rows([10], chrom="NC_000001.11"), columns=["chrom", "pos", "ref", "alt"])
    return lambda: score_variants(tiny_model(), fasta, df)


def row17_non_iupac(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": SEQ[:100], "chr2": SEQ[:70] + "XYZ123" + SEQ[:20]})
    return lambda: make_windows(path, window=20)


def row17_non_iupac_scoring(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": SEQ[:50] + "acgt!!" + SEQ[56:]})
    variants = variants_tsv(tmp_path / "v.tsv", snv_rows([10]))
    return lambda: score_variants(tiny_model(), path, variants)


ROWS = [
    ("4-truncated-bgzip-pretraining", row4_truncated_bgzip_pretraining, ValueError,
     r"g\.fa\.gz: truncated or corrupt bgzip.*re-download.*bgzip"),
    ("4-truncated-bgzip-scoring", row4_truncated_bgzip_scoring, ValueError,
     r"g\.fa\.gz: truncated or corrupt bgzip.*re-download.*bgzip"),
    ("4-corrupt-bgzip-block", row4_corrupt_bgzip_block, ValueError,
     r"g\.fa\.gz: truncated or corrupt bgzip"),
    ("8-window-longer-than-every-contig", row8_window_longer_than_contigs, ValueError,
     r"g\.fa: no windows of length 100: the longest contig is 40 bases"),
    ("8-all-n-fasta", row8_all_n, ValueError,
     r"g\.fa: no windows of length 100: every one of the \d+ windows has more than "
     r"max_n_fraction=0\.1 .*100% of the bases are N"),
    ("10-space-separated-vcf-line", row10_space_separated_vcf, ValueError,
     r"v\.vcf: line 5 looks space-separated .*VCF needs tab"),
    ("10-vcf-messages-use-file-line-numbers", row10_vcf_line_numbers, ValueError,
     r"v\.vcf: column 'pos' must be a 1-based integer; bad value\(s\) \['ten'\] at line\(s\) \[5\]"),
    ("10-tsv-messages-use-file-line-numbers", row10_tsv_line_numbers, ValueError,
     r"v\.tsv: column 'ref' is empty at line\(s\) \[4\]"),
    ("10-space-separated-tsv-header", row10_space_separated_tsv_header, ValueError,
     r"v\.tsv: missing column.*header looks space-separated"),
    ("15-unknown-output-extension", row15_unknown_extension, ValueError,
     r"s\.xlsx: cannot tell the output format.*\.tsv.*\.csv.*\.parquet.*\.vcf"),
    ("16-every-contig-unknown-file", row16_all_contigs_unknown_file, ValueError,
     r"v\.tsv: none of the variants' contigs is in the genome .*g\.fa: the file has "
     r"\['NC_000001\.11', 'scaffold_9'\], the genome has \['chr1', 'chr2'\]"),
    ("16-every-contig-unknown-dataframe", row16_all_contigs_unknown_dataframe, ValueError,
     r"none of the variants' contigs is in the genome.*\['NC_000001\.11'\].*\['chr1'\]"),
    ("17-non-iupac-characters", row17_non_iupac, ValueError,
     r"g\.fa: record 'chr2', line 6: 5 character\(s\) that are not IUPAC nucleotide codes "
     r"\(1, 2, 3, X, Z\)"),
    ("17-non-iupac-characters-scoring", row17_non_iupac_scoring, ValueError,
     r"g\.fa: record 'chr1', line 2: 2 character\(s\) that are not IUPAC .*\(!\)"),
]


@pytest.mark.parametrize("setup, error, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_clear_error(tmp_path, setup, error, message):
    assert_one_clear_error(setup(tmp_path), error, message)


def test_a_stale_index_newer_than_its_fasta_is_rebuilt(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": SEQ[:200], "chr2": SEQ[:50]})
    Genome(path).contig_tokens("chr1")  # writes g.fa.fai
    # the FASTA is replaced, but its index stays newer (copied back with cp -p, restored, ...)
    write_fasta(path, {"chrA": SEQ[:30], "chr1": SEQ[:90]}, width=7)
    stamp = os.stat(tmp_path / "g.fa.fai").st_mtime - 100
    os.utime(path, (stamp, stamp))
    with pytest.warns(UserWarning, match=r"g\.fa\.fai: does not match .*g\.fa.*rebuilding it"):
        genome = Genome(path)
    assert genome.contigs == {"chrA": 30, "chr1": 90}
    assert genome.fetch("chr1", 0, 90) == SEQ[:90]
    ids, _ = genome.contig_tokens("chr1")
    assert ids.size == 90


def test_a_stale_index_where_only_the_last_contig_grew_is_rebuilt(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": SEQ[:100], "chr2": SEQ[:50]})
    Genome(path)
    write_fasta(path, {"chr1": SEQ[:100], "chr2": SEQ[:300]})
    stamp = os.stat(tmp_path / "g.fa.fai").st_mtime - 100
    os.utime(path, (stamp, stamp))
    with pytest.warns(UserWarning, match="rebuilding it"):
        genome = Genome(path)
    assert genome.contigs["chr2"] == 300
    assert genome.fetch("chr2", 250, 300) == SEQ[250:300]


def test_a_read_only_genome_folder_gets_its_index_in_the_cache(tmp_path, monkeypatch):
    import bioR2.dna.data as data

    folder = tmp_path / "genomes"
    folder.mkdir()
    path = write_fasta(folder / "g.fa", {"chr1": SEQ})
    cache = tmp_path / "cache"
    monkeypatch.setenv("BIOR2_CACHE", str(cache))
    monkeypatch.setattr(data, "_writable", lambda folder: False)
    genome = Genome(path)
    assert genome.fetch("chr1", 0, 20) == SEQ[:20]
    assert not (folder / "g.fa.fai").exists()
    built = list((cache / "fai").glob("*/g.fa.fai"))
    assert len(built) == 1
    # a second open (and a DataLoader worker's copy) reuses it
    assert Genome(path).contigs == {"chr1": len(SEQ)}
    import pickle

    assert pickle.loads(pickle.dumps(genome)).fetch("chr1", 5, 10) == SEQ[5:10]
    assert len(list((cache / "fai").glob("*/g.fa.fai"))) == 1


def test_a_read_only_bgzip_genome_folder_gets_its_indexes_in_the_cache(tmp_path, monkeypatch):
    import bioR2.dna.data as data

    folder = tmp_path / "genomes"
    folder.mkdir()
    path = write_bgzip_fasta(folder / "g.fa.gz", {"chr1": SEQ, "chr2": SEQ[:77]})
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_writable", lambda folder: False)
    genome = Genome(path)
    assert genome.fetch("chr2", 70, 77) == SEQ[70:77]
    assert sorted(p.name for p in folder.iterdir()) == ["g.fa.gz"]
    assert len(list((tmp_path / "cache" / "fai").glob("*/g.fa.gz.gzi"))) == 1


def test_a_really_read_only_genome_folder(tmp_path, monkeypatch):
    """A folder nobody may write to: the index goes to the cache and nothing is written beside
    the FASTA. Root may write anywhere, so writes into the folder are made to fail for real and
    ``os.access`` answers as it does for other users (the code path is the same for root)."""
    import builtins

    folder = tmp_path / "genomes"
    folder.mkdir()
    path = write_fasta(folder / "g.fa", {"chr1": SEQ})
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path / "cache"))
    inside = lambda p: Path(os.fspath(p)).resolve().parent == folder.resolve()  # noqa: E731
    real_open, real_os_open, real_access = builtins.open, os.open, os.access

    def no_write_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and inside(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    def no_write_os_open(file, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_os_open(file, flags, *args, **kwargs)

    def access(p, mode, *args, **kwargs):
        if mode & os.W_OK and Path(os.fspath(p)).resolve() == folder.resolve():
            return False
        return real_access(p, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_write_open)
    monkeypatch.setattr(os, "open", no_write_os_open)
    monkeypatch.setattr(os, "access", access)
    folder.chmod(0o555)
    try:
        assert Genome(path).fetch("chr1", 0, 10) == SEQ[:10]
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == ["g.fa"]
    assert list((tmp_path / "cache").rglob("g.fa.fai"))


def test_soft_masked_and_iupac_bases_stay_valid(tmp_path):
    seq = SEQ[:40].lower() + "NNNNRYKMSWBDHVU" + SEQ[:40] + "nnnn"
    path = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    ids, soft = Genome(path).contig_tokens("chr1")
    assert ids.size == len(seq) and soft[:40].all() and not soft[40:95].any()


def test_a_sound_bgzip_genome_still_reads(tmp_path):
    path = write_bgzip_fasta(tmp_path / "g.fa.gz", {"chr1": SEQ})
    assert len(make_windows(path, window=100)) == 4


@pytest.fixture(scope="module")
def scoring_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    fasta = write_fasta(root / "g.fa", {"chr1": SEQ})
    vcf = root / "in.vcf"
    body = "".join(f"chr1\t{p}\trs{p}\t{r}\t{a}\t.\tPASS\t.\n" for _, p, r, a in snv_rows([10, 20, 30]))
    vcf.write_text(VCF_HEAD + body + "chrUn\t5\t.\tA\tG\t.\t.\t.\nchr1\t40\t.\tAC\tA\t.\t.\t.\n")
    return tiny_model(), fasta, vcf


@pytest.mark.parametrize("name, reader", [
    ("s.tsv", lambda p: pd.read_csv(p, sep="\t")),
    ("s.tsv.gz", lambda p: pd.read_csv(p, sep="\t", compression="gzip")),
    ("s.csv", lambda p: pd.read_csv(p)),
    ("s.csv.gz", lambda p: pd.read_csv(p, compression="gzip")),
    ("s.parquet", pd.read_parquet),
])
def test_scores_are_written_in_the_format_the_extension_names(tmp_path, scoring_inputs, name, reader):
    model, fasta, vcf = scoring_inputs
    out = tmp_path / name
    summary = score_variants_file(model, fasta, vcf, out, chunk_size=2)
    assert summary["variants"] == 5
    got = reader(out)
    assert list(got.columns[:4]) == ["chrom", "pos", "id", "ref"] and "score" in got.columns
    assert len(got) == 5 and got["score"].notna().sum() == 3
    if name.endswith(".gz"):
        assert out.read_bytes()[:2] == b"\x1f\x8b"
    if name.startswith("s.csv") and not name.endswith(".gz"):
        assert "\t" not in out.read_text()


@pytest.mark.parametrize("name", ["s.vcf", "s.vcf.gz"])
def test_scores_written_as_vcf_carry_score_and_status_in_info(tmp_path, scoring_inputs, name):
    pytest.importorskip("pysam")  # a VCF copied into a VCF goes through pysam (bioR2/dna/vcf.py)
    model, fasta, vcf = scoring_inputs
    out = tmp_path / name
    score_variants_file(model, fasta, vcf, out, chunk_size=2)
    if name.endswith(".gz"):
        from bioR2.dna.data import is_bgzip

        assert is_bgzip(out)
        text = gzip.open(out, "rt").read()
    else:
        text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    # one value per ALT (Number=A), and the input's header lines kept
    assert any(l.startswith("##INFO=<ID=BIOR2_SCORE,Number=A,Type=Float") for l in lines)
    assert any(l.startswith("##INFO=<ID=BIOR2_STATUS,Number=A,Type=String") for l in lines)
    assert "##contig=<ID=chr1>" in lines
    body = [l.split("\t") for l in lines if not l.startswith("#")]
    assert len(body) == 5 and all(len(f) == 8 for f in body)
    assert body[0][:5] == ["chr1", "10", "rs10", SEQ[9], "A" if SEQ[9] != "A" else "C"]
    assert body[0][6] == "PASS"  # FILTER kept
    info = [dict(kv.split("=") for kv in f[7].split(";")) for f in body]
    assert [i["BIOR2_STATUS"] for i in info] == ["ok", "ok", "ok", "skipped_contig_not_in_genome",
                                                 "skipped_not_an_SNV_indel_or_MNV"]
    assert all(float(i["BIOR2_SCORE"]) == float(i["BIOR2_SCORE"]) for i in info[:3])
    assert info[3]["BIOR2_SCORE"] == "."
    # and the output reads back as a VCF
    back = read_variants(out)
    assert len(back) == 5


def test_check_output_format():
    assert check_output_format("a/b.TSV") == ("tsv", False)
    assert check_output_format("x.vcf.gz") == ("vcf", True)
    assert check_output_format("x.csv.gz") == ("csv", True)
    assert check_output_format("x.parquet") == ("parquet", False)
    for bad in ("x.xlsx", "x.gz", "scores", ".tsv", "x.json"):
        with pytest.raises(ValueError, match="cannot tell the output format"):
            check_output_format(bad)


def test_an_unknown_output_extension_writes_nothing(tmp_path, scoring_inputs):
    model, fasta, vcf = scoring_inputs
    with pytest.raises(ValueError, match="cannot tell the output format"):
        score_variants_file(model, fasta, vcf, tmp_path / "scores.xls")
    assert list(tmp_path.iterdir()) == []


def test_some_unknown_contigs_are_only_skipped(tmp_path, scoring_inputs):
    model, fasta, vcf = scoring_inputs
    summary = score_variants_file(model, fasta, vcf, tmp_path / "s.tsv")
    assert summary["status_counts"]["skipped: contig not in genome"] == 1


def test_every_contig_unknown_leaves_no_output(tmp_path):
    call = row16_all_contigs_unknown_file(tmp_path)
    with pytest.raises(ValueError, match="none of the variants' contigs"):
        call()
    assert not (tmp_path / "out.tsv").exists()


def test_a_ref_mismatch_names_the_line(tmp_path):
    genome = Genome(write_fasta(tmp_path / "g.fa", {"chr1": SEQ}))
    wrong = "A" if SEQ[19] != "A" else "C"
    path = variants_tsv(tmp_path / "v.tsv", snv_rows([10]) + [("chr1", 20, wrong, "T" if wrong != "T" else "G")])
    with pytest.raises(ValueError, match=r"chr1:20 ref=.* genome=.* \(line 3\)"):
        check_variants(read_variants(path), genome)


def row_bgzip_cut_in_its_first_block(tmp_path):
    full = write_bgzip_fasta(tmp_path / "full.fa.gz", {"chr1": SEQ})
    cut = tmp_path / "g.fa.gz"
    cut.write_bytes(full.read_bytes()[:40])
    return lambda: Genome(cut)


def row_truncated_gzip_variants(tmp_path):
    path = tmp_path / "v.vcf.gz"
    body = "".join(f"chr1\t{p}\t.\tA\tG\t.\t.\t.\n" for p in range(1, 3000))
    data = gzip.compress((VCF_HEAD + body).encode())
    path.write_bytes(data[: len(data) // 2])
    return lambda: read_variants(path)


def row_binary_variants(tmp_path):
    path = tmp_path / "v.tsv"
    path.write_bytes(b"chrom\tpos\tref\talt\n" + bytes(range(128, 256)) * 4 + b"\n")
    return lambda: read_variants(path)


MORE_ROWS = [
    ("bgzip-cut-in-its-first-block", row_bgzip_cut_in_its_first_block, ValueError,
     r"g\.fa\.gz: truncated or corrupt bgzip"),
    ("truncated-gzip-variants-file", row_truncated_gzip_variants, ValueError,
     r"v\.vcf\.gz: truncated or corrupt gzip file.*re-download"),
    ("binary-variants-file", row_binary_variants, ValueError, r"v\.tsv: not a text file"),
]


@pytest.mark.parametrize("setup, error, message", [r[1:] for r in MORE_ROWS], ids=[r[0] for r in MORE_ROWS])
def test_more_bad_inputs(tmp_path, setup, error, message):
    test_bad_input_is_one_clear_error(tmp_path, setup, error, message)
