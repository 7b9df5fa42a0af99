"""Helpers shared by the TUI pilot tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.message import Message


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def of_type(messages: list[Message], kind: type) -> list:
    """Messages of a kind, once each (the hook sees a message at every node it bubbles to)."""
    unique = {id(message): message for message in messages if isinstance(message, kind)}
    return list(unique.values())
