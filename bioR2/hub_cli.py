"""``bior2 push``: share a run folder's model on the Hugging Face Hub (see :mod:`bioR2.hub`).

Argparse-level code only at the top; huggingface_hub and torch are imported in ``run_push``.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_push_arguments", "run_push"]


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Upload a run folder's model (config.json, model.safetensors, manifest.json) with its provenance "
        "(data.json, run_config.yaml, train_config.json), benchmark numbers (probe.json, results.json) and a "
        "generated model card (README.md, also written into the run folder) to a Hugging Face Hub repo. "
        "Load it anywhere with --model ORG/NAME or bioR2.load_model('ORG/NAME'). Log in first with "
        "`hf auth login` or set HF_TOKEN.")
    parser.add_argument("--model", required=True, metavar="RUN", help="run (or checkpoint) folder to publish")
    parser.add_argument("--repo", metavar="ORG/NAME",
                        help="Hub model repo (created if missing); required unless --local-dir")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", default=None, metavar="BRANCH",
                        help="branch to commit to (created from main if missing; default main)")
    parser.add_argument("--local-dir", default=None, metavar="DIR",
                        help="upload nothing: copy exactly the files that would be uploaded into DIR")
    parser.add_argument("--license", default="mit", help="licence in the model card (default: mit)")
    parser.add_argument("--commit-message", default=None, help="commit message on the Hub")
    parser.add_argument("--keep-card", action="store_true",
                        help="keep an existing RUN/README.md instead of regenerating the model card")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --local-dir: replace files of the same name already in DIR")
    parser.add_argument("--include-log", action="store_true", help="also upload the per-step log.jsonl")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the `hf auth login` token)")


def run_push(args: argparse.Namespace) -> int:
    from .hub import push_to_hub

    if args.repo is None and args.local_dir is None:
        raise ValueError("push: give --repo ORG/NAME (or --local-dir DIR to only write the files)")
    result = push_to_hub(args.model, args.repo, private=args.private, revision=args.revision, token=args.token,
                         commit_message=args.commit_message, local_dir=args.local_dir, license=args.license,
                         write_card=not args.keep_card, include_log=args.include_log,
                         overwrite=args.overwrite)
    files = ", ".join(result.files)
    if result.local_dir is not None:
        print(f"bior2: wrote {files} to {result.local_dir} (nothing uploaded)", file=sys.stderr)
    else:
        where = result.repo_id + (f"@{result.revision}" if result.revision else "")
        print(f"bior2: pushed {files} to {where}: {result.url}", file=sys.stderr)
        print(f"bior2: load it with --model {where} or bioR2.load_model({where!r})", file=sys.stderr)
    return 0
