"""The DNA domain's spec: configs, presets and builders behind ``bioR2.pretrain("dna", ...)``
and ``bior2 pretrain dna``.

Only the standard library at import time (the CLI reads the configs without torch).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..domain import Command, DomainData, DomainSpec, ModelCard, Preset
from .config import DNADataConfig, DNAModelConfig, DNATaskConfig

__all__ = ["SPEC", "DNADataConfig", "DNAModelConfig", "DNATaskConfig", "DEFAULT_RATIO"]

DEFAULT_RATIO = "0.05-0.3"  # the paper's DNA range, written once for the package


def build_data(source: Any, cfg, train_cfg) -> DomainData:
    """Windows of the genome (``source``: a path, a ``Genome``, or ``(genome, windows_table)``
    with explicit ``chrom, start, end`` windows), split into training and held-out contigs."""
    from .data import (WindowDataset, check_held_out_weight, genome_record, make_windows, open_genome,
                       split_windows)

    d = cfg.data
    windows = None
    if isinstance(source, tuple):
        source, windows = source
    source = d.source if source is None else source
    if windows is None and (d.genomes or (isinstance(source, (list, tuple)) and len(source) > 1)):
        from .genomes import build_multi_genome_data  # several genomes: its own module

        return build_multi_genome_data(source, cfg, train_cfg)
    if isinstance(source, (list, tuple)):
        source = source[0] if source else None
    if source is None:
        raise ValueError("pretrain dna: no genome given (--fasta GENOME, or data.source in the config)")
    genome = open_genome(source)
    window = int(d.window)
    if windows is None:
        windows = make_windows(genome, window=window, stride=d.stride, contigs=d.contigs, bed=d.bed,
                               max_n_fraction=float(d.max_n_fraction))
    else:
        window = int((windows["end"] - windows["start"]).iloc[0])
    train_w, val_w = split_windows(windows, list(d.held_out or []), genome)
    check_held_out_weight(genome, val_w, cfg.task.soft_weight_eval)
    if len(train_w) == 0:
        raise ValueError(f"{genome.source}: every window is on a held-out contig ({list(d.held_out)[:5]})")
    train = WindowDataset(genome, train_w, reverse_complement=bool(d.reverse_complement), seed=train_cfg.seed)
    val = WindowDataset(genome, val_w, reverse_complement=False) if len(val_w) else None
    info = {"source": str(genome.source), "genome": genome_record(genome), "window": window, "data": cfg.data.to_dict(),
            "n_train_windows": len(train_w), "n_val_windows": len(val_w),
            "train_contigs": sorted(set(train_w["chrom"]))[:50]}
    return DomainData(train=train, val=val, content={"genome": genome, "window": window}, info=info)


def build_model(cfg, data: DomainData, train_cfg):
    from .model import DNAMaskedLM

    m = asdict(cfg.model)
    window = data.content["window"]
    if m["arch"] == "transformer":
        m["max_len"] = max(window, 512)
    return DNAMaskedLM(window=window, **m)


def build_task(model, cfg, data: DomainData):
    from .task import MaskedLMTask

    return MaskedLMTask(model, **asdict(cfg.task))


SPEC = DomainSpec(
    name="dna",
    description="pretrain a single-nucleotide masked LM on a genome (FASTA / GenBank)",
    default_ratio=DEFAULT_RATIO,
    sections={"data": DNADataConfig, "model": DNAModelConfig, "task": DNATaskConfig},
    train_defaults={"steps": 1000, "batch_size": 32, "lr": 1e-3},
    presets=(
        Preset("dna-tiny", "4 x 32 convnet: tests and install checks", {"model": {"hidden": 32, "layers": 4}}),
        Preset("dna-small", "6 x 128 convnet (the default shape)", {"model": {"hidden": 128, "layers": 6}}),
        Preset("dna-gpn-size", "GPN's ConvNet: 25 x 512, kernel 9, dilations 1..32 cycling every 6",
               {"model": {"hidden": 512, "layers": 25, "kernel_size": 9, "dilation_max": 32,
                          "dilation_cycle": 6}}),
        # The DNA benchmark's recipes (bior2 benchmark dna [--quick | --preset long]): convnets; long is
        # the recipe chosen on the validation split (benchmarks/dna_recipe_search.py, issue 22): 64-bp
        # windows x 128 per batch, kernel 5 x 8 blocks (width 128 did not fit the 2-hour budget).
        Preset("dna-bench-quick", "bior2 benchmark dna --quick: convnet 4 x 48, 128-bp windows, 120 steps x 32, "
               "lr 2e-3", {"data": {"window": 128}, "model": {"hidden": 48, "layers": 4},
                           "train": {"steps": 120, "batch_size": 32, "lr": 2e-3}}),
        Preset("dna-bench", "bior2 benchmark dna: convnet 6 x 128, 128-bp windows, 1500 steps x 64, lr 2e-3",
               {"data": {"window": 128}, "model": {"hidden": 128, "layers": 6},
                "train": {"steps": 1500, "batch_size": 64, "lr": 2e-3}}),
        Preset("dna-bench-long", "bior2 benchmark dna --preset long: convnet 8 x 64, kernel 5, dilations 1-8 "
               "twice, 64-bp windows, 2000 steps x 128, lr 2e-3",
               {"data": {"window": 64}, "model": {"hidden": 64, "layers": 8, "kernel_size": 5, "dilation_max": 8},
                "train": {"steps": 2000, "batch_size": 128, "lr": 2e-3}}),
    ),
    build_data=build_data,
    build_model=build_model,
    build_task=build_task,
    source_help="a genome path or Genome",
    display_name="DNA",
    card=ModelCard(
        what="DNA language model",
        tags=("dna", "genomics"),
        use=("Zero-shot variant-effect scoring (log-likelihood ratio of alt vs ref at the masked site) and "
             "sequence embeddings for probes: `bior2 score-variants --model {repo} --fasta GENOME "
             "--variants variants.tsv --out scores.parquet`."),
        limits=("Trained on one reference genome (see Training data): scores elsewhere, on other assemblies or "
                "on indels are not supported. Scores rank variants; they are not calibrated pathogenicity "
                "probabilities and are not for clinical use."),
        pipeline_tag="fill-mask",
        validation="held-out contigs",
    ),
    fixed_ratio=0.15,  # BERT's and GPN's
    per_example_ratios=True,
    compare_ratios=("0.15",),
    eval_ratios=(0.15, 0.3),
    commands=(
        Command("score-variants", None, "bioR2.dna.cli", "score_variants", "score SNVs zero-shot with a DNA model"),
        Command("score-region", None, "bioR2.dna.cli", "score_region",
                "score every SNV of regions (in-silico mutagenesis): a table or a bedGraph/bigWig track"),
        Command("benchmark", "dna", "bioR2.bench.cli", "benchmark_dna", "regulatory-variant AUPRC benchmark"),
    ),
)
