"""End to end: pretrain on a synthetic genome with a planted motif, then score variants."""

from __future__ import annotations

import pytest


from bioR2.dna import pretrain, score_variants
from bioR2.dna.synthetic import planted_motif_genome
from bioR2.metrics import auprc


@pytest.mark.slow
def test_motif_breaking_variants_rank_first(tmp_path):
    data = planted_motif_genome(tmp_path / "motif.fa", seed=0)
    pretrain(data["fasta"], tmp_path / "run", model={"hidden": 32, "layers": 3},
             data={"window": 64, "stride": 32, "held_out": [data["held_out"]]},
             train={"steps": 150, "batch_size": 32, "lr": 3e-3, "mask_ratio": "0.05-0.3"})
    scored = score_variants(tmp_path / "run", data["fasta"], data["variants"])
    assert (scored["status"] == "ok").all()
    positive_fraction = scored["label"].mean()
    value = auprc(scored["label"], -scored["score"])  # motif-breaking = low LLR
    assert value > 0.5 > 3 * positive_fraction, value
