"""Saving and loading models and training state.

Layout of a run folder::

    RUN/
      config.json          model class + its constructor config (JSON; the gene list, the
                           tokenizer, ... live here too)
      model.safetensors    final weights (no pickle: safe to load from strangers)
      manifest.json        size and SHA-256 of each file, to catch truncation
      train_config.json    the TrainConfig of the run
      log.jsonl            one JSON record per step
      checkpoints/
        latest             name of the newest complete checkpoint (replaced atomically)
        step-00000100/     model.safetensors, config.json, train_state.pt, manifest.json

A checkpoint folder is written under a temporary name and renamed into place before
``latest`` is switched to it, so a kill during a save leaves the previous checkpoint as the
latest one. ``train_state.pt`` holds only tensors and plain Python containers and is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model as _st_load_model
from safetensors.torch import save_model as _st_save_model
from torch import nn

from .. import __version__
from ..utils.io import PathLike, atomic_dir, atomic_path, atomic_write_json, atomic_write_text, sha256_file
from ..utils.warn import caller_stacklevel

__all__ = [
    "CheckpointError",
    "PretrainedModule",
    "save_model",
    "load_model",
    "load_weights",
    "read_model_config",
    "save_checkpoint",
    "latest_checkpoint",
    "load_train_state",
    "MODEL_FILE",
    "CONFIG_FILE",
]

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "train_state.pt"
MANIFEST_FILE = "manifest.json"
LATEST_FILE = "latest"


class CheckpointError(RuntimeError):
    """A model or checkpoint file that is missing, truncated, corrupt or of the wrong kind."""


_REGISTRY: Dict[str, type] = {}


class PretrainedModule(nn.Module):
    """Base for models that save to and load from a folder with no pickle.

    Subclasses store their constructor arguments so that ``get_config()`` returns a
    JSON-serialisable dict and ``from_config(config)`` rebuilds the same architecture.
    Every subclass registers itself, so :func:`load_model` can rebuild models defined
    outside the package (a user's notebook) once their class has been defined.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[f"{cls.__module__}:{cls.__qualname__}"] = cls

    def get_config(self) -> Dict[str, Any]:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "PretrainedModule":
        return cls(**config)

    def save_pretrained(self, directory: PathLike) -> None:
        """Write ``model.safetensors`` + ``config.json`` + ``manifest.json`` to ``directory``."""
        save_model(directory, self)

    @classmethod
    def from_pretrained(cls, directory: PathLike, map_location: str = "cpu") -> "PretrainedModule":
        model = load_model(directory, map_location=map_location)
        if not isinstance(model, cls):
            raise CheckpointError(
                f"{Path(directory) / CONFIG_FILE}: holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model


def _class_path(model: nn.Module) -> str:
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def _write_manifest(directory: Path, names) -> None:
    files = {}
    for name in names:
        path = directory / name
        files[name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    atomic_write_json(directory / MANIFEST_FILE, {"bior2_version": __version__, "files": files})


def _verify_manifest(directory: Path, names) -> None:
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.exists():
        return  # hand-made folders may lack one; the readers below still catch corruption
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({exc})") from None
    for name in names:
        path = directory / name
        entry = files.get(name)
        if entry is None or not path.exists():
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise CheckpointError(
                f"{path}: truncated or changed: {size} bytes on disk, {entry.get('bytes')} "
                "recorded when it was saved"
            )
        if sha256_file(path) != entry.get("sha256"):
            raise CheckpointError(f"{path}: corrupt: its SHA-256 differs from the one recorded at save")


def save_model(directory: PathLike, model: nn.Module, config: Optional[Dict[str, Any]] = None) -> None:
    """Save ``model``'s weights (safetensors) and config (JSON) into ``directory``.

    ``config`` defaults to ``model.get_config()``. Each file is replaced atomically.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = model.get_config()  # type: ignore[operator]
    with atomic_path(directory / MODEL_FILE) as tmp:
        # One metadata entry: safetensors writes its metadata map in a random order, so two
        # entries would make the same weights give different files. The version is in config.json.
        _st_save_model(model, str(tmp), metadata={"format": "pt"})
    atomic_write_json(
        directory / CONFIG_FILE,
        {"model_class": _class_path(model), "bior2_version": __version__, "config": config},
    )
    _write_manifest(directory, [MODEL_FILE, CONFIG_FILE])


def _no_model_hint(directory: Path) -> str:
    """What a folder without ``config.json`` is: a run stopped before its final model (name its
    latest checkpoint, which loads), or not a bioR2 folder at all."""
    if (directory / "checkpoints").is_dir():
        try:
            ckpt = latest_checkpoint(directory)
        except CheckpointError:
            ckpt = None
        if ckpt is not None:
            return (f"the run in {directory} stopped before its final model; its latest checkpoint is {ckpt} "
                    f"(give that folder as the model, or finish the run with --resume)")
    return f"is {directory} a bioR2 run or model folder?"


def read_model_config(directory: PathLike) -> Dict[str, Any]:
    """The ``config.json`` of a saved model (``model_class``, ``config``, ``bior2_version``)."""
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: not found; " + _no_model_hint(Path(directory)))
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "model_class" not in meta or "config" not in meta:
        raise CheckpointError(f"{path}: missing the 'model_class' or 'config' field")
    return meta


def _import_model_class(class_path: str, where: Path) -> type:
    if class_path in _REGISTRY:
        return _REGISTRY[class_path]
    module_name, _, qualname = class_path.partition(":")
    # Only bioR2's own classes: a config file must never name arbitrary code to import.
    if not module_name.startswith("bioR2.") or not qualname:
        raise CheckpointError(f"{where}: model_class {class_path!r} is not a bioR2 model")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"{where}: cannot find model_class {class_path!r} ({exc})") from None
    return obj


def load_model(directory: PathLike, map_location: str = "cpu") -> nn.Module:
    """Rebuild a saved model from ``directory`` (a run folder or a checkpoint folder).

    Reads only JSON and safetensors: no pickle is involved. Local folders only: a Hugging Face
    Hub id (``org/name``) is resolved one layer up, by :func:`bioR2.load_model`
    (:func:`bioR2.hub.load_model`), which downloads it and then calls this.
    """
    directory = Path(directory)
    if not directory.is_dir():
        hint = (" (a Hugging Face Hub id? load it with bioR2.load_model, which downloads it first)"
                if not directory.exists() and str(directory).count("/") == 1 else "")
        raise CheckpointError(f"{directory}: no such model folder{hint}")
    meta = read_model_config(directory)
    weights = directory / MODEL_FILE
    if not weights.exists():
        raise CheckpointError(f"{weights}: not found")
    _verify_manifest(directory, [MODEL_FILE, CONFIG_FILE])
    cls = _import_model_class(meta["model_class"], directory / CONFIG_FILE)
    try:
        model = cls.from_config(meta["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: config does not fit {cls.__name__} ({exc})") from None
    load_weights(model, directory, map_location=map_location, verified=True)
    return model


def load_weights(model: nn.Module, directory: PathLike, map_location: str = "cpu",
                 verified: bool = False) -> nn.Module:
    """Load ``directory/model.safetensors`` into an existing ``model`` (strict)."""
    directory = Path(directory)
    weights = directory / MODEL_FILE
    if not weights.exists():
        raise CheckpointError(f"{weights}: not found")
    if not verified:
        _verify_manifest(directory, [MODEL_FILE])
    try:
        _st_load_model(model, str(weights), strict=True, device=map_location)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: unreadable or corrupt safetensors file ({exc})") from None
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not match {type(model).__name__} ({exc})") from None
    return model


def save_checkpoint(run_dir: PathLike, step: int, model: nn.Module, train_state: Dict[str, Any],
                    keep: int = 2) -> Path:
    """Write ``checkpoints/step-<N>/`` atomically, point ``latest`` at it, prune old ones."""
    ckpt_root = Path(run_dir) / "checkpoints"
    name = f"step-{step:08d}"
    final = ckpt_root / name
    with atomic_dir(final) as tmp:
        save_model(tmp, model)
        torch.save(train_state, tmp / STATE_FILE)
        _write_manifest(tmp, [MODEL_FILE, CONFIG_FILE, STATE_FILE])
    atomic_write_text(ckpt_root / LATEST_FILE, name + "\n")
    if keep > 0:
        done = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
        for old in done[:-keep]:
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
    return final


def _checkpoint_problem(path: Path) -> Optional[str]:
    """Why checkpoint folder ``path`` cannot be resumed from, or ``None`` when it can: its files
    must all be there and match the sizes and SHA-256 hashes its manifest recorded."""
    if not path.is_dir():
        return "it is not a folder"
    missing = [name for name in (MODEL_FILE, CONFIG_FILE, STATE_FILE) if not (path / name).exists()]
    if missing:
        return f"{', '.join(missing)} missing"
    try:
        _verify_manifest(path, [MODEL_FILE, CONFIG_FILE, STATE_FILE])
    except CheckpointError as exc:
        return str(exc)
    except OSError as exc:
        return f"unreadable ({exc})"
    return None


def latest_checkpoint(run_dir: PathLike) -> Optional[Path]:
    """The newest valid checkpoint of a run, or ``None`` when it has none.

    ``latest`` names the newest one; when that one is damaged (a file truncated or changed since
    it was saved, per its manifest, or missing) the previous checkpoints are tried, newest
    first, with a warning naming what was skipped and why. Raises :class:`CheckpointError`
    only when there are checkpoints and none of them is valid.
    """
    ckpt_root = Path(run_dir) / "checkpoints"
    pointer = ckpt_root / LATEST_FILE
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        name = ""
        pointer_problem: Optional[str] = f"{pointer}: unreadable ({exc})"
    else:
        pointer_problem = None
    candidates = []
    if name.startswith("step-") and "/" not in name:
        candidates.append(ckpt_root / name)
    elif pointer_problem is None:
        pointer_problem = f"{pointer}: points at {name!r}, which is not a checkpoint folder"
    # Older checkpoints (kept by keep_checkpoints), newest first; never a newer one than
    # `latest` names: a folder past it may be a save that did not finish switching `latest`.
    for folder in sorted((p for p in ckpt_root.glob("step-*") if p.is_dir()), reverse=True):
        if folder not in candidates and (not candidates or folder.name < candidates[0].name):
            candidates.append(folder)
    if not candidates and pointer_problem is None:
        return None
    skipped = []
    if pointer_problem is not None:
        skipped.append(pointer_problem)
    for path in candidates:
        problem = _checkpoint_problem(path)
        if problem is None:
            if skipped:
                import warnings

                warnings.warn(f"resuming from {path}: skipped the newer checkpoint(s) that cannot be "
                              f"used: {'; '.join(skipped)}", stacklevel=caller_stacklevel())
            return path
        skipped.append(f"{path.name}: {problem}" if not problem.startswith(str(path)) else problem)
    raise CheckpointError(
        f"{ckpt_root}: no valid checkpoint to resume from ({'; '.join(skipped)}); start afresh "
        "with --overwrite (overwrite=True), or restore the checkpoint files")


def load_train_state(ckpt_dir: PathLike) -> Dict[str, Any]:
    """Read ``train_state.pt`` with ``weights_only=True`` after checking the manifest."""
    ckpt_dir = Path(ckpt_dir)
    path = ckpt_dir / STATE_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: not found")
    _verify_manifest(ckpt_dir, [MODEL_FILE, CONFIG_FILE, STATE_FILE])
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a broken zip/pickle stream
        raise CheckpointError(f"{path}: unreadable or corrupt training state ({type(exc).__name__}: {exc})") from None
