"""Tokenizer, genome loading, windows and the training dataset."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch


from bioR2.dna.data import Genome, WindowDataset, contig_aliases, make_windows, read_bed, split_windows
from bioR2.dna.tokenizer import (A_ID, C_ID, G_ID, MASK_ID, N_ID, PAD_ID, T_ID, NucleotideTokenizer,
                                 reverse_complement, reverse_complement_ids)


def write_fasta(path, records, width=7):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name} description\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    return path


@pytest.fixture
def genome(tmp_path):
    return Genome(write_fasta(tmp_path / "g.fa", {"chr1": "ACGTacgtNNACGTTTGCA", "chrM": "GGGGCCCC"}))


def test_tokenizer_round_trip_and_soft_mask():
    tok = NucleotideTokenizer()
    ids, soft = tok.encode("ACgtNr")
    assert ids.tolist() == [A_ID, C_ID, G_ID, T_ID, N_ID, N_ID]
    assert soft.tolist() == [False, False, True, True, False, True]
    assert tok.decode(ids) == "ACGTNN"
    assert tok.decode([PAD_ID, MASK_ID]) == "-?"
    batch, bsoft = tok.encode_batch(["AC", "GTA"], 4)
    assert batch.tolist() == [[A_ID, C_ID, PAD_ID, PAD_ID], [G_ID, T_ID, A_ID, PAD_ID]]
    with pytest.raises(ValueError):
        tok.decode([9])
    with pytest.raises(ValueError):
        NucleotideTokenizer(("A", "C"))


def test_reverse_complement_round_trips():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGTNacgt"), 101))
    assert reverse_complement(reverse_complement(seq)) == seq
    assert reverse_complement("AACGTn") == "nACGTT"
    tok = NucleotideTokenizer()
    ids, _ = tok.encode(seq)
    assert np.array_equal(reverse_complement_ids(reverse_complement_ids(ids)), ids)
    rc_ids, _ = tok.encode(reverse_complement(seq))
    assert np.array_equal(reverse_complement_ids(ids), rc_ids)
    t = torch.as_tensor(np.stack([ids, ids]))
    assert torch.equal(reverse_complement_ids(t), torch.as_tensor(np.stack([rc_ids, rc_ids])))
    # PAD and MASK are their own complements
    assert reverse_complement_ids(np.array([PAD_ID, MASK_ID, A_ID])).tolist() == [T_ID, MASK_ID, PAD_ID]


def test_genome_fetch_one_based_known_base(genome):
    # 1-based position 5 of chr1 is the lowercase 'a' (0-based index 4)
    assert genome.fetch("chr1", 4, 5) == "a"
    assert genome.contigs == {"chr1": 19, "chrM": 8}
    ids, soft = genome.windows("chr1", [-2, 17], 4)
    assert ids[0].tolist() == [PAD_ID, PAD_ID, A_ID, C_ID]
    assert ids[1].tolist() == [C_ID, A_ID, PAD_ID, PAD_ID]
    assert not soft[0].any()


def test_aliases(genome):
    assert genome.resolve("1") == "chr1"
    assert genome.resolve("chr1") == "chr1"
    for name in ("MT", "M", "chrMT"):
        assert genome.resolve(name) == "chrM"
    assert genome.resolve("chr2") is None
    # an exact name wins over an alias; a shared alias is dropped
    table = contig_aliases(["1", "chr1"])
    assert table["1"] == "1" and table["chr1"] == "chr1"


def test_missing_empty_and_not_fasta(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fa"):
        Genome(tmp_path / "nope.fa")
    empty = tmp_path / "empty.fa"
    empty.write_text(">chr1\nACGT\n>chr2\n>chr3\nAC\n")
    with pytest.raises(ValueError, match=r"empty.fa.*'chr2' is empty"):
        Genome(empty)
    bad = tmp_path / "bad.fa"
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match="bad.fa: not a FASTA"):
        Genome(bad)


def test_a_stale_index_is_rebuilt(tmp_path):
    import os
    import warnings

    path = write_fasta(tmp_path / "g.fa", {"chr1": "ACGTACGT"})
    assert Genome(path).fetch("chr1", 0, 8) == "ACGTACGT"  # writes g.fa.fai
    write_fasta(path, {"chr1": "TTTTGGGGCCCC", "chr2": "AAAA"}, width=5)
    stamp = os.stat(tmp_path / "g.fa.fai").st_mtime + 10
    os.utime(path, (stamp, stamp))  # the FASTA is newer than its index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = Genome(path)
    assert g.contigs == {"chr1": 12, "chr2": 4}
    assert g.fetch("chr1", 0, 12) == "TTTTGGGGCCCC"


def test_plain_gzip_is_refused_bgzip_is_read(tmp_path):
    text = ">chr1\nACGTACGTAC\n"
    gz = tmp_path / "g.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(text)
    with pytest.raises(ValueError, match=r"g.fa.gz: compressed with plain gzip, not bgzip"):
        Genome(gz)
    from Bio import bgzf

    bgz = tmp_path / "b.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as fh:
        fh.write(text.encode())
    g = Genome(bgz)
    assert g.fetch("chr1", 0, 10) == "ACGTACGTAC"
    assert (tmp_path / "b.fa.gz.fai").exists()


def test_genbank_converted_once(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path / "cache"))
    from Bio.Seq import Seq
    from Bio import SeqIO
    from Bio.SeqRecord import SeqRecord

    rec = SeqRecord(Seq("ACGTTGCA" * 5), id="NC_1", name="NC_1", description="toy",
                    annotations={"molecule_type": "DNA"})
    gb = tmp_path / "toy.gbk"
    SeqIO.write([rec], gb, "genbank")
    g = Genome(gb)
    assert g.contigs == {"NC_1": 40}
    assert g.fetch("NC_1", 0, 4) == "ACGT"
    assert g.fasta_path.parent == tmp_path / "cache" / "genomes"
    assert Genome(gb).fasta_path == g.fasta_path


def test_windows_stride_n_filter_and_bed(genome, tmp_path):
    w = make_windows(genome, window=4, stride=2, max_n_fraction=0.0)
    assert not any((w.chrom == "chr1") & (w.start.between(5, 9)))  # every window touching NN dropped
    assert (w.end - w.start == 4).all()
    # the last window is aligned to the contig end
    assert w[w.chrom == "chrM"].start.tolist() == [0, 2, 4]
    bed = tmp_path / "r.bed"
    bed.write_text("1\t0\t6\nchrM\t2\t3\n")
    wb = make_windows(genome, window=4, stride=4, bed=bed, max_n_fraction=1.0)
    assert wb.values.tolist() == [["chr1", 0, 4], ["chr1", 2, 6], ["chrM", 1, 5]]
    assert read_bed(bed).shape == (2, 3)
    (tmp_path / "bad.bed").write_text("chr1\tx\t5\n")
    with pytest.raises(ValueError, match="bad.bed:1"):
        read_bed(tmp_path / "bad.bed")
    with pytest.raises(ValueError, match="no contig 'chr7'"):
        make_windows(genome, window=4, contigs=["chr7"])
    train, held = split_windows(w, ["M"], genome)
    with pytest.raises(ValueError, match=r"g.fa: no contig 'chr22' \(asked for in held_out\)"):
        split_windows(w, ["chr22"], genome)  # a typo must not hold out nothing, silently
    assert set(held.chrom) == {"chrM"} and "chrM" not in set(train.chrom)


def test_dataset_reverse_complement_is_deterministic(genome):
    w = make_windows(genome, window=4, stride=1, max_n_fraction=1.0)
    ds = WindowDataset(genome, w, reverse_complement=True, seed=3)
    a = ds.__getitems__(list(range(len(ds))))
    b = ds.__getitems__(list(range(len(ds))))
    assert torch.equal(a["input_ids"], b["input_ids"])
    plain = WindowDataset(genome, w, reverse_complement=False).__getitems__(list(range(len(ds))))
    flipped = [i for i in range(len(ds)) if not torch.equal(a["input_ids"][i], plain["input_ids"][i])]
    assert 0 < len(flipped) < len(ds)
    for i in flipped:  # a flipped window is exactly the reverse complement, soft mask reversed too
        assert torch.equal(a["input_ids"][i], reverse_complement_ids(plain["input_ids"][i]))
        assert torch.equal(a["soft_mask"][i], plain["soft_mask"][i].flip(0))
    ds.set_epoch(1)
    c = ds.__getitems__(list(range(len(ds))))
    assert not torch.equal(a["input_ids"], c["input_ids"])  # a new epoch draws new strands
