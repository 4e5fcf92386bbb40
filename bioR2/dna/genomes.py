"""Pretraining on several genomes (species, assemblies) at once, GPN-Brassicales style.

``bior2 pretrain dna --fasta a.fa b.fa`` or ``--genomes genomes.csv`` with columns
``path,name,weight,held_out``:

* ``name`` (default: the file name without extensions) prefixes every contig, as
  ``NAME/CONTIG``, so that two assemblies' ``chr1`` stay apart;
* ``weight`` (default 1) is the genome's share of the training windows: each genome's windows
  are drawn (with a fixed seed; repeated when it has too few) so that genome ``g`` holds
  ``weight_g / sum(weight)`` of an epoch, whatever its size;
* ``held_out``: ``true``/``1``/``yes`` holds the whole genome out (validation only), or a list
  of its contigs separated by ``;`` or spaces (``chr1;chr2``); ``false``/empty holds out none.
  ``--held-out NAME/CONTIG`` works as for one genome.

:class:`MultiGenome` serves the genomes' windows under the prefixed names; the list of genomes
(name, path, weight, held-out contigs, sizes and window counts) goes to ``data.json`` and the
model card.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..utils.io import PathLike
from .data import Genome, make_windows, open_genome

__all__ = ["GenomeEntry", "read_genomes_csv", "genome_entries", "MultiGenome", "multi_genome_windows", "SEP"]

SEP = "/"  # NAME/CONTIG
_TRUE = {"true", "1", "yes", "y", "all"}
_FALSE = {"false", "0", "no", "n", "none", ""}


@dataclass
class GenomeEntry:
    """One genome of a multi-genome run."""

    path: str
    name: str
    weight: float = 1.0
    held_out: Union[bool, List[str]] = field(default_factory=list)  # True: the whole genome


def _name_of(path: PathLike) -> str:
    name = Path(path).name
    for suffix in (".gz", ".bgz", ".fa", ".fasta", ".fna", ".gb", ".gbk", ".gbff", ".embl"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or Path(path).name


def _parse_held_out(text: str, where: str) -> Union[bool, List[str]]:
    t = str(text).strip()
    if t.lower() in _TRUE:
        return True
    if t.lower() in _FALSE:
        return []
    return [c for c in t.replace(";", " ").replace("|", " ").split() if c]


def read_genomes_csv(path: PathLike) -> List[GenomeEntry]:
    """Genomes from a CSV with a header ``path,name,weight,held_out`` (only ``path`` required).
    Relative paths are read relative to the CSV's folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: genomes CSV not found")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no genomes (expected a header path,name,weight,held_out and one row per genome)")
    cols = {c.strip().lower() for c in rows[0]}
    if "path" not in cols:
        raise ValueError(f"{path}: no 'path' column (found {sorted(cols)}); expected path,name,weight,held_out")
    out = []
    for k, row in enumerate(rows, 2):
        row = {str(c).strip().lower(): (v or "").strip() for c, v in row.items() if c is not None}
        if not row.get("path"):
            raise ValueError(f"{path}: line {k}: empty 'path'")
        gpath = Path(row["path"])
        if not gpath.is_absolute():
            gpath = path.parent / gpath
        try:
            weight = float(row.get("weight") or 1.0)
        except ValueError:
            raise ValueError(f"{path}: line {k}: 'weight' must be a number, got {row['weight']!r}") from None
        if not weight > 0 or not np.isfinite(weight):
            raise ValueError(f"{path}: line {k}: 'weight' must be > 0, got {weight}")
        out.append(GenomeEntry(str(gpath), row.get("name") or _name_of(gpath), weight,
                               _parse_held_out(row.get("held_out", ""), f"{path}: line {k}")))
    return _check_names(out, str(path))


