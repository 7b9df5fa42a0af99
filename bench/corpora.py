"""Where the benchmarks find NLTK's data: ``NLTK_DATA`` when it is set, else the
``nltk_data`` folder of the shared corpora that the shipped training config names as its
``root`` (``../shared/corpora`` beside the checkout), never a fixed machine path.

Example::

    where = use_nltk_data()   # "" when neither is there: the corpus code says what it falls back to
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPO / "training" / "configs" / "textgamegen.toml"


def corpora_root() -> Path:
    """The shared corpora folder, as the shipped training config resolves it."""
    from training.config import load_config

    return load_config(SHIPPED_CONFIG).root


def use_nltk_data(root: Path | None = None) -> str:
    """Point NLTK at its data unless ``NLTK_DATA`` already does; return the folder used.

    Args:
        root: the corpora folder holding ``nltk_data/`` (default: ``corpora_root()``).

    Returns:
        ``NLTK_DATA`` as it now is, or "" when it is unset and there is no such folder.
    """
    if os.environ.get("NLTK_DATA"):
        return os.environ["NLTK_DATA"]
    nltk_data = (root if root is not None else corpora_root()) / "nltk_data"
    if nltk_data.is_dir():
        os.environ["NLTK_DATA"] = str(nltk_data)
        return str(nltk_data)
    return ""
