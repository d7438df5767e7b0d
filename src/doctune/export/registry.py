"""The export formats by name, one `register` line each, in the order they are written
(LLaMA-Factory's YAMLs come after the ShareGPT files they name). A new format is its module
plus one line here."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from doctune.export.alpaca import Alpaca
from doctune.export.format import ExportFormat
from doctune.export.llamafactory import LlamaFactoryConfigs
from doctune.export.openai_chat import OpenAIChat
from doctune.export.sharegpt import ShareGPT
from doctune.foundation.errors import ConfigError

_FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> None:
    _FORMATS[fmt.name] = fmt


def unregister(name: str) -> None:
    _FORMATS.pop(name, None)


def known_formats() -> list[str]:
    return list(_FORMATS)


def export_format(name: str) -> ExportFormat:
    """The registered format; a ConfigError naming the known ones for any other name."""
    fmt = _FORMATS.get(name)
    if fmt is None:
        close = difflib.get_close_matches(name, known_formats(), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown export format '{name}' (known: {', '.join(known_formats())}){hint}"
        )
    return fmt


def resolve_formats(names: Iterable[str]) -> list[ExportFormat]:
    """The formats named plus those they need, in registry order."""
    chosen: set[str] = set()
    pending = list(names)
    while pending:
        fmt = export_format(pending.pop())
        if fmt.name not in chosen:
            chosen.add(fmt.name)
            pending += fmt.needs
    return [fmt for name, fmt in _FORMATS.items() if name in chosen]


register(ShareGPT())
register(OpenAIChat())
register(Alpaca())
register(LlamaFactoryConfigs())
