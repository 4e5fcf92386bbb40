"""The task interface: the only thing a domain writes to use the shared trainer.

A task is an ``nn.Module`` that owns the model being pretrained (``task.model``) and turns a
batch plus the step's masking ratio into a loss::

    class MyTask(Task):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, batch, mask_ratio, rng):
            masked = mask_expression(batch["x"], mask_ratio, rng=rng)  # from bioR2.masking
            recon = self.model(masked.x_masked, masked.mask)
            loss = ((recon - batch["x"]) ** 2)[masked.mask].sum()  # a sum: the trainer divides
            return TaskOutput(loss=loss, n_examples=batch["x"].shape[0], n_items=masked.mask.sum())

``rng`` is a :class:`bioR2.masking.MaskRNG` keyed by the rows' dataset indices, so masks are
identical on any number of ranks and after a resume. The trainer handles devices, DDP,
precision, accumulation, the schedule, logging and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from ..masking import MaskRNG

__all__ = ["Task", "TaskOutput"]


@dataclass
class TaskOutput:
    """What a task returns for one (micro-)batch.

    loss: scalar tensor to minimise: the SUM of the batch's per-item losses when ``n_items`` is
    given (the preferred form), otherwise a mean over the batch's items.
    n_items: how many items (masked tokens, bases, genes, patches; or a total weight) ``loss``
    sums over. The trainer adds the counts over micro-batches and processes and divides once,
    so gradient accumulation and DDP give exactly the single-process, full-batch gradient
    even when ranks mask different numbers of items (HF's ``num_items_in_batch`` fix). A task
    that returns a mean (``n_items`` None) is exact only when every micro-batch has the same
    denominator. Every built-in task returns the summed form: :class:`~bioR2.train.MaskedTokenTask`
    (DNA, text; soft-masked DNA bases count by their weight), the single-cell
    ``ExpressionMAETask`` (masked genes) and the vision ``MAETask`` (hidden patches).
    ``loss / n_items`` is the batch's own mean; a batch with nothing to score returns a zero
    sum that keeps the graph and ``n_items`` 0.
    n_examples: rows in the batch (for examples/s).
    n_tokens: positions processed (tokens, bases, patches or genes; for tokens/s).
    metrics: extra scalars to log (each micro-batch's value averaged over micro-batches and ranks,
    not weighted by item counts: a display, not an exact global statistic).
    weight: how much this batch's loss counts in the validation mean (default: ``n_examples``;
    ignored when ``n_items`` is given, which counts instead);
    a loss that is a weighted mean over positions passes the sum of those weights, so the
    validation loss is the mean over every scored position, and a batch with nothing to score
    (weight 0) does not pull it towards 0.
    """

    loss: torch.Tensor
    n_examples: int
    n_tokens: int = 0
    metrics: Dict[str, Union[float, torch.Tensor]] = field(default_factory=dict)
    weight: Optional[float] = None
    n_items: Optional[Union[float, torch.Tensor]] = None


class Task(nn.Module):
    """Base class for trainable tasks; subclasses set ``self.model`` and define ``forward``."""

    model: nn.Module

    def forward(self, batch: Any, mask_ratio: float, rng: MaskRNG) -> TaskOutput:  # pragma: no cover
        raise NotImplementedError
