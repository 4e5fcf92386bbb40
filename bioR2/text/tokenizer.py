"""A byte-level BPE tokenizer trained on the pretraining corpus (Hugging Face ``tokenizers``).

Why byte-level BPE rather than plain bytes: a BPE token is about 4 characters of English news,
so a 128-token window holds ~500 characters instead of 128 — on a CPU, where attention and the
per-token cost dominate, that is 4× more text per step, and the masked-LM has to predict word
pieces, which is what makes its features useful for topic classification (a byte model spends
its first thousands of steps learning spelling). Byte-level means nothing is ever out of
vocabulary: any UTF-8 (or mis-decoded) text round-trips, so a user's corpus needs no cleaning.
This is RoBERTa's tokenizer family, with a vocabulary sized for a small corpus.

The trained tokenizer is a JSON document (vocabulary + merges). The model stores it in its
``config.json`` (:meth:`BPETokenizer.to_config`), and it is rebuilt from there with
``Tokenizer.from_str``: no pickle, no separate file to lose.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Sequence

__all__ = ["BPETokenizer", "SPECIAL_TOKENS"]

# RoBERTa's special tokens, in RoBERTa's id order.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


class BPETokenizer:
    """Byte-level BPE with RoBERTa's special tokens (``<s> <pad> </s> <unk> <mask>`` = ids 0-4).

    Build one with :meth:`train`, or from a saved config with ``BPETokenizer(config)``.
    """

    def __init__(self, config: Dict[str, Any] | str) -> None:
        from tokenizers import Tokenizer

        text = config if isinstance(config, str) else json.dumps(config)
        try:
            self._tok = Tokenizer.from_str(text)
        except Exception as exc:  # tokenizers raises a plain Exception for malformed JSON
            raise ValueError(f"tokenizer config is not a valid tokenizers JSON document ({exc})") from None
        vocab = self._tok.get_vocab()
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"tokenizer config lacks the special tokens {missing}")
        self.bos_id, self.pad_id, self.eos_id, self.unk_id, self.mask_id = (vocab[t] for t in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> "BPETokenizer":
        """Learn merges on ``texts`` (the pretraining split only, so held-out text stays unseen)."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < 256 + len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (bytes + specials), "
                             f"got {vocab_size}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )
        tok.train_from_iterator(list(texts), trainer=trainer)
        return cls(tok.to_str())

    def to_config(self) -> Dict[str, Any]:
        """The tokenizer as a JSON-able dict (vocabulary, merges, pre-tokenizer)."""
        return json.loads(self._tok.to_str())

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    @property
    def special_ids(self) -> List[int]:
        return [self.bos_id, self.pad_id, self.eos_id, self.unk_id, self.mask_id]

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` (no special tokens)."""
        return self._tok.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """Token ids of many texts (parallel in Rust)."""
        return [e.ids for e in self._tok.encode_batch(list(texts))]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens dropped)."""
        return self._tok.decode(list(ids), skip_special_tokens=True)
