"""Hosting the game for many players: the model server (``serve-model``) and the browser
front end (``serve``). Both run on aiohttp, which textual-serve brings."""
