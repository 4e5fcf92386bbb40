"""The GPU kit (benchmarks/gpu) in its CPU smoke mode, and the single-cell feeding pieces it measures
(the automatic backed/in-memory choice, sparse normalisation, span reads of a backed file)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ["environment", "bf16_training", "ddp", "sc_embed_annotate", "score_variants", "resume",
          "dna_throughput", "sc_throughput", "dna_quality", "sc_quality", "vision_quality"]


def _walk(obj, path="results"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


@pytest.mark.slow
def test_smoke_run_passes_every_stage(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, BIOR2_CACHE=str(tmp_path / "cache"))
    env.pop("KIT_SMOKE_DATA", None)
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "run.sh"), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "smoke" and results["device"] == "cpu"
    stages = results["stages"]
    assert list(stages) == STAGES
    for name, stage in stages.items():
        assert stage["status"] == "passed", (name, {k: v for k, v in stage.items() if k != "traceback"})
        for c in stage.get("checks", []):
            assert c["status"] == "passed" or (c["status"] == "skipped" and c["reason"]), (name, c)
    # no non-finite number anywhere (the writer turns them into "nan"/"inf" strings)
    bad = [p for p, v in _walk(results) if isinstance(v, str) and v in ("nan", "inf", "-inf")]
    bad += [p for p, v in _walk(results) if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, bad
    # synthetic inputs where the real data is absent, and said so
    for name in ("dna_quality", "sc_quality"):
        assert "synthetic" in stages[name]["data"]
    assert "digits" in stages["vision_quality"]["data"]
    assert stages["resume"]["exact"] is True
    assert stages["dna_throughput"]["pretrain"]["nt_per_s"] > 0
    assert stages["sc_throughput"]["corpus"]["cells_per_s"] > 0  # the corpus loader is measured too
    # what comes back: flat, at most 8 files
    files = sorted(p.name for p in out.iterdir())
    assert files == ["dna_quality.json", "log.txt", "results.json", "sc_quality.json", "vision_quality.json"]
    for name in files:
        if name.endswith(".json"):
            json.loads((out / name).read_text())


def test_kit_helpers():
    sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))
    import kit

    assert kit._last_json('noise {"a": 1}\n{"steps": 4, "x": {"y": 2}}\ntrailing') == {"steps": 4, "x": {"y": 2}}
    assert kit._last_json("no json here") == {}
    assert kit._json_safe({"a": float("nan"), "b": [np.float32(1.5), np.int64(2)], "c": Path("x")}) == \
        {"a": "nan", "b": [1.5, 2], "c": "x"}
    assert kit.check("x", None, skipped="why")["status"] == "skipped"
    assert kit.has_parameter(lambda a, device=None: None, "device")


# --------------------------------------------------------------------------- feeding
def _counts(n_cells=300, n_genes=80, seed=0, density=0.2):
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    x = ((rng.random((n_cells, n_genes)) < density) * rng.geometric(0.2, (n_cells, n_genes))).astype(np.float32)
    x[3] = 0  # an empty cell stays empty
    return anndata.AnnData(sp.csr_matrix(x), obs=pd.DataFrame({"cell_type": rng.choice(["a", "b"], n_cells)},
                                                               index=[f"c{i}" for i in range(n_cells)]),
                           var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))


def test_sparse_normalisation_equals_the_dense_path():
    from bioR2.sc.data import ExpressionReader, _log_normalise, open_cells

    adata = _counts()
    genes = list(adata.var_names)
    rng = np.random.default_rng(1)
    aligned = [genes[i] for i in rng.permutation(len(genes))[:50]] + ["absent_gene"]
    for model_genes in (None, aligned):
        reader = ExpressionReader(open_cells(adata), model_genes)
        rows = rng.permutation(adata.n_obs)[:120]
        expected = _log_normalise(reader.raw(rows), reader.target_sum)
        np.testing.assert_array_equal(reader.read(rows), expected)  # bit for bit
        logged, counts = reader.read(rows, with_counts=True)
        np.testing.assert_array_equal(logged, expected)
        np.testing.assert_array_equal(counts, reader.raw(rows))
    before = adata.X.data.copy()
    ExpressionReader(open_cells(adata)).read(np.arange(10))
    np.testing.assert_array_equal(adata.X.data, before)  # the source matrix is left as it was
    # a CSR with duplicate entries: they add up before normalising, as in the dense path
    import anndata
    import scipy.sparse as sp

    dup = sp.csr_matrix((np.array([1.0, 2.0, 3.0], dtype=np.float32), np.array([0, 0, 1]), np.array([0, 3, 3])),
                        shape=(2, 2))
    reader = ExpressionReader(open_cells(anndata.AnnData(dup)))
    np.testing.assert_array_equal(reader.read([0, 1]), _log_normalise(reader.raw([0, 1]), reader.target_sum))


def test_backed_span_reads_equal_memory(tmp_path):
    from bioR2.sc.data import ExpressionReader, H5adSource, open_cells

    adata = _counts(n_cells=400)
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    mem, backed = ExpressionReader(open_cells(adata)), ExpressionReader(open_cells(path, backed=True))
    assert isinstance(backed.source, H5adSource)
    rng = np.random.default_rng(2)
    for _ in range(12):
        k = int(rng.integers(1, 60))
        span = int(rng.integers(k, 400))
        lo = int(rng.integers(0, 400 - span + 1))
        rows = rng.choice(np.arange(lo, lo + span), k, replace=bool(rng.random() < 0.3))
        np.testing.assert_array_equal(backed.read(rows), mem.read(rows))


def test_pretrain_sc_reads_small_files_in_memory_large_ones_backed(tmp_path, monkeypatch):
    import bioR2.sc.data as data
    from bioR2.sc.spec import SCDataConfig, SPEC
    from bioR2.pipeline import resolve_run_config, typed_sections

    path = tmp_path / "cells.h5ad"
    _counts().write_h5ad(path)

    def read(**data_options):
        cfg, train = typed_sections(SPEC, resolve_run_config(SPEC, sections={"data": data_options,
                                                                             "train": {"batch_size": 32}}))
        built = SPEC.build_data(str(path), cfg, train)
        return built.info["read"], built.content["reader"].source

    how, source = read()
    assert how.startswith("in memory (automatic") and isinstance(source, data.MemorySource)
    how, source = read(backed=True)
    assert how == "backed (asked)" and isinstance(source, data.H5adSource)
    monkeypatch.setattr(data, "IN_MEMORY_MAX_FILE_BYTES", 10)
    how, source = read()
    assert how.startswith("backed (automatic") and "file" in how and isinstance(source, data.H5adSource)
    how, source = read(in_memory=True)
    assert how == "in memory (asked)" and isinstance(source, data.MemorySource)
    monkeypatch.setattr(data, "IN_MEMORY_MAX_FILE_BYTES", 10**12)
    monkeypatch.setattr(data, "IN_MEMORY_MAX_MATRIX_BYTES", 10)
    assert data.choose_backed(path)[0] is True
    with pytest.raises(ValueError, match="in_memory and data.backed"):
        SCDataConfig(in_memory=True, backed=True)
