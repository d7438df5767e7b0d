"""The pages, one module per kind, each exporting `routes`; the app mounts them in this order."""

from __future__ import annotations

from types import ModuleType

from doctune.serve.views import (
    api,
    chat,
    compare,
    datasets,
    documents,
    overview,
    records,
    report,
)

VIEWS: list[ModuleType] = [
    overview,
    documents,
    datasets,
    records,
    compare,
    chat,
    report,
    api,
]
