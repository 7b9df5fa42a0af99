"""Keep the native memory of a long session bounded: cap oneDNN's per-shape caches.

A 2,500-command session grew RSS from 381 to 628 MB while Python's own memory stayed flat.
``bench/soak.py`` found where: on a CPU with AVX-512 BF16 the model runs in bfloat16, and
torch runs bfloat16 matrix products through oneDNN, which compiles and keeps one primitive
per input shape, in two caches of 1,024 entries each (oneDNN's own and ideep's LRU cache).
Every narration has a new prompt length, and every decoding step a new key/value length,
so the caches fill for thousands of turns. In float32 (no oneDNN) RSS stays flat.

Capping both caches at ``CACHE_CAPACITY`` entries keeps the shapes used turn after turn
(the decoding steps) and drops the rest; RSS levels off within about 100 turns. The caps are
environment variables read when oneDNN is first used, so they are set before the model
loads, and a value the player set is left alone. ``TEXTGAMEGEN_NATIVE_DEFAULTS=1`` turns
this off (the soak benchmark compares both).

Example::

    cap_native_caches()  # before torch runs its first bfloat16 product
"""

from __future__ import annotations

import os

CACHE_CAPACITY = 64
CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def cap_native_caches(capacity: int = CACHE_CAPACITY) -> dict[str, str]:
    """Set oneDNN's and ideep's cache capacities unless already set.

    Returns:
        The variables as they now stand ({} when turned off).
    """
    if os.environ.get("TEXTGAMEGEN_NATIVE_DEFAULTS", "").strip() not in ("", "0"):
        return {}
    for name in CACHE_VARIABLES:
        os.environ.setdefault(name, str(capacity))
    return {name: os.environ[name] for name in CACHE_VARIABLES}
