"""Bedrock's host-side tools (console scripts listed in pyproject.toml)."""

__version__ = "1.5.0"
