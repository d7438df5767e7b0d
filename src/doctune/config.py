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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from doctune.errors import ConfigError

CONFIG_NAME = "doctune.yaml"
ROLES = ("teacher", "judge", "student")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Section(BaseModel):
    """Base of every config section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSettings(Section):
    """Per-model endpoint and price settings, keyed by spec string in `models.settings`."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; default OPENAI_BASE_URL."
    )
    api_key: SecretStr | None = Field(
        None, description="API key; use ${ENV} to keep it out of the file."
    )
    structured_output: Literal["json_schema", "json_object", "instructions"] = Field(
        "json_schema",
        description="How structured records are asked for: response_format json_schema, "
        "json_object (servers without schema support), or schema in the instructions only.",
    )
    price_input_per_mtok: float = Field(0.0, ge=0, description="USD per 1M prompt tokens.")
    price_output_per_mtok: float = Field(0.0, ge=0, description="USD per 1M completion tokens.")
    max_new_tokens: int = Field(1024, gt=0, description="Default completion limit.")
    batch_size: int = Field(8, gt=0, description="hf: generation batch size.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="hf: weights dtype."
    )
    device: str | None = Field(
        None, description="hf: torch device; default cuda if present, else cpu."
    )


class ModelsConfig(Section):
    teacher: str = Field("openai:gpt-4o-mini", description="Writes synthetic data (spec string).")
    judge: str = Field("openai:gpt-4o", description="Scores answers and filters records.")
    student: str = Field("hf:Qwen/Qwen2.5-7B-Instruct", description="The model to fine-tune.")
    offline_fallback: str | None = Field(
        None,
        description="Used for an openai: teacher/judge when no API key and no base URL is set "
        "(e.g. a small hf: instruct model).",
    )
    settings: dict[str, ModelSettings] = Field(default_factory=dict)


class ClientConfig(Section):
    concurrency: int = Field(16, gt=0, description="Model calls in flight at once.")
    max_retries: int = Field(6, ge=0, description="Retries on 429/5xx/timeouts/connection errors.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    structured_retries: int = Field(
        2, ge=0, description="Re-asks after an invalid structured reply."
    )
    cache: bool = Field(True, description="Persistent SQLite call cache (reruns never pay twice).")
    cache_path: str | None = Field(None, description="Default: <out>/cache/calls.sqlite.")
    temperature: float = Field(
        0.7, ge=0, le=2, description="Default sampling temperature for generation."
    )
    seed: int = Field(0, description="Sampling seed passed to backends that accept one.")


