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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping

from ..domain import Command, DomainData, DomainSpec, ModelCard, Preset
from .config import TextDataConfig, TextModelConfig, TextTaskConfig
from ..probing import ProbeConfig, finish_probe, hold_out

if TYPE_CHECKING:
    from .tokenizer import BPETokenizer

__all__ = ["SPEC", "TextDataConfig", "TextModelConfig", "TextTaskConfig",
           "DEFAULT_RATIO"]

DEFAULT_RATIO = "0.15-0.4"  # the paper's RoBERTa range, written once for the package


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
        # The benchmark's recipes (bior2 benchmark text [--quick]): the same for every masking scheme;
        # the full run trains the same model 3x longer (a CPU budget; a larger model needs a GPU).
        Preset("text-bench-quick", "bior2 benchmark text --quick: BBC, the text-tiny model, 400 steps x 32, lr 3e-3",
               {"data": {"source": "bbc"},
                "model": {"vocab_size": 2048, "max_len": 64, "width": 64, "depth": 2, "heads": 4},
                "train": {"steps": 400, "batch_size": 32, "lr": 3.0e-3}}),
        Preset("text-bench", "bior2 benchmark text: BBC, the text-tiny model, 1200 steps x 32, lr 3e-3",
               {"data": {"source": "bbc"},
                "model": {"vocab_size": 2048, "max_len": 64, "width": 64, "depth": 2, "heads": 4},
                "train": {"steps": 1200, "batch_size": 32, "lr": 3.0e-3}}),
    ),
    build_data=_build_data,
    build_model=_build_model,
    build_task=_build_task,
    finish=_finish,
    source_help="'bbc', a text file or folder, a TextCorpus or a (train, test) pair",
    display_name="text",
    card=ModelCard(
        what="text model",
        tags=("text", "nlp"),
        use="Text embeddings (the tokenizer is in config.json) for linear probes and masked-token prediction.",
        limits=("Trained on the small corpus below; not a general-purpose language model, and it may "
                "reproduce the biases of that corpus."),
        pipeline_tag="fill-mask",
    ),
    fixed_ratio=0.15,  # BERT's
    per_example_ratios=True,
    compare_ratios=("0.15", "0.4"),
    eval_ratios=(0.15, 0.4),
    commands=(
        Command("benchmark", "text", "bioR2.bench.cli", "benchmark_text", "linear-probe benchmark on BBC news"),
    ),
)
