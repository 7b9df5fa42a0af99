"""Say in short why transformers refused a model's weights.

transformers logs a "LOAD REPORT" table (missing, unexpected and mismatched keys) and then
raises "... For details look at the above report!". The game silences transformers' logs
(they would corrupt the TUI), so the player saw the pointer and no report. The report's
data is still on the failing frame; this reads it and writes a one-line summary.
Pure Python: the error is only inspected.

Example::

    except Exception as error:
        raise GeneratorError(f"{path}: the model could not be loaded: {explain(error)}")
"""

from __future__ import annotations

from typing import Any

SHOWN = 3


def _names(keys: Any) -> list[str]:
    return sorted(str(key) for key in keys)


def _loading_info(error: BaseException) -> Any | None:
    trace = error.__traceback__
    found = None
    while trace is not None:
        info = trace.tb_frame.f_locals.get("loading_info")
        if info is not None and hasattr(info, "mismatched_keys"):
            found = info
        trace = trace.tb_next
    return found


def _listed(what: str, items: list[str]) -> str:
    more = f", and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} {what} ({'; '.join(items[:SHOWN])}{more})"


def summarise(info: Any) -> str:
    """Mismatched, missing, unexpected and unconverted keys, a few of each."""
    parts = []
    mismatched = sorted(getattr(info, "mismatched_keys", ()) or (), key=lambda k: str(k[0]))
    if mismatched:
        shapes = [
            f"{key}: checkpoint {tuple(ckpt)} vs model {tuple(model)}"
            for key, ckpt, model in mismatched
        ]
        parts.append(_listed("mismatched shapes", shapes))
    missing = _names(getattr(info, "missing_keys", ()) or ())
    if missing:
        parts.append(_listed("missing weights", missing))
    unexpected = _names(getattr(info, "unexpected_keys", ()) or ())
    if unexpected:
        parts.append(_listed("unexpected weights", unexpected))
    conversion = getattr(info, "conversion_errors", {}) or {}
    if conversion:
        parts.append(_listed("conversion errors", [f"{k}: {v}" for k, v in conversion.items()]))
    return "; ".join(parts)


def explain(error: BaseException) -> str:
    """The error's message, with transformers' unseen load report summarised in its place
    when the message points at it; never empty."""
    message = str(error).strip() or type(error).__name__
    if "above report" not in message:
        return message
    info = _loading_info(error)
    summary = summarise(info) if info is not None else ""
    if not summary:
        return f"{message.split('. For details')[0]} (transformers gave no details)"
    return f"the weights do not match config.json: {summary}"
