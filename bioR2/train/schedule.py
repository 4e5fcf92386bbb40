"""Learning-rate schedule: linear warm-up, then cosine decay to ``min_lr_ratio * lr``.

A pure function of the step, so resuming needs no scheduler state.
"""

from __future__ import annotations

import math

__all__ = ["warmup_cosine_lr"]


def warmup_cosine_lr(step: int, *, base_lr: float, total_steps: int, warmup_steps: int,
                     min_lr_ratio: float = 0.1) -> float:
    """The learning rate for optimizer step ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)
