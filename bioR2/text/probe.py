"""Linear probes on frozen text features, and the bag-of-tokens reference.

The probe embeds each document's first window (mean of the final hidden states over its
tokens), fits a logistic regression on the training documents and reports top-1 accuracy on
held-out documents the model never saw in pretraining. ``probe_bag_of_tokens`` is the
classical baseline on the same tokens (TF-IDF + logistic regression): on topic
classification it is strong, and a small pretrained encoder is not expected to beat it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..probe import ProbeResult, ProbeRun, linear_probe
from .data import TextCorpus
from .model import MaskedLM
from .tokenizer import BPETokenizer

__all__ = ["ProbeResult", "ProbeRun", "TextProbeRun", "embed_corpus", "probe_model", "probe_bag_of_tokens",
           "linear_probe"]

# Kept under its earlier name; the class is shared with vision.
TextProbeRun = ProbeRun


def embed_corpus(model: MaskedLM, corpus: TextCorpus, batch_size: int = 64) -> np.ndarray:
    """``(N, width)`` features of every document (its first window)."""
    return model.embed_texts(corpus.texts, batch_size=batch_size).float().numpy()


def probe_model(model: MaskedLM, train: TextCorpus, test: TextCorpus, C: float = 1.0) -> ProbeResult:
    """Linear probe on frozen features: fit on ``train``, score on ``test``."""
    return linear_probe(embed_corpus(model, train), train.labels, embed_corpus(model, test), test.labels, C=C)


def probe_bag_of_tokens(tokenizer: BPETokenizer, train: TextCorpus, test: TextCorpus, max_len: int,
                        C: float = 10.0) -> ProbeResult:
    """TF-IDF over the same first-window BPE tokens + logistic regression (the classical baseline)."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from scipy import sparse

    def counts(texts: Sequence[str]) -> sparse.csr_matrix:
        rows = [ids[: max_len - 2] for ids in tokenizer.encode_batch(texts)]
        data = [np.ones(len(r)) for r in rows]
        indptr = np.cumsum([0] + [len(r) for r in rows])
        m = sparse.csr_matrix((np.concatenate(data), np.concatenate(rows), indptr),
                              shape=(len(rows), tokenizer.vocab_size))
        m.sum_duplicates()
        return m

    tfidf = TfidfTransformer().fit(counts(train.texts))
    clf = LogisticRegression(C=C, max_iter=2000).fit(tfidf.transform(counts(train.texts)), train.labels)
    pred = clf.predict(tfidf.transform(counts(test.texts)))
    return ProbeResult(accuracy=float(accuracy_score(test.labels, pred)),
                       macro_f1=float(f1_score(test.labels, pred, average="macro", zero_division=0)),
                       n_train=len(train), n_test=len(test), n_features=tokenizer.vocab_size)
