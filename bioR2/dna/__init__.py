"""DNA: pretrain a nucleotide masked-LM with R²MAE on FASTA and score variants zero-shot.

Typical use::

    from bioR2.dna import Genome, pretrain, score_variants
    result = pretrain("genome.fa", "runs/dna", window=512, held_out=["chr1"], steps=2000)  # R²MAE U(0.05, 0.3)
    scores = score_variants("runs/dna", "genome.fa", "variants.vcf")

Modules: ``spec`` (configs, presets and builders behind ``bioR2.pretrain("dna", ...)``), ``tokenizer``
(single-nucleotide tokens), ``data`` (genomes, windows, dataset), ``model`` (dilated-conv / transformer
encoders + MLM head), ``task`` (masked-LM loss for the shared trainer), ``scorer`` and ``variants``
(zero-shot scoring), ``vcf`` (VCF in, the same VCF out with scores), ``variant_folders`` (parquet shards,
``datasets`` folders), ``region`` and ``mutagenesis`` (every SNV of a region, tracks), ``genomes`` (pretraining on
several genomes), ``traitgym`` (the TraitGym benchmark), ``probe`` (supervised probe).
"""

from typing import TYPE_CHECKING

from ..utils.lazy import lazy_exports

# Public names load on first use (PEP 562): the CLI and `import bioR2.dna` stay fast.
__getattr__, __dir__ = lazy_exports(__name__, {
    "data": ("Genome", "WindowDataset", "make_windows", "read_bed", "split_windows"),
    "model": ("DNAMaskedLM",),
    "spec": ("SPEC",),
    "config": ("DNADataConfig", "DNAModelConfig", "DNATaskConfig",),
    "api": ("pretrain",),
    "scorer": ("VariantScorer",),
    "region": ("score_region", "score_region_file", "region_snvs", "region_track"),
    "task": ("MaskedLMTask",),
    "tokenizer": ("NucleotideTokenizer", "reverse_complement"),
    "variants": (
        "check_variants", "load_model_for_scoring", "read_variants", "score_variants",
        "score_variants_file"
    ),
})

if TYPE_CHECKING:  # static analysers and IDEs see the real imports
    from .data import Genome, WindowDataset, make_windows, read_bed, split_windows
    from .model import DNAMaskedLM
    from .api import pretrain
    from .config import DNADataConfig, DNAModelConfig, DNATaskConfig
    from .spec import SPEC
    from .region import region_snvs, region_track, score_region, score_region_file
    from .scorer import VariantScorer
    from .task import MaskedLMTask
    from .tokenizer import NucleotideTokenizer, reverse_complement
    from .variants import check_variants, load_model_for_scoring, read_variants, score_variants, score_variants_file

__all__ = [
    "Genome",
    "WindowDataset",
    "make_windows",
    "read_bed",
    "split_windows",
    "DNAMaskedLM",
    "MaskedLMTask",
    "pretrain",
    "SPEC",
    "DNADataConfig",
    "DNAModelConfig",
    "DNATaskConfig",
    "VariantScorer",
    "NucleotideTokenizer",
    "reverse_complement",
    "check_variants",
    "read_variants",
    "score_variants",
    "score_variants_file",
    "load_model_for_scoring",
    "score_region",
    "score_region_file",
    "region_snvs",
    "region_track",
]
