"""Multiple-choice answer extraction: rules first (`rules.read_choice`), the judge model for
what they cannot settle (`model.ChoiceReader`)."""

from doctune.evaluate.extraction.result import Extracted
from doctune.evaluate.extraction.rules import extract_letter, read_choice

__all__ = ["Extracted", "extract_letter", "read_choice"]
