"""How a tiny random model (`doctune make-tiny-model`, `doctune.testing.tiny_model`) marks itself,
so the report can call a run that used one a smoke run without importing the test helpers."""

from __future__ import annotations

# A file beside the weights of a folder built by make-tiny-model.
MARKER = "doctune_tiny_model.json"
# Written into config.json, so the model says what it is wherever it is copied or saved from
# (save_pretrained keeps unknown config keys): the report calls a run using one a smoke run.
TINY_RANDOM_KEY = "doctune_tiny_random"
