"""Inputs the bad-input tests build (not a test module): small genomes, a tiny DNA model, variant tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from bioR2.dna import DNAMaskedLM

RNG = np.random.default_rng(11)
SEQ = "".join(RNG.choice(list("ACGT"), 400))
VCF_HEAD = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_fasta(path, records, width=60):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    return path


def write_bgzip_fasta(path, records, width=60):
    from Bio import bgzf

    text = "".join(f">{n}\n" + "".join(s[i:i + width] + "\n" for i in range(0, len(s), width))
                   for n, s in records.items())
    with bgzf.BgzfWriter(str(path), "wb") as fh:
        fh.write(text.encode())
    return path


def tiny_model():
    torch.manual_seed(0)
    return DNAMaskedLM(hidden=16, layers=2, kernel_size=5, dilation_max=2, window=32).eval()


def snv_rows(positions, chrom="chr1"):
    return [(chrom, p, SEQ[p - 1], "A" if SEQ[p - 1] != "A" else "C") for p in positions]


def variants_tsv(path, rows):
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).to_csv(path, sep="\t", index=False)
    return path


def assert_one_clear_error(call, error, message) -> None:
    """``call()`` raises ``error`` matching ``message``: one line, no traceback text in it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message) as info:
            call()
    text = str(info.value)
    assert "\n" not in text, text
    assert "Traceback" not in text
