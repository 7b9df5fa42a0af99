"""The device and dtype choices are declared once (``config.DEVICES``/``DTYPES``) and the
settings' help lives in field metadata; the CLI flags, the settings screen and the checks
all read them from there."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from textgamegen.__main__ import build_parser
from textgamegen.config import (
    DEVICES,
    DTYPES,
    SamplingSettings,
    Settings,
    SettingsError,
    field_help,
    one_of,
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", ["play", "generate", "serve", "serve-model"])
def test_device_flags_take_the_declared_choices_and_help(command: str) -> None:
    parser = _subparsers(build_parser())[command]
    [device] = [action for action in parser._actions if "--device" in action.option_strings]
    assert tuple(device.choices) == DEVICES
    assert field_help(Settings)["device"] in (device.help or "")


def test_the_settings_fields_carry_their_choices_and_help() -> None:
    by_name = {item.name: item for item in fields(Settings)}
    assert by_name["device"].metadata["choices"] == DEVICES
    assert by_name["dtype"].metadata["choices"] == DTYPES
    for kind in (Settings, SamplingSettings):
        helps = field_help(kind)
        missing = [name for name, text in helps.items() if not text and name != "sampling"]
        assert not missing, f"{kind.__name__} fields without help: {missing}"
    assert "registry name" in field_help(Settings)["model"]


@pytest.mark.parametrize(
    ("key", "bad", "choices"), [("device", "gpu", DEVICES), ("dtype", "int4", DTYPES)]
)
def test_the_check_names_the_declared_choices(key: str, bad: str, choices: tuple) -> None:
    for good in choices:
        Settings(**{key: good})
    with pytest.raises(SettingsError, match=f"{key} must be {one_of(choices)}"):
        Settings(**{key: bad})


def test_the_settings_screen_offers_the_declared_choices() -> None:
    from textual.widgets import Select

    from textgamegen.ui.screens.settings import SettingsScreen

    screen = SettingsScreen(Settings())
    for item in fields(Settings):
        if item.name in ("device", "dtype"):
            editor = screen._editor("setting", item, getattr(Settings(), item.name))
            assert isinstance(editor, Select)
            assert (
                tuple(value for _, value in editor._options if value != Select.BLANK)
                == (item.metadata["choices"])
            )


def test_one_of() -> None:
    assert one_of(("auto", "cpu", "cuda")) == "auto, cpu or cuda"
    assert one_of(("auto",)) == "auto"
