"""Every `bior2` command shown in README.md parses as shown (its subcommand and every flag exist,
every value is accepted), and the cheap ones run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bioR2.cli import build_parser, main

README = Path(__file__).resolve().parent.parent / "README.md"
CHEAP = ("bior2 theory risk", "bior2 theory optimal-p", "bior2 benchmark scoreboard --out")


def readme_commands():
    text = README.read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("bior2 "):
                commands.append(line.split("  #")[0].split(" # ")[0].strip())
    return commands


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    argv = shlex.split(command)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: unknown flag, bad value, missing argument
        pytest.fail(f"README command does not parse ({exc.code}): {command}")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(CHEAP)])
def test_cheap_readme_command_runs(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever it writes lands here
    assert main(shlex.split(command)[1:]) == 0
    assert capsys.readouterr().out.strip()


def _leaf_parsers():
    import argparse

    def walk(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(path), parser
            return
        for name, sub in subs[0].choices.items():
            yield from walk(sub, [*path, name])

    return dict(walk(build_parser(), []))


def _takes_device(parser) -> bool:
    return any("--device" in action.option_strings for action in parser._actions)


def test_the_device_sentence_is_true():
    """README: which commands take --device and which do not (issue 24: it said every command)."""
    text = " ".join(README.read_text().split())
    takes = re.search(r"((?:`[\w -]+`, )+`[\w -]+` and `[\w -]+`) take `--device`", text)
    lacks = re.search(r"`benchmark ([\w|]+)` and `(\w+)` have no `--device`", text)
    assert takes and lacks, "the README's --device sentence changed; update this test with it"
    leaves = _leaf_parsers()
    for command in re.findall(r"`([\w -]+)`", takes.group(1)):
        matching = [p for name, p in leaves.items() if name == command or name.startswith(command + " ")]
        assert matching and all(_takes_device(p) for p in matching), command
    lacking = [f"benchmark {d}" for d in lacks.group(1).split("|")] + [lacks.group(2)]
    for command in lacking:
        assert not _takes_device(leaves[command]), command


def test_the_model_card_sentence_is_true(tmp_path, capsys):
    """README: the model card is in the run folder when a run finishes, in huggingface_hub's format,
    with the domain, the data (genome name and checksum), the masking range, steps and losses."""
    from huggingface_hub import ModelCard

    text = " ".join(README.read_text().split())
    assert "The model card (`README.md` in the run folder, written when a run finishes" in text
    rng = __import__("numpy").random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 400))
    (tmp_path / "g.fa").write_text(f">chr1\n{seq}\n>chr2\n{seq[:200]}\n")
    assert main(["pretrain", "dna", "--fasta", str(tmp_path / "g.fa"), "--out", str(tmp_path / "run"),
                 "--window", "32", "--preset", "dna-tiny", "--steps", "2", "--batch-size", "4", "--held-out", "chr2",
                 "--no-progress"]) == 0
    card = ModelCard.load(tmp_path / "run" / "README.md")
    meta = card.data.to_dict()
    assert {"library_name", "tags", "license", "datasets", "pipeline_tag", "model-index"} <= set(meta)
    for claim in ("- domain: dna", "Genome: `g.fa` (SHA-256 `", "--mask-ratio 0.05-0.3", "- steps: 2",
                  "final training loss", "validation loss", "## Intended use", "## Limitations"):
        assert claim in card.text, claim
