"""The text generator: interface, GPT-2 backend, template backend, prompts, cleanup, registry.

Cheap to import: ``base``, ``loader``, ``registry``, ``prompts``, ``cleanup``, ``rerank``
and ``stream`` are pure Python. Only the GPT-2 backend's modules (``hf``, ``gpt2``,
``decode``, ``device``, ``random_model``) import torch or transformers, and the loader
imports them lazily, inside the generation worker.
"""
