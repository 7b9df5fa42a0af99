"""The text generator: interface, GPT-2 backend, template backend, prompts, cleanup, registry.

Only ``generation.gpt2`` (and what it imports lazily) touches torch or transformers, and
only inside a worker; everything else here is cheap to import.
"""
