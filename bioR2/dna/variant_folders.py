"""Variants kept as folders: a Hugging Face ``datasets`` folder (``save_to_disk``), a folder of
parquet shards, or a TraitGym dataset folder (its ``test.parquet``).

* ``datasets`` folders (``state.json`` / ``dataset_dict.json`` inside) are opened with
  ``datasets.load_from_disk`` when ``datasets`` is installed (``pip install 'bioR2[hf]'``); without it
  their Arrow shards are read directly with pyarrow. A ``DatasetDict`` must have one split, or
  a ``test`` split (TraitGym's).
* A folder with ``test.parquet`` (TraitGym's layout) is read from that file only.
* Any other folder: its ``*.parquet`` files, in name order (or, when none sit at the top, those
  under it, e.g. Hugging Face's ``data/test-00000-of-00001.parquet``).

Rows are numbered from 1 across the shards (index name ``row``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List

import pandas as pd

__all__ = ["iter_folder_chunks", "folder_shards"]


def _split_folder(path: Path) -> Path:
    """The split of a ``DatasetDict`` folder to read (the only one, or ``test``)."""
    splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
    if len(splits) == 1:
        return path / splits[0]
    if "test" in splits:
        return path / "test"
    raise ValueError(f"{path}: a datasets DatasetDict with splits {splits}; pass the split's folder, e.g. "
                     f"{path / splits[0]}" if splits else f"{path}: a DatasetDict with no splits")


def folder_shards(path: Path) -> List[Path]:
    """The parquet files a folder of variants is read from (see the module docstring)."""
    if (path / "test.parquet").exists():
        return [path / "test.parquet"]
    shards = sorted(path.glob("*.parquet")) or sorted(path.rglob("*.parquet"))
    if not shards:
        raise ValueError(f"{path}: a folder with no parquet files and no datasets state.json; --variants takes a "
                         "file (VCF, TSV, CSV, parquet), a folder of parquet shards, or a datasets save_to_disk folder")
    return shards


def _datasets_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    try:
        import datasets
    except ImportError:
        datasets = None
    if datasets is not None:
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[_split_folder(path).name]
        for lo in range(0, len(ds), chunk_size):
            yield ds.select(range(lo, min(len(ds), lo + chunk_size))).to_pandas()
        return
    # without datasets: its shards are Arrow IPC streams (data-00000-of-0000N.arrow)
    import pyarrow as pa

    folder = _split_folder(path) if (path / "dataset_dict.json").exists() else path
    state = json.loads((folder / "state.json").read_text())
    files = [folder / f["filename"] for f in state.get("_data_files", [])] or sorted(folder.glob("*.arrow"))
    for f in files:
        with pa.memory_map(str(f)) as source:
            table = pa.ipc.open_stream(source).read_all()
        for batch in table.to_batches(max_chunksize=chunk_size):
            yield batch.to_pandas()


def iter_folder_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """Raw DataFrame chunks of a folder of variants (columns not yet standardised)."""
    if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
        chunks = _datasets_chunks(path, chunk_size)
    else:
        import pyarrow.parquet as pq

        def parquet_chunks():
            for shard in folder_shards(path):
                try:
                    pf = pq.ParquetFile(shard)
                except Exception as exc:  # pyarrow raises its own error kinds
                    raise ValueError(f"{shard}: not a readable parquet file ({exc})") from None
                for b in pf.iter_batches(batch_size=chunk_size):
                    yield b.to_pandas()

        chunks = parquet_chunks()
    offset = 1
    for chunk in chunks:
        chunk.index = pd.RangeIndex(offset, offset + len(chunk), name="row")
        offset += len(chunk)
        yield chunk
