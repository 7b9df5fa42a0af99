"""Quests as they are played: starting one, finishing one, the journal's goal line, and
the end of the game.

The actions start and finish quests (talking to a giver, giving the thing asked for);
the step finishes "reach" quests and checks the win after every turn.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textgamegen.engine.content import ContentKind, EventKind
from textgamegen.engine.turn import Turn, prose_request
from textgamegen.engine.world import PLAYER, GoalKind, QuestState

if TYPE_CHECKING:
    from textgamegen.engine.game import Game


def start_quest(game: Game, turn: Turn, key: str) -> None:
    quest = game.world.quests[key]
    game.state.quests[key] = QuestState.ACTIVE
    turn.changes.append(f"quest:{key}:{QuestState.ACTIVE.value}")
    turn.say(f"New quest: {quest.title}. {goal_text(game, key)}", EventKind.QUEST)
    giver = game.npc(quest.giver)
    turn.ask(
        prose_request(
            ContentKind.QUEST,
            quest.title,
            goal_text(game, key),
            cache_key=f"quest:{key}:given",
            entities=(giver.name,),
            authored=quest.text,
            speaker=giver.name,
            persona=giver.persona,
            topic=quest.title,
        )
    )


def complete_quest(game: Game, turn: Turn, key: str) -> None:
    quest = game.world.quests[key]
    game.state.quests[key] = QuestState.DONE
    turn.changes.append(f"quest:{key}:{QuestState.DONE.value}")
    turn.say(f"Quest complete: {quest.title}.", EventKind.QUEST)
    if quest.reward and game.state.locations[quest.reward] != PLAYER:
        game.state.locations[quest.reward] = PLAYER
        turn.changes.append(f"+{quest.reward}")
        turn.say(f"You receive the {game.name_of(quest.reward)}.", EventKind.QUEST)
    if quest.next and not already_happened(game, quest.next):
        turn.say(f"Next: {quest.next}", EventKind.QUEST)
    giver = game.npc(quest.giver)
    # A quest can end far from its giver (a "reach" goal, a person who is not the giver):
    # then the line is narration, never spoken by someone who is not there.
    here = giver.location == game.state.room
    turn.ask(
        prose_request(
            ContentKind.QUEST if here else ContentKind.ACTION,
            quest.title,
            f"You have finished {quest.title}.",
            cache_key=f"quest:{key}:done",
            entities=(giver.name,) if here else (),
            authored=quest.done_text,
            speaker=giver.name if here else "",
            persona=giver.persona if here else "",
            topic=quest.title,
        )
    )


def _alternatives(names: tuple[str, ...]) -> str:
    return "|".join(re.escape(name) for name in names)


def already_happened(game: Game, text: str) -> bool:
    """Whether a quest's ``next`` tells of a trade that has already been made ("Sister
    Mael gives you a willow tincture"): bringing her the bread finishes the quest in the
    same turn as she hands the tincture over, so that line would come after the fact. A
    line about what to do with the gift ("Tobin's key opens the grille") is still ahead."""
    for npc in game.world.npcs.values():
        gift = npc.gives
        if not gift or game.state.locations[gift] == npc.key:
            continue  # no trade, or not made yet
        handing = re.compile(
            rf"\b(?:{_alternatives(npc.names)})\b[^.;]*?\b(?:give|hand)s? you\b"
            rf"[^.;]*?\b(?:{_alternatives(game.item(gift).names)})\b",
            re.IGNORECASE,
        )
        if handing.search(text):
            return True
    return False


def goal_text(game: Game, key: str) -> str:
    """The quest's goal, naming where the person is once the player has been there."""
    goal = game.world.quests[key].goal

    def where(npc_key: str) -> str:
        room = game.world.npcs[npc_key].location
        return f" ({game.world.rooms[room].name})" if room in game.state.visited else ""

    if goal.kind == GoalKind.BRING:
        thing, person = game.name_of(goal.target), game.name_of(goal.to)
        return f"Bring the {thing} to {person}{where(goal.to)}."
    if goal.kind == GoalKind.REACH:
        return f"Go to {game.name_of(goal.target)}."
    return f"Talk to {game.name_of(goal.target)}{where(goal.target)}."


def check_reached(game: Game, turn: Turn) -> None:
    """Finish every active quest whose goal is the room the player is in."""
    for key, quest in game.world.quests.items():
        if game.state.quests[key] != QuestState.ACTIVE:
            continue
        if quest.goal.kind == GoalKind.REACH and game.state.room == quest.goal.target:
            complete_quest(game, turn, key)


def check_win(game: Game, turn: Turn) -> None:
    win = game.world.win
    if game.state.won:
        return
    if not all(game.state.quests[key] == QuestState.DONE for key in win.quests):
        return
    if not all(flag in game.state.flags for flag in win.flags):
        return
    if win.room and game.state.room != win.room:
        return
    game.state.won = True
    turn.changes.append("won")
    turn.say(win.text, EventKind.WON)
