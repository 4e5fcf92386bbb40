"""Share models on the Hugging Face Hub and load them back by name.

A bioR2 model folder (``config.json`` + ``model.safetensors`` + ``manifest.json``, written by
:func:`bioR2.train.save_model`) is already a complete Hub repository: no pickle, the gene list
or tokenizer inside ``config.json``. This module adds the two missing pieces:

* :func:`push_to_hub` (``bior2 push``) uploads a run folder's model files, its provenance
  (``data.json``, ``run_config.yaml``, ``train_config.json``) and benchmark numbers
  (``probe.json``, ``results.json``) with a generated model card, ``README.md``
  (:func:`write_model_card`);
* :func:`resolve_model_path` turns ``org/name`` or ``org/name@revision`` into a local folder with
  ``huggingface_hub.snapshot_download`` (which uses the local cache and honours
  ``HF_HUB_OFFLINE=1``). :func:`bioR2.train.load_model` calls it, so every command that takes
  ``--model`` accepts a Hub id::

      from bioR2.train import load_model
      model = load_model("org/bior2-dna-hg38")          # or "org/bior2-dna-hg38@v1"

``huggingface_hub`` is imported only when a Hub id is used or a model is pushed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import __version__
from .train.checkpoint import CONFIG_FILE, MODEL_FILE, CheckpointError, latest_checkpoint, load_model, read_model_config
from .utils.io import PathLike, atomic_write_text

__all__ = [
    "HubError",
    "PushResult",
    "PUSH_FILES",
    "parse_repo_id",
    "is_repo_id",
    "resolve_model_path",
    "write_model_card",
    "model_card",
    "push_to_hub",
]

#: What ``bior2 push`` uploads from a run folder when present (the model files first).
PUSH_FILES = (
    CONFIG_FILE, MODEL_FILE, "manifest.json",          # the model: load_model needs the first two
    "train_config.json", "run_config.yaml", "data.json",  # how it was trained, on what
    "probe.json", "results.json", "results.md",         # its benchmark numbers
    "README.md",                                        # the model card
)
#: What :func:`resolve_model_path` downloads from a Hub repo (not checkpoints or other large extras).
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.yaml", "*.md"]

# A Hub repo id: one namespace and one name of [A-Za-z0-9._-] (not starting with '.' or '-'),
# optionally followed by @revision (a branch, tag or commit).
_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,95}"
_REPO_ID = re.compile(rf"^(?P<repo>{_NAME}/{_NAME})(?:@(?P<revision>[^@\s]+))?$")


class HubError(CheckpointError):
    """A Hub repo that cannot be resolved or written (not found, offline, not logged in)."""


def parse_repo_id(name: str) -> Tuple[str, Optional[str]]:
    """``"org/name@rev"`` -> ``("org/name", "rev")``; ``"org/name"`` -> ``("org/name", None)``.

    Raises ``ValueError`` for anything that is not a Hub repo id.
    """
    match = _REPO_ID.match(str(name).strip())
    repo = match.group("repo") if match is not None else ""
    if match is None or any(part.endswith((".", "-")) or ".." in part or "--" in part for part in repo.split("/")):
        raise ValueError(f"{name!r} is not a Hugging Face Hub repo id (expected org/name or org/name@revision)")
    return match.group("repo"), match.group("revision")


def is_repo_id(name: Any) -> bool:
    """True when ``name`` is a string shaped like ``org/name[@revision]`` (paths are never ids)."""
    if not isinstance(name, str):
        return False  # a Path object always means a local folder
    try:
        parse_repo_id(name)
    except ValueError:
        return False
    return True


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _offline() -> bool:
    # Read at call time (huggingface_hub reads HF_HUB_OFFLINE once, at import).
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - checked by the caller
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _import_hub():
    try:
        import huggingface_hub
    except ImportError:
        raise HubError("loading or pushing a model by Hub id needs huggingface_hub: "
                       "pip install huggingface_hub") from None
    return huggingface_hub


def resolve_model_path(name_or_path: Union[PathLike, str], *, revision: Optional[str] = None,
                       cache_dir: Optional[PathLike] = None, token: Union[None, bool, str] = None,
                       local_files_only: Optional[bool] = None) -> Path:
    """A local model folder for ``name_or_path``.

    An existing path (and any ``Path`` object, and any string that is not shaped like a Hub
    id) is returned as a ``Path`` unchanged. ``org/name`` or ``org/name@revision`` is
    downloaded with ``huggingface_hub.snapshot_download`` (only ``*.json``, ``*.safetensors``,
    ``*.yaml``, ``*.md``) into the Hugging Face cache (``cache_dir``, else ``$HF_HUB_CACHE``,
    else ``~/.cache/huggingface/hub``), and the snapshot folder is returned. Offline
    (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``) only the cache is used.
    """
    path = Path(name_or_path)
    if path.exists() or not is_repo_id(name_or_path):
        return path
    repo_id, at_revision = parse_repo_id(str(name_or_path))
    if revision is not None and at_revision is not None and revision != at_revision:
        raise ValueError(f"{name_or_path}: two revisions given ({at_revision!r} and revision={revision!r})")
    revision = revision or at_revision
    hub = _import_hub()
    from huggingface_hub import errors

    offline = _offline() if local_files_only is None else bool(local_files_only)
    if cache_dir is None and os.environ.get("HF_HUB_CACHE"):
        cache_dir = os.environ["HF_HUB_CACHE"]  # read now: huggingface_hub read it at import
    where = f"the Hugging Face Hub repo {repo_id}" + (f" at revision {revision!r}" if revision else "")
    local_note = f"{name_or_path}: no such local folder, so it was read as {where}"
    try:
        folder = hub.snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, token=token, local_files_only=offline,
            allow_patterns=DOWNLOAD_PATTERNS, library_name="bior2", library_version=__version__,
        )
    except errors.RevisionNotFoundError:
        raise HubError(f"{local_note}, but it has no revision {revision!r}") from None
    except (errors.RepositoryNotFoundError, errors.GatedRepoError) as exc:
        raise HubError(f"{local_note}, but it does not exist or you have no access to it "
                       f"(private or gated: log in with `hf auth login` or set HF_TOKEN) "
                       f"[{type(exc).__name__}]") from None
    except getattr(errors, "IncompleteSnapshotError", ()) as exc:
        raise HubError(f"{local_note}, but its cached copy is incomplete and cannot be completed now: {exc}") from None
    except errors.LocalEntryNotFoundError:
        cache = cache_dir or hub.constants.HF_HUB_CACHE
        if offline:
            raise HubError(f"{local_note}, but it is not in the local cache ({cache}) and downloads are off "
                           "(HF_HUB_OFFLINE=1): download it once online, or pass a model folder") from None
        raise HubError(f"{local_note}, but the Hub could not be reached and it is not in the local cache "
                       f"({cache}); check the network, or pass a model folder") from None
    except errors.HfHubHTTPError as exc:
        raise HubError(f"{local_note}, but the download failed: {exc}") from None
    except errors.OfflineModeIsEnabled:  # pragma: no cover - snapshot_download maps it to the above
        raise HubError(f"{local_note}, but downloads are off (HF_HUB_OFFLINE=1)") from None
    folder = Path(folder)
    if not (folder / CONFIG_FILE).exists():
        raise HubError(f"{name_or_path}: the Hub repo {repo_id} has no {CONFIG_FILE}; it is not a bioR2 model "
                       f"(files: {sorted(p.name for p in folder.iterdir())[:10]})")
    return folder


# ---------------------------------------------------------------------------- model card
_DOMAIN_TAGS = {
    "dna": ["dna", "genomics"],
    "sc": ["single-cell", "scRNA-seq", "transcriptomics"],
    "vision": ["vision", "image"],
    "text": ["text", "nlp"],
}
_DOMAIN_NAMES = {"dna": "DNA language model", "sc": "single-cell expression model", "vision": "image model",
                 "text": "text model"}
_USE = {
    "dna": ("Zero-shot variant-effect scoring (log-likelihood ratio of alt vs ref at the masked site) and "
            "sequence embeddings for probes: `bior2 score-variants --model {repo} --fasta GENOME "
            "--variants variants.tsv --out scores.parquet`.",
            "Trained on one reference genome (see Training data): scores elsewhere, on other assemblies or "
            "on indels are not supported. Scores rank variants; they are not calibrated pathogenicity "
            "probabilities and are not for clinical use."),
    "sc": ("Cell embeddings (`bior2 embed --model {repo} --h5ad cells.h5ad --out embedded.h5ad`) and "
           "cell-type annotation from a labelled reference (`bior2 annotate --model {repo} --reference ref.h5ad "
           "--label-key cell_type --query query.h5ad --out annotated.h5ad`).",
           "The model knows only the genes in its config (query genes are aligned by symbol; `--min-overlap` "
           "guards low overlap). Cells from other species, tissues, assays or normalisations than the "
           "training data may embed poorly; labels transferred by annotation need expert review. "
           "Not for clinical use."),
    "vision": ("Image features for linear probes and reconstruction of masked patches.",
               "Trained on the small image set below at its resolution; not a general-purpose vision model."),
    "text": ("Text embeddings (the tokenizer is in config.json) for linear probes and masked-token prediction.",
             "Trained on the small corpus below; not a general-purpose language model, and it may "
             "reproduce the biases of that corpus."),
}


def _read_json(path: Path) -> Optional[Any]:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def _read_yaml(path: Path) -> Optional[Any]:
    if not path.is_file():
        return None
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{path}: not valid YAML ({exc})") from None


def _log_summary(path: Path) -> Dict[str, Any]:
    """The last training loss and the last validation loss in ``log.jsonl``."""
    out: Dict[str, Any] = {}
    if not path.is_file():
        return out
    with open(path) as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if not isinstance(rec, dict):
                continue
            if "loss" in rec:
                out["final_loss"], out["final_step"] = rec["loss"], rec.get("step")
            if "val_loss" in rec:
                out["val_loss"], out["val_step"] = rec["val_loss"], rec.get("step")
                if "val_mask_ratio" in rec:
                    out["val_mask_ratio"] = rec["val_mask_ratio"]
    return out


def _n_parameters(weights: Path) -> Optional[int]:
    """Parameter count from the safetensors header (no tensor is loaded)."""
    try:
        from safetensors import safe_open

        total = 0
        with safe_open(str(weights), framework="pt") as fh:
            for key in fh.keys():
                n = 1
                for dim in fh.get_slice(key).get_shape():
                    n *= int(dim)
                total += n
        return total
    except Exception:  # a card is still useful without the count
        return None


def _short(value: Any, limit: int = 160) -> str:
    """A one-line rendering of a config value; long lists and dicts are summarised."""
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"{len(value)} items (in config.json)"
    if isinstance(value, dict) and len(json.dumps(value, default=str)) > limit:
        return f"{len(value)} entries (in config.json)"
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _short(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def _domain_of(model_class: str, data: Optional[Mapping], run_config: Optional[Mapping]) -> Optional[str]:
    for source in (data, run_config):
        if isinstance(source, Mapping) and isinstance(source.get("domain"), str):
            return source["domain"]
    module = model_class.split(":", 1)[0].split(".")
    if len(module) > 1 and module[0] == "bioR2" and module[1] in _DOMAIN_TAGS:
        return module[1]
    return None


def _masking_text(ratio: Any) -> str:
    from .masking import FixedRatio, UniformRatio, parse_mask_ratio

    try:
        parsed = parse_mask_ratio(ratio)
    except (ValueError, TypeError):
        return f"`{ratio}`"
    if isinstance(parsed, UniformRatio):
        return (f"R²MAE: each optimizer step masks a fraction drawn uniformly from "
                f"[{parsed.low:g}, {parsed.high:g}] (`--mask-ratio {parsed.to_config()}`)")
    if isinstance(parsed, FixedRatio):
        return f"a fixed masking ratio of {parsed.p:g} (standard MAE/BERT masking, not R²MAE)"
    return f"`{parsed.to_config()}`"  # pragma: no cover


def _bullets(mapping: Mapping[str, Any], skip: Tuple[str, ...] = ()) -> List[str]:
    lines = []
    for key, value in mapping.items():
        if key in skip or value is None:
            continue
        if isinstance(value, Mapping) and value and len(json.dumps(value, default=str)) <= 400:
            inner = ", ".join(f"{k}={_short(v, 60)}" for k, v in value.items() if v is not None)
            lines.append(f"- {key}: {inner}")
        else:
            lines.append(f"- {key}: {_short(value) if not isinstance(value, (int, float)) else _fmt_number(value)}")
    return lines


def _results_section(results: Mapping[str, Any]) -> List[str]:
    from .results import methods_table

    lines = []
    head = ", ".join(f"{k} {_short(results[k], 80)}" for k in ("benchmark", "dataset") if k in results)
    if "seeds" in results:
        head += f", seeds {results['seeds']}"
    if head:
        lines += [f"From `results.json` ({head}):", ""]
    methods = results.get("methods")
    if isinstance(methods, Mapping) and methods:
        metrics: List[str] = []
        for entry in methods.values():
            if isinstance(entry, Mapping):
                metrics += [m for m in entry if m not in metrics and isinstance(entry[m], (Mapping, int, float))]
        lines += [methods_table(methods, metrics[:6]), ""]
    if results.get("command"):
        lines += [f"Command: `{results['command']}`", ""]
    return lines


def _corpus_table(data: Mapping[str, Any]) -> List[str]:
    """A single-cell corpus's files and how much of the gene vocabulary each measures."""
    rows = data.get("gene_overlap")
    if not isinstance(rows, list) or not rows:
        return []
    out = ["Corpus (each file's share of the model's gene vocabulary; genes a file lacks were unobserved "
           "for its cells, not zeros):", "", "| dataset | cells | genes in file | vocabulary genes measured | weight |",
           "|---|---|---|---|---|"]
    for r in rows:
        if isinstance(r, Mapping):
            out.append(f"| {r.get('dataset')} | {r.get('n_cells')} | {r.get('n_genes_file')} | "
                       f"{r.get('n_vocab_measured')} ({100 * float(r.get('vocab_overlap') or 0):.1f}%) | "
                       f"{r.get('weight')} |")
    return out + [""]


