# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DNA: pretrain with R²MAE, score variants zero-shot
#
# The whole DNA path on a genome small enough for a laptop CPU (well under a minute):
#
# 1. a FASTA genome (here synthetic, with a planted 10-bp motif) → windows;
# 2. **pretrain** a dilated-convolution masked LM with R²MAE masking, `p ~ U(0.05, 0.3)` per batch;
# 3. **score** SNVs zero-shot: `logit[alt] − logit[ref]` at the masked centre, averaged over both strands;
# 4. measure how well the scores separate motif-breaking from background variants (**AUPRC**), look at an
#    embedding-distance score, and fit a supervised probe;
# 5. score every possible SNV around a planted motif (in-silico mutagenesis) and plot the track.
#
# On the command line the same steps are `bior2 pretrain dna --fasta G.fa --out RUN` and
# `bior2 score-variants --model RUN --fasta G.fa --variants V.vcf --out S.tsv`.

# %%
import pathlib
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

torch.set_num_threads(1)  # tiny models are fastest on one thread
from bioR2.dna.synthetic import planted_motif_genome

work = pathlib.Path(tempfile.mkdtemp())
data = planted_motif_genome(work / "genome.fa", motif="TGACTCAGCA", n_contigs=3, contig_length=20_000)
variants = data["variants"]  # chrom, pos (1-based), ref, alt, label: on the held-out contig
print(open(data["fasta"]).read()[:170])
print(f"{len(variants)} variants on {data['held_out']}: {int(variants.label.sum())} inside a planted motif "
      f"(label 1), {int((variants.label == 0).sum())} in random background (label 0)")
variants.head(3)

# %% [markdown]
# Three random contigs of 20 kb; every 20–60 bases (40 on average) the motif `TGACTCAGCA` is planted — you can
# spot it three times in the first lines above. Outside the motifs every base is an independent uniform draw, so
# nothing there can be predicted. The variants lie on the contig held out of training: positives change a
# base of a motif; each negative is a background SNV with the same ref and alt bases as a positive, 9
# negatives per positive.
#
# ## Windows and the training set
# `Genome` reads FASTA (plain or bgzip) and GenBank/EMBL; `make_windows` tiles contigs (or BED intervals) and
# drops N-rich windows; `split_windows` holds out named contigs. Lowercase (soft-masked) bases are tokenised
# like uppercase and carried as a per-base loss weight.

# %%
from bioR2.dna import Genome, make_windows, split_windows, WindowDataset
from bioR2.dna.tokenizer import VOCAB

genome = Genome(data["fasta"])
windows = make_windows(genome, window=64, stride=32)
train_w, held_w = split_windows(windows, [data["held_out"]], genome)
print(genome.contigs)
print(f"{len(train_w)} training windows (64 bp every 32 bp on chr1 and chr2), {len(held_w)} held out (chr3)")
batch = WindowDataset(genome, train_w, seed=0).__getitems__([0, 1])
print("token ids:", dict(enumerate(VOCAB)))
print("first 16 tokens of two windows:\n", batch["input_ids"][:, :16])

# %% [markdown]
# ## Pretrain through the shared trainer
# `pretrain` = windows → masked-token task (masks from `bioR2.masking.mask_tokens`, 80/10/10 over A/C/G/T) →
# `bioR2.train.Trainer`. The held-out contig becomes the validation set; the run folder holds the model, its
# config (vocabulary and window included), a per-step log and checkpoints.

# %%
from bioR2.dna import pretrain

run = work / "run"
result = pretrain(data["fasta"], run,
                  model={"arch": "convnet", "hidden": 32, "layers": 3},
                  data={"window": 64, "stride": 32, "held_out": [data["held_out"]]},
                  train={"steps": 150, "batch_size": 32, "lr": 3e-3, "mask_ratio": "0.05-0.3", "progress": False})
