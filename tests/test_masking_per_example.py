"""Per-example masking ratios (``sample:...``): the maskers' per-row path and the trainer's hook.

Also the trainer's other ratio hooks: a schedule's total steps and ``mdlm``'s loss weight.
"""

from __future__ import annotations

import json

import pytest
import torch

from bioR2.masking import (
    MaskRNG,
    mask_expression,
    mask_patches,
    mask_tokens,
    masked_count,
    parse_mask_ratio,
    select_positions,
)
from bioR2.train import Task, TaskOutput, TrainConfig, Trainer

from toy import ToyAutoencoder, ToyData, ToyTask

PAD, MASK = 0, 1


def _ids(batch=32, length=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 12, (batch, length), generator=g)
    ids[: batch // 2, -10:] = PAD
    return ids


def _rng(batch, seed=0, step=0):
    return MaskRNG(seed, step, torch.arange(batch) * 3 + 1)


@pytest.mark.parametrize("count", ["exact", "bernoulli"])
@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.15, 0.37, 0.9])
def test_a_constant_row_tensor_gives_exactly_the_float_mask(count, ratio):
    ids = _ids()
    rows = torch.full((ids.shape[0],), ratio, dtype=torch.float64)
    a = mask_tokens(ids, ratio, mask_token_id=MASK, special_ids=(PAD,), vocab_size=12, count=count, rng=_rng(32))
    b = mask_tokens(ids, rows, mask_token_id=MASK, special_ids=(PAD,), vocab_size=12, count=count, rng=_rng(32))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.input_ids, b.input_ids) and torch.equal(a.labels, b.labels)
    g = torch.Generator().manual_seed(0)
    sparse = torch.rand(32, 400, generator=g) * (torch.rand(32, 400, generator=g) < 0.1)  # sparse path
    dense = torch.rand(32, 400, generator=g)
    for x, only_nonzero in ((sparse, True), (dense, False)):
        a = mask_expression(x, ratio, only_nonzero=only_nonzero, count=count, rng=_rng(32))
        b = mask_expression(x, rows.float(), only_nonzero=only_nonzero, count=count, rng=_rng(32))
        assert torch.equal(a.mask, b.mask) and torch.equal(a.x_masked, b.x_masked)


def test_exact_count_follows_each_rows_ratio():
    ids = _ids()
    rows = torch.linspace(0.0, 0.95, ids.shape[0], dtype=torch.float64)
    out = mask_tokens(ids, rows, mask_token_id=MASK, special_ids=(PAD,), vocab_size=12, rng=_rng(32))
    n_eligible = (ids != PAD).sum(1)
    assert torch.equal(out.mask.sum(1), masked_count(n_eligible, rows))
    for i in (0, 7, 31):  # each row as if masked alone at its own float ratio
        alone = mask_tokens(ids, float(rows[i]), mask_token_id=MASK, special_ids=(PAD,), vocab_size=12, rng=_rng(32))
        assert torch.equal(out.mask[i], alone.mask[i])
    assert not (out.mask & (ids == PAD)).any()


@pytest.mark.parametrize("sparse", [False, True])
def test_bernoulli_fraction_follows_each_rows_ratio(sparse):
    g = torch.Generator().manual_seed(1)
    eligible = torch.rand(64, 4000, generator=g) < (0.1 if sparse else 1.0)
    rows = torch.linspace(0.05, 0.8, 64, dtype=torch.float64)
    mask = select_positions(eligible, rows, _rng(64), "t", count="bernoulli")
    assert not (mask & ~eligible).any()
    n = eligible.sum(1).double()
    frac = mask.sum(1).double() / n
    assert ((frac - rows).abs() <= 5 * (rows * (1 - rows) / n).sqrt() + 1e-9).all()


def test_bad_row_ratios_are_refused():
    ids = _ids(batch=4)
    for bad, fragment in [(torch.tensor([0.1, 0.2]), "one ratio per row"),
                          (torch.full((4, 1), 0.1), "1-D"),
                          (torch.tensor([0.1, 0.2, 1.5, 0.1]), "[0, 1]")]:
        with pytest.raises(ValueError, match=fragment):
            mask_tokens(ids, bad, mask_token_id=MASK, rng=_rng(4))


def test_patch_masking_refuses_per_example_ratios():
    with pytest.raises(ValueError, match="sample:"):
        mask_patches(4, 16, torch.full((4,), 0.75), rng=_rng(4))
    one = mask_patches(4, 16, torch.tensor(0.75), rng=_rng(4))  # a 0-d tensor is one ratio
    assert torch.equal(one.mask, mask_patches(4, 16, 0.75, rng=_rng(4)).mask)


# ---------------------------------------------------------------------------------------------
# The trainer hook


