"""Mistakes the trainer meets in a run folder (damaged checkpoints, file permissions): one clear
error, or a fall-back to the last sound checkpoint, never a lost run."""

from __future__ import annotations

import os

import pytest

from bad_input_helpers import assert_one_clear_error, tiny_model


def row18_no_valid_checkpoint(tmp_path):
    from bioR2.train import latest_checkpoint

    run = _two_checkpoints(tmp_path)
    for step in ("step-00000001", "step-00000002"):
        weights = run / "checkpoints" / step / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-10])
    return lambda: latest_checkpoint(run)


ROWS = [
    ("18-no-valid-checkpoint", row18_no_valid_checkpoint, RuntimeError,
     r"checkpoints: no valid checkpoint to resume from .*step-00000002.*truncated.*step-00000001.*"
     r"--overwrite"),
]


@pytest.mark.parametrize("setup, error, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_clear_error(tmp_path, setup, error, message):
    assert_one_clear_error(setup(tmp_path), error, message)


def _two_checkpoints(tmp_path):
    from bioR2.train import save_checkpoint

    model = tiny_model()
    run = tmp_path / "run"
    for step in (1, 2):
        save_checkpoint(run, step, model, {"step": step, "epoch": 0, "batches_in_epoch": step}, keep=2)
    return run


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    from bioR2.train import latest_checkpoint, load_train_state

    run = _two_checkpoints(tmp_path)
    weights = run / "checkpoints" / "step-00000002" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"resuming from .*step-00000001: skipped .*step-00000002.*"
                                         r"model\.safetensors: corrupt"):
        ckpt = latest_checkpoint(run)
    assert ckpt.name == "step-00000001"
    assert load_train_state(ckpt)["step"] == 1


def test_a_missing_latest_checkpoint_folder_falls_back(tmp_path):
    import shutil

    from bioR2.train import latest_checkpoint

    run = _two_checkpoints(tmp_path)
    shutil.rmtree(run / "checkpoints" / "step-00000002")
    with pytest.warns(UserWarning, match="step-00000002: it is not a folder"):
        assert latest_checkpoint(run).name == "step-00000001"


def test_trainer_resumes_from_the_previous_checkpoint(tmp_path):
    from toy import ToyAutoencoder, ToyData, ToyTask

    from bioR2.train import TrainConfig, Trainer, latest_checkpoint

    run = tmp_path / "run"
    cfg = TrainConfig(mask_ratio="0.15", steps=3, batch_size=8, save_every=1, keep_checkpoints=2, progress=False)
    Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, run).fit()
    (run / "checkpoints" / "step-00000003" / "train_state.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"skipped .*step-00000003.*train_state\.pt"):
        result = Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, run, resume=True).fit()
    assert result.resumed_from == 2 and result.steps == 3
    assert latest_checkpoint(run).name == "step-00000003"  # the damaged one was written again


def test_model_and_checkpoint_files_follow_the_umask(tmp_path):
    from bioR2.train import save_checkpoint, save_model

    old = os.umask(0o022)
    try:
        save_model(tmp_path / "run", tiny_model())
        save_checkpoint(tmp_path / "run", 1, tiny_model(), {"step": 1})
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.safetensors", "config.json", "train_state.pt", "latest"}
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o644"}, modes
