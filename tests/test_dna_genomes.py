"""Pretraining on several genomes: --fasta A B or --genomes CSV, contigs named GENOME/CONTIG,
windows drawn by weight, held-out genomes/contigs, the list in data.json and the model card."""

from __future__ import annotations

import json

import numpy as np
import pytest


from bioR2.cli import main
from bioR2.dna.genomes import genome_entries, multi_genome_windows, read_genomes_csv

RNG = np.random.default_rng(8)


def _fa(path, contigs):
    path.write_text("".join(f">{n}\n{''.join(RNG.choice(list('ACGT'), k))}\n" for n, k in contigs.items()))
    return path


@pytest.fixture()
def genomes(tmp_path):
    a = _fa(tmp_path / "ath.fa", {"chr1": 640, "chr2": 320})
    b = _fa(tmp_path / "bra.fa", {"chr1": 320})
    return tmp_path, a, b


def test_windows_are_drawn_by_weight_and_contigs_named_per_genome(genomes):
    root, a, b = genomes
    (root / "g.csv").write_text("path,name,weight,held_out\nath.fa,ath,1,chr2\nbra.fa,bra,3,\n")
    entries = read_genomes_csv(root / "g.csv")
    assert [(e.name, e.weight, e.held_out) for e in entries] == [("ath", 1.0, ["chr2"]), ("bra", 3.0, [])]
    genome, train, val, facts = multi_genome_windows(entries, 32, None, 0.1, [], seed=0)
    assert set(genome.contigs) == {"ath/chr1", "ath/chr2", "bra/chr1"}
    assert set(val["chrom"]) == {"ath/chr2"} and len(val) == 10
    share = train["chrom"].str.startswith("bra/").mean()
    assert share == pytest.approx(0.75, abs=0.02)  # weight 3 of 4, though bra has half ath's train windows
    assert [f["share"] for f in facts] == pytest.approx([0.25, 0.75], abs=0.02)
    ids, _ = genome.windows("bra/chr1", [0], 32)
    assert ids.shape == (1, 32)
    # a whole genome held out
    (root / "h.csv").write_text("path,name,weight,held_out\nath.fa,ath,1,\nbra.fa,bra,1,true\n")
    _, train, val, _ = multi_genome_windows(read_genomes_csv(root / "h.csv"), 32, None, 0.1, [], seed=0)
    assert set(val["chrom"]) == {"bra/chr1"} and not train["chrom"].str.startswith("bra/").any()


def test_same_file_names_get_distinct_genome_names(tmp_path):
    (tmp_path / "x").mkdir()
    names = [e.name for e in genome_entries([tmp_path / "g.fa", tmp_path / "x" / "g.fa"])]
    assert names == ["g_1", "g_2"]


def test_cli_pretrains_on_two_fastas_and_records_them(genomes, capsys):
    root, a, b = genomes
    run = root / "run"
    assert main(["pretrain", "dna", "--fasta", str(a), str(b), "--out", str(run), "--window", "32",
                 "--preset", "dna-tiny", "--steps", "2", "--batch-size", "4", "--held-out", "bra/chr1",
                 "--no-progress"]) == 0
    data = json.loads((run / "data.json").read_text())
    assert [g["name"] for g in data["genomes"]] == ["ath", "bra"]
    assert data["genomes"][1]["n_val_windows"] == 10 and data["genomes"][1]["n_train_windows"] == 0
    from bioR2.hub import model_card

    card = model_card(run)
    assert "| ath |" in card and "| bra |" in card


BAD = [
    ("both", lambda r: ["--fasta", str(r / "ath.fa"), str(r / "bra.fa"), "--genomes", str(r / "g.csv")],
     "either as --fasta A.fa B.fa or as --genomes CSV, not both"),
    ("dup-name", lambda r: ["--genomes", str(_csv(r, "path,name\nath.fa,x\nbra.fa,x\n"))],
     r"genome name\(s\) \['x'\] used twice"),
    ("bad-weight", lambda r: ["--genomes", str(_csv(r, "path,weight\nath.fa,-1\n"))], "line 2: 'weight' must be > 0"),
    ("unknown-held-out", lambda r: ["--genomes", str(_csv(r, "path,held_out\nath.fa,chr9\n"))],
     "held_out contig 'chr9' is not in it"),
    ("held-out-unqualified", lambda r: ["--fasta", str(r / "ath.fa"), str(r / "bra.fa"), "--held-out", "chr1"],
     "name it GENOME/CONTIG"),
]


def _csv(root, text):
    (root / "g.csv").write_text(text)
    return root / "g.csv"


@pytest.mark.parametrize("args, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_genome_lists_fail_with_one_line(genomes, capsys, args, message):
    import re

    root, _, _ = genomes
    (root / "g.csv").write_text("path\nath.fa\n")
    code = main(["pretrain", "dna", "--out", str(root / "run"), "--window", "32", "--preset", "dna-tiny",
                 "--steps", "1", "--no-progress"] + args(root))
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (root / "run").exists()
