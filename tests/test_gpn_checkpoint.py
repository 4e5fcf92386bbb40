"""GPN's checkpoints scored natively: a tiny GPNForMaskedLM made with GPN's own code
(tests/data/gpn_tiny/make_fixture.py) gives, through `bior2 score-variants --model DIR`, the
scores GPN's `run_vep` gave, without `gpn` installed; broken or foreign checkpoints are refused
by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bioR2.cli import main
from bioR2.dna.gpn_compat import GPNMaskedLM, load_gpn_checkpoint
from bioR2.dna.variants import load_model_for_scoring, score_variants, score_variants_file
from bioR2.train.checkpoint import CheckpointError

FIXTURE = Path(__file__).resolve().parent / "data" / "gpn_tiny"
WINDOW = 64  # the window run_vep scored the fixture's main model with
TOL = 1e-4
# folder, run_vep's window, its scores: GPN's default options; the other supported options; the
# legacy ConvNetForMaskedLM (model_type ConvNet)
MODELS = [("model", WINDOW, "expected_scores.tsv"), ("model_options", 20, "expected_scores_options.tsv"),
          ("model_legacy", 24, "expected_scores_legacy.tsv")]


@pytest.fixture
def data(tmp_path):
    """The fixture's genome and variants copied (the genome index is written beside the FASTA)."""
    for name in ("genome.fa", "variants.tsv"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def model_copy(tmp_path):
    dst = tmp_path / "gpn_model"
    shutil.copytree(FIXTURE / "model", dst)
    return dst


def expected(name: str = "expected_scores.tsv") -> pd.DataFrame:
    return pd.read_csv(FIXTURE / name, sep="\t")


def test_the_fixture_is_small_and_complete():
    files = [p for p in FIXTURE.rglob("*") if p.is_file() and p.suffix != ".fai"]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    for _, _, name in MODELS:
        exp = expected(name)
        assert len(exp) >= 10 and np.abs(exp["score_run_vep"] - exp["score_fp32"]).max() < 1e-5
        assert exp["score_run_vep"].std() > 0.3  # scores of order 1: a 1e-4 match means something


@pytest.mark.parametrize("folder, window, scores", MODELS, ids=[m[0] for m in MODELS])
def test_scores_equal_gpn_run_vep(data, tmp_path, folder, window, scores):
    model = load_model_for_scoring(str(FIXTURE / folder))
    assert isinstance(model, GPNMaskedLM) and model.receptive_radius > window // 2  # window edges matter
    out = tmp_path / "scores.tsv"
    # batch 3: the two alleles of chr2:300 share a pass, some batches mix contigs
    summary = score_variants_file(str(FIXTURE / folder), data / "genome.fa", data / "variants.tsv", out,
                                  window=window, batch_size=3, device="cpu", progress=False)
    exp = expected(scores)
    assert summary["status_counts"] == {"ok": len(exp)}
    got = pd.read_csv(out, sep="\t")
    assert (got[["chrom", "pos", "ref", "alt"]].to_numpy() == exp[["chrom", "pos", "ref", "alt"]].to_numpy()).all()
    for column in ("score_run_vep", "score_fp32"):
        diff = np.abs(got["score"].to_numpy() - exp[column].to_numpy()).max()
        assert diff <= TOL, f"{column}: max abs diff {diff:.3g}"


def test_cli_score_variants_with_a_gpn_folder(data, capsys):
    out = data / "scores.vcf"
    argv = ["score-variants", "--model", str(FIXTURE / "model"), "--fasta", str(data / "genome.fa"),
            "--variants", str(data / "variants.tsv"), "--out", str(out), "--window", str(WINDOW),
            "--batch-size", "8", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    assert f"scored {len(expected())} variants (ok: {len(expected())})" in capsys.readouterr().out
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    scores = np.array([float(line.split("BIOR2_SCORE=")[1].split(";")[0]) for line in lines])
    assert np.abs(scores - expected()["score_run_vep"].to_numpy()).max() <= TOL


@pytest.mark.parametrize("folder", [m[0] for m in MODELS])
def test_center_logits_equal_the_full_forward(folder):
    model = load_gpn_checkpoint(FIXTURE / folder)
    g = torch.Generator().manual_seed(0)
    for L in (70, 257):  # the sparse cone: taps past either window edge, and far inside
        ids = torch.randint(0, 7, (3, L), generator=g)
        with torch.no_grad():
            full = model(ids)
            for c in (0, 1, L // 2 - 1, L // 2, L - 1):
                torch.testing.assert_close(model.center_logits(ids, c), full[:, c], atol=1e-5, rtol=1e-5)


def _max_diff(model, data) -> float:
    got = score_variants(model, data / "genome.fa", data / "variants.tsv", window=WINDOW, batch_size=8,
                         device="cpu")["score"].to_numpy()
    return float(np.abs(got - expected()["score_run_vep"].to_numpy()).max())


@pytest.mark.parametrize("change", ["weight", "reverse_window", "edge_padding"])
def test_the_comparison_detects_a_wrong_model(change, data):
    """Each part of the mapping matters on this fixture: a weight, GPN's reverse-strand window,
    and reading past-contig positions as GPN's N."""
    model = load_gpn_checkpoint(FIXTURE / "model")
    assert _max_diff(model, data) <= TOL
    if change == "weight":
        with torch.no_grad():
            model.model.encoder.layer[3].ffn[0].weight[5] += 0.05
    elif change == "reverse_window":
        model.reverse_window = "centred"  # bioR2's own convention
    else:
        model.to_gpn[0] = 0  # bioR2's [PAD] -> GPN's [PAD] instead of [UNK]
    assert _max_diff(model, data) > 1e-3


def test_embedding_distance_and_probe_features_run_on_a_gpn_model(data):
    from bioR2.dna import Genome, VariantScorer

    model = load_gpn_checkpoint(FIXTURE / "model")
    out = score_variants(model, data / "genome.fa", data / "variants.tsv", window=WINDOW, device="cpu",
                         embedding_distance=True)
    assert np.isfinite(out["embedding_distance"]).all() and (out["embedding_distance"] > 0).all()
    exp = expected()
    scorer = VariantScorer(model, Genome(data / "genome.fa"), window=WINDOW, device="cpu")
    assert (scorer.center, scorer.rev_center) == (32, 31)  # GPN's run_vep positions for an even window
    feats = scorer.features(exp["chrom"].to_numpy(), exp["pos"].to_numpy() - 1, exp["ref"], exp["alt"])
    assert feats.shape == (len(exp), 3 * model.hidden + 1) and np.isfinite(feats).all()
    assert np.abs(feats[:, -1] - exp["score_run_vep"].to_numpy()).max() <= TOL


def test_tied_embeddings_fill_a_decoder_the_checkpoint_left_out(tmp_path):
    """Transformers releases that tie GPN's decoder to a learned embedding save the table once."""
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(FIXTURE / "model_options", tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    del state["cls.decoder.weight"]
    save_file(state, str(folder / "model.safetensors"))
    model = load_gpn_checkpoint(folder)
    torch.testing.assert_close(model.cls.decoder.weight, state["model.embeddings.word_embeddings.weight"])
    _edit_config(folder, tie_word_embeddings=False)
    with pytest.raises(CheckpointError, match=r"missing \['cls\.decoder\.weight'\]"):
        load_gpn_checkpoint(folder)


def test_a_hub_id_of_a_gpn_repo_loads_from_the_cache(tmp_path, monkeypatch, data):
    """``--model ORG/NAME`` of a GPN repo: resolved offline from the Hugging Face cache."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf"
    repo = cache / "models--lab--gpn-tiny"
    shutil.copytree(FIXTURE / "model", repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read from the environment at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    model = load_model_for_scoring("lab/gpn-tiny")
    assert isinstance(model, GPNMaskedLM) and _max_diff(model, data) <= TOL


def test_pytorch_model_bin_loads_too(model_copy, data):
    from safetensors.torch import load_file

    state = load_file(str(model_copy / "model.safetensors"))
    (model_copy / "model.safetensors").unlink()
    torch.save(state, model_copy / "pytorch_model.bin")
    assert _max_diff(load_model_for_scoring(model_copy), data) <= TOL


# ---------------------------------------------------------------------------- refused inputs
def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("changes, field", [
    ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "model_type"),
    ({"model_type": "GPNRoFormer", "architectures": ["GPNRoFormerForMaskedLM"]}, "model_type"),
    ({"architectures": ["GPNForSequenceClassification"]}, "architectures"),
    ({"encoder": "roformer"}, "encoder"),
    ({"vocab_size": 6}, "vocab_size"),
    ({"n_aux_features": 2}, "n_aux_features"),
    ({"rest_kernel_size": 4}, "rest_kernel_size"),
    ({"hidden_size": "32"}, "hidden_size"),
])
def test_unsupported_configs_are_refused_by_file_and_field(model_copy, changes, field):
    _edit_config(model_copy, **changes)
    with pytest.raises(CheckpointError) as err:
        load_model_for_scoring(model_copy)
    assert str(model_copy / "config.json") in str(err.value) and repr(field) in str(err.value)


def test_a_legacy_config_is_checked_too(tmp_path):
    folder = shutil.copytree(FIXTURE / "model_legacy", tmp_path / "legacy")
    _edit_config(folder, kernel_size=4)
    with pytest.raises(CheckpointError, match=r"config\.json: field 'kernel_size' is 4; only odd"):
        load_model_for_scoring(folder)
    _edit_config(folder, kernel_size=5, architectures=["ConvNetForSequenceClassification"])
    with pytest.raises(CheckpointError, match=r"config\.json: field 'architectures' .*ConvNetForMaskedLM"):
        load_model_for_scoring(folder)


def test_a_config_that_disagrees_with_the_weights_is_refused(model_copy):
    _edit_config(model_copy, num_hidden_layers=7)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: its weights do not match .*missing"):
        load_model_for_scoring(model_copy)
    _edit_config(model_copy, num_hidden_layers=6, intermediate_size=48)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor shapes disagree"):
        load_model_for_scoring(model_copy)


def test_another_tokenizer_is_refused(model_copy):
    path = model_copy / "tokenizer.json"
    tok = json.loads(path.read_text())
    tok["model"]["vocab"] = {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "A": 3, "C": 4, "G": 5, "T": 6}
    path.write_text(json.dumps(tok))
    with pytest.raises(CheckpointError, match=r"tokenizer\.json: field 'model\.vocab'"):
        load_model_for_scoring(model_copy)


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_truncated_or_garbled_weights_are_refused_by_name(model_copy, weights, data, capsys):
    if weights == "pytorch_model.bin":
        from safetensors.torch import load_file

        torch.save(load_file(str(model_copy / "model.safetensors")), model_copy / weights)
        (model_copy / "model.safetensors").unlink()
    path = model_copy / weights
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as err:
        load_model_for_scoring(model_copy)
    assert str(path) in str(err.value)
    path.write_bytes(b"\x00garbage" * 64)
    argv = ["score-variants", "--model", str(model_copy), "--fasta", str(data / "genome.fa"), "--variants",
            str(data / "variants.tsv"), "--out", str(data / "s.tsv"), "--device", "cpu", "--no-progress"]
    assert main(argv) == 1
    err_text = capsys.readouterr().err
    assert "bior2: error:" in err_text and weights in err_text and "internal error" not in err_text
    assert not (data / "s.tsv").exists()


def test_missing_weights_are_named(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        load_model_for_scoring(model_copy)


def test_non_finite_weights_are_refused(model_copy):
    from safetensors.torch import load_file, save_file

    state = load_file(str(model_copy / "model.safetensors"))
    state["model.ln_f.weight"][0] = float("nan")
    save_file(state, str(model_copy / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"non-finite .*model\.ln_f\.weight"):
        load_model_for_scoring(model_copy)
