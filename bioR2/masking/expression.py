"""Expression-vector masking for masked-expression models (scGPT / Geneformer style)."""

from __future__ import annotations

from typing import Optional

import torch

from .noise import RNGLike
from .select import CountMode, Ratio, select_all_positions, select_positions

__all__ = ["ExpressionMasking", "mask_expression"]


class ExpressionMasking:
    """Result of :func:`mask_expression`.

    x_masked: the input with masked entries set to ``mask_value`` (computed when first read: a
    model that takes the mask itself, as :class:`~bioR2.sc.ExpressionMAE` does, never pays for it).
    mask: bool ``(cells, genes)``, ``True`` where a value was hidden and must be reconstructed.
    """

    __slots__ = ("mask", "_x", "_x_version", "_mask_value", "_x_masked")

    def __init__(self, x_masked: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None, *,
                 x: Optional[torch.Tensor] = None, mask_value: float = 0.0) -> None:
        if mask is None:
            raise TypeError("ExpressionMasking needs a mask")
        if x_masked is None and x is None:
            raise TypeError("ExpressionMasking needs x_masked or the input x")
        self.mask = mask
        self._x_masked = x_masked
        self._x = x
        self._x_version = None if x is None else x._version
        self._mask_value = mask_value

    @property
    def x_masked(self) -> torch.Tensor:
        if self._x_masked is None:
            if self._x._version != self._x_version:
                raise RuntimeError("the input of mask_expression was modified in place before x_masked was "
                                   "read; read x_masked first (it is computed from the input when first read)")
            self._x_masked = _fill(self._x, self.mask, self._mask_value)
            self._x = None
        return self._x_masked

    @x_masked.setter
    def x_masked(self, value: torch.Tensor) -> None:
        self._x_masked, self._x = value, None

    def __repr__(self) -> str:
        return f"ExpressionMasking(mask={tuple(self.mask.shape)}, x_masked={'ready' if self._x is None else 'lazy'})"


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
    of detected genes, as in scGPT); otherwise among all genes. ``eligible`` (bool, like ``x``)
    restricts the draw further, and the ratio is then a fraction of each cell's eligible genes:
    pass the *observed* genes of a corpus whose files measure different genes, so an unmeasured
    gene is never masked, scored, or counted by the ratio. The corrupted value is ``mask_value``; models that
    need to tell a masked zero from a measured zero should also take ``mask`` as input.
    ``ratio`` is one float for the batch or a 1-D tensor with one ratio per cell.
    """
    if x.dim() != 2:
        raise ValueError(f"expression must be (cells, genes), got shape {tuple(x.shape)}")
    if not only_nonzero and eligible is None:  # every gene eligible
        mask = select_all_positions(x.shape, x.device, ratio, rng, "expression.select", count=count, min_one=min_one)
        return ExpressionMasking(mask=mask, x=x, mask_value=mask_value)
    allowed = (x != 0) if only_nonzero else torch.ones_like(x, dtype=torch.bool)
    if eligible is not None:
        allowed &= eligible.to(device=x.device, dtype=torch.bool)
    mask = select_positions(allowed, ratio, rng, "expression.select", count=count, min_one=min_one)
    return ExpressionMasking(mask=mask, x=x, mask_value=mask_value)


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
