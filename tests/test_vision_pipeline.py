"""Vision end to end: the CLI on digits and on a user's folder, and a
tiny pretraining that must beat a randomly initialised encoder under the linear probe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bioR2.cli import main
from bioR2.train import load_model
from bioR2.vision import (
    MAEModelConfig,
    ViTMAE,
    build_model,
    load_digits,
    pretrain_and_probe,
    probe_model,
    split_images,
)

# The same model and budget as `bior2 benchmark vision --quick` (where R²MAE seed 0 reached 0.88
# against 0.83 for its random initialisation).
STEPS = 800
TINY = ["--width", "16", "--depth", "1", "--heads", "2", "--decoder-depth", "1", "--batch-size", "32",
        "--no-progress"]


def test_cli_pretrain_on_digits_writes_model_and_probe(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "vision", "--data", "digits", "--steps", "4", "--out", str(out), *TINY]) == 0
    model = load_model(out)
    assert isinstance(model, ViTMAE) and model.num_patches == 16
    probe = json.loads((out / "probe.json").read_text())
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["n_test"] == 360
    records = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    ratios = [r["mask_ratio"] for r in records if "mask_ratio" in r]
    assert ratios and all(0.6 <= r < 0.9 for r in ratios)  # the default R²MAE range
    # A second run into the same folder refuses unless told to resume or overwrite.
    assert main(["pretrain", "vision", "--data", "digits", "--steps", "4", "--out", str(out), *TINY]) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_cli_pretrain_on_a_users_unlabelled_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "run"
    assert main(["pretrain", "vision", "--data", str(folder), "--image-size", "16", "--mask-ratio", "0.75",
                 "--steps", "3", "--out", str(out), *TINY]) == 0
    model = load_model(out)
    assert model.in_chans == 3 and model.image_hw == (16, 16)
    assert not (out / "probe.json").exists()  # no labels, no probe
    assert main(["pretrain", "vision", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r2")]) == 1


@pytest.mark.slow
def test_pretraining_beats_a_random_encoder_on_digits():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread (and never spins)
    try:
        _pretrain_beats_random()
    finally:
        torch.set_num_threads(threads)


def _pretrain_beats_random():
    train, test = split_images(load_digits(), 0.2, seed=0)
    cfg = MAEModelConfig(width=32, depth=2, heads=2, decoder_width=32, decoder_depth=2, decoder_heads=2)
    torch.manual_seed(0)
    random_acc = probe_model(build_model(train, cfg).eval(), train, test).accuracy
    run = pretrain_and_probe((train, test), mask_ratio="0.6-0.9", width=32, seed=0, steps=STEPS, batch_size=128,
                             lr=3e-3, model_config=cfg, eval_mask_ratio=None)
    assert run.accuracy > random_acc + 0.02, (run.accuracy, random_acc)

