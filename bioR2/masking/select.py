"""Choosing which eligible positions to mask: the one rule every masker shares."""

from __future__ import annotations

from typing import Literal, Optional, Union

import numpy as np
import torch

from .noise import RNGLike, uniform_at, uniform_like

__all__ = ["select_positions", "select_all_positions", "CountMode", "masked_count", "Ratio", "row_ratios",
           "row_counts"]

CountMode = Literal["exact", "bernoulli"]

# A masking ratio: one float for the whole batch, or a 1-D tensor with one ratio per row (the
# trainer passes one for per-example forms such as ``sample:0.05-0.3``).
Ratio = Union[float, torch.Tensor]

# Below this fraction of eligible entries (e.g. the nonzero genes of sparse cells), noise is
# drawn only at eligible entries instead of over the whole array.
_SPARSE_FRACTION = 0.25

# numpy 2 sorts float rows with SIMD kernels (x86-simd-sort on AVX2/AVX-512, Highway on ARM), many
# times faster than torch's CPU sort; the exact-count selection on the CPU sorts rows there.
_NUMPY_SIMD_SORT = int(np.__version__.split(".")[0]) >= 2


def row_ratios(ratio: Ratio, batch: int, device: torch.device) -> Optional[torch.Tensor]:
    """``None`` for one ratio per batch (a float or 0-d tensor: the maskers' scalar code path,
    unchanged); for a 1-D tensor of per-row ratios, that tensor checked and as float64 on
    ``device``."""
    if not isinstance(ratio, torch.Tensor) or ratio.dim() == 0:
        return None
    if ratio.dim() != 1 or ratio.shape[0] != batch:
        raise ValueError(
            f"per-row masking ratios must be a 1-D tensor with one ratio per row ({batch}), "
            f"got shape {tuple(ratio.shape)}"
        )
    rows = ratio.to(device=device, dtype=torch.float64)
    if not bool(((rows >= 0) & (rows <= 1)).all()):
        raise ValueError("per-row masking ratios must lie in [0, 1]")
    return rows


def _is_rows(ratio: Ratio) -> bool:
    return isinstance(ratio, torch.Tensor) and ratio.dim() == 1


def masked_count(n_eligible: torch.Tensor, ratio: Ratio, min_one: bool = True) -> torch.Tensor:
    """Per-row number of masked positions in ``exact`` mode: ``round(ratio * n_eligible)``.

    Clamped to ``[1, n_eligible]`` when ``min_one`` (rows with nothing eligible get 0), so a
    masked-LM loss is never empty even at small ratios on short sequences. ``ratio`` is a float
    or a tensor of per-row ratios (float64 for the same rounding as a float).
    """
    if n_eligible.device.type == "cpu" and (not isinstance(ratio, torch.Tensor) or ratio.device.type == "cpu"):
        # The same float64 arithmetic in numpy: a few hundred entries, where each torch call's
        # overhead is most of the cost.
        n = n_eligible.numpy().astype(np.int64)
        r = ratio.numpy() if isinstance(ratio, torch.Tensor) else ratio
        k = np.floor(n.astype(np.float64) * r + 0.5).astype(np.int64)
        if min_one:
            k = np.maximum(k, (n > 0).astype(np.int64))
        return torch.from_numpy(np.minimum(k, n))
    k = torch.floor(n_eligible.to(torch.float64) * ratio + 0.5).to(torch.int64)
    if min_one:
        k = torch.maximum(k, (n_eligible > 0).to(torch.int64))
    return torch.minimum(k, n_eligible.to(torch.int64))


def row_counts(flags: torch.Tensor) -> torch.Tensor:
    """Per-row number of True entries of a 2-D bool tensor, as int64.

    Summed through a uint8 view: torch's bool reductions (``any``, ``count_nonzero``) are
    several times slower on CPU, and this runs on every batch.
    """
    return flags.view(torch.uint8).sum(dim=1, dtype=torch.int32).to(torch.int64)


