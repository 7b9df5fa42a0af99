"""The narrator's language: tags, the prompt layout, prompt templates, cleanup, canon checks.

Pure Python, shared by the game and ``training/``: the model is trained on exactly the text
these modules write and read.
"""
