"""Does the Hugging Face hub answer? Asked once, with a short stated time-out.

``--model gpt2-medium`` against a hub that accepted the connection and never answered hung
forever, and a refused port took 50 s of retries. Before any hub look-up the loader asks
``answers()``: one HTTP request in a daemon thread, given ``TIMEOUT_S`` seconds in all. When
the hub does not answer in time, the look-up runs from the local cache only, so the game
falls back at once while the player waits. The verdict is kept for ``REMEMBER_S`` seconds.
Pure Python (standard library only).

Example::

    if not answers():
        print(unreachable_reason())  # "the hub (https://huggingface.co) did not answer within 3 s"
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from urllib.parse import urlsplit

TIMEOUT_S = 3.0
REMEMBER_S = 60.0
_verdicts: dict[str, tuple[float, bool]] = {}


def endpoint() -> str:
    """The hub's address: huggingface_hub's own setting once it is imported, else
    ``HF_ENDPOINT``, else https://huggingface.co."""
    constants = sys.modules.get("huggingface_hub.constants")
    found = getattr(constants, "ENDPOINT", None) if constants else None
    return (found or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _ask(url: str, timeout: float, verdict: list[bool]) -> None:
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        connection = kind(parts.hostname or "", parts.port, timeout=timeout)
        try:
            connection.request("HEAD", (parts.path or "") + "/api/models?limit=1")
            connection.getresponse()
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError):
        return
    verdict.append(True)  # any HTTP answer, even an error status, means it is there


def answers(timeout: float = TIMEOUT_S) -> bool:
    """Whether the hub gives any HTTP answer within ``timeout`` seconds (at most that long,
    whatever the network does)."""
    url = endpoint()
    now = time.monotonic()
    known = _verdicts.get(url)
    if known is not None and now - known[0] < REMEMBER_S:
        return known[1]
    verdict: list[bool] = []
    worker = threading.Thread(target=_ask, args=(url, timeout, verdict), daemon=True)
    worker.start()
    worker.join(timeout)
    result = bool(verdict)
    if result:
        _short_hub_timeouts()
    _verdicts[url] = (time.monotonic(), result)
    return result


def _short_hub_timeouts() -> None:
    """Once the hub answers, keep huggingface_hub's own waits short too (it reads its
    time-outs at import, so set them on the module when it is already loaded)."""
    for name in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
        os.environ.setdefault(name, "10")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        for name in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
            setattr(constants, name, min(int(getattr(constants, name, 10) or 10), 10))


def unreachable_reason() -> str:
    """Why the hub is not used ("" when it answers)."""
    if answers():
        return ""
    return f"the hub ({endpoint()}) did not answer within {TIMEOUT_S:g} s"


def forget() -> None:
    """Drop remembered verdicts (tests, or after the network comes back)."""
    _verdicts.clear()


def offline() -> bool:
    """Whether the player asked for no network (``HF_HUB_OFFLINE``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
