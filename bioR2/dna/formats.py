"""Variant file formats: which format a file is in (from its name or first line), which format an
output name asks for, and the VCF value spelling. Shared by :mod:`bioR2.dna.variants` (tables)
and :mod:`bioR2.dna.vcf` (VCF in, VCF out), below both."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Tuple

import numpy as np

from ..utils.io import PathLike

__all__ = ["detect_format", "is_gzip", "open_text", "OUTPUT_FORMATS", "check_output_format", "vcf_token",
           "vcf_number"]


def detect_format(path: PathLike) -> str:
    """``vcf``, ``parquet``, ``csv`` or ``tsv`` from the suffix (or the first line)."""
    path = Path(path)
    name = path.name.lower()
    for suffix in (".gz", ".bgz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".vcf"):
        return "vcf"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".txt", ".tab")):
        return "tsv"
    with open_text(path) as fh:
        first = fh.readline()
    if first.startswith("##fileformat=VCF"):
        return "vcf"
    return "csv" if first.count(",") > first.count("\t") else "tsv"


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: Path):
    return gzip.open(path, "rt") if is_gzip(path) else open(path, "rt")


# suffix -> (format, compressed); the longest matching suffix wins
OUTPUT_FORMATS = {
    ".tsv": ("tsv", False), ".tsv.gz": ("tsv", True), ".txt": ("tsv", False), ".txt.gz": ("tsv", True),
    ".csv": ("csv", False), ".csv.gz": ("csv", True),
    ".parquet": ("parquet", False), ".pq": ("parquet", False),
    ".vcf": ("vcf", False), ".vcf.gz": ("vcf", True), ".vcf.bgz": ("vcf", True),
}


def check_output_format(path: PathLike) -> Tuple[str, bool]:
    """``(format, compressed)`` of an output file from its extension: ``tsv``, ``csv``,
    ``parquet`` or ``vcf`` (see :data:`OUTPUT_FORMATS`). Raises ``ValueError`` for any other
    extension, so a caller can refuse it before computing anything."""
    name = Path(path).name.lower()
    for suffix in sorted(OUTPUT_FORMATS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return OUTPUT_FORMATS[suffix]
    raise ValueError(f"{path}: cannot tell the output format from the extension; name it .tsv, "
                     ".tsv.gz, .csv, .csv.gz, .parquet, .vcf or .vcf.gz")


def vcf_token(text: str) -> str:
    """An INFO value without the characters VCF reserves (whitespace ; = , :)."""
    out = "".join(ch if ch.isalnum() or ch in "._-+" else "_" for ch in str(text))
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_") or "."


def vcf_number(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "."
    return "." if not np.isfinite(v) else f"{v:.6g}"