class Recording(ToyTask):
    """The toy task, recording the mask ratio it is handed at every call."""

    def __init__(self):
        super().__init__(ToyAutoencoder())
        self.seen = []

    def forward(self, batch, mask_ratio, rng):
        if self.training:
            self.seen.append((rng.step, rng.example_ids.clone(), mask_ratio))
        return super().forward(batch, mask_ratio, rng)


def _fit(task, tmp_path, **cfg):
    records = []
    cfg = TrainConfig(**{"mask_ratio": "0.15", "steps": 4, "batch_size": 8, "progress": False, "seed": 3, **cfg})
    Trainer(task, ToyData(), cfg, tmp_path / "run", callbacks=[records.append]).fit()
    return cfg, records


def test_trainer_hands_per_example_ratios_to_the_task(tmp_path):
    task = Recording()
    cfg, records = _fit(task, tmp_path, mask_ratio="sample:0.05-0.3", grad_accum=2)
    ratio = parse_mask_ratio(cfg.mask_ratio)
    assert len(task.seen) == cfg.steps * cfg.grad_accum
    for step, ids, seen in task.seen:
        assert isinstance(seen, torch.Tensor) and seen.shape == ids.shape
        assert torch.equal(seen, ratio.sample_rows(cfg.seed, step, ids))
        assert ((seen >= 0.05) & (seen < 0.3)).all()
    for rec in records:  # logged: the step's mean over its micro-batches
        step_rows = torch.cat([seen for step, _, seen in task.seen if step == rec["step"] - 1])
        assert rec["mask_ratio"] == pytest.approx(float(step_rows.mean()))
        assert "step_weight" not in rec
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["mask_ratio"] for r in logged if "loss" in r] == [r["mask_ratio"] for r in records]


def test_trainer_passes_total_steps_to_a_schedule(tmp_path):
    task = Recording()
    cfg, records = _fit(task, tmp_path, mask_ratio="sched:0.3>0.15", steps=5)
    assert [r["mask_ratio"] for r in records] == pytest.approx([0.3, 0.2625, 0.225, 0.1875, 0.15])
    assert [seen for _, _, seen in task.seen] == [r["mask_ratio"] for r in records]  # floats, per batch
    assert cfg.resolved_eval_ratio == pytest.approx(0.225)


def test_trainer_leaves_fixed_and_uniform_ratios_as_floats(tmp_path):
    task = Recording()
    cfg, records = _fit(task, tmp_path, mask_ratio="0.1-0.5")
    ratio = parse_mask_ratio("0.1-0.5")
    assert [seen for _, _, seen in task.seen] == [ratio.sample(3, s) for s in range(4)]
    assert all(type(seen) is float for _, _, seen in task.seen)
    assert all("step_weight" not in r for r in records)


class LinearLoss(Task):
    """loss = Σ θ (gradient exactly 1 per entry): the gradient shows the factor on the loss."""

    def __init__(self):
        super().__init__()
        self.model = ToyAutoencoder()
        self.theta = torch.nn.Parameter(torch.zeros(3))
        self.grads, self.losses = [], []
        self.theta.register_hook(lambda g: self.grads.append(g.clone()))

    def forward(self, batch, mask_ratio, rng):
        loss = self.theta.sum() + 0.0 * sum(p.sum() for p in self.model.parameters())
        self.losses.append(float(loss.detach()))
        return TaskOutput(loss=loss, n_examples=batch["x"].shape[0])


@pytest.mark.parametrize("spec", ["mdlm-flat", "mdlm", "0-1"])
def test_trainer_multiplies_the_loss_by_the_step_weight(tmp_path, spec):
    task = LinearLoss()
    cfg, records = _fit(task, tmp_path, mask_ratio=spec, steps=6, grad_accum=2, clip_grad_norm=0.0)
    ratio = parse_mask_ratio(spec)
    weights = [ratio.step_weight(ratio.sample(cfg.seed, s)) for s in range(cfg.steps)]
    assert len(task.grads) == cfg.steps * cfg.grad_accum
    # the logged loss is the task's own (unweighted) loss, comparable across forms
    assert [r["loss"] for r in records] == pytest.approx([sum(task.losses[2 * s:2 * s + 2]) / 2 for s in range(6)])
    for i, g in enumerate(task.grads):
        assert torch.allclose(g, torch.full((3,), weights[i // 2] / cfg.grad_accum))
    if spec == "mdlm-flat":
        # without MDLM's 1/t the step's weight is its ratio (the tasks average over masked items)
        assert [r["step_weight"] for r in records] == pytest.approx(weights)
        assert weights == pytest.approx([ratio.sample(cfg.seed, s) for s in range(cfg.steps)])
    else:
        # mdlm: the masked-item average already is the 1/t-weighted ELBO; 0-1: unweighted
        assert set(weights) == {1.0} and all("step_weight" not in r for r in records)
