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
    cells = make_counts(n_cells=40, n_genes=12, seed=1)
    cells.write_h5ad(root / "sc.h5ad")
    cells[:3].copy().write_h5ad(root / "three.h5ad")
    lognorm = cells.copy()  # scanpy's usual layout: log1p(CP10k) in .X and in .raw, no counts layer
    del lognorm.layers["counts"]
    lognorm.X = sp_log1p_cp10k(lognorm.X)
    lognorm.raw = lognorm
    lognorm.write_h5ad(root / "lognorm.h5ad")
    assert main(["pretrain", "sc", "--h5ad", str(root / "sc.h5ad"), "--out", str(root / "scrun"), "--steps", "2",
                 "--batch-size", "8", "--no-progress", "--layer", "counts"]) == 0
    assert sys is not None
    return root


def sp_log1p_cp10k(x):
    import scipy.sparse as sp

    dense = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)
    return sp.csr_matrix(np.log1p(dense / np.maximum(dense.sum(1, keepdims=True), 1) * 1e4).astype(np.float32))


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


def text_data_is_an_h5ad(root, tmp):
    return ["pretrain", "text", "--data", str(root / "sc.h5ad"), "--out", str(tmp / "run"), "--steps", "1",
            "--batch-size", "1", "--no-progress"]


def soft_masked_held_out_contig(root, tmp):
    return _dna(root, tmp, "--steps", "1", "--held-out", "chr2")


def groups_without_labels(root, tmp):
    return ["score-variants", "--model", str(root / "dnarun"), "--fasta", str(root / "g.fa"), "--variants",
            str(root / "v.tsv"), "--out", str(tmp / "s.tsv"), "--groups", "grp"]


def _annotate(root, tmp, *extra):
    return ["annotate", "--model", str(root / "scrun"), "--reference", str(root / "sc.h5ad"), "--label-key",
            "cell_type", "--query", str(root / "sc.h5ad"), "--out", str(tmp / "a.h5ad"), "--layer", "counts", *extra]


def finetune_steps_with_linear(root, tmp):
    return _annotate(root, tmp, "--finetune-steps", "3")


def embed_out_txt(root, tmp):
    return ["embed", "--model", str(root / "scrun"), "--h5ad", str(root / "sc.h5ad"), "--out", str(tmp / "x.txt"),
            "--layer", "counts"]


def _no_file(name):
    def check(root, tmp):
        assert not (tmp / name).exists()
    return check


def genes_not_in_the_data(root, tmp):
    return ["pretrain", "sc", "--h5ad", str(root / "sc.h5ad"), "--out", str(tmp / "run"), "--steps", "1",
            "--layer", "counts", "--genes", "G1,NOPE"]


def space_padded_tsv(root, tmp):
    (tmp / "pad.tsv").write_text(f"chrom\tpos\tref\talt\nchr1\t100\t {SEQ[99]}\tC\n")
    return ["score-variants", "--model", str(root / "dnarun"), "--fasta", str(root / "g.fa"), "--variants",
            str(tmp / "pad.tsv"), "--out", str(tmp / "s.tsv")]


def _text(root, tmp, *extra):
    (tmp / "docs.txt").write_text("some words here\n\nmore words there\n")
    return ["pretrain", "text", "--data", str(tmp / "docs.txt"), "--out", str(tmp / "run"), "--steps", "1",
            "--batch-size", "1", "--no-progress", *extra]


def tokenizer_from_a_dna_run(root, tmp):
    return _text(root, tmp, "--tokenizer", str(root / "dnarun"))


def tokenizer_is_a_fasta(root, tmp):
    return _text(root, tmp, "--tokenizer", str(root / "g.fa"))


def image_size_zero(root, tmp):
    _images(tmp, classes=("a", "b"))
    return ["pretrain", "vision", "--data", str(tmp / "imgs"), "--out", str(tmp / "run"), "--steps", "1",
            "--image-size", "0", "--no-progress"]


