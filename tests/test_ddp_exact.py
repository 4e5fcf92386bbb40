"""DDP and gradient accumulation are exact for every domain's real task with its default masking.

Each task returns the SUM of its per-item losses and the number of items; the trainer divides by
the count over every process and micro-batch. So 2 processes (``torchrun``, gloo) and 1 process,
and ``grad_accum=2`` and one batch twice the size, give the same weights to 1e-6, even where ranks
mask different numbers of items: DNA's Bernoulli count, text padding, single-cell nonzero-only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "ddp_domain_worker.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
    [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}


def _dna_source(tmp: Path) -> str:
    from bioR2.dna.synthetic import planted_motif_genome

    return str(planted_motif_genome(tmp / "g.fa", n_contigs=2, contig_length=4000, seed=0)["fasta"])


def _sc_source(tmp: Path) -> str:
    sys.path.insert(0, str(HERE))
    from sc_helpers import make_counts

    path = tmp / "cells.h5ad"
    make_counts(n_cells=64, n_genes=30, density=0.2).write_h5ad(path)
    return str(path)


def _text_source(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    words = "cell gene dna protein binds motif enhancer promoter read count variant score".split()
    docs = [" ".join(rng.choice(words, int(rng.integers(3, 40)))) for _ in range(48)]  # lengths vary: padding
    path = tmp / "notes.txt"
    path.write_text("\n\n".join(docs) + "\n")
    return str(path)


TINY = {
    "dna": ["data.window=64", "data.stride=64", "model.hidden=16", "model.layers=2"],
    "sc": ["model.hidden=[16]", "model.latent=4", "model.dropout=0.0"],
    "vision": ["model.width=16", "model.depth=1", "model.decoder_depth=1", "probe.enabled=false"],
    "text": ["model.width=16", "model.depth=1", "model.max_len=32", "model.vocab_size=300", "probe.enabled=false"],
}

CASES = [
    ("dna", _dna_source, []),                                  # Bernoulli count: ranks mask different numbers
    ("sc", _sc_source, ["task.only_nonzero=true"]),             # nonzero genes differ per cell
    ("sc", _sc_source, ["task.only_nonzero=false"]),            # all genes, exact count
    ("vision", lambda tmp: "digits", []),
    ("text", _text_source, []),                                 # padding: documents differ in length
]


def _weights(run: Path):
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


def _assert_close(a, b, tol=1e-6):
    assert a.keys() == b.keys()
    worst = max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)
    assert worst <= tol, f"max weight difference {worst:.3g} > {tol}"


def _run(args, torchrun=False):
    prefix = [sys.executable]
    if torchrun:
        prefix += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(prefix + [WORKER, *args], env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("domain,make_source,extra", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_two_processes_and_accumulation_equal_one_batch(tmp_path, domain, make_source, extra):
    source = make_source(tmp_path)
    sets = [x for s in TINY[domain] + extra for x in ("--set", s)]
    _run([domain, source, str(tmp_path / "one"), *sets])
    _run([domain, source, str(tmp_path / "accum"), "--grad-accum", "2", *sets])
    _run([domain, source, str(tmp_path / "ddp"), *sets], torchrun=True)
    one = _weights(tmp_path / "one")
    _assert_close(one, _weights(tmp_path / "accum"))
    _assert_close(one, _weights(tmp_path / "ddp"))