step, loss, ratio = map(np.array, zip(*result.loss_curve))
print(f"training loss {loss[0]:.3f} at step 1, {loss[-10:].mean():.3f} over the last 10 steps; "
      f"held-out loss {result.val_loss:.3f}")
print("ratios drawn at the first steps:", np.round(ratio[:6], 3))

# %%
uniform = np.log(4)                      # cross-entropy of guessing among A/C/G/T
motif_share = 10 / (10 + 40)             # a 10-bp motif every 40 bp on average
floor = (1 - motif_share) * uniform      # if every motif base were predicted perfectly
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(step, loss, lw=1, label="training loss per step")
ax.axhline(uniform, ls="--", c="grey", lw=1, label="ln 4: no knowledge")
ax.axhline(floor, ls=":", c="k", lw=1, label="background unpredictable,\nmotif known")
ax.set_xlabel("step"); ax.set_ylabel("cross-entropy (nats)"); ax.set_ylim(1.0, 2.2)
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
print(f"reference lines: ln 4 = {uniform:.3f}; (1 - {motif_share:.1f}) x ln 4 = {floor:.3f}")

# %% [markdown]
# How to read these numbers: the loss is the cross-entropy (in nats) of the masked bases. A model that knows
# nothing about DNA can at best guess among four bases: ln 4 ≈ 1.386 (the first step is above it because the
# initial logits are random). Background bases are random, so they stay at ln 4 whatever the model learns; only
# motif bases can be predicted. With motifs covering about a fifth of the genome, a model that knew the motif
# perfectly would reach about 0.8 × ln 4 ≈ 1.11. After 150 steps the loss is between the two: the model has
# learned much of the motif. The held-out loss is the same quantity on chr3 at the run's mean ratio (0.175);
# it matches the training loss, so there is no overfitting to the training contigs.
#
# ## Zero-shot variant scores
# `score_variants` checks every ref allele against the genome, resolves chromosome aliases (`3` = `chr3`), skips
# indels / multi-allelic / non-ACGT records with a reason, pads windows at contig ends, and runs both strands in
# one batched pass. The score is `logit[alt] − logit[ref]` with the variant's position masked: a log-likelihood
# ratio (LLR). **Negative** means the model finds the alternative allele less likely than the reference.

# %%
from bioR2.dna import score_variants

first = genome.fetch("chr3", 0, 1)
odd = pd.DataFrame({"chrom": ["3", "chr3", "chr3"], "pos": [1, 5, 7], "ref": [first, "AC", "A"],
                    "alt": ["A" if first != "A" else "C", "A", "A,T"]})
score_variants(run, data["fasta"], odd, skip_mismatch=True)

# %% [markdown]
# The first record (an SNV at the first base of chr3, named `3`) is scored; a score near 0 says the model has
# no preference at a background base. The other two are skipped with the reason instead of failing the file.
#
# Now every variant, with the LLR as a ranking of disruptiveness (`-score`: most negative LLR first).
# **AUPRC** (area under the precision–recall curve) is the precision averaged over recall levels; a random
# ranking scores the fraction of positives (here 0.1), a perfect one 1. The interval is a 95 % bootstrap over
# variants.

# %%
from bioR2.metrics import binary_metrics

scored = score_variants(run, data["fasta"], variants, embedding_distance=True)
llr_metrics = binary_metrics(scored["label"], -scored["score"], n_boot=200)
a, r = llr_metrics["auprc"], llr_metrics["auroc"]
print(f"LLR: AUPRC {a['value']:.3f} [95% CI {a['ci_low']:.3f}, {a['ci_high']:.3f}]   "
      f"AUROC {r['value']:.3f}   (chance: AUPRC {scored['label'].mean():.2f}, AUROC 0.5)")

# %%
from sklearn.metrics import precision_recall_curve

