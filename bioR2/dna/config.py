"""The DNA domain's config sections: data (genome windows), model, task (GPN's masked LM).

Plain dataclasses, one per config section, whose field defaults are the domain's defaults; the
spec (``spec.py``) declares them, ``bior2 pretrain dna`` makes one flag per field. Standard
library only (the CLI reads them without torch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Union

from ..domain import option

__all__ = ["DNADataConfig", "DNAModelConfig", "DNATaskConfig"]


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

