"""TextGameGen: a terminal text adventure narrated by a small local language model."""

__version__ = "0.1.0"
