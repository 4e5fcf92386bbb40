"""Nucleotide encoders with a masked-LM head.

Two architectures behind one class, :class:`DNAMaskedLM`:

* ``convnet`` (default, CPU-friendly): GPN-style stack of residual blocks, each a dilated
  1-D convolution (GELU, LayerNorm) followed by a position-wise feed-forward layer (GELU,
  LayerNorm). Dilations double every block up to ``dilation_max`` and then start again, so
  the receptive field grows geometrically at constant cost per block.
* ``transformer``: a small pre-LayerNorm transformer encoder with learned positions.

``[PAD]`` positions (windows that run past a contig end) carry a zero vector through every
convolutional block, which is exactly what the convolution's own zero padding does at a
window edge; the transformer masks them out of attention. So a variant near a contig end is
scored as if the window had been cut there.

For zero-shot scoring only the centre base's logits are needed: :meth:`DNAMaskedLM.center_logits`
computes, block by block, only the positions the centre actually depends on. With dilated
convolutions that set is sparse: the last block (dilation ``d``) reads its input only at the
centre's ``kernel_size`` taps ``centre + k d``, the block before at those positions' taps, and so
on, so with dilations 1, 2, ..., 128 the eight blocks compute about 1, 5, 9, ..., 257 positions
instead of the whole window (:class:`ConePlan`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from ..train import PretrainedModule
from .tokenizer import PAD_ID, VOCAB, NucleotideTokenizer

__all__ = ["DNAMaskedLM", "ConvBlock", "ConePlan", "dilation_schedule"]


def dilation_schedule(layers: int, dilation_max: int = 32, cycle: Optional[int] = None) -> List[int]:
    """1, 2, 4, ... up to ``dilation_max``, then again from 1 (every ``cycle`` blocks)."""
    if dilation_max < 1:
        raise ValueError(f"dilation_max must be >= 1, got {dilation_max}")
    out, d = [], 1
    for i in range(layers):
        if cycle is not None and i % cycle == 0:
            d = 1
        out.append(d)
        d = d * 2 if d * 2 <= dilation_max else 1
    return out


class ConvBlock(nn.Module):
    """``x + LN(GELU(conv(x)))`` then ``x + LN(GELU(W x))`` (GPN's original ConvNet block).

    With ``ffn_mult > 1`` the feed-forward part is ``LN(W2 GELU(W1 x))`` with a hidden layer
    ``ffn_mult`` times wider, for models sized like GPN's current ConvNet.
    """

    def __init__(self, hidden: int, kernel_size: int, dilation: int, dropout: float = 0.0,
                 ffn_mult: int = 1) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.radius = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, padding=self.radius)
        self.conv_norm = nn.LayerNorm(hidden)
        self.ffn = nn.Linear(hidden, ffn_mult * hidden)
        self.ffn_out = nn.Linear(ffn_mult * hidden, hidden) if ffn_mult > 1 else None
        self.ffn_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # x: (B, L, D); keep: (B, L, 1) float, 0 at [PAD]
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        x = x + self.dropout(self.conv_norm(F.gelu(h)))
        h = F.gelu(self.ffn(x))
        if self.ffn_out is not None:
            h = self.ffn_out(h)
        x = x + self.dropout(self.ffn_norm(h))
        return x * keep

    def forward_at(self, x: torch.Tensor, taps: torch.Tensor, centre_tap: int, keep: torch.Tensor,
                   pad: bool) -> torch.Tensor:
        """The block's output at a few positions only, from its input at the positions they read.

        ``x`` ``(B, n_in, D)`` holds the input at ``n_in`` positions; ``taps`` ``(n_out, K)``
        indexes, for each output position and kernel tap, the row of ``x`` it reads (``n_in``: a
        tap outside the window, read as zero when ``pad``); ``keep`` ``(B, n_out, 1)``. Equals
        :meth:`forward` at those positions.
        """
        if pad:
            x = torch.cat([x, x.new_zeros(x.shape[0], 1, x.shape[2])], dim=1)
        B, (n_out, K), D = x.shape[0], taps.shape, x.shape[2]
        g = x[:, taps].reshape(B, n_out, K * D)  # (B, n_out, K, D): im2col of the needed outputs
        w = self.conv.weight.permute(0, 2, 1).reshape(self.conv.out_channels, K * D)
        h = F.linear(g, w, self.conv.bias)
        x = x[:, taps[:, centre_tap]] + self.dropout(self.conv_norm(F.gelu(h)))
        h = F.gelu(self.ffn(x))
        if self.ffn_out is not None:
            h = self.ffn_out(h)
        x = x + self.dropout(self.ffn_norm(h))
        return x * keep


class ConePlan:
    """Which positions each conv block must compute for the output at one centre position.

    Built top-down: the last block is needed at ``center`` only; a block needed at positions
    ``O`` reads its input at ``{o + (k - (K - 1) / 2) d : o in O, k < K} ∩ [0, L)``, and those
    are the positions the block below is needed at. Taps outside the window read zeros, as the
    convolution's zero padding does. Run bottom-up with :meth:`DNAMaskedLM.center_hidden`.
    """

    def __init__(self, blocks: Sequence[ConvBlock], length: int, center: int) -> None:
        need = np.array([center], dtype=np.int64)
        steps: List[Tuple[np.ndarray, np.ndarray, bool]] = []
        for block in reversed(list(blocks)):
            K, d = block.conv.kernel_size[0], block.conv.dilation[0]
            taps = need[:, None] + (np.arange(K, dtype=np.int64) - (K - 1) // 2)[None] * d
            inside = (taps >= 0) & (taps < length)
            read = np.unique(taps[inside])
            idx = np.searchsorted(read, taps)
            idx[~inside] = len(read)  # the zero row appended after the inputs
            steps.append((idx, need, not bool(inside.all())))
            need = read
        steps.reverse()
        self.length, self.center = int(length), int(center)
        self.inputs = need  # positions of the embedding the first block reads
        self.taps = [s[0] for s in steps]
        self.outputs = [s[1] for s in steps]  # positions each block computes
        self.pads = [s[2] for s in steps]
        self.centre_tap = [(b.conv.kernel_size[0] - 1) // 2 for b in blocks]
        self._device: Dict[str, tuple] = {}

    def positions_per_block(self) -> List[int]:
        return [len(o) for o in self.outputs]

    def on(self, device: torch.device) -> tuple:
        """``(inputs, taps, outputs)`` as index tensors on ``device`` (made once per device)."""
        key = str(device)
        if key not in self._device:
            as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
            self._device[key] = (as_t(self.inputs), [as_t(t) for t in self.taps], [as_t(o) for o in self.outputs])
        return self._device[key]


class DNAMaskedLM(PretrainedModule):
    """A nucleotide encoder plus masked-LM head, saved with its tokenizer vocabulary.

    Parameters
    ----------
    arch
        ``"convnet"`` (dilated convolutions) or ``"transformer"``.
    hidden, layers
        Width and depth.
    kernel_size, dilation_max, dilation_cycle
        Convolution settings (``convnet`` only).
    conv_ffn_mult
        Width multiplier of each conv block's feed-forward layer (1: GPN's original block).
    heads, ffn_mult, max_len
        Transformer settings (``max_len`` bounds the window length).
    dropout
        Dropout inside blocks (0 by default, as in GPN).
    window
        The window length it was trained on; the default scoring window.
    vocab
        The tokenizer vocabulary (kept so a saved model carries it).
    """

    def __init__(self, arch: str = "convnet", hidden: int = 128, layers: int = 6,
                 kernel_size: int = 9, dilation_max: int = 32, dilation_cycle: Optional[int] = None,
                 heads: int = 4, ffn_mult: int = 4, max_len: int = 512, dropout: float = 0.0,
                 window: int = 512, conv_ffn_mult: int = 1, vocab: Sequence[str] = VOCAB) -> None:
        super().__init__()
        if arch not in ("convnet", "transformer"):
            raise ValueError(f"arch must be 'convnet' or 'transformer', got {arch!r}")
        self.tokenizer = NucleotideTokenizer(tuple(vocab))
        self.arch, self.hidden, self.layers = arch, int(hidden), int(layers)
        self.kernel_size, self.dilation_max, self.dilation_cycle = int(kernel_size), int(dilation_max), dilation_cycle
        self.heads, self.ffn_mult, self.max_len, self.dropout = int(heads), int(ffn_mult), int(max_len), float(dropout)
        self.window = int(window)
        self.conv_ffn_mult = int(conv_ffn_mult)
        V = self.tokenizer.vocab_size
        self.embedding = nn.Embedding(V, hidden, padding_idx=PAD_ID)
        if arch == "convnet":
            self.dilations = dilation_schedule(layers, dilation_max, dilation_cycle)
            self.blocks = nn.ModuleList(ConvBlock(hidden, kernel_size, d, dropout, self.conv_ffn_mult)
                                        for d in self.dilations)
        else:
            self.position = nn.Embedding(max_len, hidden)
            layer = nn.TransformerEncoderLayer(hidden, heads, ffn_mult * hidden, dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.final_norm = nn.LayerNorm(hidden)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden), nn.Linear(hidden, V))

    def get_config(self) -> Dict[str, Any]:
        return {"arch": self.arch, "hidden": self.hidden, "layers": self.layers,
                "kernel_size": self.kernel_size, "dilation_max": self.dilation_max,
                "dilation_cycle": self.dilation_cycle, "heads": self.heads, "ffn_mult": self.ffn_mult,
                "max_len": self.max_len, "dropout": self.dropout, "window": self.window,
                "conv_ffn_mult": self.conv_ffn_mult, "vocab": list(self.tokenizer.vocab)}

    @property
    def receptive_radius(self) -> Optional[int]:
        """Bases seen on each side of a position (``None`` for the transformer: all)."""
        return sum(b.radius for b in self.blocks) if self.arch == "convnet" else None

    # ------------------------------------------------------------------ encoder
    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states ``(B, L, hidden)``."""
        keep = (input_ids != PAD_ID).unsqueeze(-1)
        x = self.embedding(input_ids)
        if self.arch == "convnet":
            keep_f = keep.to(x.dtype)
            for block in self.blocks:
                x = block(x, keep_f)
            return x
        L = input_ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"window of {L} bases is longer than this transformer's max_len {self.max_len}")
        x = x + self.position.weight[:L].unsqueeze(0)
        pad = ~keep.squeeze(-1)
        x = self.encoder(x, src_key_padding_mask=pad if bool(pad.any()) else None)
        return self.final_norm(x)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of hidden states ``(..., hidden)`` (the masked-LM task applies it to
        the masked positions only)."""
        return self.head(hidden)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L, vocab)`` at every position."""
        return self.head(self.encode(input_ids))

    def center_logits(self, input_ids: torch.Tensor, center: int) -> torch.Tensor:
        """Logits ``(B, vocab)`` at position ``center`` only.

        For the convnet, each block computes only the positions the centre still depends on
        (see :class:`ConePlan`): the result equals ``forward(input_ids)[:, center]``.
        """
        return self.head(self.center_hidden(input_ids, center))

    def cone_plan(self, length: int, center: int) -> ConePlan:
        """The (cached) :class:`ConePlan` of a window length and centre (convnet only)."""
        plans = self.__dict__.setdefault("_cone_plans", {})
        key = (int(length), int(center))
        if key not in plans:
            plans[key] = ConePlan(self.blocks, length, center)
        return plans[key]

    def center_hidden(self, input_ids: torch.Tensor, center: int) -> torch.Tensor:
        """Final hidden state ``(B, hidden)`` at position ``center``."""
        L = input_ids.shape[1]
        if not 0 <= center < L:
            raise ValueError(f"center {center} is outside the window of length {L}")
        if self.arch != "convnet":
            return self.encode(input_ids)[:, center]
        plan = self.cone_plan(L, center)
        inputs, taps, outputs = plan.on(input_ids.device)
        x = self.embedding(input_ids[:, inputs])
        keep = (input_ids != PAD_ID).unsqueeze(-1).to(x.dtype)
        for block, t, out, ct, pad in zip(self.blocks, taps, outputs, plan.centre_tap, plan.pads):
            x = block.forward_at(x, t, ct, keep[:, out], pad)
        return x[:, 0]

    @torch.no_grad()
    def flops_per_token(self) -> int:
        """Forward multiply-adds x 2 per position (linear/conv layers; attention excluded)."""
        flops = 0
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                flops += 2 * m.in_channels * m.out_channels * m.kernel_size[0]
            elif isinstance(m, nn.Linear):
                flops += 2 * m.in_features * m.out_features
        return flops
