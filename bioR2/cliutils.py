"""Options shared by every ``bior2`` subcommand and the config resolution behind them.

``bior2 pretrain <domain>`` is generated from the domain's spec
(:func:`add_domain_pretrain_arguments`): one flag per config field, then :func:`add_run_options`
and :func:`add_train_options`; :func:`pretrain_config_from_args` resolves defaults, ``--preset``,
``--config``, ``--set`` and explicit flags into one nested config, once.
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any, Callable, Dict, Optional, Tuple

from .utils.device import DEFAULT_DEVICE, DEVICE_HELP
from .masking import parse_mask_ratio

__all__ = ["add_run_options", "add_train_options", "TRAIN_FLAGS",
           "add_domain_pretrain_arguments", "run_domain_pretrain", "pretrain_config_from_args"]


def _ratio_arg(text: str):
    """``--mask-ratio``: parsed here, at the edge, into a :class:`~bioR2.masking.MaskRatio`."""
    try:
        return parse_mask_ratio(text, "--mask-ratio")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_run_options(parser: argparse.ArgumentParser, default_ratio: Optional[str] = None,
                    out_required: bool = True) -> None:
    """``--config``, ``--set``, ``--seed``, ``--out``, ``--mask-ratio``, ``--resume``, ``--overwrite``."""
    g = parser.add_argument_group("run")
    g.add_argument("--config", metavar="YAML", help="YAML config file (sections: train, model, data, ...)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=3e-4 (repeatable)")
    g.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    g.add_argument("--out", required=out_required, metavar="DIR", help="output folder")
    if default_ratio is not None:
        g.add_argument("--mask-ratio", type=_ratio_arg, default=None, metavar="P|LOW-HIGH",
                       help=f"masking ratio: 0.15 (fixed) or 0.05-0.3 (R²MAE range); default {default_ratio}")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """The trainer's options (each maps to ``train.<name>``)."""
    g = parser.add_argument_group("training")
    g.add_argument("--steps", type=int, default=None, help="optimizer steps")
    g.add_argument("--epochs", type=float, default=None,
                   help="passes over the training data instead of a step count (steps = epochs x examples / batch)")
    g.add_argument("--batch-size", type=int, default=None, help="global examples per optimizer step")
    g.add_argument("--grad-accum", type=int, default=None, help="micro-batches per optimizer step")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW)")
    g.add_argument("--warmup-steps", type=int, default=None, help="linear warm-up steps (default 5%% of steps)")
    g.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="autocast precision (bf16/fp16 on CUDA; fp16 needs CUDA)")
    g.add_argument("--device", default=None, help=f"{DEVICE_HELP} (default: {DEFAULT_DEVICE})")
    g.add_argument("--num-workers", type=int, default=None, help="DataLoader worker processes")
    g.add_argument("--log-to", choices=["jsonl", "tensorboard"], default=None,
                   help="also log to TensorBoard (RUN/tensorboard; needs the tensorboard package); "
                        "log.jsonl is always written")
    g.add_argument("--save-every", type=int, default=None, help="checkpoint every N steps (0: at the end)")
    g.add_argument("--eval-every", type=int, default=None, help="validate every N steps (0: at the end)")
    g.add_argument("--log-every", type=int, default=None, help="write a log record every N steps")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    g.add_argument("--overwrite", action="store_true", help="start again in an --out that already holds a run")
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


TRAIN_FLAGS = {
    "steps": "train.steps",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "grad_accum": "train.grad_accum",
    "lr": "train.lr",
    "warmup_steps": "train.warmup_steps",
    "precision": "train.precision",
    "device": "train.device",
    "num_workers": "train.num_workers",
    "log_to": "train.log_to",
    "save_every": "train.save_every",
    "eval_every": "train.eval_every",
    "log_every": "train.log_every",
    "progress": "train.progress",
    "seed": "train.seed",
    "mask_ratio": "train.mask_ratio",
}


# ---------------------------------------------------------------------------- generated pretrain
_SECTION_DEST = "{section}__{name}"


