"""Player feedback and monitoring: what the narrator wrote, how it went, what the player
thought of it.

Everything stays on the player's machine, in one SQLite file in the user data folder
(``store``). The game hands each narration and each signal (Esc, ``retry``, ``undo``,
``rate good|bad``) to a ``Recorder`` whose thread writes them in batches, so a turn never
waits on the disk (``recorder``); a game's ``FeedbackSession`` (``textgamegen.play.feedback``)
turns its step results into those signals. ``monitor`` summarises the records per model and
flags drift; ``textgamegen feedback export`` writes them as JSONL that ``training/`` reads
with its ``feedback`` source format. Pure Python: no textual, torch or transformers.
"""
