"""A ViT masked autoencoder in the style of facebookresearch/mae, sized for CPUs.

The image is cut into ``patch_size × patch_size`` patches, each embedded linearly and given a
fixed 2-D sine-cosine position. The masking core (:func:`bioR2.masking.mask_patches`) decides
which patches are hidden; the encoder runs on the *kept* patches only
(:func:`~bioR2.masking.keep_patches`), a light decoder sees the encoded patches plus a shared
mask token in every hidden slot (:func:`~bioR2.masking.restore_patches` puts them back in image
order) and predicts the pixels of every patch. The loss counts the hidden patches only,
optionally on per-patch normalised pixels (MAE's ``norm_pix_loss``).

The model takes images in ``[0, 1]`` and standardises them with the per-channel mean and
standard deviation it was built with (``pixel_mean``/``pixel_std``, part of its saved config),
so a loaded model can be applied to raw images directly.

Example::

    model = ViTMAE(image_size=8, patch_size=2, embed_dim=64)
    masking = mask_patches(imgs.shape[0], model.num_patches, 0.75)
    out = model(imgs, masking)          # out.loss, out.pred, out.mask
    feats = model.features(imgs)        # (B, embed_dim), no masking: for a linear probe
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..masking import PatchMasking, keep_patches, restore_patches
from ..train import PretrainedModule
from .config import MAEModelConfig

if TYPE_CHECKING:
    from .data import ImageSet

__all__ = ["ViTMAE", "MAEOutput", "patchify", "unpatchify", "sincos_pos_embed_2d", "build_model", "default_patch_size"]


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, L, patch_size**2 * C)``, patches in row-major order.

    Within a patch the layout is ``(row, col, channel)``, as in MAE.
    """
    b, c, h, w = imgs.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not divisible by the patch size {p}")
    x = imgs.reshape(b, c, h // p, p, w // p, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x: torch.Tensor, patch_size: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, L, p*p*C) -> (B, C, H, W)``."""
    p = patch_size
    gh, gw = height // p, width // p
    if x.shape[1] != gh * gw or x.shape[2] != p * p * channels:
        raise ValueError(f"patches {tuple(x.shape)} do not tile a {channels}x{height}x{width} image with p={p}")
    x = x.reshape(x.shape[0], gh, gw, p, p, channels)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(x.shape[0], channels, height, width)


def _sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", positions.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_pos_embed_2d(dim: int, grid_h: int, grid_w: int, cls_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings, ``(cls + grid_h*grid_w, dim)``.

    Half the channels encode the row, half the column (MAE's layout); the class token's
    position is all zeros.
    """
    if dim % 4:
        raise ValueError(f"the embedding width must be a multiple of 4 for 2-D sin-cos positions, got {dim}")
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    emb = np.concatenate([_sincos_1d(dim // 2, rows), _sincos_1d(dim // 2, cols)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
    return torch.from_numpy(emb).float()


def _blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    # Pre-norm transformer blocks (MAE uses timm's pre-norm Block); no dropout, as in MAE.
    return nn.ModuleList(
        nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu",
                                   batch_first=True, norm_first=True)
        for _ in range(depth)
    )


@dataclass
class MAEOutput:
    """loss: mean reconstruction error over hidden patches; pred: ``(B, L, p*p*C)`` in the
    (normalised) target space; mask: ``(B, L)`` bool, ``True`` = hidden."""

    loss: torch.Tensor
    pred: torch.Tensor
    mask: torch.Tensor


class ViTMAE(PretrainedModule):
    """ViT masked autoencoder (encoder over kept patches + light decoder).

    Parameters
    ----------
    image_size
        ``H`` (square) or ``[H, W]``; both divisible by ``patch_size``.
    patch_size, in_chans
        Patch side in pixels and image channels (1 for grayscale, 3 for RGB).
    embed_dim, depth, num_heads
        The encoder's width, number of blocks and attention heads (``embed_dim`` is the
        "model width" of a size sweep; it must be a multiple of 4 and of ``num_heads``).
    decoder_embed_dim, decoder_depth, decoder_num_heads
        The decoder (used only in pretraining; kept light as in MAE).
    mlp_ratio
        Hidden width of each block's MLP relative to its input.
    norm_pix_loss
        Reconstruct per-patch standardised pixels (MAE's option; helps on natural images,
        is noisy on tiny patches of mostly-blank digits, hence off by default).
    pixel_mean, pixel_std
        Per-channel statistics used to standardise ``[0, 1]`` inputs (fit on training images).
    """

    def __init__(
        self,
        image_size: Union[int, Sequence[int]] = 8,
        patch_size: int = 2,
        in_chans: int = 1,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        decoder_embed_dim: int = 64,
        decoder_depth: int = 2,
        decoder_num_heads: int = 4,
        mlp_ratio: float = 4.0,
        norm_pix_loss: bool = False,
        pixel_mean: Optional[Sequence[float]] = None,
        pixel_std: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
        if h % patch_size or w % patch_size:
            raise ValueError(f"image size {h}x{w} is not divisible by patch_size={patch_size}")
        for name, dim, heads in (("embed_dim", embed_dim, num_heads),
                                 ("decoder_embed_dim", decoder_embed_dim, decoder_num_heads)):
            if dim % heads:
                raise ValueError(f"{name}={dim} is not divisible by its number of heads ({heads})")
        pixel_mean = [0.0] * in_chans if pixel_mean is None else [float(v) for v in pixel_mean]
        pixel_std = [1.0] * in_chans if pixel_std is None else [float(v) for v in pixel_std]
        if len(pixel_mean) != in_chans or len(pixel_std) != in_chans:
            raise ValueError(f"pixel_mean/pixel_std need {in_chans} values (one per channel)")
        if min(pixel_std) <= 0:
            raise ValueError(f"pixel_std must be positive, got {pixel_std}")
        self._config: Dict[str, Any] = dict(
            image_size=[h, w], patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, depth=depth,
            num_heads=num_heads, decoder_embed_dim=decoder_embed_dim, decoder_depth=decoder_depth,
            decoder_num_heads=decoder_num_heads, mlp_ratio=mlp_ratio, norm_pix_loss=norm_pix_loss,
            pixel_mean=pixel_mean, pixel_std=pixel_std,
        )
        self.image_hw: Tuple[int, int] = (h, w)
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid = (h // patch_size, w // patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.norm_pix_loss = norm_pix_loss
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, -1, 1, 1), persistent=False)

        # --- encoder
        self.patch_embed = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.register_buffer("pos_embed", sincos_pos_embed_2d(embed_dim, *self.grid)[None], persistent=False)
        self.blocks = _blocks(embed_dim, depth, num_heads, mlp_ratio)
        self.norm = nn.LayerNorm(embed_dim)

        # --- decoder
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.register_buffer("decoder_pos_embed", sincos_pos_embed_2d(decoder_embed_dim, *self.grid)[None],
                             persistent=False)
        self.decoder_blocks = _blocks(decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio)
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size * patch_size * in_chans)
        self._init_weights()

    # ------------------------------------------------------------------ set-up
    def _init_weights(self) -> None:
        # MAE: patch embedding initialised like a linear layer, tokens ~ N(0, 0.02), xavier linears.
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def get_config(self) -> Dict[str, Any]:
        return dict(self._config)

    @property
    def embed_dim(self) -> int:
        return int(self._config["embed_dim"])

    # ------------------------------------------------------------------ pieces
    def normalize(self, imgs: torch.Tensor) -> torch.Tensor:
        """Standardise ``[0, 1]`` images with the model's per-channel statistics."""
        if imgs.dim() != 4 or imgs.shape[1] != self.in_chans or tuple(imgs.shape[2:]) != self.image_hw:
            raise ValueError(
                f"expected images of shape (B, {self.in_chans}, {self.image_hw[0]}, {self.image_hw[1]}), "
                f"got {tuple(imgs.shape)}"
            )
        return (imgs - self.pixel_mean) / self.pixel_std

    def reconstruction_target(self, imgs: torch.Tensor) -> torch.Tensor:
        """The per-patch pixels the decoder predicts (standardised per patch if ``norm_pix_loss``)."""
        target = patchify(self.normalize(imgs), self.patch_size)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def forward_encoder(self, imgs: torch.Tensor, masking: Optional[PatchMasking] = None) -> torch.Tensor:
        """Encode the kept patches: ``(B, 1 + len_keep, embed_dim)`` (class token first).

        With ``masking=None`` every patch is kept (the feature extractor's path).
        """
        x = self.patch_embed(self.normalize(imgs)).flatten(2).transpose(1, 2)  # (B, L, D)
        x = x + self.pos_embed[:, 1:, :]
        if masking is not None:
            if masking.ids_restore.shape != (x.shape[0], self.num_patches):
                raise ValueError(
                    f"the masking covers {tuple(masking.ids_restore.shape)} patches, the batch has "
                    f"{(x.shape[0], self.num_patches)}"
                )
            x = keep_patches(x, masking.ids_keep)  # the encoder never sees a hidden patch
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch's pixels from the encoded kept patches: ``(B, L, p*p*C)``."""
        x = self.decoder_embed(latent)
        n_hidden = ids_restore.shape[1] + 1 - x.shape[1]
        mask_tokens = self.mask_token.expand(x.shape[0], n_hidden, -1)
        patches = restore_patches(torch.cat([x[:, 1:, :], mask_tokens], dim=1), ids_restore)
        x = torch.cat([x[:, :1, :], patches], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]

    def forward(self, imgs: torch.Tensor, masking: PatchMasking) -> MAEOutput:
        """Encode the kept patches, decode all, score the hidden ones."""
        latent = self.forward_encoder(imgs, masking)
        pred = self.forward_decoder(latent, masking.ids_restore)
        per_patch = ((pred - self.reconstruction_target(imgs)) ** 2).mean(dim=-1)
        mask = masking.mask.to(per_patch.dtype)
        loss = (per_patch * mask).sum() / mask.sum().clamp_min(1.0)
        return MAEOutput(loss=loss, pred=pred, mask=masking.mask)

    # ------------------------------------------------------------------ downstream
    @torch.no_grad()
    def features(self, imgs: torch.Tensor, pool: str = "mean") -> torch.Tensor:
        """Frozen features of unmasked images: the mean of the patch tokens (``pool="mean"``,
        MAE's global pooling), the class token (``"cls"``) or both concatenated (``"both"``)."""
        latent = self.forward_encoder(imgs, None)
        if pool == "mean":
            return latent[:, 1:, :].mean(dim=1)
        if pool == "cls":
            return latent[:, 0, :]
        if pool == "both":
            return torch.cat([latent[:, 0, :], latent[:, 1:, :].mean(dim=1)], dim=1)
        raise ValueError(f"pool must be 'mean', 'cls' or 'both', got {pool!r}")

    @torch.no_grad()
    def reconstruct(self, imgs: torch.Tensor, masking: PatchMasking) -> torch.Tensor:
        """Images in ``[0, 1]`` with hidden patches replaced by the model's prediction.

        With ``norm_pix_loss`` the predicted patches are un-normalised with the true patch's
        mean and variance (as MAE's visualisation does), for display only.
        """
        out = self.forward(imgs, masking)
        target = patchify(self.normalize(imgs), self.patch_size)
        pred = out.pred
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1.0e-6) ** 0.5
            pred = pred * std + mean
        mixed = torch.where(masking.mask[..., None], pred, target)
        img = unpatchify(mixed, self.patch_size, self.in_chans, *self.image_hw)
        return (img * self.pixel_std + self.pixel_mean).clamp(0.0, 1.0)

    def num_parameters(self, encoder_only: bool = True) -> int:
        """Parameter count (of the encoder only, by default: what a probe uses)."""
        names: List[str] = ["patch_embed", "cls_token", "blocks", "norm"]
        total = 0
        for name, p in self.named_parameters():
            if not encoder_only or name.split(".")[0] in names:
                total += p.numel()
        return total