class IngestConfig(Section):
    chunk_tokens: int = Field(384, gt=16, description="Target chunk size in tokens.")
    overlap_tokens: int = Field(
        48, ge=0, description="Tokens repeated between neighbouring chunks."
    )
    tokenizer: str | None = Field(
        None,
        description="hf tokenizer (hub id or path) for counting; default: the teacher's if it is "
        "hf:, else an estimate of ~4 characters per token.",
    )
    include: list[str] = Field(
        default_factory=lambda: [
            "**/*.pdf",
            "**/*.md",
            "**/*.markdown",
            "**/*.txt",
            "**/*.html",
            "**/*.htm",
            "**/*.docx",
            "**/*.csv",
            "**/*.jsonl",
        ],
    )
    exclude: list[str] = Field(default_factory=list)
    pdf_passwords: dict[str, SecretStr] = Field(
        default_factory=dict, description="File name (or glob) -> password for encrypted PDFs."
    )
    min_chars: int = Field(40, ge=0, description="Chunks shorter than this are dropped.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestConfig:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        return self


class PdfSyntheticConfig(Section):
    questions_per_chunk: int = Field(3, gt=0, le=20)
    max_chunks: int | None = Field(None, gt=0, description="Use at most this many chunks.")


DEFAULT_FACETS = [
    "description",
    "function",
    "conditions of reaction",
    "reactant properties",
    "influential factors",
]


class DistillationConfig(Section):
    facets: list[str] = Field(default_factory=lambda: list(DEFAULT_FACETS))
    target_size: int = Field(300, gt=0, description="Approximate number of QA records to write.")
    max_topics: int = Field(40, gt=0)
    context_chunks: int = Field(3, gt=0, description="Chunks given to the teacher per question.")
    max_questions_per_facet: int = Field(8, gt=0)


class SynthesizeConfig(Section):
    recipes: list[Literal["pdf_synthetic", "knowledge_distillation"]] = Field(
        default_factory=lambda: ["pdf_synthetic", "knowledge_distillation"]
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Default: client.temperature.")
    pdf_synthetic: PdfSyntheticConfig = Field(default_factory=PdfSyntheticConfig)
    knowledge_distillation: DistillationConfig = Field(default_factory=DistillationConfig)


class JudgeFilterConfig(Section):
    enabled: bool = False
    threshold: float = Field(6.0, ge=0, le=10, description="Minimum judge score (0-10) to keep.")


class CurateConfig(Section):
    near_duplicate_threshold: float = Field(
        0.85,
        gt=0,
        le=1,
        description="Jaccard similarity (word 3-grams) above which a question is a near-duplicate.",
    )
    grounding: bool = Field(
        True, description="Every number-with-unit in an answer must occur in its sources."
    )
    judge_filter: JudgeFilterConfig = Field(default_factory=JudgeFilterConfig)
    min_question_chars: int = Field(10, ge=0)
    max_question_chars: int = Field(1000, gt=0)
    min_answer_chars: int = Field(20, ge=0)
    max_answer_chars: int = Field(6000, gt=0)


class SplitSizes(Section):
    """Either ratios summing to 1 (0.8/0.1/0.1) or whole counts (the talk: 101/30/25)."""

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1

    @property
    def values(self) -> tuple[float, float, float]:
        return (self.train, self.validation, self.test)

    @property
    def is_count(self) -> bool:
        return all(float(v).is_integer() for v in self.values) and sum(self.values) > 1

    @model_validator(mode="after")
    def _consistent(self) -> SplitSizes:
        if any(v < 0 for v in self.values):
            raise ValueError("split sizes must not be negative")
        if not self.is_count and abs(sum(self.values) - 1.0) > 1e-6:
            raise ValueError(
                f"split sizes are ratios summing to 1 or whole counts, got {self.values}"
            )
        return self


class SplitConfig(Section):
    seed: int = 42
    sizes: dict[str, SplitSizes] = Field(
        default_factory=dict, description="Per recipe; recipes not named use `default`."
    )
    default: SplitSizes = Field(default_factory=SplitSizes)
    leak_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Jaccard similarity of a test/validation question to a train question that counts as a leak.",
    )

    def sizes_for(self, recipe: str) -> SplitSizes:
        return self.sizes.get(recipe, self.default)


class RephraseConfig(Section):
    k: int = Field(1, gt=0, le=10, description="Rephrased variants per question.")
    splits: list[Literal["train", "validation", "test"]] = Field(
        default_factory=lambda: ["test", "train"]
    )
    max_similarity: float = Field(
        0.9,
        gt=0,
        le=1,
        description="A variant this similar (word Jaccard) to the original is rejected.",
    )


class QuizConfig(Section):
    count: int = Field(87, gt=0, description="Quizzes to write (the talk used 87).")
    numeric_tolerance: float = Field(
        0.01, gt=0, description="Relative tolerance when checking a computed option."
    )


class EvalSetsConfig(Section):
    rephrase: RephraseConfig = Field(default_factory=RephraseConfig)
    quiz: QuizConfig = Field(default_factory=QuizConfig)


class ExportConfig(Section):
    formats: list[Literal["sharegpt", "openai", "alpaca"]] = Field(
        default_factory=lambda: ["sharegpt", "openai", "alpaca"]
    )
    system_prompt: str = Field(
        "You are an expert assistant for pharmaceutical manufacturing.",
        description="System message of every exported conversation ('' for none).",
    )
    max_tokens_per_example: int = Field(
        65536, gt=0, description="OpenAI fine-tuning limit per example (checked before upload)."
    )
    tokenizer: str | None = Field(
        None, description="hf tokenizer for token counts; default: the student's."
    )


class ProjectConfig(Section):
    """Everything doctune needs to know about one project; the root of `doctune.yaml`."""

    name: str = "project"
    documents: str = Field(
        "documents", description="Folder of domain documents, relative to the project."
    )
    out: str = Field("out", description="Work folder for every artifact, relative to the project.")
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    synthesize: SynthesizeConfig = Field(default_factory=SynthesizeConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    evalsets: EvalSetsConfig = Field(default_factory=EvalSetsConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

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
        raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
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


def resolve_role(config: ProjectConfig, role: str, override: str | None = None) -> str:
    """The spec string for a model role: flag > DOCTUNE_<ROLE> > config, then the offline fallback.

    An `openai:` teacher or judge with no API key and no base URL anywhere falls back to
    `models.offline_fallback` so the example runs with no account and no server.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown model role '{role}' (roles: {', '.join(ROLES)})")
    spec = override or os.environ.get(f"DOCTUNE_{role.upper()}") or getattr(config.models, role)
    explicit = bool(override or os.environ.get(f"DOCTUNE_{role.upper()}"))
    if (
        not explicit
        and role != "student"
        and spec.startswith("openai:")
        and config.models.offline_fallback
        and not _has_openai_endpoint(config, spec)
    ):
        return config.models.offline_fallback
    return spec


def _has_openai_endpoint(config: ProjectConfig, spec: str) -> bool:
    settings = config.models.settings.get(spec)
    if settings and (settings.base_url or settings.api_key):
        return True
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def model_settings(config: ProjectConfig, spec: str) -> ModelSettings:
    """Settings for a spec; a spec with an adapter (`hf:base+adapter`) falls back to its base."""
    if spec in config.models.settings:
        return config.models.settings[spec]
    base = spec.split("+", 1)[0]
    return config.models.settings.get(base, ModelSettings())
