"""A RoBERTa-style masked-language model, sized for CPUs, that carries its own tokenizer.

Token + learned position embeddings, a stack of transformer blocks, and RoBERTa's LM head
(dense → GELU → LayerNorm → projection tied to the token embeddings). Blocks are pre-norm
(RoBERTa is post-norm): pre-norm trains stably from the first steps without the long warm-up
post-norm needs, which matters in runs of a few hundred CPU steps.

The tokenizer (vocabulary + merges, a JSON document) is part of the model's config, so
``bioR2.train.load_model(run_dir)`` returns a model that can embed raw text on its own::

    model = load_model("runs/mlm-bbc")
    feats = model.embed_texts(["Shares rose sharply on Monday ..."])   # (1, width)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from ..train import PretrainedModule
from .config import TextModelConfig
from .tokenizer import BPETokenizer

__all__ = ["MaskedLM", "build_model"]


class MaskedLM(PretrainedModule):
    """Transformer encoder with a masked-LM head.

    Parameters
    ----------
    tokenizer
        The trained tokenizer's config (:meth:`BPETokenizer.to_config`); fixes the vocabulary.
    max_len
        Longest input window (position embeddings).
    width, depth, num_heads, mlp_ratio
        Encoder size.
    dropout
        Dropout on embeddings and inside blocks (RoBERTa uses 0.1).
    """

    def __init__(self, tokenizer: Dict[str, Any], max_len: int = 128, width: int = 128, depth: int = 4,
                 num_heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.1) -> None:
        super().__init__()
        if width % num_heads:
            raise ValueError(f"width={width} is not divisible by num_heads={num_heads}")
        self.tokenizer = BPETokenizer(tokenizer)
        self._config = dict(tokenizer=tokenizer, max_len=max_len, width=width, depth=depth, num_heads=num_heads,
                            mlp_ratio=mlp_ratio, dropout=dropout)
        self.max_len = max_len
        self.vocab_size = self.tokenizer.vocab_size
        self.token_embed = nn.Embedding(self.vocab_size, width, padding_idx=self.tokenizer.pad_id)
        self.pos_embed = nn.Embedding(max_len, width)
        self.embed_norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, num_heads, int(width * mlp_ratio), dropout=dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width)
        # RoBERTa's LM head; the output projection shares the token embedding matrix.
        self.head_dense = nn.Linear(width, width)
        self.head_norm = nn.LayerNorm(width)
        self.head_bias = nn.Parameter(torch.zeros(self.vocab_size))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.token_embed.weight[self.tokenizer.pad_id].zero_()

    def get_config(self) -> Dict[str, Any]:
        return dict(self._config)

    @property
    def width(self) -> int:
        return int(self._config["width"])

    @property
    def special_ids(self) -> list:
        return self.tokenizer.special_ids

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Final hidden states ``(B, L, width)``; padded positions (``attention_mask`` False)
        are ignored by attention."""
        if input_ids.dim() != 2 or input_ids.shape[1] > self.max_len:
            raise ValueError(f"input_ids must be (batch, length <= {self.max_len}), got {tuple(input_ids.shape)}")
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.dropout(self.embed_norm(self.token_embed(input_ids) + self.pos_embed(positions)[None]))
        pad = None if attention_mask is None else ~attention_mask.to(torch.bool)
        for block in self.blocks:
            x = block(x, src_key_padding_mask=pad)
        return self.norm(x)

    def encode(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The final hidden states (:meth:`forward`; the name the masked-LM task calls)."""
        return self.forward(input_ids, attention_mask)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits for hidden states ``(..., width)`` (apply to masked positions only)."""
        h = self.head_norm(nn.functional.gelu(self.head_dense(hidden)))
        return h @ self.token_embed.weight.t() + self.head_bias

    @torch.no_grad()
    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the final hidden states over each window's real (non-padding) tokens."""
        hidden = self.forward(input_ids, attention_mask)
        m = attention_mask.to(hidden.dtype)[..., None]
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """``(N, width)`` features of raw texts (each text's first ``max_len`` tokens)."""
        from .data import encode_windows

        ids, mask, _ = encode_windows(self.tokenizer, texts, self.max_len, max_windows_per_doc=1)
        was_training = self.training
        self.eval()
        device = self.token_embed.weight.device
        out = [self.features(ids[i:i + batch_size].to(device), mask[i:i + batch_size].to(device)).cpu()
               for i in range(0, len(ids), batch_size)]
        self.train(was_training)
        return torch.cat(out)

    def num_parameters(self) -> int:
        """Encoder parameters (token/position embeddings and blocks; not the LM head)."""
        head = {"head_dense", "head_norm", "head_bias"}
        return sum(p.numel() for n, p in self.named_parameters() if n.split(".")[0] not in head)


def build_model(tokenizer: BPETokenizer, config: Optional[TextModelConfig] = None, **overrides: Any) -> MaskedLM:
    """A fresh :class:`MaskedLM` of shape ``config`` around ``tokenizer``."""
    cfg = config or TextModelConfig()
    if overrides:
        cfg = TextModelConfig(**{**asdict(cfg), **overrides})
    return MaskedLM(tokenizer.to_config(), max_len=cfg.max_len, width=cfg.width, depth=cfg.depth,
                    num_heads=cfg.heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout)