def model_card(run_dir: PathLike, repo_id: Optional[str] = None, *, license: str = "mit") -> str:
    """The model card (``README.md`` text) of a run folder, from the files it holds."""
    run = Path(run_dir)
    meta = read_model_config(run)
    model_class, config = str(meta["model_class"]), meta.get("config") or {}
    data = _read_json(run / "data.json")
    run_config = _read_yaml(run / "run_config.yaml")
    train = _read_json(run / "train_config.json")
    if train is None and isinstance(run_config, Mapping) and isinstance(run_config.get("train"), Mapping):
        train = run_config["train"]
    train = train or {}
    probe = _read_json(run / "probe.json")
    results = _read_json(run / "results.json")
    losses = _log_summary(run / "log.jsonl")
    domain = _domain_of(model_class, data, run_config)
    name = repo_id or run.resolve().name
    params = _n_parameters(run / MODEL_FILE)

    tags = ["bior2", "r2mae", "masked-autoencoder"] + ([domain] if domain else []) + _DOMAIN_TAGS.get(domain, [])
    front = {"library_name": "bior2", "license": license, "tags": list(dict.fromkeys(tags))}
    import yaml

    what = _DOMAIN_NAMES.get(domain or "", "model")
    masking = _masking_text(train["mask_ratio"]) if "mask_ratio" in train else "not recorded"
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# {name}", "",
             f"A {what} pretrained with masked reconstruction using [bioR2](https://github.com/bior2/bior2) "
             f"{meta.get('bior2_version', __version__)}; masking: {masking}.", ""]

    lines += ["## Model", "", f"- domain: {domain or 'unknown'}", f"- class: `{model_class}`"]
    if params is not None:
        lines.append(f"- parameters: {params:,}")
    if isinstance(config, Mapping):
        lines += [f"- {k}: {_short(v, 100)}" for k, v in config.items()]
    lines.append("")

    lines += ["## Training data", ""]
    if data or (isinstance(run_config, Mapping) and run_config.get("data")):
        if isinstance(data, Mapping):
            lines += ["From `data.json`:", ""] + _bullets(data, skip=("domain",)) + [""]
            lines += _corpus_table(data)
        if isinstance(run_config, Mapping) and isinstance(run_config.get("data"), Mapping):
            lines += ["Data options (`run_config.yaml`):", ""] + _bullets(run_config["data"]) + [""]
    else:
        lines += ["Not recorded in the run folder (no `data.json` or `run_config.yaml`): ask the author for "
                  "the source and its licence before using this model.", ""]

    lines += ["## Training", "", f"- masking: {masking}"]
    for key in ("steps", "batch_size", "lr", "weight_decay", "warmup_steps", "precision", "seed"):
        if key in train:
            lines.append(f"- {key}: {_fmt_number(train[key])}")
    if "final_loss" in losses:
        lines.append(f"- final training loss: {losses['final_loss']:.4f} (step {losses.get('final_step')})")
    if "val_loss" in losses:
        ratio = f", mask ratio {losses['val_mask_ratio']:g}" if "val_mask_ratio" in losses else ""
        lines.append(f"- validation loss: {losses['val_loss']:.4f} (step {losses.get('val_step')}{ratio})")
    lines.append("")

    lines += ["## Evaluation", ""]
    if isinstance(probe, Mapping):
        lines += ["Linear probe on the frozen features (`probe.json`):", ""]
        lines += [f"- {k}: {_fmt_number(v)}" for k, v in probe.items() if not isinstance(v, (list, dict))] + [""]
    if isinstance(results, Mapping):
        lines += _results_section(results)
    if not isinstance(probe, Mapping) and not isinstance(results, Mapping):
        lines += ["This run folder holds no benchmark (`probe.json` or `results.json`).", ""]

    repo = repo_id or "ORG/NAME"
    lines += ["## How to use", "", "```python", "from bioR2.train import load_model", "",
              f'model = load_model("{repo}")  # downloads into the Hugging Face cache once', "```", ""]
    use, limits = _USE.get(domain or "", ("Features for downstream probes.", "Check the training data and "
                                          "the benchmark above before relying on it."))
    lines += ["## Intended use", "", use.format(repo=repo), "",
              "## Limitations", "", limits + " The licence above covers the weights as published here; "
              "check the licence of the training data as well.", ""]
    lines += ["## Files", "", "`config.json` (model class and configuration, including any gene list or "
              "tokenizer) and `model.safetensors` (weights; no pickle) are all that loading needs; "
              "`manifest.json` holds their SHA-256, checked at load time.", ""]
    return "\n".join(lines)


