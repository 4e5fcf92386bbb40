"""Expression-vector masking for masked-expression models (scGPT / Geneformer style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .noise import RNGLike
from .select import CountMode, Ratio, select_positions

__all__ = ["ExpressionMasking", "mask_expression"]


@dataclass
class ExpressionMasking:
    """Result of :func:`mask_expression`.

    x_masked: the input with masked entries set to ``mask_value``.
    mask: bool ``(cells, genes)``, ``True`` where a value was hidden and must be reconstructed.
    """

    x_masked: torch.Tensor
    mask: torch.Tensor


def mask_expression(
    x: torch.Tensor,
    ratio: Ratio,
    *,
    only_nonzero: bool = False,
    mask_value: float = 0.0,
    eligible: Optional[torch.Tensor] = None,
    count: CountMode = "exact",
    min_one: bool = True,
    rng: RNGLike = None,
) -> ExpressionMasking:
    """Hide a ``ratio`` fraction of each cell's genes.

    ``only_nonzero=True`` draws only among the cell's nonzero genes (so the ratio is a fraction
    of detected genes, as in scGPT); otherwise among all genes. ``eligible`` can restrict further
    (e.g. genes absent from a query dataset). The corrupted value is ``mask_value``; models that
    need to tell a masked zero from a measured zero should also take ``mask`` as input.
    ``ratio`` is one float for the batch or a 1-D tensor with one ratio per cell.
    """
    if x.dim() != 2:
        raise ValueError(f"expression must be (cells, genes), got shape {tuple(x.shape)}")
    allowed = (x != 0) if only_nonzero else torch.ones_like(x, dtype=torch.bool)
    if eligible is not None:
        allowed &= eligible.to(device=x.device, dtype=torch.bool)
    mask = select_positions(allowed, ratio, rng, "expression.select", count=count, min_one=min_one)
    return ExpressionMasking(x_masked=_fill(x, mask, mask_value), mask=mask)


def _fill(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    """``x.masked_fill(mask, value)``, about twice as fast on CPU for finite float input.

    Multiplying by a 0/1 keep-vector is exact when every entry is finite (inf * 0 is nan), which
    one sum checks; anything else takes ``masked_fill``.
    """
    if not x.is_floating_point() or not bool(torch.isfinite(x.sum())):
        return x.masked_fill(mask, value)
    hidden = mask.view(torch.uint8).to(x.dtype)  # bool kernels are slow on CPU; uint8 ones are not
    out = x * (1.0 - hidden)
    if value != 0:
        out.add_(hidden.mul_(value))
    return out
