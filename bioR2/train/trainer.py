"""The one training loop every domain uses.

AdamW with warm-up + cosine, gradient clipping and accumulation, optional bf16/fp16 autocast,
DDP under ``torchrun`` (gloo on CPU, nccl on CUDA), a ratio per optimizer step from the run's
:class:`~bioR2.masking.MaskRatio`, validation at a fixed ratio, a JSON-lines log, atomic
checkpoints and exact resume.

Example::

    trainer = Trainer(task, train_set, TrainConfig(steps=500, mask_ratio="0.05-0.3"),
                      out_dir="runs/demo", val_dataset=val_set)
    result = trainer.fit()
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..masking import MaskRNG
from ..utils.io import atomic_write_json
from .checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_train_state,
    load_weights,
    save_checkpoint,
    save_model,
)
from .config import TrainConfig
from .distributed import DistContext, all_reduce_sum, setup_distributed
from .log import JsonlLog, make_progress
from .tensorboard import open_run_log
from .sampler import IndexedDataset, ResumableDistributedSampler
from .schedule import warmup_cosine_lr
from .task import Task, TaskOutput

__all__ = ["Trainer", "TrainResult", "EVAL_MASK_SEED"]

# Validation masks use this seed whatever the run's seed, so every run is scored on the same
# masked positions and validation losses compare across runs and masking schemes.
EVAL_MASK_SEED = 20250921

SamplerFactory = Callable[[Any, int, int, bool, int], Any]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    out_dir: Path
    steps: int
    last_loss: float
    val_loss: Optional[float]
    resumed_from: Optional[int]


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


class Trainer:
    """Train a :class:`~bioR2.train.Task` on a map-style dataset.

    Parameters
    ----------
    task
        Module with ``task.model`` (saved at the end) and ``forward(batch, ratio, rng)``.
    train_dataset, val_dataset
        Map-style datasets; items are collated by ``collate_fn`` (default: torch's).
    config
        :class:`TrainConfig`.
    out_dir
        Run folder (written by rank 0 only). ``None`` trains without writing anything.
    resume
        Continue from ``out_dir``'s latest checkpoint when there is one.
    overwrite
        Allow starting a fresh run in a folder that already holds one.
    sampler_factory
        ``f(dataset, num_replicas, rank, shuffle, seed)`` returning a sampler with
        ``set_epoch`` and ``set_start`` (e.g. chunk-shuffled reads of a backed AnnData).
    callbacks
        Called on every rank after each optimizer step with the step's record.
    """

    def __init__(
        self,
        task: Task,
        train_dataset: Any,
        config: TrainConfig,
        out_dir: Optional[str | Path] = None,
        *,
        val_dataset: Any = None,
        collate_fn: Optional[Callable] = None,
        resume: bool = False,
        overwrite: bool = False,
        sampler_factory: Optional[SamplerFactory] = None,
        callbacks: Optional[List[Callable[[Dict[str, Any]], None]]] = None,
    ) -> None:
        if not hasattr(task, "model"):
            raise TypeError("a Task must set self.model (the module that gets saved)")
        self.task = task
        # A config from bioR2.pretrain arrives resolved (DomainSpec.resolve_train); one built by hand
        # is resolved here, the same way, without changing the caller's object.
        self.config = config if config.is_resolved else config.resolve(len(train_dataset))
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.train_data = IndexedDataset(train_dataset, collate_fn)
        self.val_data = IndexedDataset(val_dataset, collate_fn) if val_dataset is not None else None
        self.resume = resume
        self.overwrite = overwrite
        self.sampler_factory = sampler_factory or _default_sampler
        self.callbacks = list(callbacks or [])
        self.ratio = self.config.mask_ratio

    # ------------------------------------------------------------------ set-up
    def _micro_batch_size(self, ctx: DistContext) -> int:
        c = self.config
        per_step = ctx.world_size * c.grad_accum
        if c.batch_size % per_step != 0:
            raise ValueError(
                f"train.batch_size ({c.batch_size}) must be divisible by world_size x grad_accum "
                f"({ctx.world_size} x {c.grad_accum})"
            )
        micro = c.batch_size // per_step
        if len(self.train_data) < micro * ctx.world_size:
            raise ValueError(
                f"the training set has {len(self.train_data)} examples, fewer than one global "
                f"micro-batch ({micro} x {ctx.world_size} ranks); lower train.batch_size (--batch-size)"
            )
        return micro

    def _check_out_dir(self) -> None:
        if self.out_dir is None:
            return
        existing = (self.out_dir / "checkpoints").exists() or (self.out_dir / "model.safetensors").exists()
        if existing and not self.resume and not self.overwrite:
            raise FileExistsError(
                f"{self.out_dir}: already holds a run; pass resume=True (--resume) to continue it "
                "or overwrite=True (--overwrite) to start again"
            )

    def _autocast(self, device: torch.device):
        precision = self.config.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        if precision == "fp16" and device.type != "cuda":
            raise ValueError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> TrainResult:
        """Run training to ``config.steps`` (from the latest checkpoint when resuming)."""
        c = self.config
        ctx = setup_distributed(c.device)
        try:
            return self._fit(ctx)
        finally:
            ctx.close()

    def _fit(self, ctx: DistContext) -> TrainResult:
        c = self.config
        if ctx.is_main:
            self._check_out_dir()
        micro_bs = self._micro_batch_size(ctx)
        torch.manual_seed(c.seed + ctx.rank)
        np.random.seed((c.seed + ctx.rank) % (2**32))
        random.seed(c.seed + ctx.rank)

        task = self.task.to(ctx.device)
        decay, no_decay = [], []
        for name, param in task.named_parameters():
            if param.requires_grad:
                # Biases, norms and embeddings-as-vectors are not decayed (standard AdamW practice).
                (no_decay if param.ndim < 2 else decay).append(param)
        optimizer = _adamw([{"params": decay, "weight_decay": c.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], c, ctx.device)
        scaler = torch.amp.GradScaler("cuda", enabled=c.precision == "fp16" and ctx.device.type == "cuda")

        step, epoch, batches_in_epoch, resumed_from = 0, 0, 0, None
        ckpt = latest_checkpoint(self.out_dir) if (self.out_dir is not None and self.resume) else None
        if ckpt is not None:
            state = load_train_state(ckpt)
            self._restore(state, ckpt, task, optimizer, scaler, ctx)
            step, epoch, batches_in_epoch = state["step"], state["epoch"], state["batches_in_epoch"]
            resumed_from = step
        elif ctx.is_main and self.out_dir is not None:
            _clear_checkpoints(self.out_dir)  # an overwritten run's checkpoints are not this run's

        model = task
        if ctx.distributed:
            model = DistributedDataParallel(
                task, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=c.find_unused_parameters,
            )

        sampler = self.sampler_factory(self.train_data, ctx.world_size, ctx.rank, c.shuffle, c.seed)
        loader_kwargs = dict(
            batch_size=micro_bs, sampler=sampler, collate_fn=self.train_data.collate,
            num_workers=c.num_workers, drop_last=True, pin_memory=ctx.device.type == "cuda",
            persistent_workers=False,
        )

        def new_iterator():
            sampler.set_epoch(epoch)
            sampler.set_start(batches_in_epoch * micro_bs)
            if hasattr(self.train_data.dataset, "set_epoch"):
                self.train_data.dataset.set_epoch(epoch)
            # A private generator: creating an iterator must not consume the global RNG, or a
            # resumed run (which creates one mid-epoch) would drift from an uninterrupted one.
            workers_seed = torch.Generator().manual_seed(c.seed * 1000003 + epoch)
            return iter(DataLoader(self.train_data, generator=workers_seed, **loader_kwargs))

        if ctx.is_main and self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.out_dir / "train_config.json", c.to_dict())
        log = (open_run_log(self.out_dir, ctx.is_main, resumed_from, c.log_to)  # log.jsonl (+ TensorBoard)
               if self.out_dir else None)
        progress = make_progress(c.steps, step, c.progress, ctx.is_main)

        iterator = new_iterator()
        last_loss, val_loss = float("nan"), None
        params = list(task.parameters())  # walked once: task.parameters() recurses over every module
        window_start, window_examples, window_tokens = time.perf_counter(), 0.0, 0.0
        task.train()
        while step < c.steps:
            ratio = self.ratio.sample(c.seed, step, total_steps=c.steps)
            weight = self.ratio.step_weight(ratio)  # 1.0 except mdlm-flat (see MaskRatio.step_weight)
            lr = warmup_cosine_lr(step, base_lr=c.lr, total_steps=c.steps,
                                  warmup_steps=c.resolved_warmup, min_lr_ratio=c.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr

            loss_sum, n_examples, n_tokens, n_items = 0.0, 0, 0, 0.0
            summed = False  # the task returns loss sums + item counts (normalised globally below)
            metric_sums: Dict[str, float] = {}
            for micro in range(c.grad_accum):
                try:
                    indices, batch = next(iterator)
                except StopIteration:
                    epoch, batches_in_epoch = epoch + 1, 0
                    iterator = new_iterator()
                    indices, batch = next(iterator)
                batches_in_epoch += 1
                batch = _to_device(batch, ctx.device)
                rng = MaskRNG(c.seed, step, indices.to(ctx.device))
                mask_ratio = ratio
                if self.ratio.per_sample:  # 'sample:...': one ratio per row, logged as the step's mean
                    mask_ratio = self.ratio.sample_rows(c.seed, step, rng.example_ids, c.steps)
                    metric_sums["mask_ratio"] = metric_sums.get("mask_ratio", 0.0) + float(mask_ratio.mean())
                sync = micro == c.grad_accum - 1
                no_sync = model.no_sync() if (ctx.distributed and not sync) else contextlib.nullcontext()
                with no_sync:
                    with self._autocast(ctx.device):
                        out: TaskOutput = model(batch, mask_ratio, rng)
                    if not torch.isfinite(out.loss):
                        raise FloatingPointError(
                            f"non-finite loss {out.loss.item()} at step {step} (mask ratio {ratio:.4f}); "
                            "lower train.lr or use train.precision=fp32"
                        )
                    scaled_loss = out.loss if weight == 1.0 else out.loss * weight
                    if out.n_items is not None:
                        # A sum over this micro-batch's items: the gradients are divided by the
                        # global item count once it is known (exact under DDP and accumulation).
                        summed = True
                        n_items += float(out.n_items)
                        scaler.scale(scaled_loss).backward()
                    else:
                        scaler.scale(scaled_loss / c.grad_accum).backward()
                loss_sum += float(out.loss.detach())
                n_examples += int(out.n_examples)
                n_tokens += int(out.n_tokens)
                for key, value in out.metrics.items():
                    metric_sums[key] = metric_sums.get(key, 0.0) + float(value)

            keys = sorted(metric_sums)
            reduced = all_reduce_sum([loss_sum, n_examples, n_tokens, n_items]
                                     + [metric_sums[k] for k in keys], ctx)
            denom = c.grad_accum * ctx.world_size
            scaler.unscale_(optimizer)
            if summed:
                # DDP averaged the summed gradients over ranks; turn that into a mean over every
                # item of the global batch, whatever each rank or micro-batch held.
                grad_scale = ctx.world_size / max(reduced[3], 1e-12)
                grads = [param.grad for param in params if param.grad is not None]
                if grads:
                    torch._foreach_mul_(grads, grad_scale)  # each grad.mul_(grad_scale), in one call
            grad_norm = None
            if c.clip_grad_norm > 0:
                grad_norm = _clip_grad_norm(params, c.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            last_loss = reduced[0] / max(reduced[3], 1e-12) if summed else reduced[0] / denom
            window_examples += reduced[1]
            window_tokens += reduced[2]
            record: Dict[str, Any] = {"step": step, "loss": last_loss, "mask_ratio": ratio, "lr": lr}
            if grad_norm is not None:
                record["grad_norm"] = grad_norm
            if weight != 1.0:
                record["step_weight"] = weight
            record.update({k: v / denom for k, v in zip(keys, reduced[4:])})
            if step % c.log_every == 0 or step == c.steps:
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                record["examples_per_s"] = window_examples / elapsed
                record["tokens_per_s"] = window_tokens / elapsed
                record["epoch"] = epoch
                if log is not None:
                    log.write(record)
                window_start, window_examples, window_tokens = time.perf_counter(), 0.0, 0.0
            for callback in self.callbacks:
                callback(dict(record, rank=ctx.rank))
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{last_loss:.4f}", p=f"{ratio:.3f}")

            if self.val_data is not None and c.eval_every > 0 and step % c.eval_every == 0 and step < c.steps:
                val_loss = self._evaluate(model, task, ctx, micro_bs, step, log)
            if self.out_dir is not None and c.save_every > 0 and step % c.save_every == 0 and step < c.steps:
                self._save(ctx, task, optimizer, scaler, step, epoch, batches_in_epoch)

        if self.val_data is not None:
            val_loss = self._evaluate(model, task, ctx, micro_bs, step, log)
        if self.out_dir is not None:
            self._save(ctx, task, optimizer, scaler, step, epoch, batches_in_epoch)
            if ctx.is_main:
                save_model(self.out_dir, task.model)
        if progress is not None:
            progress.close()
        if log is not None:
            log.close()
        return TrainResult(self.out_dir or Path("."), step, last_loss, val_loss, resumed_from)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def _evaluate(self, model: nn.Module, task: Task, ctx: DistContext, micro_bs: int, step: int,
                  log: Optional[JsonlLog]) -> float:
        """Mean validation loss at the fixed evaluation ratio, with run-independent masks."""
        c = self.config
        ratio = c.resolved_eval_ratio
        if len(self.val_data) < ctx.world_size:
            raise ValueError(f"the validation set has {len(self.val_data)} examples, "
                             f"fewer than the {ctx.world_size} ranks")
        sampler = ResumableDistributedSampler(self.val_data, ctx.world_size, ctx.rank, shuffle=False, seed=0)
        loader = DataLoader(self.val_data, batch_size=micro_bs, sampler=sampler,
                            collate_fn=self.val_data.collate, num_workers=c.num_workers)
        task.eval()
        total, count = 0.0, 0.0
        for i, (indices, batch) in enumerate(loader):
            if i >= c.eval_batches:
                break
            batch = _to_device(batch, ctx.device)
            with self._autocast(ctx.device):
                out = task(batch, ratio, MaskRNG(EVAL_MASK_SEED, 0, indices.to(ctx.device)))
            if out.n_items is not None:  # a sum over the batch's items
                total += float(out.loss)
                count += float(out.n_items)
            else:
                weight = float(out.n_examples if out.weight is None else out.weight)
                total += float(out.loss) * weight
                count += weight
        task.train()
        total, count = all_reduce_sum([total, count], ctx)
        val_loss = total / count if count > 0 else float("nan")  # nothing scored: no loss to report
        if log is not None:
            log.write({"step": step, "val_loss": val_loss, "val_mask_ratio": ratio})
        return val_loss

    # ------------------------------------------------------------------ checkpoints
    def _save(self, ctx: DistContext, task: Task, optimizer, scaler, step: int, epoch: int,
              batches_in_epoch: int) -> None:
        rng_state = _rng_state()
        if ctx.distributed:
            gathered: List[Any] = [None] * ctx.world_size
            torch.distributed.all_gather_object(gathered, rng_state)
        else:
            gathered = [rng_state]
        if ctx.is_main:
            extra = {k: v.detach().cpu() for k, v in task.state_dict().items() if not k.startswith("model.")}
            state = {
                "step": step,
                "epoch": epoch,
                "batches_in_epoch": batches_in_epoch,
                "world_size": ctx.world_size,
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                # the schedule is a pure function of the step; its parameters are recorded here
                "scheduler": {"name": "warmup_cosine", "base_lr": self.config.lr,
                              "warmup_steps": self.config.resolved_warmup, "total_steps": self.config.steps,
                              "min_lr_ratio": self.config.min_lr_ratio},
                "rng": gathered,
                "task_extra": extra,
                "train_config_json": json.dumps(self.config.to_dict()),
            }
            save_checkpoint(self.out_dir, step, task.model, state, keep=self.config.keep_checkpoints)
        ctx.barrier()

    def _restore(self, state: Dict[str, Any], ckpt: Path, task: Task, optimizer, scaler, ctx: DistContext) -> None:
        saved_cfg = json.loads(state.get("train_config_json", "{}"))
        current = self.config.to_dict()
        for key in ("batch_size", "mask_ratio", "seed", "steps", "grad_accum"):
            if key in saved_cfg and saved_cfg[key] != current[key]:
                warnings.warn(
                    f"resuming {ckpt} with train.{key}={current[key]!r}, but the run was "
                    f"started with {saved_cfg[key]!r}: the continuation will not match an uninterrupted run"
                )
        load_weights(task.model, ckpt, map_location=str(ctx.device))
        try:
            if state.get("task_extra"):
                task.load_state_dict(state["task_extra"], strict=False)
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{ckpt}: does not match the model being trained ({exc})") from None
        if state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        rng = state.get("rng") or []
        if state.get("world_size") == ctx.world_size and len(rng) > ctx.rank:
            _set_rng_state(rng[ctx.rank])
        else:
            warnings.warn(
                f"{ckpt} was written by {state.get('world_size')} processes and this run has "
                f"{ctx.world_size}: data order and masks continue, dropout RNG is re-seeded"
            )


def _adamw(groups: List[Dict[str, Any]], c: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with the fused kernel on CUDA and on the CPU (one pass over each parameter and its
    state instead of a dozen, several times faster for small models; the same update up to
    float rounding). Where it is not available: the multi-tensor implementation on the CPU (the
    single-tensor one's numbers), torch's default elsewhere."""
    kwargs: Dict[str, Any] = dict(lr=c.lr, betas=tuple(c.betas))
    params = [p for g in groups for p in g["params"]]
    if device.type in ("cuda", "cpu") and all(p.is_floating_point() for p in params):
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, ValueError):  # a torch build or dtype without the fused kernel
            pass
    if device.type == "cpu":
        kwargs["foreach"] = True
    return torch.optim.AdamW(groups, **kwargs)