def write_model_card(run_dir: PathLike, repo_id: Optional[str] = None, *, license: str = "mit",
                     out: Optional[PathLike] = None) -> Path:
    """Write the model card to ``out`` (default ``RUN/README.md``) and return its path."""
    target = Path(out) if out is not None else Path(run_dir) / "README.md"
    atomic_write_text(target, model_card(run_dir, repo_id, license=license))
    return target


# ---------------------------------------------------------------------------- push
@dataclass
class PushResult:
    """What :func:`push_to_hub` uploaded (or wrote into ``local_dir``)."""

    repo_id: Optional[str]
    revision: Optional[str]
    files: List[str]
    card: Path
    url: Optional[str] = None
    local_dir: Optional[Path] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _model_folder(run_dir: PathLike) -> Path:
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: no such run folder")
    if not (run / MODEL_FILE).exists():
        hint = ""
        try:
            ckpt = latest_checkpoint(run)
        except CheckpointError:
            ckpt = None
        if ckpt is not None:
            hint = f"; the run has no final model yet, its latest checkpoint is {ckpt} (push that folder)"
        raise CheckpointError(f"{run / MODEL_FILE}: not found{hint}")
    return run


def push_files(run_dir: PathLike, include_log: bool = False) -> List[str]:
    """The files of ``run_dir`` that :func:`push_to_hub` uploads, in :data:`PUSH_FILES` order."""
    run = Path(run_dir)
    names = list(PUSH_FILES) + (["log.jsonl"] if include_log else [])
    return [n for n in names if (run / n).is_file()]


