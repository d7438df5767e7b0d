"""The command line: commands in pipeline order, role flags only where a stage uses the role,
flags generated from the config models, and `doctune config`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field
from tests.train.test_stage import make_project

from doctune.cli import main
from doctune.commands.common import STAGE_ROLES
from doctune.commands.flags import given, model_flags
from doctune.foundation.config import ROLES, DistributedConfig, EvaluateConfig, ProjectConfig
from doctune.foundation.config.describe import fields_of
from doctune.pipeline import STAGE_NAMES, STAGES


def _help(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_the_stage_commands_in_pipeline_order() -> None:
    listed = re.findall(r"^  ([a-z-]+)\s", _help().split("Commands:")[1], flags=re.M)
    stages = [name for name in listed if name in STAGE_NAMES]
    assert stages == list(STAGE_NAMES)
    assert listed[:2] == ["init", "run"]


def test_role_flags_only_where_a_stage_uses_the_role() -> None:
    for stage in STAGE_NAMES:
        shown = {role for role in ROLES if f"--{role} " in _help(stage)}
        assert shown == set(STAGE_ROLES[stage]), stage
    assert all(f"--{role} " in _help("run") for role in ROLES)
    refused = CliRunner().invoke(main, ["split", ".", "--teacher", "openai:gpt-4o-mini"])
    assert refused.exit_code == 2 and "No such option '--teacher'" in refused.output


def test_the_roles_a_stage_calls_have_their_flag() -> None:
    assert set(STAGE_ROLES) == set(STAGE_NAMES)
    for stage in STAGES:
        assert set(stage.roles) <= set(STAGE_ROLES[stage.name]), stage.name


class Toy(BaseModel):
    mode: Literal["fast", "slow"] = Field("fast", description="How to go.")
    workers: int = Field(1, gt=0, le=8, description="Workers in all.")
    verbose: bool = Field(False, description="Say more.")
    colour: bool = Field(True, description="Colour the output.")
    host: str | None = Field(None, description="Where to go.")


@click.command()
@model_flags(Toy)
def toy(**values: object) -> None:
    click.echo(repr(sorted(given(dict(values), Toy).items())))


def test_flags_come_from_the_models_fields() -> None:
    runner = CliRunner()
    assert runner.invoke(toy, []).output.strip() == "[]"  # nothing given: the config stands
    args = ["--mode", "slow", "--workers", "8", "--verbose", "--no-colour", "--host", "h"]
    chosen = runner.invoke(toy, args).output.strip()
    expected = [("colour", False), ("host", "h"), ("mode", "slow"), ("verbose", True)]
    assert chosen == repr(sorted([*expected, ("workers", 8)]))
    for bad in (["--workers", "0"], ["--workers", "9"], ["--mode", "medium"]):
        assert runner.invoke(toy, bad).exit_code == 2, bad
    shown = runner.invoke(toy, ["--help"]).output
    assert "Workers in all." in shown and "[fast|slow]" in shown and "1<=x<=8" in shown


def test_train_flags_are_the_distributed_fields() -> None:
    shown = " ".join(_help("train").split())
    for name, field in DistributedConfig.model_fields.items():
        assert f"--{name.replace('_', '-')}" in shown
        assert " ".join(str(field.description).split()) in shown, name


def test_evaluate_flags_are_the_configs_models_and_suites() -> None:
    shown = " ".join(_help("evaluate").split())
    for name in ("models", "suites"):
        described = " ".join(str(EvaluateConfig.model_fields[name].description).split())
        assert f"--{name} TEXT Comma-separated. {described}" in shown
        assert f"(default: evaluate.{name} of the config)" in shown


def test_distributed_flags_reach_the_stage_and_are_validated_there(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    project = make_project(tmp_path / "p", f"hf:{tiny_model_dir}", {"max_length": 128})
    args = ["train", str(project), "--no-progress", "--deepspeed", "zero2", "--fsdp"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "train.distributed: choose DeepSpeed or FSDP, not both" in result.output


def test_every_config_field_has_a_description() -> None:
    fields = fields_of(ProjectConfig)
    assert len(fields) > 150
    assert [f.path for f in fields if not f.description] == []


def test_config_prints_a_sections_fields_with_type_default_and_description() -> None:
    result = CliRunner().invoke(main, ["config", "train.distributed"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "train.distributed.num_processes: int (> 0) = 1" in lines
    assert "    Processes in all (accelerate)." in lines
    assert "train.distributed.deepspeed: 'zero2' | 'zero3' | None = None" in lines
    assert not any(line.startswith("train.lora") for line in lines)
    everything = CliRunner().invoke(main, ["config"]).output
    assert "evaluate.mmlu.few_shot: int (>= 0) = 5" in everything
    assert "models.settings.<key>.context_length:" in everything
    assert (
        "synthesize.recipes: list[str] = ['pdf_synthetic', 'knowledge_distillation']" in everything
    )


@pytest.mark.parametrize("section", ["trian", "train.distributd"])
def test_config_names_the_closest_section_of_a_misspelt_one(section: str) -> None:
    result = CliRunner().invoke(main, ["config", section])
    assert result.exit_code == 2
    assert f"unknown config section '{section}' (did you mean 'train" in result.output
