"""Random numbers for masks that depend on *what* is masked, not on *where* it runs.

:class:`MaskRNG` is a counter-based generator: the uniform number for position ``j`` of the
example with dataset index ``i`` at optimizer step ``t`` is a hash of ``(seed, stream, t, i, j)``.
So a mask is the same whether the example sits on rank 0 or rank 1, in the first or the second
micro-batch, in an uninterrupted run or one resumed after a kill. There is no generator state to
checkpoint, and it is vectorised on the input's device.

The hash is Chris Wellons' 32-bit "lowbias32" finaliser. The per-position work runs in int32
(half the memory traffic of int64): multiplications wrap modulo 2**32 and every right shift is
masked, so arithmetic shifts of negative values never leak sign bits. Uniforms carry 24 bits.
``_mix32_int`` is the pure-Python reference the tests hold the tensor code to. On the CPU the
same hash runs in numpy, whose unsigned 32-bit integers need no masking after a shift (fewer
passes over the batch; the same bits).

Where no dataset indices exist (an ad-hoc call in a notebook), pass a ``torch.Generator`` to the
maskers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

__all__ = ["MaskRNG", "uniform_like", "uniform_at", "RNGLike", "stream_id"]

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9
_C1 = 0x7FEB352D
_C2 = 0x846CA68B


def _mix32_int(x: int) -> int:
    """lowbias32 on a Python int (reference implementation)."""
    x &= _M32
    x ^= x >> 16
    x = (x * _C1) & _M32
    x ^= x >> 15
    x = (x * _C2) & _M32
    x ^= x >> 16
    return x


def _signed32(x: int) -> int:
    """The int32 with the same bit pattern as the unsigned 32-bit ``x``."""
    x &= _M32
    return x - (1 << 32) if x >= 1 << 31 else x


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on an int64 tensor holding values in [0, 2**32) (used for the few row keys)."""
    x = x ^ (x >> 16)
    x = (x * _C1) & _M32
    x = x ^ (x >> 15)
    x = (x * _C2) & _M32
    return x ^ (x >> 16)


