"""The ways out of a room as commands name them.

An exit can be the thing a command is about ("open the gate", "unlock the door"), so it
stands in a scope beside item and NPC keys under an exit key: ``"exit:north"``.
``exit_key`` makes one and ``exit_direction`` reads one back; nothing else takes these
strings apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textgamegen.engine.world import Exit

if TYPE_CHECKING:
    from textgamegen.engine.game import Game

EXIT_PREFIX = "exit:"


def exit_key(direction: str) -> str:
    """The scope key of the exit that leads ``direction`` ("exit:north")."""
    return f"{EXIT_PREFIX}{direction}"


def exit_direction(key: str) -> str:
    """The direction an exit key names ("north"), or "" when the key is not an exit's."""
    return key[len(EXIT_PREFIX) :] if key.startswith(EXIT_PREFIX) else ""


def door_keys(game: Game) -> list[str]:
    """The exit keys of the current room, for a command's scope."""
    return [exit_key(direction) for direction in game.room().exits]


def way_key(room: str, direction: str) -> str:
    """How an unlocked exit is remembered in the game state: "hall.east"."""
    return f"{room}.{direction}"


def is_locked(game: Game, exit_: Exit) -> bool:
    return exit_.locked and way_key(game.state.room, exit_.direction) not in game.state.unlocked
