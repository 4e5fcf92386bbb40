"""Builds tutorials/02_dna_variants.ipynb (run: python tutorials/_build/make_02_dna_variants.py)."""

from pathlib import Path

import nbformat as nbf

cells = [
    nbf.v4.new_markdown_cell(
        "# DNA: pretrain with R²MAE, score variants zero-shot\n\n"
        "The whole DNA path on a genome small enough for a laptop CPU (about a minute):\n\n"
        "1. a FASTA genome (here synthetic, with a planted 10-bp motif) → windows;\n"
        "2. **pretrain** a dilated-convolution masked-LM with R²MAE masking, `p ~ U(0.05, 0.3)` per batch;\n"
        "3. **score** SNVs: `logit[alt] − logit[ref]` at the masked centre, averaged over both strands;\n"
        "4. measure **AUPRC** of motif-breaking vs background variants, add an embedding-distance score "
        "and a supervised probe.\n\n"
        "On the command line the same steps are `bior2 pretrain dna --fasta G.fa --out RUN` and "
        "`bior2 score-variants --model RUN --fasta G.fa --variants V.vcf --out S.tsv`."
    ),
    nbf.v4.new_code_cell(
        "import tempfile, pathlib\n"
        "import torch\n"
        "torch.set_num_threads(1)  # tiny models are fastest on one thread\n"
        "from bioR2.dna.synthetic import planted_motif_genome\n\n"
        "work = pathlib.Path(tempfile.mkdtemp())\n"
        "data = planted_motif_genome(work / 'genome.fa', motif='TGACTCAGCA', n_contigs=3, contig_length=20_000)\n"
        "variants = data['variants']   # chrom, pos (1-based), ref, alt, label: on the held-out contig\n"
        "print(open(data['fasta']).read()[:200])\n"
        "variants.head()"
    ),
    nbf.v4.new_markdown_cell(
        "## Windows and the training set\n`Genome` reads FASTA (plain or bgzip) and GenBank/EMBL; `make_windows` "
        "tiles contigs (or BED intervals) and drops N-rich windows; `split_windows` holds out named contigs. "
        "Lowercase (soft-masked) bases are tokenised like uppercase and carried as a per-base loss weight."
    ),
    nbf.v4.new_code_cell(
        "from bioR2.dna import Genome, make_windows, split_windows, WindowDataset\n\n"
        "genome = Genome(data['fasta'])\n"
        "windows = make_windows(genome, window=64, stride=32)\n"
        "train_w, held_w = split_windows(windows, [data['held_out']], genome)\n"
        "print(genome.contigs, len(train_w), 'training windows,', len(held_w), 'held out')\n"
        "batch = WindowDataset(genome, train_w, seed=0).__getitems__([0, 1])\n"
        "batch['input_ids'][:, :16]"
    ),
    nbf.v4.new_markdown_cell(
        "## Pretrain through the shared trainer\n`pretrain` = windows → `MaskedLMTask` (masks from "
        "`bioR2.masking.mask_tokens`, 80/10/10 over A/C/G/T) → `bioR2.train.Trainer`. "
        "The held-out contig becomes the validation set; the run folder holds the model, its config "
        "(vocabulary and window included), a per-step log and checkpoints."
    ),
    nbf.v4.new_code_cell(
        "from bioR2.dna import pretrain\n\n"
        "run = work / 'run'\n"
        "result = pretrain(data['fasta'], run,\n"
        "                  model={'arch': 'convnet', 'hidden': 32, 'layers': 3},\n"
        "                  data={'window': 64, 'stride': 32, 'held_out': [data['held_out']]},\n"
        "                  train={'steps': 150, 'batch_size': 32, 'lr': 3e-3, 'mask_ratio': '0.05-0.3'})\n"
        "import json\n"
        "log = [json.loads(l) for l in open(run / 'log.jsonl')]\n"
        "print('first/last loss', log[0]['loss'], result.last_loss, '| held-out loss', result.val_loss)\n"
        "print('ratios drawn per step:', [round(r['mask_ratio'], 3) for r in log[:6]])"
    ),
    nbf.v4.new_markdown_cell(
        "## Zero-shot variant scores\n`score_variants` checks every ref allele against the genome, resolves "
        "chromosome aliases (`1` = `chr1`), skips indels / multi-allelic / non-ACGT records with a reason, pads "
        "windows at contig ends, and runs both strands in one batched pass. A low score means the model finds the "
        "alternative allele unexpected."
    ),
    nbf.v4.new_code_cell(
        "import pandas as pd\n"
        "from bioR2.dna import score_variants\n\n"
        "odd = pd.DataFrame({'chrom': ['3', 'chr3', 'chr3'], 'pos': [1, 5, 7], 'ref': [genome.fetch('chr3', 0, 1), 'AC', 'A'],\n"
        "                    'alt': ['A' if genome.fetch('chr3', 0, 1) != 'A' else 'C', 'A', 'A,T']})\n"
        "score_variants(run, data['fasta'], odd, skip_mismatch=True)"
    ),
    nbf.v4.new_code_cell(
        "from bioR2.metrics import binary_metrics\n\n"
        "scored = score_variants(run, data['fasta'], variants, embedding_distance=True)\n"
        "m = binary_metrics(scored['label'], -scored['score'], n_boot=200)\n"
        "print(f\"AUPRC {m['auprc']['value']:.3f} [{m['auprc']['ci_low']:.3f}, {m['auprc']['ci_high']:.3f}]  \"\n"
        "      f\"positive fraction {scored['label'].mean():.3f}\")\n"
        "print('embedding distance AUPRC', round(binary_metrics(scored['label'], scored['embedding_distance'], n_boot=10)['auprc']['value'], 3))"
    ),
    nbf.v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "from sklearn.metrics import precision_recall_curve\n\n"
        "p, r, _ = precision_recall_curve(scored['label'], -scored['score'])\n"
        "plt.figure(figsize=(4, 3)); plt.plot(r, p, label='R²MAE model (−LLR)')\n"
        "plt.axhline(scored['label'].mean(), ls='--', c='grey', label='positive fraction')\n"
        "plt.xlabel('recall'); plt.ylabel('precision'); plt.legend(); plt.tight_layout()"
    ),
    nbf.v4.new_markdown_cell(
        "## A supervised probe\nWith labels at hand, a logistic regression on the model's embeddings "
        "(ref window, alt − ref, and the LLR) is scored out of fold, so no variant is scored by a probe that saw "
        "its label."
    ),
    nbf.v4.new_code_cell(
        "from bioR2.dna import load_model_for_scoring\n"
        "from bioR2.dna.scorer import VariantScorer\n"
        "from bioR2.dna.probe import cross_val_probe\n\n"
        "scorer = VariantScorer(load_model_for_scoring(run), genome, window=64)\n"
        "feats = scorer.features(variants.chrom.to_numpy(), variants.pos.to_numpy() - 1, variants.ref, variants.alt)\n"
        "probe = cross_val_probe(feats, variants.label.to_numpy(), n_splits=5)\n"
        "print('probe AUPRC (out of fold):', round(binary_metrics(variants.label, probe, n_boot=10)['auprc']['value'], 3))"
    ),
    nbf.v4.new_markdown_cell(
        "## Next\n* Your genome: `bior2 pretrain dna --fasta GENOME.fa --held-out chr1,chr2 --out RUN` "
        "(`--mask-ratio 0.15` for GPN's fixed ratio, `--arch transformer` for the alternative encoder).\n"
        "* Big variant files stream in chunks: `bior2 score-variants ... --variants V.vcf.gz --out S.parquet`.\n"
        "* `bior2 benchmark dna --quick --out DIR` compares masking schemes on real ChIP-seq motifs and E. coli."
    ),
]

nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
out = Path(__file__).resolve().parent.parent / "02_dna_variants.ipynb"
nbf.write(nb, out)
print(f"wrote {out}")
