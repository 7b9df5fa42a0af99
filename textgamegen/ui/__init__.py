"""The Textual front end: title screen, the game screen and its panels, dialogs.

Only ``run_tui`` is public. Nothing here imports torch or transformers: the generator is
loaded in a thread worker, so the game is playable while the model wakes up.
"""
