"""The ``bior2`` command line: a thin layer over the Python API.

Each domain contributes its subcommands from ``bioR2/<domain>/cli.py`` (every benchmark from
``bioR2/bench/cli.py``) through a pair of functions, ``add_<hook>_arguments(parser)`` and
``run_<hook>(args) -> int``. A domain module that does not exist yet gives a subcommand that says so and exits
non-zero. Domain CLI modules import only argparse-level code at the top; heavy imports happen inside ``run_*``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from . import __version__

__all__ = ["main", "build_parser"]

# (command, subcommand or None) -> (module, hook name)
HOOKS: List[Tuple[str, Optional[str], str, str, str]] = [
    # command, sub, module, hook, one-line help
    ("score-variants", None, "bioR2.dna.cli", "score_variants", "score SNVs zero-shot with a DNA model"),
    ("embed", None, "bioR2.sc.cli", "embed", "embed cells: writes obsm['X_r2mae']"),
    ("annotate", None, "bioR2.sc.cli", "annotate", "annotate query cells from a labelled reference"),
    ("benchmark", "dna", "bioR2.bench.cli", "benchmark_dna", "regulatory-variant AUPRC benchmark"),
    ("benchmark", "sc", "bioR2.bench.cli", "benchmark_sc", "cell-type annotation benchmark"),
    ("benchmark", "sc-corpus", "bioR2.bench.cli", "benchmark_sc_corpus",
     "zero-shot embedding of a held-out dataset by a corpus model (leave one dataset out)"),
    ("benchmark", "vision", "bioR2.bench.cli", "benchmark_vision", "linear-probe benchmark on digits/MNIST"),
    ("benchmark", "text", "bioR2.bench.cli", "benchmark_text", "linear-probe benchmark on BBC news"),
    ("benchmark", "theory", "bioR2.bench.cli", "benchmark_theory", "reproduce the paper's linear-model figures"),
    ("benchmark", "scoreboard", "bioR2.bench.cli", "benchmark_scoreboard",
     "rank masking-ratio schedules across domains and tasks from results.json files"),
    ("theory", None, "bioR2.theory.cli", "theory", "test risk of masked ridgeless regression"),
    ("demo", None, "bioR2.demo", "demo", "run the main job end to end on bundled data"),
    ("push", None, "bioR2.hub_cli", "push", "upload a run folder's model and a model card to the Hugging Face Hub"),
]

COMMAND_HELP = {
    "pretrain": "pretrain a model with R²MAE masking",
    "score-variants": "score variants with a pretrained DNA model",
    "embed": "embed cells with a pretrained single-cell model",
    "annotate": "annotate cell types with a pretrained single-cell model",
    "benchmark": "run a quality benchmark; writes results.json and results.md",
    "theory": "the paper's linear-model theory of masking",
    "demo": "install check: the main job on bundled data",
    "push": "share a model on the Hugging Face Hub (load it back with --model ORG/NAME)",
}


def _load_hook(module_name: str, hook: str) -> Tuple[Optional[Callable], Optional[Callable]]:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None, None
        raise
    return getattr(module, f"add_{hook}_arguments", None), getattr(module, f"run_{hook}", None)


def _not_built(what: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"bior2: '{what}' is not built yet in bioR2 {__version__}.", file=sys.stderr)
        return 2

    return run


def _add_pretrain_commands(commands, groups) -> None:
    """``bior2 pretrain <domain>``: one subcommand per registered domain, generated from its spec."""
    from .cliutils import add_domain_pretrain_arguments, run_domain_pretrain
    from .domain import domain_names, get_domain

    p = commands.add_parser("pretrain", help=COMMAND_HELP["pretrain"], description=COMMAND_HELP["pretrain"])
    groups["pretrain"] = p.add_subparsers(dest="domain", metavar="DOMAIN")
    groups["pretrain"].required = True
    for name in domain_names():
        try:
            spec = get_domain(name)
        except ModuleNotFoundError:  # a registered domain whose spec is not written yet
            target = groups["pretrain"].add_parser(name, help="(not built yet)")
            target.set_defaults(func=_not_built(f"pretrain {name}"))
            continue
        target = groups["pretrain"].add_parser(name, help=spec.description, description=spec.description)
        add_domain_pretrain_arguments(target, spec)
        target.set_defaults(func=run_domain_pretrain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bior2",
        description="Pretrain biological foundation models with R²MAE masking and use them downstream.",
    )
    parser.add_argument("--version", action="version", version=f"bior2 {__version__}")
    parser.add_argument("--debug", "--traceback", dest="debug", action="store_true",
                        help="show the full traceback on errors (also BIOR2_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    groups = {}
    _add_pretrain_commands(commands, groups)
    for command, sub, module, hook, help_text in HOOKS:
        if sub is None:
            target = commands.add_parser(command, help=COMMAND_HELP[command], description=help_text)
        else:
            if command not in groups:
                p = commands.add_parser(command, help=COMMAND_HELP[command], description=COMMAND_HELP[command])
                groups[command] = p.add_subparsers(dest="domain", metavar="DOMAIN")
                groups[command].required = True
            target = groups[command].add_parser(sub, help=help_text, description=help_text)
        add, run = _load_hook(module, hook)
        what = f"{command} {sub}" if sub else command
        if add is None or run is None:
            target.description = f"{help_text} (not built yet)"
            target.set_defaults(func=_not_built(what))
        else:
            add(target)
            target.set_defaults(func=run)
    return parser


# Exceptions that mean "the input or the environment is not usable": one line, no traceback.
USER_ERRORS = (ValueError, OSError, KeyError, RuntimeError, LookupError)


def _debug(args: Optional[argparse.Namespace]) -> bool:
    flags = bool(args is not None and (getattr(args, "debug", False) or getattr(args, "traceback", False)))
    return flags or bool(os.environ.get("BIOR2_DEBUG") or os.environ.get("BIOR2_TRACEBACK"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("bior2: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if _debug(args):
            raise
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError) and exc.args:
            message = str(exc.args[0])
        print(f"bior2: error: {' '.join(message.split())}", file=sys.stderr)
        return 1
    except Exception as exc:  # a genuine bug: say so, and how to report it
        if _debug(args):
            raise
        print(f"bior2: internal error: {type(exc).__name__}: {exc}\n"
              f"bior2: this is a bug in bioR2 {__version__}, not in your input; please report it with the "
              "command line and the traceback that --debug (or BIOR2_DEBUG=1) prints.", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
