"""doctune: customize an LLM for a domain, and measure honestly whether it learned."""

__version__ = "0.1.0"
