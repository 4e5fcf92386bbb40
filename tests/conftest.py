"""Fixtures every test module shares (pytest finds them here; no module imports them).

- one torch thread for the whole session (module-scoped fixtures too): tiny models on a shared
  2-core machine run far faster on one thread than on two (no spin-waiting for a busy sibling
  core), and results do not depend on it;
- ``text_corpus``: a labelled folder of documents (three classes, twelve documents each).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TEXT_CLASSES = {
    "business": "shares profit market bank economy firm sales investors growth prices",
    "sport": "match goal club season player coach win league cup striker",
    "tech": "phone software chip internet users computer network digital data device",
}


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def class_documents(cls: str, n: int, seed: int = 0):
    """``n`` documents of 30 words drawn from class ``cls``'s vocabulary (deterministic in ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    words = TEXT_CLASSES[cls].split()
    return [" ".join(words[int(i)] for i in torch.randint(len(words), (30,), generator=g)) + "." for _ in range(n)]


@pytest.fixture
def text_corpus(tmp_path) -> Path:
    """``tmp_path/corpus/<class>/<i>.txt``: 12 documents per class of :data:`TEXT_CLASSES`."""
    root = tmp_path / "corpus"
    for k, cls in enumerate(TEXT_CLASSES):
        (root / cls).mkdir(parents=True)
        for i, text in enumerate(class_documents(cls, 12, seed=17 + k)):
            (root / cls / f"{i}.txt").write_text(text)
    return root
