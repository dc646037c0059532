"""servedeck: a keyboard-driven terminal cockpit for LLM-serving fleets."""

__version__ = "0.1.0"