pos, neg = scored["label"] == 1, scored["label"] == 0
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
bins = np.linspace(scored["score"].min(), scored["score"].max(), 40)
ax1.hist(scored.loc[neg, "score"], bins=bins, alpha=0.6, density=True, label=f"background (n={neg.sum()})")
ax1.hist(scored.loc[pos, "score"], bins=bins, alpha=0.6, density=True, label=f"motif-breaking (n={pos.sum()})")
ax1.set_xlabel("LLR = logit[alt] − logit[ref]"); ax1.set_ylabel("density"); ax1.legend(frameon=False, fontsize=8)
p, rc, _ = precision_recall_curve(scored["label"], -scored["score"])
ax2.plot(rc, p, label=f"R²MAE model, −LLR (AUPRC {a['value']:.2f})")
ax2.axhline(scored["label"].mean(), ls="--", c="grey", label="chance (positive fraction)")
ax2.set_xlabel("recall"); ax2.set_ylabel("precision"); ax2.set_ylim(0, 1.02); ax2.legend(frameon=False, fontsize=8)
fig.tight_layout();

# %% [markdown]
# Left: background variants sit around LLR 0 (the model has no reason to prefer either base in random
# sequence), motif-breaking ones far below it (the model expected the motif's base). The overlap is small,
# which is why the precision stays high until most positives are found (right).
#
# ## Embedding distance: a score with no direction
# `embedding_distance=True` adds the RMS difference between the hidden states of the reference and the
# alternative window (all 64 positions, both strands). It says how much the substitution moves the model's
# representation, not whether the move is towards something worse, so which end of its ranking is
# "disruptive" is not given in advance. On this task it points the other way:

# %%
dist = scored["embedding_distance"]
d_metrics = binary_metrics(scored["label"], dist, n_boot=200)
print(f"distance, larger = more disruptive: AUPRC {d_metrics['auprc']['value']:.3f}, "
      f"AUROC {d_metrics['auroc']['value']:.3f}")
print(f"mean distance: motif-breaking {dist[pos].mean():.3f}, background {dist[neg].mean():.3f}")

# the same score from an untrained model with the same architecture (random weights)
torch.manual_seed(0)
untrained = type(result.model).from_config(result.model.get_config()).eval()
dist0 = score_variants(untrained, genome, variants, embedding_distance=True)["embedding_distance"]
print(f"untrained model: AUROC {binary_metrics(scored['label'], dist0, n_boot=10)['auroc']['value']:.3f}; "
      f"mean distance motif-breaking {dist0[pos].mean():.3f}, background {dist0[neg].mean():.3f}")

fig, ax = plt.subplots(figsize=(4.5, 3))
bins = np.linspace(dist.min(), dist.max(), 40)
ax.hist(dist[neg], bins=bins, alpha=0.6, density=True, label="background")
ax.hist(dist[pos], bins=bins, alpha=0.6, density=True, label="motif-breaking")
ax.set_xlabel("embedding distance (trained model)"); ax.set_ylabel("density"); ax.legend(frameon=False, fontsize=8)
fig.tight_layout();

# %% [markdown]
# An AUPRC below the positive fraction (0.1) and an AUROC far below 0.5 mean that motif-breaking variants move
# the representation **less** than background variants: read with the usual sign ("larger distance = more
# disruptive") the distance ranks positives last. It is not noise: the AUROC is nearly as far below 0.5 as the
# LLR's is above it, and the untrained model shows no difference (AUROC ≈ 0.5), so the effect is learned.
# A plausible reading: the trained model represents a window holding a motif mostly by the motif, which the
# other nine bases still spell, so one substitution shifts the hidden states little; in random sequence each
# base is its own information and a substitution shifts them more.
#
# Flipping the sign would score well here, but that choice is made by looking at the labels: a supervised
# decision, which a zero-shot score cannot take. Use the LLR for zero-shot ranking; if you have labels, let a
# probe use the distance (and the embeddings) with cross-validation, as below.
#
# ## A supervised probe
# With labels at hand, a logistic regression on the model's embeddings (mean reference embedding, mean and
# centre alt − ref embeddings, and the LLR) is scored out of fold (5-fold): no variant is scored by a probe
# that saw its label.

