"""The DNA domain's spec: configs, presets and builders behind ``bioR2.pretrain("dna", ...)``
and ``bior2 pretrain dna``.

Only the standard library at import time (the CLI reads the configs without torch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Union

from ..domain import DomainData, DomainSpec, Preset, option
from ..pipeline import domain_pretrain

__all__ = ["SPEC", "pretrain", "DNADataConfig", "DNAModelConfig", "DNATaskConfig", "DEFAULT_RATIO"]

DEFAULT_RATIO = "0.05-0.3"  # the paper's DNA range, written once for the package


@dataclass
class DNADataConfig:
    """Which windows of which genome are trained on."""

    source: Optional[Union[str, List[str]]] = option(
        None, "genome: FASTA (plain or bgzip) or GenBank/EMBL; several: pretrain on all (contigs named NAME/CONTIG)",
        flag="--fasta", metavar="GENOME", nargs="+")
    genomes: Optional[str] = option(None, "CSV of genomes to pretrain on: path,name,weight,held_out "
                                          "(bioR2.dna.genomes)", metavar="CSV")
    window: int = option(512, "window length in bases")
    stride: Optional[int] = option(None, "step between windows (default: the window)")
    contigs: Optional[List[str]] = option(None, "train only on these contigs (default: all)", metavar="C1,C2")
    bed: Optional[str] = option(None, "train only on windows tiling these BED intervals")
    held_out: List[str] = option(None, "contigs never trained on (the validation set), e.g. chr1,chr2",
                                 metavar="C1,C2", default_factory=list)
    max_n_fraction: float = option(0.1, "drop windows with a larger fraction of N")
    reverse_complement: bool = option(True, "random reverse-complement augmentation")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class DNAModelConfig:
    """A :class:`~bioR2.dna.model.DNAMaskedLM`'s shape (the window comes from the data)."""

    arch: str = option("convnet", "dilated-conv residual network or transformer",
                       choices=("convnet", "transformer"))
    hidden: int = option(128, "model width")
    layers: int = option(6, "number of blocks")
    kernel_size: int = option(9, "convolution kernel size (odd)")
    dilation_max: int = option(32, "largest dilation of the doubling schedule")
    dilation_cycle: Optional[int] = option(None, "restart the dilation schedule every N blocks")
    conv_ffn_mult: int = option(1, "convnet: feed-forward expansion inside each block")
    heads: int = option(4, "attention heads (transformer)")
    ffn_mult: int = option(4, "transformer feed-forward expansion")
    dropout: float = option(0.0, "dropout")

    def __post_init__(self) -> None:
        if self.arch == "transformer" and self.hidden % self.heads:
            raise ValueError(f"model.hidden ({self.hidden}) must be divisible by model.heads ({self.heads})")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"model.kernel_size must be odd, got {self.kernel_size}")
        for name in ("hidden", "layers", "heads", "dilation_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class DNATaskConfig:
    """The masked-LM objective (GPN conventions)."""

    soft_weight_train: float = option(0.1, "loss weight of soft-masked (lowercase) bases in training")
    soft_weight_eval: float = option(0.0, "loss weight of soft-masked bases in validation")
    count: str = option("bernoulli", "masked bases per window: Bernoulli(p) each, or exactly round(p*n)",
                        choices=("bernoulli", "exact"))
    mask_prob: float = option(0.8, "share of masked positions replaced by [MASK] (BERT 80/10/10)")
    random_prob: float = option(0.1, "share replaced by a random nucleotide")


def build_data(source: Any, cfg, train_cfg) -> DomainData:
    """Windows of the genome (``source``: a path, a ``Genome``, or ``(genome, windows_table)``
    with explicit ``chrom, start, end`` windows), split into training and held-out contigs."""
    from .data import WindowDataset, make_windows, open_genome, split_windows

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
    if len(train_w) == 0:
        raise ValueError(f"{genome.source}: every window is on a held-out contig ({list(d.held_out)[:5]})")
    train = WindowDataset(genome, train_w, reverse_complement=bool(d.reverse_complement), seed=train_cfg.seed)
    val = WindowDataset(genome, val_w, reverse_complement=False) if len(val_w) else None
    info = {"source": str(genome.source), "window": window, "data": cfg.data.to_dict(),
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
    ),
    build_data=build_data,
    build_model=build_model,
    build_task=build_task,
    source_help="a genome path or Genome",
)

# bioR2.dna.pretrain(genome, out, ...): the one pretrain with the domain filled in.
pretrain = domain_pretrain(SPEC)