def select_positions(
    eligible: torch.Tensor,
    ratio: Ratio,
    rng: RNGLike,
    stream: str,
    count: CountMode = "exact",
    min_one: bool = True,
) -> torch.Tensor:
    """Boolean ``(B, L)`` mask choosing a ``ratio`` fraction of each row's eligible positions.

    ``count="exact"``: every row masks exactly :func:`masked_count` positions (the eligible
    ones with the lowest noise), so the realised fraction equals ``ratio`` up to rounding.
    ``count="bernoulli"``: each eligible position is masked independently with probability
    ``ratio`` (BERT/GPN practice); the realised fraction is binomial around ``ratio``.
    With ``min_one``, a row with at least one eligible position always masks at least one.
    The noise comes from ``rng`` under the name ``stream``; the result does not depend on
    whether the dense or the sparse path below computed it.

    ``ratio`` is one float for the batch or a 1-D tensor with one ratio per row; a tensor whose
    entries all equal a float gives exactly that float's mask.
    """
    if count not in ("exact", "bernoulli"):
        raise ValueError(f"count must be 'exact' or 'bernoulli', got {count!r}")
    if eligible.dim() != 2:
        raise ValueError(f"eligible must be (batch, length), got shape {tuple(eligible.shape)}")
    rows = row_ratios(ratio, eligible.shape[0], eligible.device)
    if rows is not None:
        ratio = rows
    eligible = eligible.to(torch.bool)
    n_eligible = row_counts(eligible)
    if int(n_eligible.sum()) < _SPARSE_FRACTION * eligible.numel():
        return _select_sparse(eligible, n_eligible, ratio, rng, stream, count, min_one)
    return _select_dense(eligible, n_eligible, ratio, rng, stream, count, min_one)


def select_all_positions(
    shape, device: torch.device, ratio: Ratio, rng: RNGLike, stream: str,
    count: CountMode = "exact", min_one: bool = True,
) -> torch.Tensor:
    """:func:`select_positions` with every position of a ``shape`` = (batch, length) array
    eligible (an expression vector masked over all genes): the same mask, without building and
    counting an all-True eligibility array."""
    if count not in ("exact", "bernoulli"):
        raise ValueError(f"count must be 'exact' or 'bernoulli', got {count!r}")
    batch, length = (int(s) for s in shape)
    rows = row_ratios(ratio, batch, device)
    if rows is not None:
        ratio = rows
    n_eligible = torch.full((batch,), length, dtype=torch.int64, device=device)
    if batch * length == 0:
        return torch.zeros(batch, length, dtype=torch.bool, device=device)
    return _select_dense(None, n_eligible, ratio, rng, stream, count, min_one, shape=(batch, length))


def _select_dense(eligible, n_eligible, ratio, rng, stream, count, min_one, shape=None) -> torch.Tensor:
    """``eligible=None``: every position of ``shape`` is eligible."""
    shape = tuple(eligible.shape) if eligible is not None else shape
    noise = uniform_like(shape, rng, stream, n_eligible.device)
    # Ineligible positions sort after every eligible one (noise is < 1, they get 2 or more); skip
    # the pass when every position is eligible (expression vectors masked over all genes). An
    # addition of 0 or 2 rather than a bool-conditioned fill, which is slow on CPU.
    all_eligible = eligible is None or bool((n_eligible == shape[1]).all())
    scores = noise if all_eligible else noise.add((~eligible).view(torch.uint8).to(noise.dtype), alpha=2.0)
    if count == "bernoulli":
        # Per-row ratios are compared in the noise's dtype, as a float ratio is.
        mask = noise < (ratio.to(noise.dtype)[:, None] if _is_rows(ratio) else ratio)
        if not all_eligible:
            mask &= eligible
        if min_one:
            empty = (row_counts(mask) == 0) & (n_eligible > 0)
            if bool(empty.any()):
                rows = empty.nonzero(as_tuple=True)[0]
                mask[rows, scores[rows].argmin(dim=1)] = True
        return mask
    k = masked_count(n_eligible, ratio, min_one)
    if _NUMPY_SIMD_SORT and scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64):
        return _sort_select(scores, k)
    mask = _band_select(scores, k, n_eligible)
    return mask if mask is not None else _rank_select(scores, k)