def _images(tmp, classes):
    from PIL import Image

    for c in classes:
        (tmp / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray((RNG.random((8, 8)) * 255).astype("uint8")).save(tmp / "imgs" / c / f"{i}.png")


def one_class_image_folder(root, tmp):
    _images(tmp, classes=("cat",))
    return ["pretrain", "vision", "--data", str(tmp / "imgs"), "--out", str(tmp / "run"), "--steps", "1",
            "--image-size", "8", "--batch-size", "4", "--no-progress"]


def empty_seeds(root, tmp):
    return ["benchmark", "dna", "--out", str(tmp / "bench"), "--seeds", ""]


def no_bench_folder(root, tmp):
    assert not (tmp / "bench").exists()


def out_is_the_input_file_with_overwrite(root, tmp):
    import shutil

    shutil.copy(root / "sc.h5ad", tmp / "cells.h5ad")
    return ["pretrain", "sc", "--h5ad", str(tmp / "cells.h5ad"), "--out", str(tmp / "cells.h5ad"), "--steps", "1",
            "--layer", "counts", "--overwrite"]


def input_kept(root, tmp):
    assert (tmp / "cells.h5ad").read_bytes() == (root / "sc.h5ad").read_bytes()


def h5ad_is_a_folder(root, tmp):
    return ["embed", "--model", str(root / "scrun"), "--h5ad", str(root / "scrun"), "--out", str(tmp / "e.h5ad")]


def run_stopped_before_its_model(root, tmp):
    import shutil

    shutil.copytree(root / "dnarun" / "checkpoints", tmp / "stopped" / "checkpoints")
    return ["score-variants", "--model", str(tmp / "stopped"), "--fasta", str(root / "g.fa"), "--variants",
            str(root / "v.tsv"), "--out", str(tmp / "s.tsv")]


def umap_on_three_cells(root, tmp):
    return ["embed", "--model", str(root / "scrun"), "--h5ad", str(root / "three.h5ad"), "--out",
            str(tmp / "e.h5ad"), "--layer", "counts", "--umap"]


def use_raw_holding_log_values(root, tmp):
    return ["pretrain", "sc", "--h5ad", str(root / "lognorm.h5ad"), "--use-raw", "--out", str(tmp / "run"),
            "--steps", "1", "--batch-size", "8", "--no-progress"]


def out_under_a_file(root, tmp):
    (tmp / "g.fa").write_text(">c\nACGT\n")
    return _dna(root, tmp, "--steps", "1", out="g.fa/run")


def embed_device_tpu(root, tmp):
    return ["embed", "--model", str(root / "scrun"), "--h5ad", str(root / "sc.h5ad"), "--out", str(tmp / "e.h5ad"),
            "--layer", "counts", "--device", "tpu"]


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
    ("4-device-tpu", device_tpu, r"train\.device \(--device\)='tpu': not a device; use auto, cpu, cuda",
     _no_run_folder),
    ("4-negative-spike", negative_spike, r"--spike '-5:0\.5': spike strength DELTA must be a finite number >= 0", None),
    ("4-infinite-risk", infinite_risk, r"--gamma 1 with --p 0: the test risk is infinite", None),
    ("3-text-data-is-an-h5ad", text_data_is_an_h5ad, r"sc\.h5ad: not a text file \(HDF5", _no_run_folder),
    ("3-groups-without-labels", groups_without_labels, r"--groups grp: only used with --labels", _no_file("s.tsv")),
    ("3-finetune-steps-with-linear", finetune_steps_with_linear,
     r"--finetune-steps 3: only used with --method finetune", _no_file("a.h5ad")),
    ("3-embed-out-txt", embed_out_txt, r"--out .*x\.txt: the output is an AnnData file; name it \.h5ad",
     _no_file("x.txt")),
    ("4-genes-not-in-the-data", genes_not_in_the_data,
     r"data\.genes \(--genes\) asks for 1 gene\(s\) not in its var_names: NOPE", _no_run_folder),
    ("4-space-padded-tsv-field", space_padded_tsv, r"pad\.tsv: column 'ref' has values padded with spaces .* line",
     _no_file("s.tsv")),
    ("4-tokenizer-from-a-dna-run", tokenizer_from_a_dna_run,
     r"data\.tokenizer \(--tokenizer\) .*dnarun: holds a .*DNAMaskedLM without a text tokenizer", _no_run_folder),
    ("4-tokenizer-is-a-fasta", tokenizer_is_a_fasta, r"data\.tokenizer \(--tokenizer\) .*g\.fa: not a tokenizer",
     _no_run_folder),
    ("4-image-size-0", image_size_zero, r"data\.image_size \(--image-size\) must be >= 1, got 0", _no_run_folder),
    ("4-one-class-image-folder", one_class_image_folder,
     r"imgs: the linear probe needs at least 2 classes .* --no-probe", _no_run_folder),
    ("4-empty-seeds", empty_seeds, r"--seeds: no seed given", no_bench_folder),
    ("4-out-is-the-input-with-overwrite", out_is_the_input_file_with_overwrite,
     r"--out .*cells\.h5ad: is a file, not a run folder", input_kept),
    ("4-h5ad-is-a-folder", h5ad_is_a_folder, r"scrun: is a folder; give an \.h5ad file", _no_file("e.h5ad")),
    ("4-run-stopped-before-its-model", run_stopped_before_its_model,
     r"stopped before its final model; its latest checkpoint is .*step-00000002", _no_file("s.tsv")),
    ("4-umap-on-three-cells", umap_on_three_cells, r"--umap \(umap=True\) needs at least 4 cells; this data has 3",
     _no_file("e.h5ad")),
    ("4-embed-device-tpu", embed_device_tpu, r"device='tpu': not a device; use auto, cpu, cuda", _no_file("e.h5ad")),
    ("4-out-under-a-file", out_under_a_file, r"--out .*g\.fa/run: .*g\.fa is a file, not a folder",
     _no_file("g.fa/run")),
    ("4-threads-negative", lambda root, tmp: _dna(root, tmp, "--steps", "1", "--threads", "-1"),
     r"--threads must be >= 1", _no_run_folder),
    ("4-theory-plot-unknown-format", lambda root, tmp: ["theory", "plot", "--gamma", "2", "--out", str(tmp / "f.txt")],
     r"--out .*f\.txt: name the figure \.png, \.pdf or \.svg", _no_file("f.txt")),
    ("5-use-raw-holding-log-values", use_raw_holding_log_values,
     r"lognorm\.h5ad \.raw\.X: holds log-normalised values .*--use-raw --log1p", _no_run_folder),
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
    assert re.search(r"note: --resume: .*run holds no checkpoint to continue; starting a new run",
                     capsys.readouterr().err)


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


def test_latin1_text_is_read_with_a_warning_naming_the_line(root, tmp_path, capsys):
    (tmp_path / "docs.txt").write_bytes("caf\xe9 au lait\n\nsecond document here\n".encode("latin-1"))
    argv = ["pretrain", "text", "--data", str(tmp_path / "docs.txt"), "--out", str(tmp_path / "run"), "--steps", "1",
            "--batch-size", "1", "--no-progress"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: .*docs\.txt: not UTF-8 \(byte 0xe9 on line 1\); read as Latin-1", err), err


def test_embed_advice_on_log_values_names_options_embed_takes(root, tmp_path, capsys):
    argv = ["embed", "--model", str(root / "scrun"), "--h5ad", str(root / "lognorm.h5ad"), "--out",
            str(tmp_path / "e.h5ad"), "--layer", "X"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "read as counts, but holds non-integer values" in err and "--layer" in err
    assert "--log1p" not in err  # embed has no --log1p: the model fixes the normalisation


def test_use_raw_is_recorded_as_the_raw_layer(root, tmp_path):
    import anndata

    from bioR2.sc import embed
    from bioR2.train import load_model

    adata = anndata.read_h5ad(root / "sc.h5ad")
    adata.raw = adata.copy()
    adata.raw.X.data[:] = np.round(adata.raw.X.data)  # counts in .raw
    embed(adata, load_model(root / "scrun"), use_raw=True)
    record = adata.uns["bior2"]["X_r2mae"]
    assert record["use_raw"] and record["layer"] == "raw.X"


def test_warnings_name_the_callers_line(root):
    import warnings

    import anndata

    from bioR2.sc import embed
    from bioR2.train import load_model

    adata = anndata.read_h5ad(root / "lognorm.h5ad")
    model = load_model(root / "scrun")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embed(adata, model, layer="X")
    hits = [w for w in caught if "non-integer values" in str(w.message)]
    assert hits and hits[0].filename == __file__, [(w.filename, str(w.message)[:60]) for w in caught]


def test_an_unwritable_folder_is_named_not_a_hidden_temp_file(tmp_path, monkeypatch):
    import tempfile

    from bioR2.utils.io import atomic_write_text

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.abc.tmp.txt"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        atomic_write_text(tmp_path / "out.txt", "x")
    assert str(info.value).startswith(f"{tmp_path / 'out.txt'}: cannot write in the folder {tmp_path}")
    assert ".tmp" not in str(info.value)


def test_help_text_states_each_default_once_and_never_empty():
    import argparse

    from bioR2.cli import build_parser

    def walk(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(path), parser
            return
        for name, sub in subs[0].choices.items():
            yield from walk(sub, [*path, name])

    bad = []
    for name, parser in walk(build_parser(), []):
        for action in parser._actions:
            text = parser._get_formatter()._expand_help(action) if action.help else ""
            if re.search(r"\(default \)|\(default None\)|\(default \[\]\)", text) or \
                    len(re.findall(r"\(default|\(off by default|\(on by default", text)) > 1:
                bad.append(f"{name} {action.option_strings}: {text}")
    assert not bad, "\n".join(bad)


def test_summary_figure_bars_start_at_zero_with_display_names():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "summary_figure.py"
    spec = importlib.util.spec_from_file_location("summary_figure", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fig = module.draw()
    try:
        for ax in fig.axes:
            assert ax.get_ylim()[0] == 0.0, ax.get_title()
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert not [t for t in labels if "_" in t], labels  # no scvi_logreg, bag_of_tokens, ...
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_an_all_soft_masked_held_out_contig_is_said(root, tmp_path, capsys):
    """GPN weighs soft-masked bases 0 in validation: a held-out contig of lowercase bases only gives
    a NaN held-out loss; the run says why (it used to log NaN without a word)."""
    assert main(soft_masked_held_out_contig(root, tmp_path)) == 0
    err = capsys.readouterr().err
    assert re.search(r"bior2: warning: .*every base of the held-out contig\(s\) chr2 .* is soft-masked .*"
                     r"held-out loss will be NaN.*--soft-weight-eval 0\.1", err), err
