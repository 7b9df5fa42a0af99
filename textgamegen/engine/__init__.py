"""The game engine: worlds, parser, game loop and saves (a game played with a narrator,
scripted or not, is ``textgamegen.play``).

Pure Python. It never imports textual, torch or transformers (a test holds this), so the
game state can be built, stepped, saved and tested without any of them.
"""
