"""Random numbers for masks that depend on *what* is masked, not on *where* it runs.

:class:`MaskRNG` is a counter-based generator: the uniform number for position ``j`` of the
example with dataset index ``i`` at optimizer step ``t`` is a hash of ``(seed, stream, t, i, j)``.
So a mask is the same whether the example sits on rank 0 or rank 1, in the first or the second
micro-batch, in an uninterrupted run or one resumed after a kill. There is no generator state to
checkpoint, and it is vectorised on the input's device (integer ops on int64 tensors).

The hash is Chris Wellons' 32-bit "lowbias32" finaliser, kept to 32 bits inside int64 so that
signed overflow and arithmetic shifts never matter; uniforms carry 24 random bits.

Where no dataset indices exist (an ad-hoc call in a notebook), pass a ``torch.Generator`` to the
maskers instead; see :func:`uniform_like`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

__all__ = ["MaskRNG", "uniform_like", "RNGLike", "stream_id"]

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mix32_int(x: int) -> int:
    """Python-int twin of :func:`_mix32` (used for the per-call scalars and in tests)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on an int64 tensor holding values in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


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

    def uniform(
        self,
        tail_shape: Sequence[int],
        stream: str,
        device: Optional[torch.device] = None,
    ) -> torch.Tensor:
        """Uniforms in [0, 1) of shape ``(batch, *tail_shape)`` for the named stream."""
        device = device if device is not None else self.example_ids.device
        key = _mix32_int(_mix32_int(self.seed ^ _mix32_int(stream_id(stream))) + self.step)
        key = _mix32_int(key ^ ((self.seed >> 32) & _M32))
        ids = self.example_ids.to(device=device, dtype=torch.int64)
        row = _mix32(_mix32((ids & _M32) ^ key) ^ ((ids >> 32) & _M32))
        n_tail = 1
        for size in tail_shape:
            n_tail *= int(size)
        pos = torch.arange(n_tail, device=device, dtype=torch.int64)
        h = _mix32((row[:, None] + pos[None, :] * _GOLDEN) & _M32)
        u = (h >> 8).to(torch.float32) * (1.0 / (1 << 24))
        return u.reshape(ids.shape[0], *[int(s) for s in tail_shape])


RNGLike = Union[MaskRNG, torch.Generator, None]


def uniform_like(
    shape: Sequence[int], rng: RNGLike, stream: str, device: torch.device
) -> torch.Tensor:
    """Uniforms in [0, 1) of ``shape`` (``shape[0]`` = batch) from either kind of generator."""
    if isinstance(rng, MaskRNG):
        if rng.example_ids.shape[0] != shape[0]:
            raise ValueError(
                f"MaskRNG holds {rng.example_ids.shape[0]} example ids but the batch has "
                f"{shape[0]} rows"
            )
        return rng.uniform(shape[1:], stream, device=device)
    if rng is not None and rng.device.type != torch.device(device).type:
        # A CPU generator for a CUDA batch: draw on the CPU, then move.
        return torch.rand(tuple(shape), generator=rng).to(device)
    return torch.rand(tuple(shape), generator=rng, device=device)
