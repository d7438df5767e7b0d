"""CLI commands that belong to one part of doctune (train, evaluate, report, chat), each a thin
click command over library functions; `doctune.cli` registers them."""
