"""The bior2 command line and the config resolution behind it."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from bioR2.cli import HOOKS, build_parser, main
from bioR2.cliutils import add_run_options, add_train_options, pretrain_config_from_args
from bioR2.masking import parse_mask_ratio
from bioR2.pipeline import typed_sections
from bioR2.config import ConfigError, apply_overrides, dataclass_from_dict
from bioR2.train import TrainConfig

SUBCOMMANDS = ["pretrain", "score-variants", "embed", "annotate", "benchmark", "theory", "demo"]


def test_help_lists_the_seven_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "bioR2", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "score-variants" in proc.stdout


@pytest.mark.parametrize("command, sub, module, hook, _help", HOOKS)
def test_every_subcommand_has_help(command, sub, module, hook, _help, capsys):
    argv = [command] + ([sub] if sub else []) + ["--help"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: bior2" in capsys.readouterr().out


def _parser():
    p = argparse.ArgumentParser()
    add_run_options(p, default_ratio="0.05-0.3")
    add_train_options(p)
    return p


def test_config_precedence(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("train:\n  lr: 0.01\n  steps: 50\n  batch_size: 32\nmodel:\n  hidden: 64\n")
    args = build_parser().parse_args([
        "pretrain", "dna", "--fasta", "g.fa", "--out", "x", "--config", str(cfg), "--set", "train.steps=70",
        "--set", "model.hidden=128", "--steps", "90", "--mask-ratio", "0.1-0.4", "--preset", "dna-tiny",
    ])
    resolved = pretrain_config_from_args(args)
    assert resolved["train"]["lr"] == 0.01          # file beats default
    assert resolved["model"]["hidden"] == 128        # --set beats file and preset
    assert resolved["model"]["layers"] == 4          # the preset beats the default (6)
    assert resolved["train"]["steps"] == 90          # explicit flag beats --set
    assert resolved["train"]["mask_ratio"] == parse_mask_ratio("0.1-0.4")  # parsed once, at the flag
    _, tc = typed_sections("dna", resolved)
    assert isinstance(tc, TrainConfig) and tc.steps == 90 and tc.batch_size == 32
    assert TrainConfig(mask_ratio="0.1-0.2").mask_ratio == parse_mask_ratio("0.1-0.2")
    # flag values arrive as argparse typed them: a path with a backslash or YAML-ish text stays as given
    args = build_parser().parse_args(["pretrain", "dna", "--out", "x", "--bed", "runs\\tss: 1.bed",
                                      "--contigs", "1,chr\\x"])
    resolved = pretrain_config_from_args(args)
    assert resolved["data"]["bed"] == "runs\\tss: 1.bed" and resolved["data"]["contigs"] == ["1", "chr\\x"]


def test_bad_mask_ratio_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["--out", "x", "--mask-ratio", "0.4-0.1"])
    assert info.value.code == 2
    assert "greater than high" in capsys.readouterr().err


def test_unknown_config_key_names_the_section():
    with pytest.raises(ConfigError, match="'train'.*lrr"):
        dataclass_from_dict(TrainConfig, {"lrr": 1}, "train")
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="train.mask_ratio"):
        dataclass_from_dict(TrainConfig, {"mask_ratio": "0.9-0.2"}, "train")


def test_missing_config_file_is_a_clear_error(tmp_path):
    args = build_parser().parse_args(["pretrain", "dna", "--out", "x", "--config", str(tmp_path / "nope.yaml")])
    with pytest.raises(ConfigError, match="nope.yaml"):
        pretrain_config_from_args(args)


def test_parser_builds():
    assert isinstance(build_parser(), argparse.ArgumentParser)


def test_a_domain_not_built_yet_says_so_and_exits_non_zero(monkeypatch, capsys):
    import bioR2.cli as cli

    monkeypatch.setattr(cli, "HOOKS", [("pretrain", "protein", "bioR2.protein.cli", "pretrain", "proteins")])
    assert cli.main(["pretrain", "protein"]) == 2
    assert "not built yet" in capsys.readouterr().err


def test_help_does_not_import_torch():
    # domain packages export lazily (bioR2.utils.lazy), so --help answers in a fraction of a second
    code = ("import sys\nfrom bioR2.cli import main\ntry:\n    main(['pretrain', 'dna', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_lazy_exports_keep_functions_named_like_their_module():
    code = ("import bioR2.dna, bioR2.dna.spec, bioR2.sc.spec\n"
            "import types\nfrom bioR2.sc import pretrain\n"
            "assert callable(bioR2.dna.pretrain) and not isinstance(bioR2.dna.pretrain, types.ModuleType)\n"
            "assert not isinstance(pretrain, types.ModuleType)\n"
            "assert 'Genome' in dir(bioR2.dna)\n"
            "try:\n    bioR2.dna.no_such_name\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "no_such_name" in out
