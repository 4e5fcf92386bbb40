"""Issue-11 rows at the command line: what a user types wrong gets one line on stderr (exit 1),
never a traceback, never a lost input; and the same seed gives the same model.

One table: ``(id, setup, expected stderr)``, where ``setup(tmp_path)`` makes the inputs and
returns the ``bior2`` argument list. The single-cell rows (embed / annotate) sit with the
single-cell tests.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch


from bioR2.cli import main

RNG = np.random.default_rng(5)
SEQ = "".join(RNG.choice(list("ACGT"), 600))


@pytest.fixture(scope="module")
def dna_run(tmp_path_factory):
    """A genome, a variants table and a tiny trained DNA model."""
    root = tmp_path_factory.mktemp("dna")
    fasta = root / "g.fa"
    fasta.write_text(f">chr1\n{SEQ}\n")
    rows = [("chr1", p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C") for p in (100, 200, 300)]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).to_csv(root / "v.tsv", sep="\t", index=False)
    assert main(["pretrain", "dna", "--fasta", str(fasta), "--out", str(root / "run"), "--window", "32",
                 "--preset", "dna-tiny", "--steps", "2", "--batch-size", "4", "--no-progress"]) == 0
    return root


def _score(root, out, *extra):
    return ["score-variants", "--model", str(root / "run"), "--fasta", str(root / "g.fa"),
            "--variants", str(root / "v.tsv"), "--out", str(out), *extra]


def row2_out_is_the_variants_file(root, tmp):
    return _score(root, root / "v.tsv")


def row2_existing_out_without_overwrite(root, tmp):
    (tmp / "s.tsv").write_text("precious\n")
    return _score(root, tmp / "s.tsv")


def row9_batch_size_zero(root, tmp):
    return _score(root, tmp / "s.tsv", "--batch-size", "0")


def row11_out_is_a_folder(root, tmp):
    (tmp / "folder.tsv").mkdir()
    return _score(root, tmp / "folder.tsv")


def row3_top_level_mask_ratio(root, tmp):
    (tmp / "c.yaml").write_text("mask_ratio: 0.2\n")
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--config", str(tmp / "c.yaml")]


def row3_section_typo(root, tmp):
    (tmp / "c.yaml").write_text("trian:\n  lr: 0.1\n")
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--config", str(tmp / "c.yaml")]


def row3_set_without_section(root, tmp):
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--set", "lr=1"]


def row3_set_section_typo(root, tmp):
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--set", "trian.lr=1"]


def row3_unknown_key(root, tmp):
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--set", "train.lrr=1"]


def row6_heads_do_not_divide(root, tmp):
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / "r"), "--arch", "transformer",
            "--heads", "3", "--hidden", "16"]


def row5_non_dna_model_to_score(root, tmp):
    from bioR2.train import save_model
    from bioR2.vision.model import ViTMAE

    save_model(tmp / "vit", ViTMAE(image_size=[8, 8], patch_size=4, in_chans=1, embed_dim=8, depth=1, num_heads=2,
                                   decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2))
    return ["score-variants", "--model", str(tmp / "vit"), "--fasta", str(root / "g.fa"),
            "--variants", str(root / "v.tsv"), "--out", str(tmp / "s.tsv")]


ROWS = [
    ("2-out-is-an-input", row2_out_is_the_variants_file, r"--out .*v\.tsv: is the input file"),
    ("2-existing-out", row2_existing_out_without_overwrite, r"--out .*s\.tsv: already exists; pass --overwrite"),
    ("9-batch-size-0", row9_batch_size_zero, r"--batch-size: must be >= 1, got 0"),
    ("11-out-is-a-folder", row11_out_is_a_folder, r"folder\.tsv: is a folder"),
    ("3-top-level-mask-ratio", row3_top_level_mask_ratio,
     r"unknown section 'mask_ratio' \(did you mean train\.mask_ratio\?\)"),
    ("3-section-typo", row3_section_typo, r"unknown section 'trian'; valid sections: data, model, task, train"),
    ("3-set-without-section", row3_set_without_section, r"--set: unknown section 'lr' \(did you mean train\.lr\?\)"),
    ("3-set-section-typo", row3_set_section_typo, r"--set: unknown section 'trian'"),
    ("3-unknown-key", row3_unknown_key, r"unknown key\(s\) \['lrr'\].*train"),
    ("6-heads-do-not-divide", row6_heads_do_not_divide,
     r"model\.hidden \(16\) must be divisible by model\.heads \(3\)"),
    ("5-vision-model-to-score-variants", row5_non_dna_model_to_score,
     r"holds a vision model \(ViTMAE\); scoring variants needs a DNA model"),
]


@pytest.mark.parametrize("setup, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_cli_input_is_one_line(dna_run, tmp_path, capsys, setup, message):
    import re

    argv = setup(dna_run, tmp_path)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's usage error: usage + one line, rc 2
        rc = exc.code
    err = capsys.readouterr().err
    assert rc in (1, 2), err
    assert "Traceback" not in err
    assert re.search(message, err), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 or len(lines) == 1, err  # argparse usage errors (rc 2) print usage + one line


def test_inputs_survive_and_overwrite_replaces(dna_run, tmp_path, capsys):
    before = (dna_run / "v.tsv").read_bytes()
    assert main(_score(dna_run, dna_run / "v.tsv")) == 1
    assert (dna_run / "v.tsv").read_bytes() == before  # never overwritten
    (tmp_path / "s.tsv").write_text("old\n")
    assert main(_score(dna_run, tmp_path / "s.tsv", "--overwrite")) == 0
    assert "score" in (tmp_path / "s.tsv").read_text().splitlines()[0]


def test_read_only_out_folder_is_named_before_computing(dna_run, tmp_path, capsys, monkeypatch):
    import bioR2.utils.outputs as outputs

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: not str(path).endswith("ro"))
    assert main(_score(dna_run, tmp_path / "ro" / "s.tsv")) == 1
    assert "ro is not writable" in capsys.readouterr().err


def test_a_genuine_bug_asks_to_be_reported(monkeypatch, capsys):
    import bioR2.theory.cli as theory_cli

    def broken(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(theory_cli, "run_theory", broken)
    rc = main(["theory", "risk", "--gamma", "2", "--p", "0.1"])
    err = capsys.readouterr().err
    assert rc == 70 and "internal error: TypeError" in err and "please report it" in err and "Traceback" not in err
    monkeypatch.setenv("BIOR2_DEBUG", "1")
    with pytest.raises(TypeError):
        main(["theory", "risk", "--gamma", "2", "--p", "0.1"])


@pytest.mark.parametrize("domain, argv", [
    ("dna", ["--window", "32", "--preset", "dna-tiny"]),
    ("vision", ["--preset", "vision-tiny", "--no-probe"]),
    ("text", ["--preset", "text-tiny", "--no-probe"]),
])
def test_same_seed_same_model_bit_for_bit(dna_run, tmp_path, domain, argv):
    """Row 1: every domain builds its model from the seed (single-cell: tests/test_sc_spec.py)."""
    from safetensors.torch import load_file

    source = {"dna": ["--fasta", str(dna_run / "g.fa")], "vision": ["--data", "digits"], "text": []}[domain]
    if domain == "text":
        docs = [" ".join(RNG.choice(["gene", "cell", "dna", "motif", "read"], 20)) for _ in range(40)]
        (tmp_path / "t.txt").write_text("\n\n".join(docs))
        source = ["--data", str(tmp_path / "t.txt")]
    runs = []
    for name in ("a", "b"):
        rc = main(["pretrain", domain, *source, *argv, "--out", str(tmp_path / name), "--steps", "3",
                   "--batch-size", "8", "--seed", "7", "--no-progress"])
        assert rc == 0
        runs.append(load_file(str(tmp_path / name / "model.safetensors")))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