def _clip_grad_norm(params: List[torch.Tensor], max_norm: float) -> float:
    """``float(torch.nn.utils.clip_grad_norm_(params, max_norm))``: the same norm (one foreach norm
    per tensor, then the norm of those) and the same scaled gradients, except that the gradients
    are left as they are when the clamped coefficient is exactly 1 (multiplying by 1 changes
    nothing). Gradients on several devices or of several dtypes take torch's function."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    device, dtype = grads[0].device, grads[0].dtype
    if device.type not in ("cpu", "cuda") or any(g.device != device or g.dtype != dtype or g.is_sparse
                                                 for g in grads):
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        coef = torch.clamp(float(max_norm) / (total + 1e-6), max=1.0)
        norm = float(total)
        if float(coef) != 1.0:
            torch._foreach_mul_(grads, coef)
    return norm


def _clear_checkpoints(out_dir: Path) -> None:
    """Remove the checkpoints of an earlier run in ``out_dir`` (a fresh start with overwrite):
    left in place they would outlive this run's own under the keep-N pruning and mix two runs."""
    root = out_dir / "checkpoints"
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name == "latest" or entry.name.startswith("step-"):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _default_sampler(dataset, num_replicas: int, rank: int, shuffle: bool, seed: int):
    return ResumableDistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)


def _rng_state() -> Dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return tuple(_as_tuple(x) for x in obj)
    return obj
