"""Data order that every rank agrees on and that a resumed run can pick up mid-epoch."""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any, Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

__all__ = ["ResumableDistributedSampler", "ChunkShuffleSampler", "chunk_sampler_factory", "IndexedDataset", "index_rng"]


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


class ChunkShuffleSampler:
    """Shuffle chunks of consecutive cells, then cells within a chunk.

    Backed reads are fast for contiguous rows and slow for scattered ones; reading the file in
    shuffled chunks of ``chunk_size`` cells keeps every mini-batch inside one stretch of the file
    while still visiting the whole file in a random order each epoch. Distributed: the epoch's
    order is cut into ``num_replicas`` consecutive, equal shares (the last padded by wrapping
    around, as ``DistributedSampler`` pads), so every rank yields the same number of cells and
    reaches the end of an epoch at the same step, however few chunks there are.
    ``set_epoch``/``set_start`` make the order resumable, as the shared trainer requires.
    """

    def __init__(self, n: int, chunk_size: int = 4096, num_replicas: int = 1, rank: int = 0,
                 shuffle: bool = True, seed: int = 0) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.n, self.chunk_size = int(n), int(chunk_size)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed = shuffle, int(seed)
        self.epoch, self.start = 0, 0
        self.per_rank = math.ceil(self.n / self.num_replicas) if self.n else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def _order(self) -> np.ndarray:
        n_chunks = math.ceil(self.n / self.chunk_size)
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = rng.permutation(n_chunks) if self.shuffle else np.arange(n_chunks)
        parts = []
        for c in chunks:
            idx = np.arange(c * self.chunk_size, min((c + 1) * self.chunk_size, self.n), dtype=np.int64)
            parts.append(rng.permutation(idx) if self.shuffle else idx)
        order = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if self.num_replicas == 1:
            return order
        padded = np.resize(order, self.per_rank * self.num_replicas)  # wraps around to pad
        return padded[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.start:].tolist())

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


def chunk_sampler_factory(chunk_size: int = 4096):
    """A ``sampler_factory`` for :class:`bioR2.train.Trainer` giving :class:`ChunkShuffleSampler`."""

    def factory(dataset, num_replicas: int, rank: int, shuffle: bool, seed: int) -> ChunkShuffleSampler:
        return ChunkShuffleSampler(len(dataset), chunk_size, num_replicas, rank, shuffle, seed)

    return factory