# %%
from bioR2.dna import load_model_for_scoring
from bioR2.dna.scorer import VariantScorer
from bioR2.dna.probe import cross_val_probe

scorer = VariantScorer(load_model_for_scoring(run), genome, window=64)
feats = scorer.features(variants.chrom.to_numpy(), variants.pos.to_numpy() - 1, variants.ref, variants.alt)
probe = cross_val_probe(feats, variants.label.to_numpy(), n_splits=5)
probe_auprc = binary_metrics(variants.label, probe, n_boot=10)["auprc"]["value"]
print(f"{feats.shape[1]} features per variant; probe AUPRC (out of fold) {probe_auprc:.3f} "
      f"vs zero-shot LLR {a['value']:.3f}")

# %% [markdown]
# The probe combines the LLR with what the embeddings say (the distance's information included) and adds a few
# points of AUPRC over the zero-shot score — at the price of needing labelled variants.
#
# ## A mutagenesis track over a planted motif
# GPN users score **every** possible SNV of a promoter or enhancer and look at the track. `score_region` does
# that for a region (`chr3:START-END`, 1-based and inclusive, or a BED file): three alternative alleles at each
# base, scored exactly as `score_variants` would score them, and `region_track` reduces them to one value per
# base (`min`: the most disruptive change). Here a 60-bp stretch of the held-out contig around one planted motif:

# %%
from bioR2.dna import region_track, score_region

seq3 = genome.fetch("chr3", 0, genome.length("chr3")).upper()
m0 = seq3.find("TGACTCAGCA", 5_000)                      # 0-based start of a motif on chr3
lo, hi = m0 - 25, m0 + 35                                # 60 bases around it (0-based, half-open)
ism = score_region(run, genome, [f"chr3:{lo + 1}-{hi}"])  # 3 rows per base
track = region_track(ism, "min")
print(f"{len(ism)} SNVs at {len(track)} positions; motif at chr3:{m0 + 1}-{m0 + 10}")
in_motif = (track["start"] >= m0) & (track["start"] < m0 + 10)
print(f"mean of the per-base minimum: inside the motif {track.loc[in_motif, 'value'].mean():.2f}, "
      f"outside {track.loc[~in_motif, 'value'].mean():.2f}")

fig, ax = plt.subplots(figsize=(8, 2.6))
ax.axvspan(m0 + 0.5, m0 + 10.5, color="orange", alpha=0.25, label="planted motif")
ax.bar(track["end"], track["value"], width=0.8, color="C0", label="min LLR over the 3 alleles")
ax.set_xticks(track["end"][::5]); ax.set_xlabel("chr3 position (1-based)"); ax.set_ylabel("LLR")
ax.legend(frameon=False, fontsize=8, loc="lower left")
fig.tight_layout();

# %% [markdown]
# The track is flat near 0 over the random background and dips at each base of the motif: every substitution
# there breaks a pattern the model learned. The same track for a genome browser comes from the command line,
# as bedGraph or (with `pip install 'bioR2[tracks]'`) bigWig:
# `bior2 score-region --model RUN --fasta G.fa --region chr3:START-END --track min --out ism.bedgraph`; without
# `--track` every allele goes to a table (`.tsv`, `.csv`, `.parquet`).
#
# ## Next
# * Your genome: `bior2 pretrain dna --fasta GENOME.fa --held-out chr1,chr2 --out RUN` (`--mask-ratio 0.15` for
#   GPN's fixed ratio, `--arch transformer` for the alternative encoder).
# * Big variant files stream in chunks: `bior2 score-variants ... --variants V.vcf.gz --out S.parquet`.
# * `bior2 benchmark dna --quick --out DIR` compares masking schemes on real ChIP-seq motifs and E. coli.
