"""The shared trainer: logging, DDP equivalence, kill-and-resume, checkpoint integrity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bioR2.train import (
    CheckpointError,
    Task,
    TaskOutput,
    TrainConfig,
    Trainer,
    latest_checkpoint,
    load_model,
    load_train_state,
)
from bioR2.utils.io import atomic_dir, atomic_path

from toy import ToyAutoencoder, ToyData, ToyTask

WORKER = str(Path(__file__).resolve().parent / "train_worker.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def _run(args, **kw):
    return subprocess.run([sys.executable, WORKER, *args], env=ENV, capture_output=True, text=True, **kw)


def _weights(run: Path):
    return load_file(str(run / "model.safetensors"))


def _log(run: Path):
    return [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]


def _close(a, b, tol=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=tol, rtol=0), k


def test_fit_writes_run_folder_and_log(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(steps=6, batch_size=8, mask_ratio="0.1-0.5", save_every=3, progress=False)
    result = Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, tmp_path / "run",
                     val_dataset=ToyData(16, seed=1)).fit()
    run = tmp_path / "run"
    assert result.steps == 6 and result.val_loss is not None
    for name in ["model.safetensors", "config.json", "manifest.json", "train_config.json", "log.jsonl"]:
        assert (run / name).exists(), name
    records = [r for r in _log(run) if "loss" in r]
    assert [r["step"] for r in records] == list(range(1, 7))
    for r in records:
        assert {"step", "loss", "mask_ratio", "lr", "examples_per_s", "tokens_per_s"} <= set(r)
        assert 0.1 <= r["mask_ratio"] < 0.5
    assert any("val_loss" in r for r in _log(run))
    assert latest_checkpoint(run).name == "step-00000006"
    model = load_model(run)
    assert isinstance(model, ToyAutoencoder)
    json.loads((run / "config.json").read_text())  # plain JSON, no pickle anywhere


def test_refuses_to_overwrite_an_existing_run(tmp_path):
    cfg = TrainConfig(mask_ratio="0.15", steps=2, batch_size=8, progress=False)
    Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, tmp_path / "run").fit()
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, tmp_path / "run").fit()
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before


def test_overwrite_starts_a_new_log_and_drops_the_old_checkpoints(tmp_path):
    run = tmp_path / "run"
    Trainer(ToyTask(ToyAutoencoder()), ToyData(), TrainConfig(mask_ratio="0.15", steps=6, batch_size=8, save_every=3,
                                                              progress=False), run).fit()
    Trainer(ToyTask(ToyAutoencoder()), ToyData(), TrainConfig(mask_ratio="0.15", steps=2, batch_size=8, progress=False),
            run, overwrite=True).fit()
    assert [r["step"] for r in _log(run) if "loss" in r] == [1, 2]  # not the old run's 1..6 first
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-00000002"]


def test_validation_loss_is_weighted_by_what_each_batch_scores():
    class Weighted(Task):
        """Loss = the batch's mean of ``x``; weight = the sum of ``w`` (0: nothing scored)."""

        def __init__(self):
            super().__init__()
            self.model = ToyAutoencoder()

        def forward(self, batch, mask_ratio, rng):
            x = batch["x"][:, 0]
            loss = x.mean() + 0.0 * sum(p.sum() for p in self.model.parameters())
            return TaskOutput(loss=loss, n_examples=len(x), weight=float(batch["w"].sum()))

    class Items(torch.utils.data.Dataset):
        def __init__(self, x, w):
            self.x, self.w = torch.tensor(x, dtype=torch.float32), torch.tensor(w, dtype=torch.float32)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i:i + 1].expand(16), "w": self.w[i]}

    cfg = TrainConfig(mask_ratio="0.15", steps=1, batch_size=2, progress=False)
    # batches of 2: mean x 1 (weight 4), 5 (weight 0: must not count), 3 (weight 2)
    val = Items([1, 1, 5, 5, 3, 3], [2, 2, 0, 0, 1, 1])
    result = Trainer(Weighted(), Items([0, 0], [1, 1]), cfg, val_dataset=val).fit()
    assert result.val_loss == pytest.approx((1 * 4 + 3 * 2) / 6)
    result = Trainer(Weighted(), Items([0, 0], [1, 1]), cfg, val_dataset=Items([5, 5], [0, 0])).fit()
    assert np.isnan(result.val_loss)  # nothing scored: no number