def _sort_select(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The ``k`` lowest scores of each row (ties by position), on the CPU: each row sorted by
    numpy, whose SIMD sort beats the band selection's passes here, then a threshold per row.

    A row takes the scores up to its ``k``-th lowest; when the next one ties with it (rare: 24-bit
    noise), only the first tied entries by position are kept, as a stable rank selection would.
    """
    s = scores.detach().numpy()
    batch, length = s.shape
    kk = k.numpy()
    rows = np.arange(batch)
    ordered = np.sort(s, axis=1)
    threshold = ordered[rows, np.clip(kk - 1, 0, length - 1)]
    threshold[kk <= 0] = -np.inf  # nothing to mask in the row
    mask = s <= threshold[:, None]
    tied = (kk > 0) & (kk < length) & (ordered[rows, np.minimum(kk, length - 1)] == threshold)
    for row in np.flatnonzero(tied):
        equal = np.flatnonzero(s[row] == threshold[row])
        keep = int(kk[row]) - int((s[row] < threshold[row]).sum())
        mask[row, equal[keep:]] = False
    return torch.from_numpy(mask)


def _band_select(scores: torch.Tensor, k: torch.Tensor, n_eligible: torch.Tensor) -> Optional[torch.Tensor]:
    """The ``k`` lowest scores of each row, without sorting whole rows.

    Noise is uniform, so thresholding at ``q = k / n`` already picks about ``k`` entries; the
    few too many or too few (a binomial deviation ``d``) are settled by sorting only the
    entries in a narrow band next to ``q``. Same result as a stable rank selection (ties by
    position); ``None`` in the rare case the band holds too few entries.
    """
    batch, length = scores.shape
    n = n_eligible.clamp(min=1).to(torch.float64)
    q = (k.to(torch.float64) / n).to(scores.dtype)
    below = scores < q[:, None]
    d = k - row_counts(below)
    # Band width: the deficit plus a margin of several binomial sds; expected entries ~ |d| + 4√|d| + 8.
    dist = d.abs().to(torch.float64)
    width = ((dist + 4.0 * dist.sqrt() + 8.0) / n).to(scores.dtype)
    lo = torch.where(d < 0, q - width, q).clamp(min=0.0)
    hi = torch.where(d > 0, q + width, q).clamp(max=1.0)  # ineligible scores (2.0) never enter
    band = (scores >= lo[:, None]) & (scores < hi[:, None])
    flat = band.reshape(-1).nonzero().squeeze(1)
    rows = torch.div(flat, length, rounding_mode="floor")
    in_band = torch.bincount(rows, minlength=batch)
    if bool((in_band < d.abs()).any()) or batch * length >= (1 << 38):
        return None
    cols = flat - rows * length
    noise_bits = (scores.reshape(-1)[flat] * float(1 << 24)).to(torch.int64)
    order = torch.sort(rows * (length << 24) + noise_bits * length + cols).indices
    sorted_rows = rows[order]
    rank = torch.arange(order.numel(), device=scores.device) - (torch.cumsum(in_band, 0) - in_band)[sorted_rows]
    row_d = d[sorted_rows]
    add = (row_d > 0) & (rank < row_d)  # the d lowest just above q join
    drop = (row_d < 0) & (rank >= in_band[sorted_rows] + row_d)  # the |d| highest below q leave
    mask = below.reshape(-1)
    mask[flat[order[add]]] = True
    mask[flat[order[drop]]] = False
    return mask.view(batch, length)


def _rank_select(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    ranks = scores.argsort(dim=1, stable=True).argsort(dim=1)
    return ranks < k[:, None]


def _select_sparse(eligible, n_eligible, ratio, rng, stream, count, min_one) -> torch.Tensor:
    batch, length = eligible.shape
    # Flat row-major indices of the eligible entries: one nonzero() instead of (rows, cols).
    flat = eligible.reshape(-1).nonzero().squeeze(1)
    mask = torch.zeros(batch * length, dtype=torch.bool, device=eligible.device)
    if flat.numel() == 0:
        return mask.view(batch, length)
    rows = torch.div(flat, length, rounding_mode="floor")
    u = uniform_at((batch, length), rows, flat - rows * length, rng, stream)
    if count == "bernoulli":
        chosen = u < (ratio.to(u.dtype)[rows] if _is_rows(ratio) else ratio)
        if min_one:
            per_row = torch.bincount(rows[chosen], minlength=batch)
            empty = (per_row == 0) & (n_eligible > 0)
            if bool(empty.any()):  # rare at useful ratios: only then find those rows' minima
                row_min = torch.full((batch,), 2.0, device=u.device).scatter_reduce(0, rows, u, reduce="amin")
                chosen |= empty[rows] & (u == row_min[rows])
        mask[flat[chosen]] = True
        return mask.view(batch, length)
    k = masked_count(n_eligible, ratio, min_one)
    # Segmented selection: order entries by (row, noise, column); an entry's rank inside its
    # row is its position minus the row's first position. The noise has 24 bits, so the three
    # fit one int64 key, whose (unstable, hence fast) sort equals a stable sort by (row, noise).
    if batch * length < (1 << 38):
        noise_bits = (u * float(1 << 24)).to(torch.int64)
        key = rows * (length << 24) + noise_bits * length + (flat - rows * length)
        order = torch.sort(key).indices
    else:  # astronomically large batches: a stable float sort keeps the same order
        order = torch.argsort(rows.to(torch.float64) * 2.0 + u.to(torch.float64), stable=True)
    starts = torch.cumsum(n_eligible, dim=0) - n_eligible
    sorted_rows = rows[order]
    rank = torch.arange(order.numel(), device=rows.device) - starts[sorted_rows]
    mask[flat[order[rank < k[sorted_rows]]]] = True
    return mask.view(batch, length)
