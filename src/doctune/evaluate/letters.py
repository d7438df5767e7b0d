"""Kept for the callers that read a letter only: the rules live in doctune.evaluate.extraction."""

from doctune.evaluate.extraction import extract_letter

__all__ = ["extract_letter"]