def _check_names(entries: List[GenomeEntry], where: str) -> List[GenomeEntry]:
    seen: Dict[str, int] = {}
    for e in entries:
        if SEP in e.name or not e.name:
            raise ValueError(f"{where}: genome name {e.name!r} must be non-empty and hold no {SEP!r}")
        seen[e.name] = seen.get(e.name, 0) + 1
    dup = [n for n, k in seen.items() if k > 1]
    if dup:
        raise ValueError(f"{where}: genome name(s) {dup} used twice; give each genome its own name "
                         "(the 'name' column of --genomes)")
    return entries


def genome_entries(sources: Optional[Sequence[PathLike]] = None, genomes_csv: Optional[PathLike] = None
                   ) -> List[GenomeEntry]:
    """The genomes of a run: from ``--genomes CSV`` or from several ``--fasta`` paths (named by file)."""
    if genomes_csv is not None and sources:
        raise ValueError("give the genomes either as --fasta A.fa B.fa or as --genomes CSV, not both")
    if genomes_csv is not None:
        return read_genomes_csv(genomes_csv)
    entries = [GenomeEntry(str(p), _name_of(p)) for p in sources or ()]
    names = [e.name for e in entries]
    for i, e in enumerate(entries):  # same file names in different folders: number them
        if names.count(e.name) > 1:
            e.name = f"{e.name}_{names[:i + 1].count(e.name)}"
    return _check_names(entries, "--fasta")


class MultiGenome(Genome):
    """Several :class:`Genome` objects served as one, contigs named ``NAME/CONTIG``.

    Offers what windows and training read (``contigs``, ``length``, ``resolve``,
    ``contig_tokens``, ``windows``, ``fetch``); each genome is opened and indexed as usual.
    """

    def __init__(self, genomes: Dict[str, Genome]) -> None:  # noqa: D107 - no Genome.__init__: no file of its own
        self.genomes = dict(genomes)
        self.source = Path("+".join(str(g.source) for g in self.genomes.values()))
        self._lengths = {f"{n}{SEP}{c}": k for n, g in self.genomes.items() for c, k in g.contigs.items()}

    def __getstate__(self):
        return dict(self.__dict__)

    def _split(self, contig: str) -> Tuple[Genome, str]:
        name, _, inner = str(contig).partition(SEP)
        if name not in self.genomes or not inner:
            raise KeyError(f"{self.source}: no contig {contig!r} (contigs are named GENOME{SEP}CONTIG)")
        return self.genomes[name], inner

    def resolve(self, name: str) -> Optional[str]:
        try:
            g, inner = self._split(name)
        except KeyError:
            return None
        real = g.resolve(inner)
        return None if real is None else f"{str(name).partition(SEP)[0]}{SEP}{real}"

    def contig_tokens(self, contig: str):
        g, inner = self._split(contig)
        return g.contig_tokens(inner)

    def fetch(self, contig: str, start: int, end: int) -> str:
        g, inner = self._split(contig)
        return g.fetch(inner, start, end)

    @property
    def fasta(self):  # pragma: no cover - no single file behind it
        raise AttributeError("a MultiGenome has no single FASTA; use .genomes")