def test_batch_size_must_divide_and_fp16_needs_cuda(tmp_path):
    with pytest.raises(ValueError, match="divisible"):
        Trainer(ToyTask(ToyAutoencoder()), ToyData(),
                TrainConfig(mask_ratio="0.15", steps=1, batch_size=9, grad_accum=2)).fit()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16"):
            Trainer(ToyTask(ToyAutoencoder()), ToyData(),
                    TrainConfig(mask_ratio="0.15", steps=1, batch_size=8, precision="fp16", device="cpu")).fit()


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run([str(a), "--steps", "5", "--batch-size", "16"]).returncode == 0
    assert _run([str(b), "--steps", "5", "--batch-size", "16", "--grad-accum", "2"]).returncode == 0
    # exact-count masking of all genes gives equal loss weights per micro-batch, so the mean of
    # the two halves' gradients equals the gradient of the whole batch
    _close(_weights(a), _weights(b), tol=1e-5)


def test_kill_and_resume_equals_uninterrupted_run(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    common = ["--steps", "16", "--save-every", "5", "--dropout", "0.2"]
    assert _run([str(full), *common]).returncode == 0
    died = _run([str(killed), *common, "--die-at", "13"])
    assert died.returncode == -9  # SIGKILL, mid-run
    assert latest_checkpoint(killed).name == "step-00000010"
    assert not (killed / "model.safetensors").exists()
    resumed = _run([str(killed), *common, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    _close(_weights(full), _weights(killed), tol=0)  # bit-identical: same data, masks, dropout
    full_log, killed_log = _log(full), _log(killed)
    assert [r["step"] for r in killed_log if "loss" in r] == list(range(1, 17))  # no duplicated steps
    for a, b in zip(full_log, killed_log):
        for key in ("step", "loss", "mask_ratio", "lr", "val_loss"):
            assert a.get(key) == b.get(key), key


def test_ddp_two_processes_equal_one_process(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert _run([str(single), "--steps", "6"]).returncode == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           WORKER, str(ddp), "--steps", "6"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _close(_weights(single), _weights(ddp), tol=1e-5)
    r0 = json.loads((ddp / "ratios-rank0.json").read_text())
    r1 = json.loads((ddp / "ratios-rank1.json").read_text())
    assert r0 == r1 and len(r0) == 6
    assert r0 == json.loads((single / "ratios-rank0.json").read_text())
    # only rank 0 wrote the log
    assert len([r for r in _log(ddp) if "loss" in r]) == 6


@pytest.mark.slow
def test_summed_losses_are_exact_where_per_batch_means_are_not(tmp_path):
    """A toy task with Bernoulli masks (every rank and micro-batch masks a different number of
    entries): 2 processes and grad_accum=2 against 1 process, with the loss returned as a sum
    plus ``n_items`` and as the old per-batch mean. The same comparison that passes at 1e-6 for
    the sum fails by far more than 1e-4 for the mean, so it can fail (tests/test_ddp_exact.py
    makes it for every domain's real task)."""
    from test_ddp_exact import _weights, max_weight_difference, run_worker

    run_worker(["toy-sum,toy-mean", "-", str(tmp_path / "one"), "--grad-accum", "1", "2"])
    for kind in ("toy-sum", "toy-mean"):  # one process group per torchrun: a group is never re-made
        run_worker([kind, "-", str(tmp_path / "ddp")], torchrun=True)
    diffs = {}
    for kind in ("toy-sum", "toy-mean"):
        one = _weights(tmp_path / "one" / kind / "ga1")
        diffs[kind] = {"ddp": max_weight_difference(one, _weights(tmp_path / "ddp" / kind / "ga1")),
                       "accum": max_weight_difference(one, _weights(tmp_path / "one" / kind / "ga2"))}
    assert max(diffs["toy-sum"].values()) < 1e-6, diffs
    assert min(diffs["toy-mean"].values()) > 1e-4, diffs


# ---------------------------------------------------------------- integrity
@pytest.fixture()
def finished_run(tmp_path):
    cfg = TrainConfig(mask_ratio="0.15", steps=3, batch_size=8, save_every=0, progress=False)
    Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, tmp_path / "run").fit()
    return tmp_path / "run"


def test_truncated_weights_are_refused_with_the_file_name(finished_run):
    path = finished_run / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated"):
        load_model(finished_run)
    (finished_run / "manifest.json").unlink()  # without a manifest the reader itself catches it
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(finished_run)


def test_corrupt_training_state_is_refused(finished_run):
    ckpt = latest_checkpoint(finished_run)
    state = ckpt / "train_state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="train_state.pt.*corrupt"):
        load_train_state(ckpt)
    (ckpt / "manifest.json").unlink()
    state.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(CheckpointError, match="train_state.pt"):
        load_train_state(ckpt)


def test_resume_from_corrupt_checkpoint_fails_cleanly(finished_run):
    ckpt = latest_checkpoint(finished_run)
    (ckpt / "train_state.pt").write_bytes(b"not a checkpoint")
    cfg = TrainConfig(mask_ratio="0.15", steps=5, batch_size=8, progress=False)
    with pytest.raises(CheckpointError, match="train_state.pt"):
        Trainer(ToyTask(ToyAutoencoder()), ToyData(), cfg, finished_run, resume=True).fit()


def test_bad_config_json_is_refused(finished_run):
    (finished_run / "config.json").write_text("{not json")
    (finished_run / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        load_model(finished_run)


def test_config_cannot_name_foreign_code(finished_run):
    meta = json.loads((finished_run / "config.json").read_text())
    meta["model_class"] = "os:system"
    (finished_run / "config.json").write_text(json.dumps(meta))
    (finished_run / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="not a bioR2 model"):
        load_model(finished_run)


def test_failed_writes_leave_the_old_file_and_folder(tmp_path):
    target = tmp_path / "scores.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.tsv"]
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(folder) as tmp:
            (tmp / "a").write_text("new")
            raise RuntimeError("killed")
    assert (folder / "a").read_text() == "old"
    with atomic_dir(folder) as tmp:
        (tmp / "a").write_text("new")
    assert (folder / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "scores.tsv"]


def test_a_half_written_checkpoint_folder_is_ignored(finished_run):
    ckpt_root = finished_run / "checkpoints"
    latest = latest_checkpoint(finished_run)
    # what a kill during a save leaves: a temporary folder that never got renamed into place
    shutil.copytree(latest, ckpt_root / ".step-00000009.abc.tmp")
    (ckpt_root / ".step-00000009.abc.tmp" / "train_state.pt").write_bytes(b"")
    assert latest_checkpoint(finished_run) == latest
    load_train_state(latest)


def test_atomic_outputs_get_normal_file_modes(tmp_path):
    # mkstemp/mkdtemp create 0600/0700 entries; outputs must be readable like any new file
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "new.tsv") as tmp:
            tmp.write_text("x\n")
        assert (tmp_path / "new.tsv").stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.tsv"
        kept.write_text("old\n")
        kept.chmod(0o640)
        with atomic_path(kept) as tmp:
            tmp.write_text("new\n")
        assert kept.stat().st_mode & 0o777 == 0o640  # replacing keeps the old file's mode
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "a").write_text("a")
        assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(old)


def test_gradient_clipping_gives_clip_grad_norm_numbers():
    from bioR2.train.trainer import _clip_grad_norm

    g = torch.Generator().manual_seed(0)
    for scale in (1e-3, 0.1, 1.0, 10.0):  # clipped and not
        ps = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in [(30, 20), (20,), (7, 3, 2)]]
        for p in ps:
            p.grad = torch.randn(p.shape, generator=g) * scale
        qs = [torch.nn.Parameter(p.detach().clone()) for p in ps]
        for p, q in zip(ps, qs):
            q.grad = p.grad.clone()
        qs.append(torch.nn.Parameter(torch.zeros(3)))  # no gradient: skipped
        assert _clip_grad_norm(qs, 1.0) == float(torch.nn.utils.clip_grad_norm_(ps, 1.0))
        assert all(torch.equal(p.grad, q.grad) for p, q in zip(ps, qs))
