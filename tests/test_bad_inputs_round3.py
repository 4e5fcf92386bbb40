"""Issue-24 rows (reliability round three): bad input that used to slip through, at the command
line. Each row fails on the code before issue 24.

One table: ``(id, setup, expected stderr, check)``, where ``setup(root, tmp)`` makes the inputs and
returns the ``bior2`` argument list, the expected stderr is a regex, and ``check(root, tmp)``
(optional) asserts what must (not) be on disk afterwards: no lost file, no half-written run.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from dna_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

from bioR2.cli import main

RNG = np.random.default_rng(24)
SEQ = "".join(RNG.choice(list("ACGT"), 600))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A genome (chr1 upper case, chr2 all soft-masked), variants, a tiny DNA run, a tiny sc run."""
    import sys

    from sc_helpers import make_counts

    root = tmp_path_factory.mktemp("r3")
    (root / "g.fa").write_text(f">chr1\n{SEQ}\n>chr2\n{SEQ[:300].lower()}\n")
    rows = [("chr1", p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C", i % 2, f"g{i % 2}")
            for i, p in enumerate((100, 200, 300, 400))]
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "label", "grp"]).to_csv(root / "v.tsv", sep="\t",
                                                                                     index=False)
    assert main(["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(root / "dnarun"), "--window", "32",
                 "--preset", "dna-tiny", "--steps", "2", "--batch-size", "4", "--no-progress"]) == 0
    make_counts(n_cells=40, n_genes=12, seed=1).write_h5ad(root / "sc.h5ad")
    assert main(["pretrain", "sc", "--h5ad", str(root / "sc.h5ad"), "--out", str(root / "scrun"), "--steps", "2",
                 "--batch-size", "8", "--no-progress", "--layer", "counts"]) == 0
    assert sys is not None
    return root


def _dna(root, tmp, *extra, out="run"):
    return ["pretrain", "dna", "--fasta", str(root / "g.fa"), "--out", str(tmp / out), "--window", "32",
            "--preset", "dna-tiny", "--batch-size", "4", "--no-progress", *extra]


def _no_run_folder(root, tmp):
    assert not (tmp / "run").exists(), sorted(p.name for p in (tmp / "run").iterdir())


# ---------------------------------------------------------------------------- 1. data loss
def theory_plot_over_an_existing_file(root, tmp):
    (tmp / "fig.png").write_text("my figure")
    return ["theory", "plot", "--gamma", "2", "--p-max", "0.1", "--out", str(tmp / "fig.png")]


def fig_kept(root, tmp):
    assert (tmp / "fig.png").read_text() == "my figure"


def push_into_a_folder_with_the_users_files(root, tmp):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "README.md").write_text("my notes")
    (tmp / "mine" / "config.json").write_text("{}")
    return ["push", "--model", str(root / "dnarun"), "--local-dir", str(tmp / "mine")]


def users_files_kept(root, tmp):
    assert (tmp / "mine" / "README.md").read_text() == "my notes"
    assert (tmp / "mine" / "config.json").read_text() == "{}"


# ---------------------------------------------------------------------------- 2. half-written
def device_cuda_without_cuda(root, tmp):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    return _dna(root, tmp, "--steps", "1", "--device", "cuda")


