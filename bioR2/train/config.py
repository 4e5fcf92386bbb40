"""Training options shared by every domain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Union

from ..masking import MaskRatio, parse_mask_ratio

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Options of :class:`bioR2.train.Trainer`.

    ``batch_size`` is the *global* number of examples per optimizer step; each rank processes
    ``batch_size / (world_size * grad_accum)`` per micro-batch. The masking ratio is drawn once
    per optimizer step from ``mask_ratio``, a parsed :class:`~bioR2.masking.MaskRatio` (any form
    of :func:`~bioR2.masking.parse_mask_ratio` is accepted here, the config edge, and parsed once:
    ``"0.15"`` fixed, ``"0.05-0.3"`` R²MAE).
    Validation uses the fixed ``eval_mask_ratio`` (default: the middle of the training range)
    and masks that do not depend on the run's seed, so validation losses compare across runs.
    """

    steps: int = 1000
    epochs: Optional[float] = None  # set: train this many passes over the training set (steps follow from it)
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: List[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = -1  # -1: 5% of steps
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    clip_grad_norm: float = 1.0  # 0 disables clipping
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 needs CUDA)
    mask_ratio: Union[MaskRatio, str, float] = "0.15"
    eval_mask_ratio: Optional[float] = None
    eval_every: int = 0  # 0: evaluate once at the end (when a validation set is given)
    eval_batches: int = 20
    save_every: int = 0  # 0: checkpoint only at the end
    keep_checkpoints: int = 2
    log_every: int = 1
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_to: str = "jsonl"  # jsonl | tensorboard (log.jsonl is always written; tensorboard adds event files)
    progress: Optional[bool] = None  # None: a progress bar when stderr is a terminal
    shuffle: bool = True
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        self.mask_ratio = parse_mask_ratio(self.mask_ratio, "train.mask_ratio")
        if self.eval_mask_ratio is not None:
            # validation uses one fixed ratio: check it once here, keep the plain number
            self.eval_mask_ratio = parse_mask_ratio(self.eval_mask_ratio, "train.eval_mask_ratio").mean
        for name in ("steps", "batch_size", "grad_accum", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs is not None and not float(self.epochs) > 0:
            raise ValueError(f"train.epochs must be > 0 (or unset), got {self.epochs}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"train.precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")

    def steps_for_examples(self, n_examples: int) -> int:
        """The optimizer steps of a run over ``n_examples`` training examples: ``steps``, or with
        ``epochs`` set, ``epochs`` passes of ``batch_size`` examples per step (at least 1)."""
        if self.epochs is None:
            return int(self.steps)
        return max(1, int(round(float(self.epochs) * int(n_examples) / int(self.batch_size))))

    @property
    def resolved_warmup(self) -> int:
        return max(0, int(0.05 * self.steps)) if self.warmup_steps < 0 else int(self.warmup_steps)

    @property
    def resolved_eval_ratio(self) -> float:
        if self.eval_mask_ratio is not None:
            return float(self.eval_mask_ratio)
        return self.mask_ratio.mean

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able fields; the ratio in its config form (``"0.05-0.3"``)."""
        out = asdict(self)
        out["mask_ratio"] = self.mask_ratio.to_config()
        return out
