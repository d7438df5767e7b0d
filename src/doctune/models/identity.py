"""What the call cache keys a model's calls on, known without loading the model."""

from __future__ import annotations

import hashlib
from pathlib import Path

from doctune.foundation.config import ModelSettings
from doctune.models.spec import capabilities, parse_spec

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def weights_fingerprint(*targets: str | None) -> str:
    """Names, sizes and modification times of the weight files in local folders (a hub id
    contributes nothing: its revision is its identity). Cheap even for a 15 GB model."""
    digest = hashlib.sha256()
    for target in targets:
        folder = Path(target).expanduser() if target else None
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix in _WEIGHT_SUFFIXES and path.is_file():
                stat = path.stat()
                digest.update(
                    f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
                )
    return digest.hexdigest()[:16]


def backend_identity(spec: str, settings: ModelSettings) -> str:
    """The spec, plus what else decides the replies: for `hf:` a fingerprint of the local weights
    (a retrained adapter at the same path is never answered from the old one's cache), for
    `openai:` a structured-output mode other than json_schema (it changes the request sent)."""
    parsed = parse_spec(spec)
    if capabilities(parsed).local:
        return f"{parsed}#{weights_fingerprint(parsed.model, parsed.adapter)}"
    if settings.structured_output != "json_schema":
        return f"{spec}#{settings.structured_output}"
    return spec
