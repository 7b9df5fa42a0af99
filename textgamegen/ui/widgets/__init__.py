"""Widgets of the game screen, one module per screen area."""