def _mix32_i32_(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on an int32 tensor (bit patterns as unsigned 32-bit values), in place.

    In place with one scratch buffer: on CPU the allocation of a fresh batch-sized tensor per
    operation cost as much as the arithmetic itself.
    """
    scratch = torch.empty_like(x)
    torch.bitwise_right_shift(x, 16, out=scratch)
    x ^= scratch.bitwise_and_(0xFFFF)
    x *= _signed32(_C1)
    torch.bitwise_right_shift(x, 15, out=scratch)
    x ^= scratch.bitwise_and_(0x1FFFF)
    x *= _signed32(_C2)
    torch.bitwise_right_shift(x, 16, out=scratch)
    x ^= scratch.bitwise_and_(0xFFFF)
    return x


def _mix32_np_(x: np.ndarray) -> np.ndarray:
    """lowbias32 on a uint32 array, in place (numpy's uint32 arithmetic wraps modulo 2**32 and
    shifts logically): the bits of :func:`_mix32_i32_`."""
    scratch = np.empty_like(x)
    np.right_shift(x, 16, out=scratch)
    x ^= scratch
    x *= np.uint32(_C1)
    np.right_shift(x, 15, out=scratch)
    x ^= scratch
    x *= np.uint32(_C2)
    np.right_shift(x, 16, out=scratch)
    x ^= scratch
    return x


def _mix32_np64(x: np.ndarray) -> np.ndarray:
    """:func:`_mix32` on a uint64 array holding values in [0, 2**32)."""
    m32 = np.uint64(_M32)
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(_C1)) & m32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(_C2)) & m32
    return x ^ (x >> np.uint64(16))


def _unit_np(h: np.ndarray) -> torch.Tensor:
    """:func:`_unit_` of a uint32 array (consumed), as a float32 tensor."""
    h >>= 8  # < 2**24: the int32 view holds the same values, and converts to float faster
    u = h.view(np.int32).astype(np.float32)
    u *= np.float32(1.0 / (1 << 24))
    return torch.from_numpy(u)


_OFFSETS: Dict[int, torch.Tensor] = {}


def _offsets(n: int) -> torch.Tensor:
    """``arange(n) * golden`` as int32 (wrapping) on the CPU, cached per length."""
    out = _OFFSETS.get(n)
    if out is None:
        out = torch.arange(n, dtype=torch.int32) * _signed32(_GOLDEN)
        if len(_OFFSETS) < 64:
            _OFFSETS[n] = out
    return out


def _to_i32(x: torch.Tensor) -> torch.Tensor:
    """int64 values in [0, 2**32) -> int32 with the same low 32 bits."""
    return (x - ((x >> 31) << 32)).to(torch.int32)


def _unit_(h: torch.Tensor) -> torch.Tensor:
    """The top 24 bits of each hash as a float32 in [0, 1) (consumes ``h``)."""
    h >>= 8
    h &= 0xFFFFFF
    return h.to(torch.float32).mul_(1.0 / (1 << 24))


def stream_id(name: str) -> int:
    """A stable 32-bit id for a named random stream ("select", "replace", ...)."""
    h = 0x811C9DC5  # FNV-1a: stable across Python processes, unlike hash()
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & _M32
    return h


@dataclass(frozen=True)
class MaskRNG:
    """Counter-based uniforms keyed by ``(seed, step, example index, position)``.

    Parameters
    ----------
    seed
        The run's seed.
    step
        The global optimizer step (evaluation uses a fixed value so masks repeat across runs).
    example_ids
        1-D int tensor: the dataset index of each row of the batch.
    """

    seed: int
    step: int
    example_ids: torch.Tensor

    def _row_keys(self, stream: str, device: torch.device) -> torch.Tensor:
        key = _mix32_int(_mix32_int(self.seed ^ _mix32_int(stream_id(stream))) + self.step)
        key = _mix32_int(key ^ ((self.seed >> 32) & _M32))
        ids = self.example_ids.to(device=device, dtype=torch.int64)
        return _to_i32(_mix32(_mix32((ids & _M32) ^ key) ^ ((ids >> 32) & _M32)))

    def _row_keys_np(self, stream: str) -> np.ndarray:
        """:meth:`_row_keys` on the CPU in numpy (uint64 arithmetic, low 32 bits kept), as uint32."""
        key = _mix32_int(_mix32_int(self.seed ^ _mix32_int(stream_id(stream))) + self.step)
        key = _mix32_int(key ^ ((self.seed >> 32) & _M32))
        ids = self.example_ids.detach().cpu().numpy().astype(np.int64).view(np.uint64)
        m32 = np.uint64(_M32)
        x = _mix32_np64(_mix32_np64((ids & m32) ^ np.uint64(key)) ^ (ids >> np.uint64(32)))
        return x.astype(np.uint32)

    def uniform(self, tail_shape: Sequence[int], stream: str,
                device: Optional[torch.device] = None) -> torch.Tensor:
        """Uniforms in [0, 1) of shape ``(batch, *tail_shape)`` for the named stream."""
        device = torch.device(device) if device is not None else self.example_ids.device
        n_tail = 1
        for size in tail_shape:
            n_tail *= int(size)
        if device.type == "cpu":
            keys = torch.from_numpy(self._row_keys_np(stream).view(np.int32))
            h = (keys[:, None] + _offsets(n_tail)[None, :]).numpy().view(np.uint32)  # wraps modulo 2**32
            return _unit_np(_mix32_np_(h)).reshape(keys.shape[0], *[int(s) for s in tail_shape])
        rows = self._row_keys(stream, device)
        offsets = torch.arange(n_tail, device=device, dtype=torch.int32) * _signed32(_GOLDEN)
        u = _unit_(_mix32_i32_(rows[:, None] + offsets[None, :]))
        return u.reshape(rows.shape[0], *[int(s) for s in tail_shape])

    def uniform_at(self, rows: torch.Tensor, cols: torch.Tensor, stream: str) -> torch.Tensor:
        """The same uniforms as ``uniform((L,), stream)[rows, cols]``, computed only there
        (for sparse eligibility, e.g. the nonzero genes of a cell)."""
        if rows.device.type == "cpu":
            keys = self._row_keys_np(stream)[rows.numpy()]
            h = keys + cols.numpy().astype(np.uint32) * np.uint32(_GOLDEN)  # wraps modulo 2**32
            return _unit_np(_mix32_np_(h))
        keys = self._row_keys(stream, rows.device)[rows]
        offsets = cols.to(torch.int32) * _signed32(_GOLDEN)
        return _unit_(_mix32_i32_(keys + offsets))


RNGLike = Union[MaskRNG, torch.Generator, None]


def _check_rows(rng: MaskRNG, batch: int) -> None:
    if rng.example_ids.shape[0] != batch:
        raise ValueError(
            f"MaskRNG holds {rng.example_ids.shape[0]} example ids but the batch has {batch} rows"
        )


def uniform_like(shape: Sequence[int], rng: RNGLike, stream: str, device: torch.device) -> torch.Tensor:
    """Uniforms in [0, 1) of ``shape`` (``shape[0]`` = batch) from either kind of generator."""
    if isinstance(rng, MaskRNG):
        _check_rows(rng, shape[0])
        return rng.uniform(shape[1:], stream, device=device)
    if rng is not None and rng.device.type != torch.device(device).type:
        # A CPU generator for a CUDA batch: draw on the CPU, then move.
        return torch.rand(tuple(shape), generator=rng).to(device)
    return torch.rand(tuple(shape), generator=rng, device=device)


def uniform_at(shape: Sequence[int], rows: torch.Tensor, cols: torch.Tensor, rng: RNGLike,
               stream: str) -> torch.Tensor:
    """Uniforms at the ``(rows, cols)`` entries of a ``shape`` = (batch, L) array."""
    if isinstance(rng, MaskRNG):
        _check_rows(rng, shape[0])
        return rng.uniform_at(rows, cols, stream)
    return uniform_like(shape, rng, stream, rows.device)[rows, cols]