def default_patch_size(height: int, width: int, max_patches: int = 64) -> int:
    """The smallest patch side dividing both sides that gives at most ``max_patches`` patches
    (8×8 → 2, 28×28 → 4, 32×32 → 4): small images keep enough patches for masking to mean
    something, large ones stay affordable on a CPU."""
    for p in range(2, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) <= max_patches:
            return p
    raise ValueError(f"no patch size divides a {height}x{width} image into 2..{max_patches} patches")


def build_model(images: "ImageSet", config: Optional[MAEModelConfig] = None, **overrides: Any) -> ViTMAE:
    """A fresh :class:`ViTMAE` of shape ``config`` for these images (their size, channels and
    pixel statistics)."""
    cfg = config or MAEModelConfig()
    if overrides:
        cfg = MAEModelConfig(**{**asdict(cfg), **overrides})
    h, w = images.image_size
    patch = cfg.patch_size or default_patch_size(h, w)
    mean, std = images.channel_stats()
    return ViTMAE(
        image_size=[h, w], patch_size=patch, in_chans=images.channels, embed_dim=cfg.width, depth=cfg.depth,
        num_heads=cfg.heads, decoder_embed_dim=cfg.decoder_width or cfg.width, decoder_depth=cfg.decoder_depth,
        decoder_num_heads=cfg.decoder_heads, mlp_ratio=cfg.mlp_ratio, norm_pix_loss=cfg.norm_pix_loss,
        pixel_mean=mean, pixel_std=std,
    )