def multi_genome_windows(entries: List[GenomeEntry], window: int, stride: Optional[int], max_n_fraction: float,
                         held_out: Sequence[str], seed: int) -> Tuple[MultiGenome, pd.DataFrame, pd.DataFrame,
                                                                      List[Dict[str, object]]]:
    """``(genome, train windows, held-out windows, per-genome facts)`` of a multi-genome run; the
    training windows are drawn by weight (see the module docstring)."""
    genomes = {e.name: open_genome(e.path) for e in entries}
    multi = MultiGenome(genomes)
    held = set()
    for c in held_out or ():
        name = multi.resolve(c)
        if name is None:
            raise ValueError(f"--held-out {c!r}: no such contig; with several genomes name it GENOME{SEP}CONTIG, "
                             f"e.g. {next(iter(multi.contigs))}")
        held.add(name)
    per_train, per_val, facts = {}, [], []
    for e in entries:
        g = genomes[e.name]
        w = make_windows(g, window=window, stride=stride, max_n_fraction=max_n_fraction)
        w["chrom"] = e.name + SEP + w["chrom"].astype(str)
        if e.held_out is True:
            mask = np.ones(len(w), dtype=bool)
        else:
            for c in e.held_out:
                if g.resolve(c) is None:
                    raise ValueError(f"genome {e.name} ({e.path}): held_out contig {c!r} is not in it "
                                     f"(it has {list(g.contigs)[:8]})")
            names = {f"{e.name}{SEP}{g.resolve(c)}" for c in e.held_out} | held
            mask = w["chrom"].isin(names).to_numpy()
        per_train[e.name] = w[~mask].reset_index(drop=True)
        per_val.append(w[mask])
        facts.append({**asdict(e), "n_contigs": len(g.contigs), "n_bases": int(sum(g.contigs.values())),
                      "n_windows": int((~mask).sum()), "n_val_windows": int(mask.sum())})
    train_w = _draw_by_weight(per_train, {e.name: e.weight for e in entries}, seed)
    for f in facts:
        f["n_train_windows"] = int((train_w["chrom"].str.partition(SEP)[0] == f["name"]).sum())
        f["share"] = round(f["n_train_windows"] / max(1, len(train_w)), 4)
    val_w = pd.concat(per_val, ignore_index=True) if per_val else pd.DataFrame(columns=["chrom", "start", "end"])
    return multi, train_w, val_w, facts


def _draw_by_weight(per_genome: Dict[str, pd.DataFrame], weights: Dict[str, float], seed: int) -> pd.DataFrame:
    """Training windows where genome ``g`` holds ``weight_g / sum(weight)`` of the total (the total
    is the number of windows all genomes have; a genome with fewer than its share repeats them)."""
    live = {n: w for n, w in per_genome.items() if len(w)}
    if not live:
        return pd.DataFrame(columns=["chrom", "start", "end"])
    total = sum(len(w) for w in live.values())
    wsum = sum(weights[n] for n in live)
    rng = np.random.default_rng(seed)
    parts = []
    for n, w in live.items():
        k = max(1, int(round(total * weights[n] / wsum)))
        idx = np.concatenate([rng.permutation(len(w)) for _ in range(-(-k // len(w)))])[:k]
        parts.append(w.iloc[np.sort(idx)])
    return pd.concat(parts, ignore_index=True)


def build_multi_genome_data(source, cfg, train_cfg):
    """``build_data`` of the DNA spec for several genomes (``data.genomes`` CSV or a list of paths)."""
    from ..domain import DomainData
    from .data import WindowDataset

    d = cfg.data
    sources = [source] if isinstance(source, (str, Path)) else list(source or [])
    entries = genome_entries(sources, d.genomes)
    window = int(d.window)
    if d.contigs or d.bed:
        raise ValueError("pretrain dna with several genomes: --contigs and --bed are for one genome; hold out "
                         "contigs with the held_out column of --genomes or --held-out GENOME/CONTIG")
    genome, train_w, val_w, facts = multi_genome_windows(entries, window, d.stride, float(d.max_n_fraction),
                                                         list(d.held_out or []), train_cfg.seed)
    if len(train_w) == 0:
        raise ValueError(f"{genome.source}: every window is held out (held_out of every genome)")
    train = WindowDataset(genome, train_w, reverse_complement=bool(d.reverse_complement), seed=train_cfg.seed)
    val = WindowDataset(genome, val_w, reverse_complement=False) if len(val_w) else None
    info = {"source": [e.path for e in entries], "window": window, "data": cfg.data.to_dict(),
            "genomes": facts, "n_train_windows": len(train_w), "n_val_windows": len(val_w)}
    return DomainData(train=train, val=val, content={"genome": genome, "window": window}, info=info)
