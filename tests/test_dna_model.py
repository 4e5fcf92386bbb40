"""Model, masked-LM task and `bior2 pretrain dna` / `bior2 score-variants`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch


from bioR2.cli import main
from bioR2.dna import DNAMaskedLM, MaskedLMTask
from bioR2.dna.model import dilation_schedule
from bioR2.dna.tokenizer import MASK_ID, N_ID, PAD_ID
from bioR2.masking import MaskRNG
from bioR2.train import load_model


def test_dilations_cycle():
    assert dilation_schedule(8, 8) == [1, 2, 4, 8, 1, 2, 4, 8]
    assert dilation_schedule(5, 32, cycle=2) == [1, 2, 1, 2, 1]


@pytest.mark.parametrize("arch", ["convnet", "transformer"])
def test_center_logits_equal_full_forward(arch):
    torch.manual_seed(0)
    model = DNAMaskedLM(arch=arch, hidden=16, layers=3, kernel_size=5, dilation_max=8, max_len=64).eval()
    ids = torch.randint(2, 6, (3, 40))
    ids[0, :7] = PAD_ID  # a window that starts before its contig
    ids[1, -3:] = PAD_ID
    with torch.no_grad():
        full = model(ids)
        for c in (0, 7, 20, 39):
            torch.testing.assert_close(model.center_logits(ids, c), full[:, c], atol=1e-5, rtol=1e-5)


# (kernel, layers, dilation_max, cycle): doubling, cycles, a flat schedule, dilations wider than the window
CONE_CASES = [(3, 4, 8, None), (5, 6, 4, None), (5, 5, 32, 2), (9, 3, 16, None), (9, 4, 1, None), (3, 7, 64, 3)]


@pytest.mark.parametrize("kernel,layers,dmax,cycle", CONE_CASES)
@pytest.mark.parametrize("length", [37, 64])
def test_sparse_cone_equals_full_forward(kernel, layers, dmax, cycle, length):
    # Only the positions the centre depends on are computed; the centre's logits must not change,
    # at every centre (even/odd windows, both edges) and with [PAD] where a contig ends.
    torch.manual_seed(kernel * 100 + layers)
    model = DNAMaskedLM(hidden=16, layers=layers, kernel_size=kernel, dilation_max=dmax, dilation_cycle=cycle,
                        conv_ffn_mult=2 if kernel == 5 else 1).eval()
    ids = torch.randint(2, 7, (5, length))  # A C G T N
    ids[:, length // 2] = MASK_ID
    ids[1, :length // 3] = PAD_ID  # window starting before its contig
    ids[2, -(length // 4):] = PAD_ID  # ... ending after it
    ids[3, :3], ids[3, -5:] = PAD_ID, PAD_ID
    with torch.no_grad():
        full = model(ids)
        for c in sorted({0, 1, length // 2 - 1, length // 2, length // 2 + 1, length - 2, length - 1}):
            torch.testing.assert_close(model.center_logits(ids, c), full[:, c], atol=1e-5, rtol=1e-5)


def test_sparse_cone_is_sparse():
    # GPN-size schedule (kernel 5, dilations 1..128), window 512: each block computes only the
    # positions on its dilation grid around the centre, not the whole window.
    model = DNAMaskedLM(hidden=8, layers=8, kernel_size=5, dilation_max=128, dilation_cycle=8)
    plan = model.cone_plan(512, 256)
    assert plan.positions_per_block() == [256, 128, 64, 32, 16, 8, 4, 1]
    assert len(plan.inputs) == 512 and model.cone_plan(512, 256) is plan  # cached
    assert model.cone_plan(511, 255).positions_per_block() == [255, 127, 63, 31, 15, 7, 3, 1]
    assert model.cone_plan(513, 256).positions_per_block() == [257, 129, 65, 33, 17, 9, 5, 1]


def test_padding_equals_a_cut_window():
    # Scoring next to a contig end with [PAD] = the convolution's own zero padding at the edge.
    torch.manual_seed(0)
    model = DNAMaskedLM(hidden=16, layers=3, kernel_size=5, dilation_max=4).eval()
    ids = torch.randint(2, 6, (1, 30))
    padded = torch.cat([torch.full((1, 10), PAD_ID), ids], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded)[:, 10:], model(ids), atol=1e-5, rtol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = DNAMaskedLM(arch="transformer", hidden=16, layers=1, heads=2, max_len=32, window=32)
    model.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, DNAMaskedLM) and again.get_config() == model.get_config()
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    assert cfg["vocab"][:2] == ["[PAD]", "[MASK]"] and cfg["window"] == 32


def test_task_masks_only_nucleotides_and_weights_soft_bases():
    torch.manual_seed(0)
    model = DNAMaskedLM(hidden=16, layers=2, kernel_size=3, dilation_max=2)
    task = MaskedLMTask(model, count="exact")
    ids = torch.randint(2, 6, (4, 50))
    ids[:, :5] = PAD_ID
    ids[:, 5:10] = N_ID
    soft = torch.zeros_like(ids, dtype=torch.bool)
    rng = MaskRNG(0, 0, torch.arange(4))
    from bioR2.masking import mask_tokens
    m = mask_tokens(ids, 0.3, mask_token_id=MASK_ID, special_ids=(PAD_ID,), eligible=torch.isin(ids, task.nucleotides),
                    random_token_ids=task.nucleotides, count="exact", rng=rng)
    assert not m.mask[:, :10].any()  # PAD and N never masked
    out = task({"input_ids": ids, "soft_mask": soft}, 0.3, rng)
    assert out.loss.requires_grad and float(out.metrics["masked_fraction"]) == pytest.approx(0.3, abs=0.03)
    assert out.n_items == 48  # a sum over the masked bases (12 of 40 per row), each weighing 1
    # all soft-masked: weight 0.1 in training gives a tenth of the sum and of the weight (the
    # same normalised loss); 0 in eval gives 0 over a weight of 0
    all_soft = torch.ones_like(soft)
    soft_out = task({"input_ids": ids, "soft_mask": all_soft}, 0.3, rng)
    assert soft_out.n_items == pytest.approx(0.1 * out.n_items)
    torch.testing.assert_close(soft_out.loss / soft_out.n_items, out.loss / out.n_items)
    task.eval()
    evaluated = task({"input_ids": ids, "soft_mask": all_soft}, 0.3, rng)
    assert float(evaluated.loss.detach()) == 0.0
    assert evaluated.n_items == 0.0  # nothing scored: adds nothing to the trainer's validation mean
    assert task({"input_ids": ids, "soft_mask": soft}, 0.3, rng).n_items == pytest.approx(0.3 * 40 * 4)  # masked bases
    # half soft: the uppercase half dominates by 10x
    task.train()
    half = soft.clone()
    half[:2] = True
    mixed = task({"input_ids": ids, "soft_mask": half}, 0.3, rng)
    assert float(mixed.loss.detach() / mixed.n_items) != pytest.approx(float(out.loss.detach() / out.n_items))


def test_cli_pretrain_then_score(tmp_path, capsys):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">chr1\n{seq}\n>chr2\n{seq[:1500].lower()}\n")
    run = tmp_path / "run"
    rc = main(["pretrain", "dna", "--fasta", str(fasta), "--out", str(run), "--window", "64",
               "--held-out", "chr2", "--hidden", "16", "--layers", "2", "--steps", "6", "--batch-size", "8",
               "--mask-ratio", "0.1-0.2", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert "val_loss" in summary and summary["steps"] == 6
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    ratios = [r["mask_ratio"] for r in log if "mask_ratio" in r]
    assert len(ratios) == 6 and all(0.1 <= p < 0.2 for p in ratios) and len(set(ratios)) > 1
    data_cfg = json.loads((run / "data.json").read_text())
    assert data_cfg["data"]["held_out"] == ["chr2"] and data_cfg["train_contigs"] == ["chr1"]
    assert load_model(run).window == 64
    # already a run there: refuse without --overwrite/--resume
    assert main(["pretrain", "dna", "--fasta", str(fasta), "--out", str(run), "--steps", "1"]) == 1
    variants = pd.DataFrame({"chrom": ["1", "chr2", "chr1"], "pos": [10, 20, 30],
                             "ref": [seq[9], seq[19], "AA"], "alt": ["N", "A" if seq[19] != "A" else "C", "A"]})
    variants.to_csv(tmp_path / "v.csv", index=False)
    rc = main(["score-variants", "--model", str(run), "--fasta", str(fasta), "--variants", str(tmp_path / "v.csv"),
               "--out", str(tmp_path / "s.parquet")])
    assert rc == 0
    got = pd.read_parquet(tmp_path / "s.parquet")
    assert got["status"].tolist() == ["skipped: non-ACGT allele", "ok", "skipped: not an SNV (indel or MNV)"]
    assert np.isfinite(got["score"].iloc[1])
    # a bad genome path is a clean error, not a traceback
    rc = main(["score-variants", "--model", str(run), "--fasta", str(tmp_path / "missing.fa"),
               "--variants", str(tmp_path / "v.csv"), "--out", str(tmp_path / "x.tsv")])
    assert rc == 1 and "missing.fa" in capsys.readouterr().err
