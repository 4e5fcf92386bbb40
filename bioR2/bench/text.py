"""``bior2 benchmark text``: R²MAE against fixed ratios and U(0, 1) by linear probe on BBC News
(the shared driver :mod:`bioR2.bench.probed`, with what is text's own: one BPE tokenizer trained
on the training documents and shared by every run, the TF-IDF reference, and the held-out MLM
loss on the scoreboard).

The recipe is the text spec's ``text-bench-quick`` (``--quick``) or ``text-bench``: a 2 x 64
encoder over 64-token windows. A logistic-regression probe on frozen mean-pooled features of
each document's first window is scored on held-out documents. Results: ``results.json``
(metric ``accuracy``, plus ``macro_f1`` and ``val_loss``, the MLM loss on held-out windows at
the spec's evaluation ratio with run-independent masks), ``results.md`` and ``loss_curves.png``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch

from .probed import ProbeDomain, entry_points

__all__ = ["TextBenchmark", "QUICK_PRESET", "FULL_PRESET", "run_benchmark", "run_scoreboard",
           "SCOREBOARD_HELDOUT_WINDOWS"]

QUICK_PRESET, FULL_PRESET = "text-bench-quick", "text-bench"
SCOREBOARD_HELDOUT_WINDOWS = 2048     # held-out windows scored (the first ones, in document order)


class TextBenchmark(ProbeDomain):
    """Documents, the shared tokenizer, the TF-IDF reference and the text scoreboard's scores."""

    name_of_spec = "text"
    name = "masked LM"
    words = "documents"
    loss_words = "MLM cross-entropy"
    references = {"random_init": "a randomly initialised encoder", "bag_of_tokens": "TF-IDF over the same tokens"}
    reference_notes = ("`random_init`: the same probe on an untrained encoder of the same size; `bag_of_tokens`: "
                       "TF-IDF over the same first-window tokens + logistic regression.")
    figure_notes = ("Figure: `loss_curves.png` (training loss; each scheme at its own ratios, so levels differ by "
                    "design).")

    def load(self, recipe: Dict[str, Any]):
        from ..text.data import load_corpus, split_corpus
        from ..text.tokenizer import BPETokenizer

        d, m = recipe["data"], recipe["model"]
        corpus = load_corpus(d["source"])
        if corpus.labels is None:
            raise ValueError(f"{corpus.source}: the benchmark needs labelled documents (class folders)")
        train, test = split_corpus(corpus, d["test_fraction"], d["split_seed"])
        tokenizer = BPETokenizer.train(train.texts, m["vocab_size"], m["min_frequency"])
        # tokenizers travel to worker processes as their JSON config (Rust objects do not pickle)
        return corpus.source, train, test, {"tokenizer": tokenizer.to_config(), "vocab_size": tokenizer.vocab_size}

    def run_options(self, shared: Dict[str, Any]) -> Dict[str, Any]:
        return {"tokenizer": shared["tokenizer"]}

    def references_values(self, train, test, shared, recipe, seeds) -> Dict[str, Dict[str, List[float]]]:
        from ..text.config import TextModelConfig
        from ..text.model import build_model
        from ..text.probe import probe_bag_of_tokens, probe_model
        from ..text.tokenizer import BPETokenizer

        tokenizer = BPETokenizer(shared["tokenizer"])
        model_cfg = TextModelConfig(**recipe["model"])
        random_init: Dict[str, List[float]] = {"accuracy": [], "macro_f1": []}
        for seed in seeds:
            torch.manual_seed(seed)
            probe = probe_model(build_model(tokenizer, model_cfg).eval(), train, test)
            random_init["accuracy"].append(probe.accuracy)
            random_init["macro_f1"].append(probe.macro_f1)
        bow = probe_bag_of_tokens(tokenizer, train, test, model_cfg.max_len)
        return {"random_init": random_init, "bag_of_tokens": {"accuracy": [bow.accuracy], "macro_f1": [bow.macro_f1]}}

    def scoreboard_scores(self, model, train, test, eval_ratios: Sequence[float]) -> Dict[str, float]:
        from ..text.data import TokenWindows
        from ..text.task import MLMTask
        from .scoreboard import masked_eval

        windows = TokenWindows(model.tokenizer, test.texts, model.max_len)
        task = MLMTask(model)
        out: Dict[str, float] = {}
        for r in eval_ratios:
            ev = masked_eval(task, windows, r, batch_size=64, max_examples=SCOREBOARD_HELDOUT_WINDOWS)
            out[f"mlm_loss_{r:g}"] = ev["loss"]
            out[f"mlm_acc_{r:g}"] = ev.get("masked_accuracy", float("nan"))
        return out

    def scoreboard_metrics(self, eval_ratios: Sequence[float]) -> Tuple[List[Tuple[str, bool]], List[str]]:
        return [(f"mlm_loss_{r:g}", False) for r in eval_ratios], [f"mlm_acc_{r:g}" for r in eval_ratios]

    def model_words(self, recipe: Dict[str, Any]) -> str:
        m = recipe["model"]
        return (f"byte-level BPE ({m['vocab_size']} tokens, trained on the training documents), encoder width "
                f"{m['width']}, depth {m['depth']}, {m['max_len']}-token windows")

    def probe_words(self) -> str:
        return ("logistic regression on standardised mean-pooled features of each document's first window; "
                f"mlm_loss_<r>: masked-LM cross-entropy over the first {SCOREBOARD_HELDOUT_WINDOWS} held-out windows "
                "at ratio r with the same masks for every model")


run_benchmark, run_scoreboard = entry_points(TextBenchmark, QUICK_PRESET, FULL_PRESET)

