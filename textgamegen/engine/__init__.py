"""The game engine: worlds, parser, game loop, saves and scripted playthroughs.

Pure Python. It never imports textual, torch or transformers (a test holds this), so the
game state can be built, stepped, saved and tested without any of them.
"""