def push_to_hub(run_dir: PathLike, repo_id: Optional[str] = None, *, private: bool = False,
                revision: Optional[str] = None, token: Union[None, bool, str] = None,
                commit_message: Optional[str] = None, local_dir: Optional[PathLike] = None,
                license: str = "mit", write_card: bool = True, include_log: bool = False) -> PushResult:
    """Upload a run folder's model to the Hub repo ``repo_id`` (created if missing).

    Uploads the files of :data:`PUSH_FILES` that exist (``log.jsonl`` too with
    ``include_log``), never ``checkpoints/`` or training state. The model card ``README.md`` is
    (re)written in the run folder first unless ``write_card=False`` (then an existing README.md
    is kept). The model is loaded once before anything is written, so a corrupt or truncated
    folder is never published.

    With ``local_dir``, nothing is uploaded: exactly the files that would be are copied there
    (``repo_id`` is then optional; it only names the model in the card).
    """
    run = _model_folder(run_dir)
    if repo_id is None and local_dir is None:
        raise ValueError("push_to_hub: give repo_id (org/name), or local_dir to only write the files")
    if repo_id is not None:
        repo_id, at_revision = parse_repo_id(repo_id)
        revision = revision or at_revision
    load_model(run)  # catches a corrupt, truncated or foreign folder before anything is written
    card = run / "README.md"
    if write_card or not card.exists():
        card = write_model_card(run, repo_id, license=license)
    files = push_files(run, include_log=include_log)

    if local_dir is not None:
        dest = Path(local_dir)
        if dest.resolve() == run.resolve():
            raise ValueError(f"--local-dir {dest}: is the run folder itself; choose another folder")
        dest.mkdir(parents=True, exist_ok=True)
        for name in files:
            tmp = dest / f".{name}.tmp"
            shutil.copyfile(run / name, tmp)
            os.replace(tmp, dest / name)
        return PushResult(repo_id, revision, files, card, local_dir=dest)

    hub = _import_hub()
    from huggingface_hub import errors

    api = hub.HfApi(token=token, library_name="bior2", library_version=__version__)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.upload_folder(repo_id=repo_id, folder_path=str(run), allow_patterns=files, revision=revision,
                                 repo_type="model",
                                 commit_message=commit_message or f"bior2 push of {run.resolve().name}")
    except errors.OfflineModeIsEnabled:
        raise HubError(f"push to {repo_id}: HF_HUB_OFFLINE=1 is set; unset it to upload "
                       "(or use --local-dir to only write the files)") from None
    except errors.HfHubHTTPError as exc:
        raise HubError(f"push to {repo_id} failed: {exc} (log in with `hf auth login` or set HF_TOKEN; "
                       "the token needs write access)") from None
    except Exception as exc:  # the HTTP client's own connection errors (httpx, requests)
        if type(exc).__module__.split(".")[0] not in ("httpx", "httpx2", "requests", "urllib3"):
            raise
        raise HubError(f"push to {repo_id}: cannot reach the Hub ({type(exc).__name__}: {exc})") from None
    url = getattr(info, "commit_url", None) or str(info)
    return PushResult(repo_id, revision, files, card, url=url)
