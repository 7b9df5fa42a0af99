"""The narrators: the ``Generator`` protocol and its backends (template, causal LM, remote),
with the decoding loop, streaming, device choice and the rerank.

Cheap to import except ``causal_lm``, ``decode`` and ``device``, which import torch; the
model loader imports them lazily, inside the generation worker.
"""
