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
  ``HF_HUB_OFFLINE=1``). :func:`load_model` (``bioR2.load_model``) calls it, so every command
  that takes ``--model`` accepts a Hub id::

      import bioR2
      model = bioR2.load_model("org/bior2-dna-hg38")    # or "org/bior2-dna-hg38@v1"

``huggingface_hub`` is imported only when a Hub id is used or a model is pushed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import __version__
from .domain import domain_names, get_domain
from .train.checkpoint import CONFIG_FILE, MODEL_FILE, CheckpointError, latest_checkpoint, read_model_config
from .train.checkpoint import load_model as load_model_folder
from .utils.io import PathLike, atomic_write_text

__all__ = [
    "HubError",
    "PushResult",
    "PUSH_FILES",
    "parse_repo_id",
    "is_repo_id",
    "resolve_model_path",
    "load_model",
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


def load_model(name_or_path: Union[PathLike, str], map_location: str = "cpu", *, revision: Optional[str] = None):
    """A saved bioR2 model from a run folder, a checkpoint folder or a Hugging Face Hub id.

    ``org/name`` or ``org/name@revision`` (a string that is not an existing path) is downloaded
    first into the Hugging Face cache (:func:`resolve_model_path`; ``HF_HUB_OFFLINE`` applies);
    then :func:`bioR2.train.load_model` rebuilds the model from JSON and safetensors (no pickle).

    >>> model = bioR2.load_model("runs/pbmc")          # or "org/bior2-sc-pbmc@v1"
    """
    return load_model_folder(resolve_model_path(name_or_path, revision=revision), map_location=map_location)


# ---------------------------------------------------------------------------- model card
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
    if len(module) > 1 and module[0] == "bioR2" and module[1] in domain_names():
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


def _genomes_table(genomes: List[Any]) -> List[str]:
    lines = ["Genomes (`data.json`):", "", "| genome | path | weight | held out | training windows (share) |",
             "|---|---|---|---|---|"]
    for g in genomes:
        if isinstance(g, Mapping):
            held = "all" if g.get("held_out") is True else (", ".join(map(str, g.get("held_out") or [])) or "-")
            lines.append(f"| {g.get('name')} | {_short(g.get('path'), 60)} | {g.get('weight')} | {held} | "
                         f"{g.get('n_train_windows')} ({g.get('share')}) |")
    return lines + [""]


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


def _is_r2mae(ratio: Any) -> bool:
    """A masking ratio drawn from a range (R²MAE), not a fixed one (the card's title says which)."""
    from .masking import FixedRatio, parse_mask_ratio

    try:
        return ratio is not None and not isinstance(parse_mask_ratio(ratio), FixedRatio)
    except (ValueError, TypeError):
        return False


def _resolved_warmup(train: Mapping[str, Any]) -> Any:
    """``warmup_steps`` as the trainer used it: ``-1`` means 5% of the steps."""
    warmup, steps = train.get("warmup_steps"), train.get("steps")
    if isinstance(warmup, (int, float)) and warmup < 0 and isinstance(steps, (int, float)):
        return max(0, int(0.05 * steps))
    return warmup


def _dataset_names(data: Optional[Mapping[str, Any]]) -> List[str]:
    """The card's ``datasets``: the training data's name (a file's name, or a named set)."""
    if not isinstance(data, Mapping):
        return []
    genome = data.get("genome")
    if isinstance(genome, Mapping) and genome.get("name"):
        return [str(genome["name"])]
    source = data.get("source")
    return [Path(str(source)).name] if source else []


def _card_data(name: str, license: str, tags: List[str], datasets: List[str], pipeline_tag: Optional[str],
               val_loss: Optional[float], val_dataset: str, probe: Optional[Mapping[str, Any]]):
    """``huggingface_hub.ModelCardData``: the card's metadata, with the validation metrics (held-out
    masked loss, probe accuracy) as ``model-index`` results when there are some."""
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    task = pipeline_tag or "fill-mask"
    if isinstance(val_loss, (int, float)) and math.isfinite(val_loss):
        results.append(EvalResult(task_type=task, dataset_type="held-out", dataset_name=val_dataset,
                                  metric_type="loss", metric_name="held-out masked loss", metric_value=float(val_loss)))
    if isinstance(probe, Mapping) and isinstance(probe.get("accuracy"), (int, float)):
        probe_task = {"image-feature-extraction": "image-classification"}.get(task, "text-classification")
        results.append(EvalResult(task_type=probe_task, dataset_type="held-out",
                                  dataset_name="held-out labelled split (linear probe)",
                                  metric_type="accuracy", metric_name="linear-probe accuracy",
                                  metric_value=float(probe["accuracy"])))
    return ModelCardData(library_name="bior2", license=license, tags=tags, datasets=datasets or None,
                         pipeline_tag=pipeline_tag, model_name=name if results else None,
                         eval_results=results or None)


def model_card(run_dir: PathLike, repo_id: Optional[str] = None, *, license: str = "mit",
               tags: Optional[List[str]] = None, what: Optional[str] = None, use: Optional[str] = None,
               limits: Optional[str] = None, pipeline_tag: Optional[str] = None,
               datasets: Optional[List[str]] = None) -> str:
    """The model card (``README.md`` text) of a run folder, from the files it holds.

    Built with ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData` (``library_name``,
    ``tags``, ``license``, ``datasets``, ``pipeline_tag`` and the validation metrics as
    ``model-index`` results). ``tags``, ``what`` (e.g. "DNA language model"), ``use``, ``limits``
    and ``pipeline_tag`` default to the domain's; ``datasets`` to the training data's name.
    """
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

    card = get_domain(domain).card if domain in domain_names() else None
    if tags is None:
        tags = ["bior2", "r2mae", "masked-autoencoder"] + ([domain] if domain else []) + list(card.tags if card else [])
    what = what or (card.what if card else "model")
    val_where = card.validation if card else "held-out split"
    card_data = _card_data(name, license, list(dict.fromkeys(tags)),
                           list(datasets) if datasets is not None else _dataset_names(data),
                           pipeline_tag or (card.pipeline_tag if card else None), losses.get("val_loss"), val_where,
                           probe)
    masking = _masking_text(train["mask_ratio"]) if "mask_ratio" in train else "not recorded"
    title = f"{name}: {'an R²MAE' if _is_r2mae(train.get('mask_ratio')) else 'a masked'} {what}"
    lines = ["---", card_data.to_yaml().rstrip(), "---", "", f"# {title}", "",
             f"A {what} pretrained with masked reconstruction using [bioR2](https://github.com/bior2/bior2) "
             f"{meta.get('bior2_version', __version__)}; masking: {masking}.", ""]

    lines += ["## Model", "", f"- domain: {domain or 'unknown'}", f"- class: `{model_class}`"]
    if params is not None:
        lines.append(f"- parameters: {params:,}")
    if isinstance(config, Mapping):
        lines += [f"- {k}: {_short(v, 100)}" for k, v in config.items()]
    lines.append("")

    lines += ["## Training data", ""]
    genome = data.get("genome") if isinstance(data, Mapping) else None
    if isinstance(genome, Mapping) and genome.get("name"):
        digest = f" (SHA-256 `{genome['sha256']}`)" if genome.get("sha256") else ""
        lines += [f"Genome: `{genome['name']}`{digest}.", ""]
    if data or (isinstance(run_config, Mapping) and run_config.get("data")):
        if isinstance(data, Mapping):
            lines += ["From `data.json`:", ""] + _bullets(data, skip=("domain", "genome", "genomes")) + [""]
            if isinstance(data.get("genomes"), list):  # a DNA model pretrained on several genomes
                lines += _genomes_table(data["genomes"])
            lines += _corpus_table(data)
        if isinstance(run_config, Mapping) and isinstance(run_config.get("data"), Mapping):
            lines += ["Data options (`run_config.yaml`):", ""] + _bullets(run_config["data"]) + [""]
    else:
        lines += ["Not recorded in the run folder (no `data.json` or `run_config.yaml`): ask the author for "
                  "the source and its licence before using this model.", ""]

    lines += ["## Training", "", f"- masking: {masking}"]
    for key in ("steps", "batch_size", "lr", "weight_decay", "warmup_steps", "precision", "seed"):
        if key in train:
            value = _resolved_warmup(train) if key == "warmup_steps" else train[key]
            lines.append(f"- {key}: {_fmt_number(value)}")
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
    lines += ["## How to use", "", "```python", "import bioR2", "",
              f'model = bioR2.load_model("{repo}")  # downloads into the Hugging Face cache once', "```", ""]
    default_use, default_limits = ((card.use, card.limits) if card else
                                   ("Features for downstream probes.", "Check the training data and the benchmark "
                                    "above before relying on it."))
    use, limits = use or default_use, limits or default_limits
    lines += ["## Intended use", "", use.format(repo=repo), "",
              "## Limitations", "", limits + " The licence above covers the weights as published here; "
              "check the licence of the training data as well.", ""]
    lines += ["## Files", "", "`config.json` (model class and configuration, including any gene list or "
              "tokenizer) and `model.safetensors` (weights; no pickle) are all that loading needs; "
              "`manifest.json` holds their SHA-256, checked at load time.", ""]
    from huggingface_hub import ModelCard

    return str(ModelCard("\n".join(lines)))  # parsed once: the metadata block is valid for the Hub


def write_model_card(run_dir: PathLike, repo_id: Optional[str] = None, *, license: str = "mit",
                     out: Optional[PathLike] = None, **card: Any) -> Path:
    """Write the model card to ``out`` (default ``RUN/README.md``) and return its path.
    ``card`` passes :func:`model_card`'s ``tags``, ``what``, ``use``, ``limits``, ``pipeline_tag``
    and ``datasets``."""
    target = Path(out) if out is not None else Path(run_dir) / "README.md"
    atomic_write_text(target, model_card(run_dir, repo_id, license=license, **card))
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


def _check_local_dir(dest: Path, run: Path, files: List[str], overwrite: bool) -> None:
    """``--local-dir``: not the run folder, and no file there replaced without ``--overwrite``."""
    if dest.exists() and dest.resolve() == run.resolve():
        raise ValueError(f"--local-dir {dest}: is the run folder itself; choose another folder")
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"--local-dir {dest}: is a file; give a folder")
    clash = [n for n in dict.fromkeys([*files, "README.md"]) if (dest / n).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"--local-dir {dest}: already holds {', '.join(clash)}; pass --overwrite "
                              "(overwrite=True) to replace them, or choose an empty folder")


