"""Model server addresses: ``openai:http://HOST:PORT/v1#MODEL`` taken apart.

Two forms, by the API the game speaks to the server:

- ``openai:`` the completions API (``/v1/completions``: ``textgamegen serve-model``, vLLM),
  with our own special-token prompt; a server that has no completions route (Ollama's,
  LM Studio's, many hosted ones) is spoken to in chat instead, found on the first request;
- ``openai-chat:`` the chat completions API (``/v1/chat/completions``) from the start: a
  system message with the narration rules, then the story, the facts and the request, for
  the instruct models players already run.

Pure Python, so the settings can check an address without importing a narrator (the
settings are read by every narrator, and a check that imported one made a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

PREFIX = "openai:"
CHAT_PREFIX = "openai-chat:"
PREFIXES = (PREFIX, CHAT_PREFIX)
FORM = (
    "openai:http://HOST:PORT/v1#MODEL or openai-chat:http://HOST:PORT/v1#MODEL "
    "(MODEL may be left out)"
)
COMPLETIONS = "completions"
CHAT = "chat"


class EndpointError(ValueError):
    """A model server address of the wrong form; the message shows the right one."""


@dataclass(frozen=True)
class Endpoint:
    """Where the server is."""

    scheme: str
    host: str
    port: int
    path: str  # the API root, "/v1"
    model: str  # "" asks the server for its first model
    api: str = COMPLETIONS  # COMPLETIONS (``openai:``) or CHAT (``openai-chat:``)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"


def is_model_url(model: str) -> bool:
    """Whether a model name is a server address rather than a model here."""
    return model.startswith(PREFIXES)


def parse_model_url(model: str) -> Endpoint:
    """Take ``openai:http://HOST:PORT/v1#MODEL`` (or ``openai-chat:...``) apart.

    Raises:
        EndpointError: the form is wrong; the message shows the right one.
    """
    if not is_model_url(model):
        raise EndpointError(f"{model!r} is not a model server address: use {FORM}")
    api = CHAT if model.startswith(CHAT_PREFIX) else COMPLETIONS
    url = model.split(":", 1)[1].strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EndpointError(f"{model!r}: {error}; use {FORM}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"{model!r}: not an http(s) URL with a host; use {FORM}")
    if parts.query:
        raise EndpointError(f"{model!r}: a query string is not allowed; use {FORM}")
    default = 443 if parts.scheme == "https" else 80
    path = parts.path.rstrip("/") or "/v1"
    return Endpoint(parts.scheme, parts.hostname, port or default, path, parts.fragment, api)
