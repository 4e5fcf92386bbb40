"""Training options shared by every domain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional, Union

from ..masking import MaskRatio, parse_mask_ratio
from ..utils.device import DEFAULT_DEVICE

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Options of :class:`bioR2.train.Trainer`.

    ``batch_size`` is the *global* number of examples per optimizer step; each rank processes
    ``batch_size / (world_size * grad_accum)`` per micro-batch. The masking ratio is drawn once
    per optimizer step from ``mask_ratio``, a parsed :class:`~bioR2.masking.MaskRatio` (any form
    of :func:`~bioR2.masking.parse_mask_ratio` is accepted here, the config edge, and parsed once:
    ``"0.15"`` fixed, ``"0.05-0.3"`` R²MAE). There is no default ratio here: a domain's range is
    written once, in its spec, and :func:`bioR2.pretrain` passes it on.

    ``None`` means "automatic": ``steps`` follow from ``epochs`` (or the domain's default length),
    ``warmup_steps`` is 5% of the steps, ``eval_mask_ratio`` the middle of the training range.
    :meth:`resolve` turns them into numbers once, for one training set, and returns a frozen copy:
    that copy is what the trainer runs and what the run folder records.
    Validation uses the fixed ``eval_mask_ratio`` and masks that do not depend on the run's
    seed, so validation losses compare across runs.
    """

    steps: Optional[int] = None  # None: from epochs (or the domain's automatic length)
    epochs: Optional[float] = None  # set: train this many passes over the training set (steps follow from it)
    batch_size: Optional[int] = 64  # None: the domain's automatic size for its data
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: List[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: Optional[int] = None  # None: 5% of steps
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    clip_grad_norm: float = 1.0  # 0 disables clipping
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 needs CUDA)
    mask_ratio: Union[MaskRatio, str, float, None] = None
    eval_mask_ratio: Optional[float] = None
    eval_every: int = 0  # 0: evaluate once at the end (when a validation set is given)
    eval_batches: int = 20
    save_every: int = 0  # 0: checkpoint only at the end
    keep_checkpoints: int = 2
    log_every: int = 1
    seed: int = 0
    num_workers: int = 0
    device: str = DEFAULT_DEVICE  # auto | cpu | cuda | cuda:N
    log_to: str = "jsonl"  # jsonl | tensorboard (log.jsonl is always written; tensorboard adds event files)
    progress: Optional[bool] = None  # None: a progress bar when stderr is a terminal
    shuffle: bool = True
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        if self.mask_ratio is not None:
            self.mask_ratio = parse_mask_ratio(self.mask_ratio, "train.mask_ratio")
        if self.eval_mask_ratio is not None:
            # validation uses one fixed ratio: check it once here, keep the plain number
            self.eval_mask_ratio = parse_mask_ratio(self.eval_mask_ratio, "train.eval_mask_ratio").mean
        if self.warmup_steps is not None and int(self.warmup_steps) == -1:
            self.warmup_steps = None  # the old spelling of "automatic" (run configs written before 0.1)
        for name in ("steps", "batch_size"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("grad_accum", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps is not None and int(self.warmup_steps) < 0:
            raise ValueError(f"train.warmup_steps must be >= 0 (or unset: 5% of the steps), got {self.warmup_steps}")
        if self.epochs is not None and not float(self.epochs) > 0:
            raise ValueError(f"train.epochs must be > 0 (or unset), got {self.epochs}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"train.precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_resolved", False):
            raise AttributeError(f"train.{name}: this TrainConfig is resolved for a run and frozen; make a changed "
                                 "copy with dataclasses.replace(config, ...)")
        super().__setattr__(name, value)

    @property
    def is_resolved(self) -> bool:
        """Whether :meth:`resolve` made this config (every automatic value is a number)."""
        return bool(self.__dict__.get("_resolved", False))

    def steps_for_examples(self, n_examples: int) -> int:
        """The optimizer steps of a run over ``n_examples`` training examples: ``steps``, or with
        ``epochs`` set, ``epochs`` passes of ``batch_size`` examples per step (at least 1)."""
        if self.epochs is None:
            if self.steps is None:
                raise ValueError("train.steps: give the number of optimizer steps (--steps) or train.epochs")
            return int(self.steps)
        if self.batch_size is None:
            raise ValueError("train.batch_size: unset (automatic) before the domain resolved it")
        return max(1, int(round(float(self.epochs) * int(n_examples) / int(self.batch_size))))

    def resolve(self, n_examples: Optional[int] = None) -> "TrainConfig":
        """A frozen copy with every automatic value fixed for a training set of ``n_examples``:
        ``steps`` (from ``epochs`` when set), ``warmup_steps`` (5% of the steps) and
        ``eval_mask_ratio`` (the middle of ``mask_ratio``). The one place these are worked out;
        the trainer runs the copy and the run folder records it."""
        if self.mask_ratio is None:
            raise ValueError("train.mask_ratio: no masking ratio given (e.g. 0.15 fixed, or 0.05-0.3 for R²MAE); "
                             "bioR2.pretrain passes the domain's range from its spec")
        if self.batch_size is None:
            raise ValueError("train.batch_size: unset (automatic) and no domain resolved it; give --batch-size")
        if self.epochs is not None and n_examples is None:
            raise ValueError("train.epochs: the number of training examples is needed to turn epochs into steps")
        steps = self.steps_for_examples(int(n_examples or 0))
        resolved = replace(self, steps=steps,
                           warmup_steps=max(0, int(0.05 * steps)) if self.warmup_steps is None else self.warmup_steps,
                           eval_mask_ratio=self.resolved_eval_ratio)
        resolved.__dict__["_resolved"] = True
        return resolved

    @property
    def resolved_warmup(self) -> int:
        if self.warmup_steps is not None:
            return int(self.warmup_steps)
        return max(0, int(0.05 * int(self.steps or 0)))

    @property
    def resolved_eval_ratio(self) -> float:
        if self.eval_mask_ratio is not None:
            return float(self.eval_mask_ratio)
        if self.mask_ratio is None:
            raise ValueError("train.mask_ratio: no masking ratio given")
        return self.mask_ratio.mean

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able fields; the ratio in its config form (``"0.05-0.3"``)."""
        out = asdict(self)
        out["mask_ratio"] = None if self.mask_ratio is None else self.mask_ratio.to_config()
        return out