def push_to_hub(run_dir: PathLike, repo_id: Optional[str] = None, *, private: bool = False,
                revision: Optional[str] = None, token: Union[None, bool, str] = None,
                commit_message: Optional[str] = None, local_dir: Optional[PathLike] = None,
                license: str = "mit", write_card: bool = True, include_log: bool = False,
                overwrite: bool = False) -> PushResult:
    """Upload a run folder's model to the Hub repo ``repo_id`` (created if missing).

    Uploads the files of :data:`PUSH_FILES` that exist (``log.jsonl`` too with
    ``include_log``), never ``checkpoints/`` or training state. The model card ``README.md`` is
    (re)written in the run folder first unless ``write_card=False`` (then an existing README.md
    is kept). The model is loaded once before anything is written, so a corrupt or truncated
    folder is never published.

    With ``local_dir``, nothing is uploaded: exactly the files that would be are copied there
    (``repo_id`` is then optional; it only names the model in the card). A file of the same name
    already in ``local_dir`` (the user's own ``README.md``, ``config.json``) is an error unless
    ``overwrite``, checked before anything is written.
    """
    run = _model_folder(run_dir)
    if repo_id is None and local_dir is None:
        raise ValueError("push_to_hub: give repo_id (org/name), or local_dir to only write the files")
    if repo_id is not None:
        repo_id, at_revision = parse_repo_id(repo_id)
        revision = revision or at_revision
    if local_dir is not None:
        _check_local_dir(Path(local_dir), run, push_files(run, include_log=include_log), overwrite)
    load_model_folder(run)  # catches a corrupt, truncated or foreign folder before anything is written
    card = run / "README.md"
    if write_card or not card.exists():
        card = write_model_card(run, repo_id, license=license)
    files = push_files(run, include_log=include_log)

    if local_dir is not None:
        dest = Path(local_dir)
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
