"""Data order that every rank agrees on and that a resumed run can pick up mid-epoch."""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

__all__ = ["ResumableDistributedSampler", "IndexedDataset", "index_rng"]


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` (shuffle by ``seed + epoch``, ``set_epoch``) that can skip the
    first ``start`` indices of this rank's share, so a resumed run continues the same order.

    With ``drop_last=True`` rank ``r`` takes positions ``r, r + W, ...`` of the epoch's
    permutation, so rank-local batch ``k`` of every rank together is exactly the global batch
    ``k`` of a single-process run with the same global batch size.
    """

    def __init__(self, dataset: Sized, num_replicas: int = 1, rank: int = 0,
                 shuffle: bool = True, seed: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this rank's share in the current epoch."""
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


class IndexedDataset(Dataset):
    """Wraps a dataset so each item travels with its dataset index (the key of its masks)."""

    def __init__(self, dataset: Any, collate_fn: Optional[Callable[[List[Any]], Any]] = None):
        self.dataset = dataset
        self.collate_fn = collate_fn or torch.utils.data.default_collate

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return index, self.dataset[index]

    def __getitems__(self, indices: Sequence[int]):
        # Datasets that read many rows at once (backed AnnData, FASTA windows) define this.
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(list(indices)) if getitems is not None else [self.dataset[i] for i in indices]
        return list(zip(indices, items)) if isinstance(items, list) else (list(indices), items)

    def collate(self, pairs):
        if isinstance(pairs, tuple):  # (indices, already-batched items) from __getitems__
            indices, batch = pairs
            return torch.as_tensor(indices, dtype=torch.int64), batch
        indices = torch.as_tensor([i for i, _ in pairs], dtype=torch.int64)
        return indices, self.collate_fn([item for _, item in pairs])


def index_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """A generator for per-example augmentation that depends only on (seed, epoch, index),
    so augmentation (e.g. reverse-complementing a DNA window) survives resumes and worker
    counts unchanged."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])