def fp16_on_the_cpu(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--device", "cpu", "--precision", "fp16")


def negative_num_workers(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--num-workers", "-1")


# ---------------------------------------------------------------------------- 3. silent wrong
def stride_zero(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--stride", "0")


def fractional_steps(root, tmp):
    return _dna(root, tmp, "--set", "train.steps=2.7")


def bad_set_hidden_by_a_flag(root, tmp):
    return _dna(root, tmp, "--set", "train.steps=abc", "--steps", "1")


def negative_save_every(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--save-every", "-1")


def grid_step_zero(root, tmp):
    return ["theory", "optimal-p", "--gamma", "2", "--grid-step", "0", "--json"]


# ---------------------------------------------------------------------------- 4. unclear
def set_lr_text(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--set", "train.lr=abc")


def device_tpu(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--device", "tpu")


def negative_spike(root, tmp):
    return ["theory", "risk", "--gamma", "2", "--p", "0.1", "--spike", "-5:0.5"]


def infinite_risk(root, tmp):
    return ["theory", "risk", "--gamma", "1", "--p", "0", "--json"]


ROWS = [
    ("1-theory-plot-keeps-an-existing-figure", theory_plot_over_an_existing_file,
     r"--out .*fig\.png: already exists; pass --overwrite", fig_kept),
    ("1-push-local-dir-keeps-the-users-files", push_into_a_folder_with_the_users_files,
     r"--local-dir .*mine: already holds config\.json, README\.md; pass --overwrite", users_files_kept),
    ("2-device-cuda-without-cuda", device_cuda_without_cuda,
     r"train\.device \(--device\)='cuda' but CUDA is not available here; use --device cpu", _no_run_folder),
    ("2-fp16-on-the-cpu", fp16_on_the_cpu, r"train\.precision \(--precision\)=fp16 needs a CUDA device",
     _no_run_folder),
    ("2-negative-num-workers", negative_num_workers, r"train\.num_workers \(--num-workers\) must be >= 0",
     _no_run_folder),
    ("3-stride-0", stride_zero, r"data\.stride \(--stride\) must be >= 1, or unset", _no_run_folder),
    ("3-fractional-steps", fractional_steps, r"--set: train\.steps must be a whole number, got 2\.7", _no_run_folder),
    ("3-bad-set-under-a-flag", bad_set_hidden_by_a_flag, r"--set: train\.steps must be a whole number, got 'abc'",
     _no_run_folder),
    ("3-negative-save-every", negative_save_every, r"train\.save_every \(--save-every\) must be >= 0", _no_run_folder),
    ("3-grid-step-0", grid_step_zero, r"--grid-step must be in \(0, --p-max\]", None),
    ("4-set-lr-text", set_lr_text, r"--set: train\.lr must be a number, got 'abc'", _no_run_folder),
    ("4-device-tpu", device_tpu, r"train\.device \(--device\): 'tpu' is not a device; use auto, cpu, cuda",
     _no_run_folder),
    ("4-negative-spike", negative_spike, r"--spike '-5:0\.5': spike strength DELTA must be a finite number >= 0", None),
    ("4-infinite-risk", infinite_risk, r"--gamma 1 with --p 0: the test risk is infinite", None),
]


@pytest.mark.parametrize("setup, message, check", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_round3_bad_cli_input_is_one_line(root, tmp_path, capsys, setup, message, check):
    argv = setup(root, tmp_path)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's usage error: usage + one line, rc 2
        rc = exc.code
    err = capsys.readouterr().err
    assert rc in (1, 2), err
    assert "Traceback" not in err and "Warning" not in err, err
    assert re.search(message, err), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 or len(lines) == 1, err
    if check is not None:
        check(root, tmp_path)


# ---------------------------------------------------------------------------- rows that succeed, correctly
def test_set_lr_in_exponent_form_is_a_number(root, tmp_path):
    import yaml

    assert main(_dna(root, tmp_path, "--steps", "1", "--set", "train.lr=3e-4")) == 0
    assert yaml.safe_load((tmp_path / "run" / "run_config.yaml").read_text())["train"]["lr"] == pytest.approx(3e-4)


def test_resume_of_a_run_that_never_existed_says_so(root, tmp_path, capsys):
    assert main(_dna(root, tmp_path, "--steps", "1", "--resume")) == 0
    assert re.search(r"run: --resume .* found no checkpoint to continue; starting a new run", capsys.readouterr().err)


def test_theory_simulate_with_one_seed_prints_strict_json(capsys):
    assert main(["theory", "risk", "--gamma", "2", "--p", "0.2", "--method", "simulate", "--seeds", "1",
                 "--d", "40", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert out["se"] is None and "se needs --seeds 2" in captured.err


def test_overwrite_replaces_the_figure_and_the_local_dir_files(root, tmp_path):
    theory_plot_over_an_existing_file(root, tmp_path)
    assert main(["theory", "plot", "--gamma", "2", "--p-max", "0.1", "--out", str(tmp_path / "fig.png"),
                 "--overwrite"]) == 0
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    push_into_a_folder_with_the_users_files(root, tmp_path)
    assert main(["push", "--model", str(root / "dnarun"), "--local-dir", str(tmp_path / "mine"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "mine" / "config.json").read_text())
