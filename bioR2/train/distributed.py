"""torch.distributed set-up: DDP when launched by ``torchrun``, nothing when not.

gloo on CPU, nccl on CUDA. A single process needs no launcher and no process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist

from ..utils.device import DEFAULT_DEVICE

__all__ = ["DistContext", "setup_distributed", "resolve_device", "all_reduce_sum"]


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # True when this module created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            # Every rank reaches the end before the group is torn down: a rank that destroyed it
            # while another still had gloo work in flight could abort at exit under load.
            try:
                dist.barrier()
            except Exception:  # a failed peer: tear down anyway, the original error is what matters
                pass
            dist.destroy_process_group()


def resolve_device(preference: str, local_rank: int = 0, option: str = "train.device") -> torch.device:
    """``auto`` picks ``cuda:<local_rank>`` when CUDA is available, else the CPU; ``option``
    names the setting in the error raised when CUDA is asked for and absent."""
    if preference == DEFAULT_DEVICE:
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:  # torch's own message lists twenty device types
        raise ValueError(f"{option}={preference!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{option}={preference!r} but CUDA is not available here")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def setup_distributed(device_preference: str = DEFAULT_DEVICE) -> DistContext:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1), or run alone.

    A process group created by the caller beforehand (e.g. a test using
    ``torch.multiprocessing``) is used as it is.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return DistContext(rank, world, local_rank, resolve_device(device_preference, local_rank), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, 0, resolve_device(device_preference, 0), False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, True)


def all_reduce_sum(values: Sequence[float], ctx: DistContext) -> list:
    """Sum a short list of floats over ranks (one collective), returned as Python floats."""
    if not ctx.distributed:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()
