"""The export stage: ShareGPT + dataset_info.json, OpenAI chat JSONL, Alpaca, LLaMA-Factory YAMLs."""
