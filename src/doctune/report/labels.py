"""Short names for models in the report: a row reads "tiny-model (base)", not a ten-line absolute
path; the full spec stays on hover (HTML title) and in results.csv."""

from __future__ import annotations

import re
from pathlib import PurePath

from doctune.foundation.errors import ConfigError
from doctune.models.spec import capabilities, parse_spec

# Folder names that say what a folder holds, not which model it is: the report names such a
# folder by its parent too ("smoke-run/adapter", not "adapter").
_GENERIC = re.compile(r"^(adapter|adapters|merged|model|final|output|checkpoint-\d+|run)$")
MAX_LABEL = 64


def _is_local(name: str) -> bool:
    """A hub id is `name` or `org/name`; anything else (absolute, ./, ~, deeper) is a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _short_path(name: str) -> str:
    parts = [p for p in PurePath(name.rstrip("/\\")).parts if p not in ("/", "\\")]
    if not parts:
        return name
    if len(parts) > 1 and _GENERIC.match(parts[-1]):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def short_spec(spec: str) -> str:
    """`hf:/abs/.../tiny-model+/abs/.../smoke/adapter` -> `tiny-model + smoke/adapter`;
    `hf:Qwen/Qwen2.5-7B-Instruct` -> the hub id; `openai:` specs stay as they are."""
    try:
        parsed = parse_spec(spec)
    except ConfigError:
        return spec
    if not capabilities(parsed).local:
        return spec
    model = _short_path(parsed.model) if _is_local(parsed.model) else parsed.model
    if parsed.adapter:
        return f"{model} + {_short_path(parsed.adapter)}"
    return model


def short_label(label: str, spec: str) -> str:
    """A row's label with its spec shortened where the label spells the spec out ("<spec>
    (base)", a baseline's bare spec); experiment labels ("exp3 (pdf_synthetic)") are kept."""
    if spec and label.startswith(spec):
        label = short_spec(spec) + label[len(spec) :]
    return middle_ellipsis(label)


def shorten_label(label: str) -> str:
    """A label whose spec is not at hand: "<spec> (base)" or a bare spec, shortened; others kept."""
    spec, sep, rest = label.partition(" (")
    if ":" not in spec:
        return middle_ellipsis(label)
    return middle_ellipsis(short_spec(spec) + sep + rest)


def middle_ellipsis(text: str, limit: int = MAX_LABEL) -> str:
    """Long names keep their start and their end (where run names differ)."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
