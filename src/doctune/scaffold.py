"""`doctune init`: a project folder with a commented doctune.yaml and an empty documents/."""

from __future__ import annotations

from pathlib import Path

from doctune.foundation.config import CONFIG_NAME
from doctune.foundation.errors import ConfigError

TEMPLATE = """\
# doctune project config. Every key is optional; `doctune <command> --help` lists the commands.
name: {name}
documents: documents        # pdf, md, txt, html, docx, csv/jsonl records
out: out

models:
  # Spec strings: openai:<model> (OPENAI_BASE_URL / OPENAI_API_KEY or settings below: OpenAI,
  # vLLM, Ollama, llama.cpp server) or hf:<hub id or local path>[+<adapter dir>].
  teacher: openai:gpt-4o-mini
  judge: openai:gpt-4o
  student: hf:Qwen/Qwen2.5-7B-Instruct
  # Used for teacher/judge when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set.
  offline_fallback: hf:Qwen/Qwen2.5-1.5B-Instruct
  settings:
    openai:gpt-4o-mini:
      price_input_per_mtok: 0.15
      price_output_per_mtok: 0.60
      # api_key: ${{MY_KEY}}      # secrets come from the environment, never from this file
    openai:gpt-4o:
      price_input_per_mtok: 2.50
      price_output_per_mtok: 10.00

client:
  # A ceiling: calls are paced by the provider's rate-limit headers and back off on a 429.
  concurrency: 64
  max_retries: 6

ingest:
  chunk_tokens: 384
  overlap_tokens: 48

synthesize:
  recipes: [pdf_synthetic, knowledge_distillation]
  pdf_synthetic:
    questions_per_chunk: 3
  knowledge_distillation:
    target_size: 300

split:
  seed: 42
  default: {{train: 0.8, validation: 0.1, test: 0.1}}

# Reviews (doctune serve, doctune review) live in reviews.sqlite beside this file; split applies them.
review:
  require_approval: false   # true: export only the records a reviewer approved or edited
  # user: your-name         # in the audit trail; default: the OS user
"""


def scaffold(project: str | Path) -> Path:
    project = Path(project)
    config = project / CONFIG_NAME
    if config.exists():
        raise ConfigError(f"{config}: already exists; not overwritten")
    (project / "documents").mkdir(parents=True, exist_ok=True)
    config.write_text(TEMPLATE.format(name=project.resolve().name), encoding="utf-8")
    return config
