"""Model folders: the registry of installed models, loading (safetensors only), GGUF bases,
LoRA adapters, memory checks, scratch sizes, random test models and the vLLM export.

``registry``, ``loader``, ``hub`` and ``memory`` are cheap to import; the rest import torch
or transformers and are reached only from the loader, inside a worker.
"""
