"""Mistakes in a user's own single-cell input (embed / annotate, references, outputs): one clear
error naming the file, the field or the value and what to do; nothing overwritten.

Rows: ``(id, setup, expected exception, expected message)``, where ``setup(tmp_path)`` builds the
bad input and returns the call that must fail.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from bad_input_helpers import assert_one_clear_error, tiny_model


def row14_setup(method):
    def setup(tmp_path):
        from sc_helpers import make_counts

        from bioR2.sc import ExpressionMAE
        from bioR2.sc.annotate import annotate

        ref = make_counts(n_cells=30, n_genes=12, seed=1)
        ref.obs["cell_type"] = "T cell"
        query = make_counts(n_cells=10, n_genes=12, seed=2)
        model = ExpressionMAE(genes=list(ref.var_names), hidden=(8,), latent=4)
        return lambda: annotate(query, model, ref, "cell_type", method=method)
    return setup


ROWS = [
    ("14-single-label-reference-linear", row14_setup("linear"), ValueError,
     r"obs\['cell_type'\] holds a single label \('T cell'\)"),
    ("14-single-label-reference-finetune", row14_setup("finetune"), ValueError,
     r"obs\['cell_type'\] holds a single label \('T cell'\)"),
]


@pytest.mark.parametrize("setup, error, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_clear_error(tmp_path, setup, error, message):
    assert_one_clear_error(setup(tmp_path), error, message)


def test_log1p_declared_data_that_look_like_counts_warn(tmp_path):
    from sc_helpers import make_counts

    from bioR2.sc.data import ExpressionReader, open_cells

    adata = make_counts(n_cells=20, n_genes=10)
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    reader = ExpressionReader(open_cells(path, layer="counts"), is_log1p=True)
    with pytest.warns(UserWarning, match=r"cells\.h5ad \.layers\['counts'\]: declared log-normalised "
                                         r"\(is_log1p=True, --log1p\), but every value read is a whole "
                                         r"number \(max \d+\): it looks like raw counts") as record:
        reader.read(np.arange(20))
    assert len(record) == 1
    # ... once, and never for genuinely log-normalised values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader.read(np.arange(5))
        logged = adata.copy()
        logged.X = np.log1p(adata.X.toarray() * 3.7)
        ExpressionReader(open_cells(logged), is_log1p=True).read(np.arange(20))


def sc_inputs(tmp_path):
    """A query and a labelled reference ``.h5ad`` and an (untrained) single-cell model."""
    from sc_helpers import make_counts

    from bioR2.sc import ExpressionMAE

    ref = make_counts(n_cells=30, n_genes=12, seed=1)
    ref.write_h5ad(tmp_path / "ref.h5ad")
    make_counts(n_cells=10, n_genes=12, seed=2).write_h5ad(tmp_path / "query.h5ad")
    return (tmp_path / "query.h5ad", tmp_path / "ref.h5ad",
            ExpressionMAE(genes=list(ref.var_names), hidden=(8,), latent=4))


def dna_run(tmp_path):
    from bioR2.train import save_model

    save_model(tmp_path / "dna-run", tiny_model())
    return tmp_path / "dna-run"


def row2_annotate_out_is_the_reference(tmp_path):
    from bioR2.sc import annotate_file

    query, ref, _ = sc_inputs(tmp_path)
    # refused before the (missing) model is even looked at: nothing computed, the reference kept
    return lambda: annotate_file(query, tmp_path / "no-model", ref, ref, "cell_type")


def row2_annotate_out_is_the_query(tmp_path):
    from bioR2.sc import annotate_file

    query, ref, _ = sc_inputs(tmp_path)
    return lambda: annotate_file(query, tmp_path / "no-model", query, ref, "cell_type")


def row2_embed_out_exists(tmp_path):
    from bioR2.sc import embed_file

    query, ref, model = sc_inputs(tmp_path)
    return lambda: embed_file(query, model, ref)


def row5_dna_run_to_embed(tmp_path):
    from bioR2.sc import embed_file

    query, _, _ = sc_inputs(tmp_path)
    return lambda: embed_file(query, dna_run(tmp_path), tmp_path / "out.h5ad")


def row5_dna_model_to_annotate(tmp_path):
    import anndata

    from bioR2.sc import annotate

    query, ref, _ = sc_inputs(tmp_path)
    return lambda: annotate(anndata.read_h5ad(query), tiny_model(), ref, "cell_type")


def row9_setup(function, **options):
    def setup(tmp_path):
        import anndata

        import bioR2.sc

        query, ref, model = sc_inputs(tmp_path)
        adata = anndata.read_h5ad(query)
        if function == "annotate":
            return lambda: bioR2.sc.annotate(adata, model, ref, "cell_type", **options)
        return lambda: bioR2.sc.embed(adata, model, **options)
    return setup


def row11_out_is_a_folder(tmp_path):
    from bioR2.sc import embed_file

    query, _, model = sc_inputs(tmp_path)
    (tmp_path / "results").mkdir()
    return lambda: embed_file(query, model, tmp_path / "results")


SC_ROWS = [
    ("2-annotate-out-is-the-reference", row2_annotate_out_is_the_reference, ValueError,
     r"--out .*ref\.h5ad: is the input file .*ref\.h5ad; write the output to a new path"),
    ("2-annotate-out-is-the-query", row2_annotate_out_is_the_query, ValueError,
     r"--out .*query\.h5ad: is the input file .*query\.h5ad"),
    ("2-embed-out-exists", row2_embed_out_exists, FileExistsError,
     r"--out .*ref\.h5ad: already exists; pass --overwrite \(overwrite=True\) to replace it"),
    ("5-dna-run-to-embed", row5_dna_run_to_embed, ValueError,
     r"dna-run holds a DNA model \(DNAMaskedLM\); embed needs a single-cell model from bior2 pretrain sc"),
    ("5-dna-model-to-annotate", row5_dna_model_to_annotate, ValueError,
     r"the model is a DNA model \(DNAMaskedLM\); annotate needs a single-cell model from bior2 pretrain sc"),
    ("9-min-overlap-above-1", row9_setup("embed", min_overlap=1.5), ValueError,
     r"min_overlap must be in \(0, 1\], got 1\.5"),
    ("9-min-overlap-0", row9_setup("annotate", min_overlap=0), ValueError, r"min_overlap must be in \(0, 1\], got 0"),
    ("9-batch-size-0", row9_setup("embed", batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    ("9-min-confidence-2", row9_setup("annotate", min_confidence=2), ValueError,
     r"min_confidence must be in \[0, 1\], got 2"),
    ("11-out-is-a-folder", row11_out_is_a_folder, IsADirectoryError, r"--out .*results: is a folder; give a file path"),
]


@pytest.mark.parametrize("setup, error, message", [r[1:] for r in SC_ROWS], ids=[r[0] for r in SC_ROWS])
def test_single_cell_bad_inputs(tmp_path, setup, error, message):
    test_bad_input_is_one_clear_error(tmp_path, setup, error, message)


def test_annotate_out_equal_to_the_reference_leaves_it_untouched(tmp_path):
    call = row2_annotate_out_is_the_reference(tmp_path)
    before = (tmp_path / "ref.h5ad").read_bytes()
    with pytest.raises(ValueError, match="is the input file"):
        call()
    assert (tmp_path / "ref.h5ad").read_bytes() == before


def _cli_rc1(argv, message, capsys):
    from bioR2.cli import main

    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bior2: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_cli_sc_output_paths_are_checked_first(tmp_path, capsys):
    query, ref, _ = sc_inputs(tmp_path)
    before = ref.read_bytes()
    for flag in ("--out", "--query"):  # --out is the reference, or the query is given as --out
        out = ref if flag == "--out" else query
        _cli_rc1(["annotate", "--model", tmp_path / "no-model", "--reference", ref, "--label-key", "cell_type",
                  "--query", query, "--out", out], r"--out .*\.h5ad: is the input file", capsys)
    assert ref.read_bytes() == before
    _cli_rc1(["embed", "--model", tmp_path / "no-model", "--h5ad", query, "--out", ref],
             r"already exists; pass --overwrite", capsys)
    (tmp_path / "results").mkdir()
    _cli_rc1(["embed", "--model", tmp_path / "no-model", "--h5ad", query, "--out", tmp_path / "results"],
             r"results: is a folder", capsys)


def test_cli_sc_out_in_a_read_only_folder(tmp_path, capsys, monkeypatch):
    import bioR2.utils.outputs as outputs

    query, _, _ = sc_inputs(tmp_path)
    (tmp_path / "locked").mkdir()
    real = os.access
    monkeypatch.setattr(outputs.os, "access",
                        lambda path, mode: False if str(path) == str(tmp_path / "locked") else real(path, mode))
    _cli_rc1(["embed", "--model", tmp_path / "no-model", "--h5ad", query, "--out", tmp_path / "locked" / "o.h5ad"],
             r"the folder .*locked is not writable", capsys)


def test_cli_sc_refuses_a_dna_model_in_one_line(tmp_path, capsys):
    query, ref, _ = sc_inputs(tmp_path)
    run = dna_run(tmp_path)
    _cli_rc1(["embed", "--model", run, "--h5ad", query, "--out", tmp_path / "o.h5ad"],
             r"dna-run holds a DNA model \(DNAMaskedLM\); embed needs a single-cell model from bior2 pretrain sc",
             capsys)
    _cli_rc1(["annotate", "--model", run, "--reference", ref, "--label-key", "cell_type", "--query", query,
              "--out", tmp_path / "a.h5ad"], r"holds a DNA model \(DNAMaskedLM\); annotate needs", capsys)


@pytest.mark.parametrize("flag, value, message", [
    ("--min-overlap", "1.5", r"--min-overlap must be in \(0, 1\], got 1\.5"),
    ("--min-overlap", "0", r"--min-overlap must be in \(0, 1\], got 0"),
    ("--batch-size", "0", r"--batch-size must be >= 1, got 0"),
    ("--batch-size", "many", r"--batch-size must be a whole number >= 1, got 'many'"),
    ("--min-confidence", "2", r"--min-confidence must be in \[0, 1\], got 2"),
])
def test_cli_sc_option_values_are_checked_when_parsed(tmp_path, capsys, flag, value, message):
    import re

    from bioR2.cli import main

    for command in ("embed", "annotate"):
        if flag == "--min-confidence" and command == "embed":
            continue
        data = "--h5ad" if command == "embed" else "--query"
        with pytest.raises(SystemExit) as info:
            main([command, "--model", str(tmp_path / "no-model"), data, "q.h5ad", "--out", "o.h5ad", flag, value])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert re.search(rf"error: argument {flag}: {message}", err), err
        assert "Traceback" not in err