def _list_parser(item_type: type, flag: str) -> Callable[[str], list]:
    def parse(text: str) -> list:
        items = [t for t in (s.strip() for s in text.split(",")) if t]
        try:
            return [item_type(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: expected a comma-separated list of "
                                             f"{item_type.__name__}, got {text!r}") from None
    return parse


def _field_kind(annotation: Any) -> Tuple[str, type]:
    """("scalar" | "list" | "bool", element type) of a config field's type hint."""
    import typing

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union and len(args) == 1:
        return _field_kind(args[0])
    if origin in (list, tuple, typing.List, typing.Tuple, typing.Sequence):
        inner = args[0] if args else str
        return "list", inner if inner in (int, float, str) else str
    if annotation is bool:
        return "bool", bool
    if annotation in (int, float, str):
        return "scalar", annotation
    return "scalar", str


class _OneOrMany(argparse.Action):
    """``--flag A`` stores ``A``; ``--flag A B`` stores ``[A, B]`` (a field with ``nargs``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def add_domain_pretrain_arguments(parser: argparse.ArgumentParser, spec: Any) -> None:
    """``bior2 pretrain <domain>``'s options, generated from the domain's spec: one flag per
    config field (``--field-name`` unless the field names its own flag), ``--preset``, then the
    run and trainer options every domain shares."""
    import dataclasses
    import typing

    names = [p.name for p in spec.presets]
    parser.add_argument("--preset", choices=names or None, default=None,
                        help="a named configuration: " + "; ".join(f"{p.name}: {p.description}"
                                                                      for p in spec.presets))
    for section, cls in spec.sections.items():
        group = parser.add_argument_group(section)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if not meta.get("cli", True):
                continue
            flag = meta.get("flag") or "--" + f.name.replace("_", "-")
            dest = _SECTION_DEST.format(section=section, name=f.name)
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            text = meta.get("help") or f.name.replace("_", " ")
            kind, item = _field_kind(hints[f.name])
            if kind == "bool":
                if default:
                    off = "--no-" + flag[2:]
                    group.add_argument(off, dest=dest, action="store_false", default=None,
                                       help=f"{text} (on by default; this turns it off)")
                else:
                    group.add_argument(flag, dest=dest, action="store_true", default=None,
                                       help=text if "default" in text else f"{text} (off by default)")
                continue
            parse = _list_parser(item, flag) if kind == "list" else item
            shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            metavar = meta.get("metavar") or (None if meta.get("choices") else flag[2:].replace("-", "_").upper())
            # one default per help line: none when the text states it or there is none to show
            suffix = "" if "default" in text or shown is None or shown == "" else f" (default {shown})"
            if meta.get("nargs"):  # several values after one flag (--h5ad a.h5ad b.h5ad); one stays a scalar
                group.add_argument(flag, dest=dest, type=parse, default=None, nargs=meta["nargs"], metavar=metavar,
                                   action=_OneOrMany, help=f"{text}{suffix}")
                continue
            group.add_argument(flag, dest=dest, type=parse, default=None, choices=meta.get("choices"),
                               metavar=metavar, help=f"{text}{suffix}")
    add_run_options(parser, default_ratio=spec.default_ratio)
    add_train_options(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.set_defaults(domain_spec=spec.name)


def pretrain_config_from_args(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """The run's config from ``bior2 pretrain <domain>``'s arguments: defaults <- ``--preset`` <-
    ``--config`` <- ``--set`` <- flags given on the command line (resolved once, here)."""
    from .pipeline import resolve_run_config

    sections: Dict[str, Dict[str, Any]] = {}
    for dest, value in vars(args).items():
        if "__" in dest and value is not None:
            section, name = dest.split("__", 1)
            # argparse already typed the value: set it as is (a YAML round trip would read a
            # backslash in a path as an escape)
            sections.setdefault(section, {})[name] = copy.deepcopy(value)
    for dest, key in TRAIN_FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            sections.setdefault("train", {})[key.split(".", 1)[1]] = value
    return resolve_run_config(args.domain_spec, preset=args.preset, config=args.config,
                              overrides=getattr(args, "overrides", []) or [], sections=sections)


def run_domain_pretrain(args: argparse.Namespace) -> int:
    """Run ``bior2 pretrain <domain>``: resolve the config once, call :func:`bioR2.pretrain`,
    print the run's JSON summary."""
    import json

    from .domain import get_domain
    from .pipeline import pretrain

    spec = get_domain(args.domain_spec)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1 (torch CPU threads), got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    resolved = pretrain_config_from_args(args)
    if args.resume:
        from pathlib import Path

        from .train import latest_checkpoint

        if not Path(args.out).is_dir() or latest_checkpoint(args.out) is None:
            print(f"bior2: note: --resume: {args.out} holds no checkpoint to continue; starting a new run",
                  file=sys.stderr)
    result = pretrain(spec, None, args.out, config=resolved, resume=args.resume, overwrite=args.overwrite)
    print(json.dumps(result.summary, indent=2, default=str))
    words = f"bior2: pretrained {result.steps} steps; last loss {result.last_loss:.4f}"
    if result.val_loss is not None:
        words += f"; held-out loss {result.val_loss:.4f}"
    print(f"{words}; model in {args.out} (load with bioR2.load_model)", file=sys.stderr)
    return 0
