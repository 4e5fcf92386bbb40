"""Choosing the DNA pretraining recipe on a validation split of the training sequences.

Nothing here reads the benchmark's held-out sequences (chr1 / chr2 peaks, ``ecoli_heldout``).
The validation split is carved from the *training* part of ``bior2 benchmark dna``'s data:

* motif: the peaks on ``--val-chroms`` (default chr3, chr4) are left out of pretraining and their
  motif-breaking SNVs (same construction as the benchmark: JASPAR hits, ref/alt-matched
  negatives) are scored;
* bacterial: the last 15% of ``ecoli_train`` is left out and its start-codon / Shine-Dalgarno
  SNVs are scored.

Every candidate is pretrained on what remains (the rest of ``ecoli_train`` + the other training
peaks) and scored zero-shot; the k-mer baseline is fit on the same pretraining sequences.

    python benchmarks/dna_recipe_search.py --out runs/dna_search/search.jsonl --variants base,human

Each finished (variant, seed) appends one JSON line (an interrupted search resumes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd

BASE: Dict[str, Any] = {"hidden": 64, "layers": 6, "window": 128, "batch_size": 64, "lr": 2e-3, "steps": 600,
                        "peak_stride": 36, "ecoli_stride": 128, "ratio": "0.05-0.3", "kernel_size": 9,
                        "dilation_max": 32, "dilation_cycle": None, "soft_weight_train": 0.1, "warmup_steps": -1,
                        "weight_decay": 0.01}
# the four levers of the table together (issue 22 item 4), then the dilation schedule and the loss
# over soft-masked bases on top of them
COMBINED: Dict[str, Any] = {"peak_stride": 8, "hidden": 128, "window": 64, "batch_size": 128, "kernel_size": 5,
                            "layers": 8}
LEAN: Dict[str, Any] = {**COMBINED, "hidden": 64}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "base": {},
    "human": {"peak_stride": 8},                       # ~3x more human windows per E. coli window
    "human_lr4": {"peak_stride": 8, "lr": 4e-3},
    "human_b128": {"peak_stride": 8, "batch_size": 128},
    "human_h128": {"peak_stride": 8, "hidden": 128},
    "human_k5": {"peak_stride": 8, "kernel_size": 5, "layers": 8},
    "human_w64": {"peak_stride": 8, "window": 64, "batch_size": 128},
    "human_l4": {"peak_stride": 8, "layers": 4, "hidden": 96},
    "combined": COMBINED,
    # without the wider model (4x the convolution FLOPs per step): what fits 3 schemes x 3 seeds x
    # 2,000 steps into the long preset's 2 hours
    "lean": LEAN,
    "lean_h96": {**LEAN, "hidden": 96},
    "lean_dil8": {**LEAN, "dilation_max": 8},              # 1, 2, 4, 8, 1, 2, 4, 8: GPN-style cycles
    "lean_soft1": {**LEAN, "soft_weight_train": 1.0},      # lowercase bases weigh as much as the rest
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--val-chroms", default="chr3,chr4")
    ap.add_argument("--steps", type=int, default=None, help="override every variant's steps")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from bioR2.bench.dna_data import (FACTORS, HELD_OUT_CHROMS, PEAKS, bacterial_variants, motif_variants,
                                      build_benchmark_data, kmer_scores, read_peaks)
    from bioR2.dna import pretrain
    from bioR2.dna.data import Genome, make_windows
    from bioR2.dna.motifs import load_jaspar
    from bioR2.dna.scorer import VariantScorer
    from bioR2.metrics import auprc
    from bioR2.utils.wheels import wheel_member

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {(r["variant"], r["seed"]) for r in map(json.loads, out.read_text().splitlines()) if "variant" in r}

    data = build_benchmark_data()
    genome = Genome(data.fasta)
    val_chroms = args.val_chroms.split(",")
    assert not set(val_chroms) & set(HELD_OUT_CHROMS), "validation chromosomes must be training ones"
    peaks = pd.concat([read_peaks(wheel_member(*PEAKS[f]), f) for f in PEAKS], ignore_index=True)
    peaks["contig"] = [f"{f}_{c}_{s}_{e}" for f, c, s, e in zip(peaks.factor, peaks.chrom, peaks.start, peaks.end)]
    peaks = peaks.drop_duplicates("contig").reset_index(drop=True)
    val_peaks = peaks[peaks.chrom.isin(val_chroms)]
    fit_peaks = [c for c in data.pretrain_contigs if c != "ecoli_train" and c not in set(val_peaks.contig)]
    rng = np.random.default_rng(0)
    motif = pd.concat([motif_variants(val_peaks[val_peaks.factor == f], f, load_jaspar(names=s["names"]),
                                       load_jaspar(patterns=s["related"]), rng, 9) for f, s in FACTORS.items()],
                      ignore_index=True)
    ecoli = genome.fetch("ecoli_train", 0, genome.length("ecoli_train"))
    cut = int(len(ecoli) * 0.85)
    bact = bacterial_variants(ecoli[cut:], "ecoli_train", rng, 450, 9)
    bact["pos"] = bact["pos"] + cut
    frames = {"motif": motif, "bacterial": bact}
    # k-mer baseline on the same pretraining sequences
    train_seqs = [ecoli[:cut]] + [genome.fetch(c, 0, genome.length(c)) for c in fit_peaks]
    kmer: Dict[str, float] = {}
    for name, df in frames.items():
        ctx = [genome.fetch(c, p - 4, p + 3) for c, p in zip(df.chrom, df.pos)]
        ctx = [s if len(s) == 7 else "N" * 7 for s in ctx]
        df["kmer"] = -kmer_scores(train_seqs, ctx, df.ref.tolist(), df.alt.tolist())
        kmer[name] = round(auprc(df.label.to_numpy(), df.kmer.to_numpy()), 4)
        if name == "motif":
            for f in FACTORS:
                sel = (df.factor == f).to_numpy()
                kmer[f] = round(auprc(df.label.to_numpy()[sel], df.kmer.to_numpy()[sel]), 4)
    print(json.dumps({"kmer": kmer, "val_motif_variants": len(motif), "val_motif_positives": int(motif.label.sum()),
                      "val_bacterial_variants": len(bact), "val_bacterial_positives": int(bact.label.sum())}),
          flush=True)

    for variant in args.variants.split(","):
        o = dict(BASE, **VARIANTS[variant])
        if args.steps:
            o["steps"] = args.steps
        for seed in [int(s) for s in args.seeds.split(",")]:
            if (variant, seed) in done:
                continue
            t0 = time.perf_counter()
            w = int(o["window"])
            ec = make_windows(genome, window=w, stride=int(o["ecoli_stride"]), contigs=["ecoli_train"])
            ec = ec[ec.end <= cut]
            pk = make_windows(genome, window=w, stride=int(o["peak_stride"]), contigs=fit_peaks)
            windows = pd.concat([ec, pk], ignore_index=True)
            run = out.parent / f"{variant}_seed{seed}"
            res = pretrain((genome, windows), run,
                           model={"hidden": o["hidden"], "layers": o["layers"], "kernel_size": o["kernel_size"],
                                  "dilation_max": o["dilation_max"], "dilation_cycle": o["dilation_cycle"]},
                           task={"soft_weight_train": o["soft_weight_train"]},
                           data={"window": w},
                           train={"steps": o["steps"], "batch_size": o["batch_size"], "lr": o["lr"], "seed": seed,
                                  "mask_ratio": o["ratio"], "log_every": 100, "progress": False,
                                  "warmup_steps": o["warmup_steps"], "weight_decay": o["weight_decay"]},
                           overwrite=True)
            t_train = time.perf_counter() - t0
            scorer = VariantScorer(res.model, genome, window=w, batch_size=256, device="cpu")
            row: Dict[str, Any] = {"variant": variant, "seed": seed, **{k: o[k] for k in BASE},
                                   "human_window_fraction": round(len(pk) / len(windows), 3)}
            for name, df in frames.items():
                s = -scorer.llr(df.chrom.to_numpy(), df.pos.to_numpy() - 1, df.ref.tolist(), df.alt.tolist())
                row[name] = round(auprc(df.label.to_numpy(), s), 4)
                if name == "motif":
                    for f in FACTORS:
                        sel = (df.factor == f).to_numpy()
                        row[f] = round(auprc(df.label.to_numpy()[sel], s[sel]), 4)
            row["train_s"] = round(t_train, 1)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
