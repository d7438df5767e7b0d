"""The split stage: train/validation/test, grouped by source chunk, then a leak check."""
