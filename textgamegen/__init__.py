"""TextGameGen: a terminal text adventure narrated by a local GPT-2."""

__version__ = "0.1.0"
