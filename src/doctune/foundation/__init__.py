"""The lowest layer: config, records, JSONL, artifacts, the manifest, errors, and small shared
libraries. It imports no stage and no model code, so every layer above can rely on it."""
