"""Issue 24, section 5: what a finished run leaves for a scanpy/GPN user: a model card in the run
folder (huggingface_hub's ModelCard format), its history as a DataFrame, a loss-curve plot and
optional TensorBoard logs."""

from __future__ import annotations

import hashlib
import re
import sys
import types

import numpy as np
import pytest


from bioR2.cli import main

RNG = np.random.default_rng(7)
SEQ = "".join(RNG.choice(list("ACGT"), 600))


def _pretrain(tmp_path, *extra):
    (tmp_path / "g.fa").write_text(f">chr1\n{SEQ}\n>chr2\n{SEQ[:300]}\n")
    return main(["pretrain", "dna", "--fasta", str(tmp_path / "g.fa"), "--out", str(tmp_path / "run"),
                 "--window", "32", "--preset", "dna-tiny", "--steps", "3", "--batch-size", "4", "--held-out", "chr2",
                 "--no-progress", *extra])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hist")
    assert _pretrain(tmp) == 0
    return tmp


def test_a_finished_run_has_its_model_card(run):
    from huggingface_hub import ModelCard

    card = ModelCard.load(run / "run" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "bior2" and data["license"] == "mit" and data["pipeline_tag"] == "fill-mask"
    assert data["datasets"] == ["g.fa"] and {"bior2", "r2mae", "dna"} <= set(data["tags"])
    metrics = data["model-index"][0]["results"][0]["metrics"][0]
    assert metrics["type"] == "loss" and np.isfinite(metrics["value"])  # the held-out loss
    text = card.text
    assert text.lstrip().startswith("# run: an R²MAE DNA language model")
    digest = hashlib.sha256((run / "g.fa").read_bytes()).hexdigest()
    assert f"Genome: `g.fa` (SHA-256 `{digest}`)" in text
    assert "- warmup_steps: 0" in text and "warmup_steps: -1" not in text  # resolved: 5% of 3 steps


def test_history_is_a_dataframe_by_step(run):
    import pandas as pd

    from bioR2.train import read_log

    history = read_log(run / "run")
    assert isinstance(history, pd.DataFrame) and history.index.name == "step"
    assert history.index.tolist() == [1, 2, 3]
    assert {"loss", "mask_ratio", "lr", "val_loss"} <= set(history.columns)
    assert history["val_loss"].notna().tolist() == [False, False, True]  # validated once, at the end


def test_pretrain_result_history(tmp_path):
    import bioR2

    (tmp_path / "g.fa").write_text(f">chr1\n{SEQ}\n")
    result = bioR2.pretrain("dna", str(tmp_path / "g.fa"), None, window=32, steps=2, batch_size=4, hidden=16,
                            layers=1, progress=False)
    history = result.history
    assert history.index.tolist() == [1, 2] and history["loss"].notna().all()
    assert np.allclose(history["loss"].to_numpy(), [r["loss"] for r in result.log])


def test_plot_log_writes_a_figure_and_keeps_an_existing_one(run, tmp_path, capsys):
    assert main(["plot-log", str(run / "run"), "--out", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["plot-log", str(run / "run"), "--out", str(tmp_path / "curve.png")]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["plot-log", str(tmp_path), "--out", str(tmp_path / "c2.png")]) == 1
    assert "log.jsonl: no training log" in capsys.readouterr().err


def test_log_to_tensorboard_without_the_package_fails_before_any_write(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    assert _pretrain(tmp_path, "--log-to", "tensorboard") == 1
    err = capsys.readouterr().err
    assert "--log-to) tensorboard needs the tensorboard package" in err and "pip install tensorboard" in err
    assert not (tmp_path / "run").exists()


def test_log_to_tensorboard_writes_scalars(tmp_path, monkeypatch):
    written = []

    class FakeWriter:  # stands in for torch.utils.tensorboard.SummaryWriter (tensorboard is optional)
        def __init__(self, log_dir):
            written.append(("dir", log_dir))

        def add_scalar(self, tag, value, step):
            written.append((tag, step))

        def close(self):
            written.append(("closed", None))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    assert _pretrain(tmp_path, "--log-to", "tensorboard") == 0
    assert written[0] == ("dir", str(tmp_path / "run" / "tensorboard")) and written[-1][0] == "closed"
    assert ("train/loss", 3) in written and ("train/mask_ratio", 1) in written and ("val/val_loss", 3) in written


@pytest.mark.parametrize("domain, first, options", [("sc", "adata", ("layer", "use_raw", "is_log1p", "genes")),
                                                     ("dna", "genome", ("window", "held_out", "stride", "arch"))])
def test_domain_pretrain_has_its_own_signature_and_docs(domain, first, options):
    import importlib
    import inspect

    fn = getattr(importlib.import_module(f"bioR2.{domain}"), "pretrain")
    params = inspect.signature(fn).parameters
    assert list(params)[:2] == [first, "out"] and set(options) <= set(params)
    assert {"steps", "batch_size", "mask_ratio", "device", "resume"} <= set(params)
    doc = inspect.getdoc(fn)
    assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    described = doc.split("Parameters", 1)[1].split("Returns", 1)[0]
    for name in (first, *options):
        assert re.search(rf"^([\w, ]*, )?{name}\b", described, re.M), name  # a numpydoc parameter line


def test_dna_pretrain_passes_its_options(tmp_path):
    import bioR2

    (tmp_path / "g.fa").write_text(f">chr1\n{SEQ}\n>chr2\n{SEQ[:200]}\n")
    result = bioR2.dna.pretrain(str(tmp_path / "g.fa"), None, window=32, held_out=["chr2"], hidden=16, layers=1,
                                steps=1, batch_size=4, progress=False)
    assert result.config["data"]["window"] == 32 and result.config["data"]["held_out"] == ["chr2"]
    assert result.config["model"]["hidden"] == 16 and result.val_loss is not None


def test_annotate_key_added_and_its_alias_key_prefix():
    from sc_helpers import make_counts

    from bioR2.sc import ExpressionMAE, annotate

    ref = make_counts(n_cells=30, n_genes=12, seed=1)
    model = ExpressionMAE(genes=list(ref.var_names), hidden=(8,), latent=4)
    query = make_counts(n_cells=10, n_genes=12, seed=2)
    out = annotate(query, model, ref, "cell_type", layer="counts", key_added="ct", copy=True)
    assert {"ct_label", "ct_confidence"} <= set(out.obs.columns) and "ct_label" in out.uns["bior2"]
    out = annotate(query, model, ref, "cell_type", layer="counts", key_prefix="old", copy=True)
    assert "old_label" in out.obs.columns
    with pytest.raises(ValueError, match="key_prefix is another name for key_added"):
        annotate(query, model, ref, "cell_type", layer="counts", key_added="a", key_prefix="b", copy=True)


def test_card_title_says_r2mae_only_for_a_ratio_range(run, tmp_path):
    import json
    import shutil

    from bioR2 import hub

    folder = tmp_path / "fixed"
    shutil.copytree(run / "run", folder, ignore=shutil.ignore_patterns("checkpoints"))
    train = json.loads((folder / "train_config.json").read_text())
    (folder / "train_config.json").write_text(json.dumps({**train, "mask_ratio": "0.15"}))
    assert "\n# fixed: a masked DNA language model\n" in hub.model_card(folder)
