"""Every `bior2` command shown in README.md parses as shown (its subcommand and every flag exist,
every value is accepted), and the cheap ones run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bioR2.cli import build_parser, main

README = Path(__file__).resolve().parent.parent / "README.md"
CHEAP = ("bior2 theory risk", "bior2 theory optimal-p", "bior2 benchmark scoreboard")


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
def test_cheap_readme_command_runs(command, capsys):
    assert main(shlex.split(command)[1:]) == 0
    assert capsys.readouterr().out.strip()
