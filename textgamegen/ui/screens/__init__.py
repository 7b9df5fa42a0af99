"""Screens: title, the game, help, save/load dialogs and settings."""
