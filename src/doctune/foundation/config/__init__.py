"""The typed project config: one `doctune.yaml`, validated by pydantic.

Unknown keys are refused with the closest valid key ("did you mean"), `${ENV}` references are
interpolated when the file is read (so secrets stay in the environment), and secrets are held as
`SecretStr` so they never print. CLI flags and `DOCTUNE_*` variables override model roles.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError

from doctune.foundation.config.base import Section
from doctune.foundation.config.data import (
    DEFAULT_FACETS,
    CurateConfig,
    DistillationConfig,
    EvalSetsConfig,
    ExportConfig,
    IngestConfig,
    JudgeFilterConfig,
    PdfSyntheticConfig,
    QuizConfig,
    RephraseConfig,
    SplitConfig,
    SplitSizes,
    SynthesizeConfig,
)
from doctune.foundation.config.evaluate import (
    SUITES,
    EvaluateConfig,
    MMLUSettings,
    RagSettings,
    ReportConfig,
)
from doctune.foundation.config.models import ClientConfig, ModelsConfig, ModelSettings
from doctune.foundation.config.review import ReviewConfig
from doctune.foundation.config.train import (
    DistributedConfig,
    GridSpec,
    HostedConfig,
    Hyperparameters,
    LoraSettings,
    RecipeName,
    TrainConfig,
)
from doctune.foundation.errors import ConfigError

CONFIG_NAME = "doctune.yaml"
# libyaml's loader where PyYAML was built with it (~10x faster: ~3 ms a run in pure Python);
# the same safe subset of YAML and the same values.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROLES = ("teacher", "judge", "student")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


__all__ = [
    "CONFIG_NAME",
    "DEFAULT_FACETS",
    "ROLES",
    "SUITES",
    "ClientConfig",
    "CurateConfig",
    "DistillationConfig",
    "DistributedConfig",
    "EvalSetsConfig",
    "EvaluateConfig",
    "ExportConfig",
    "GridSpec",
    "HostedConfig",
    "Hyperparameters",
    "IngestConfig",
    "JudgeFilterConfig",
    "LoraSettings",
    "MMLUSettings",
    "ModelSettings",
    "ModelsConfig",
    "PdfSyntheticConfig",
    "ProjectConfig",
    "QuizConfig",
    "RagSettings",
    "RecipeName",
    "RephraseConfig",
    "ReportConfig",
    "ReviewConfig",
    "Section",
    "SplitConfig",
    "SplitSizes",
    "SynthesizeConfig",
    "TrainConfig",
    "interpolate_env",
    "load_config",
    "model_settings",
]


class ProjectConfig(Section):
    """Everything doctune needs to know about one project; the root of `doctune.yaml`."""

    name: str = Field(
        "project", description="Project name: in the report and exported dataset names."
    )
    documents: str = Field(
        "documents", description="Folder of domain documents, relative to the project."
    )
    out: str = Field("out", description="Work folder for every artifact, relative to the project.")
    models: ModelsConfig = Field(
        default_factory=ModelsConfig,
        description="The teacher, judge and student roles, and per-model settings.",
    )
    client: ClientConfig = Field(
        default_factory=ClientConfig,
        description="How every model is called: cache, concurrency, sampling.",
    )
    ingest: IngestConfig = Field(
        default_factory=IngestConfig, description="Reading documents into chunks."
    )
    synthesize: SynthesizeConfig = Field(
        default_factory=SynthesizeConfig, description="Writing the training datasets."
    )
    curate: CurateConfig = Field(
        default_factory=CurateConfig, description="Deduplication, grounding and length checks."
    )
    split: SplitConfig = Field(
        default_factory=SplitConfig, description="Train/validation/test splits per dataset."
    )
    evalsets: EvalSetsConfig = Field(
        default_factory=EvalSetsConfig, description="Rephrased questions and quizzes."
    )
    export: ExportConfig = Field(
        default_factory=ExportConfig, description="Training file formats written from the splits."
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig, description="Fine-tuning: students, method, grid, launch."
    )
    evaluate: EvaluateConfig = Field(
        default_factory=EvaluateConfig, description="Models, suites and variants scored."
    )
    report: ReportConfig = Field(
        default_factory=ReportConfig, description="The HTML/Markdown/CSV report."
    )
    review: ReviewConfig = Field(
        default_factory=ReviewConfig,
        description="Human reviews of records (doctune serve, doctune review), applied by split.",
    )

    def section_hash(self, *names: str) -> str:
        """Hash of the named sections (secrets excluded), for up-to-date checks and provenance."""
        data = {n: _public(getattr(self, n)) for n in names}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]


def _public(section: BaseModel) -> Any:
    """A section as plain data with every secret replaced by a marker, never its value."""
    data = section.model_dump(mode="python")

    def scrub(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "<secret>"
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(data)


def interpolate_env(value: Any, *, source: str = CONFIG_NAME) -> Any:
    """Replace `${NAME}` / `${NAME:-default}` in every string of a loaded YAML tree."""
    if isinstance(value, dict):
        return {k: interpolate_env(v, source=source) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, source=source) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: environment variable ${{{name}}} is not set")

    return _ENV_REF.sub(replace, value)


def _did_you_mean(error: dict[str, Any], schema_root: type[BaseModel]) -> str:
    """One line for a pydantic error; for an unknown key, the closest valid key."""
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc)
    if error["type"] != "extra_forbidden":
        return f"{where}: {error['msg']}"
    # Walk the model tree along the location to find the valid keys at that level.
    model: Any = schema_root
    for part in loc[:-1]:
        field = (
            model.model_fields.get(part)
            if isinstance(model, type) and issubclass(model, BaseModel)
            else None
        )
        if field is None:
            model = None
            break
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model = args[-1]  # dict[str, Section] and Optional[Section]
        else:
            model = None
            break
    if model is None and len(loc) >= 2:
        # Inside a dict of sections (models.settings.<spec>.<key>): the parent's value type.
        model = ModelSettings if "settings" in loc else None
    valid = sorted(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
    hint = (
        f"; did you mean '{close[0]}'?"
        if close
        else (f"; valid keys: {', '.join(valid)}" if valid else "")
    )
    return f"unknown key '{where}'{hint}"


def load_config(project_dir: str | Path, *, path: str | Path | None = None) -> ProjectConfig:
    """Read and validate `<project_dir>/doctune.yaml` (or `path`). Errors are one line each."""
    project_dir = Path(project_dir)
    cfg_path = Path(path) if path else project_dir / CONFIG_NAME
    if not cfg_path.is_file():
        raise ConfigError(f"{cfg_path}: no config file (run `doctune init {project_dir}`)")
    try:
        raw = yaml.load(cfg_path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{cfg_path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: the top level must be a mapping of keys")
    raw = interpolate_env(raw, source=str(cfg_path))
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_did_you_mean(e, ProjectConfig) for e in exc.errors()]
        raise ConfigError(f"{cfg_path}: " + "; ".join(lines)) from None


def model_settings(config: ProjectConfig, spec: str) -> ModelSettings:
    """Settings for a spec; a spec with an adapter (`hf:base+adapter`) falls back to its base."""
    if spec in config.models.settings:
        return config.models.settings[spec]
    base = spec.split("+", 1)[0]
    return config.models.settings.get(base, ModelSettings())
