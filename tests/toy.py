"""A tiny masked-autoencoder task for trainer tests (not part of the package)."""

from __future__ import annotations

import torch
from torch import nn

from bioR2.masking import mask_expression
from bioR2.train import PretrainedModule, Task, TaskOutput


class ToyAutoencoder(PretrainedModule):
    def __init__(self, n_features: int = 16, hidden: int = 32, dropout: float = 0.0):
        super().__init__()
        self.n_features, self.hidden, self.dropout = n_features, hidden, dropout
        self.net = nn.Sequential(
            nn.Linear(2 * n_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_features)
        )

    def get_config(self):
        return {"n_features": self.n_features, "hidden": self.hidden, "dropout": self.dropout}

    def forward(self, x, mask):
        return self.net(torch.cat([x, mask.float()], dim=1))


class ToyTask(Task):
    def __init__(self, model: ToyAutoencoder):
        super().__init__()
        self.model = model

    def forward(self, batch, mask_ratio, rng):
        x = batch["x"]
        masked = mask_expression(x, mask_ratio, rng=rng)
        recon = self.model(masked.x_masked, masked.mask)
        loss = ((recon - x) ** 2)[masked.mask].mean()
        return TaskOutput(loss=loss, n_examples=x.shape[0], n_tokens=x.numel(),
                          metrics={"masked_fraction": masked.mask.float().mean()})


class ToyData(torch.utils.data.Dataset):
    def __init__(self, n: int = 64, d: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, 4, generator=g)
        w = torch.randn(4, d, generator=g)
        self.x = z @ w + 0.1 * torch.randn(n, d, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i]}
