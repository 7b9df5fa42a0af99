"""The settings screen: the model, the device and the sampling values.

Models come from the registry (shipped and user models) plus "template", the fallback
that needs no model. Saving writes the config TOML with ``config.save_settings`` and
dismisses with the new ``Settings``; the app then reloads the generator if needed.

A web player of ``serve`` (``hosted``) sees only their own part (``config.PLAYER_SETTINGS``
and sampling): the model, device, threads and files are the host's, and Save writes the
player's own file, never the host's ``config.toml``.
"""

from __future__ import annotations

from dataclasses import Field, fields
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch

from textgamegen.config import (
    PLAYER_SETTINGS,
    SamplingSettings,
    Settings,
    SettingsError,
    save_player_settings,
    save_settings,
)
from textgamegen.endpoint import is_model_url
from textgamegen.paths import for_player, hosted
from textgamegen.safe_text import strip_unsafe


def model_choices(current: str) -> list[tuple[str, str]]:
    """(label, value) for every installed model, "template", and the current one.

    The registry is read here, not at start-up; a broken registry still leaves "template".
    """
    choices: list[tuple[str, str]] = []
    try:
        from textgamegen.models.registry import list_models

        models = list_models()
    except OSError:  # an unreadable models folder still leaves the fallback
        models = []
    for info in models:
        choices.append((f"{info.name}  ({info.source})", info.name))
    choices.append(("template  (no model, deterministic)", "template"))
    if current not in {value for _, value in choices}:
        where = "model server" if is_model_url(current) else "as configured"
        choices.insert(0, (f"{current}  ({where})", current))
    return choices


def switch_word(on: bool) -> str:
    """A switch's state in words, for a screen without colour (or a reader of it)."""
    return "✔ on" if on else "✘ off"


def _switch_state(group: str, name: str, value: bool) -> Label:
    return Label(switch_word(value), id=f"{group}-{name}-state", classes="switch-state")


def _label(item: Field[Any]) -> Label:
    """The field's name; its help (config's field metadata) is the tooltip."""
    label = Label(item.name.replace("_", " "), classes="setting-label")
    if item.metadata.get("help"):
        label.tooltip = item.metadata["help"]
    return label


def _host_only() -> tuple[str, ...]:
    """Settings a web player is not shown: naming an environment variable of the host's
    would send its value, as an API key, to the model server."""
    return ("api_key_env",) if hosted() else ()


class SettingsScreen(ModalScreen[Settings | None]):
    """Edit and save the settings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="settings.cancel"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the settings", id="settings.save"),
    ]

    def __init__(
        self, settings: Settings, *, hosted: bool = False, player_file: Path | None = None
    ) -> None:
        """Args:
        settings: the settings in use.
        hosted: a web player's game: only their own part is shown and saved.
        player_file: where a web player's part is saved (None: kept for this game only).
        """
        super().__init__()
        self.settings = settings
        self.hosted = hosted
        self.player_file = player_file

    def _shown(self) -> list[Field[Any]]:
        """The top-level fields on the form: all of them, or a web player's own."""
        return [
            item
            for item in fields(Settings)
            if item.name != "sampling"
            and item.name not in _host_only()
            and (not self.hosted or item.name in PLAYER_SETTINGS)
        ]

    def compose(self) -> ComposeResult:
        settings = self.settings
        with Vertical(id="settings-box", classes="dialog"):
            yield Label("Settings", classes="dialog-title")
            if self.hosted:
                yield Label(
                    "Your own settings for this game; the model is the host's.",
                    id="settings-hosted",
                    classes="dialog-subtitle",
                )
            with VerticalScroll(id="settings-form"):
                for item in self._shown():
                    with Horizontal(classes="setting"):
                        yield _label(item)
                        value = getattr(settings, item.name)
                        yield self._editor("setting", item, value)
                        if isinstance(value, bool):
                            yield _switch_state("setting", item.name, value)
                yield Label("Sampling", classes="dialog-subtitle")
                for item in fields(SamplingSettings):
                    with Horizontal(classes="setting"):
                        yield _label(item)
                        value = getattr(settings.sampling, item.name)
                        yield self._editor("sampling", item, value)
                        if isinstance(value, bool):
                            yield _switch_state("sampling", item.name, value)
            yield Static(id="settings-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="settings-save", variant="primary")
                yield Button("Cancel", id="settings-cancel")

    def _editor(self, group: str, item: Field[Any], value: object) -> Widget:
        """A Select for fields with fixed choices, a Switch for flags, else an Input."""
        widget_id = f"{group}-{item.name}"
        if group == "setting" and item.name == "model":
            choices = model_choices(str(value))
            return Select(choices, value=value, allow_blank=False, id=widget_id)
        if item.metadata.get("choices"):
            options = [(choice, choice) for choice in item.metadata["choices"]]
            return Select(options, value=value, allow_blank=False, id=widget_id)
        if isinstance(value, bool):
            return Switch(value, id=widget_id)
        if isinstance(value, int):
            return Input(str(value), type="integer", id=widget_id)
        if isinstance(value, float):
            return Input(str(value), type="number", id=widget_id)
        return Input(str(value), id=widget_id)

    def on_mount(self) -> None:
        self.query_one("#settings-error").display = False

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id:
            state = self.query(f"#{event.switch.id}-state")
            if state:
                state.first(Label).update(switch_word(event.value))

    def collect(self) -> Settings:
        """Build Settings from the form; SettingsError names the bad field.

        It starts from the current settings, so a field the form does not show is kept.
        """
        data = self.settings.to_dict()
        for item in self._shown():
            data[item.name] = self._read("setting", item.name, data[item.name])
        sampling = data["sampling"]
        for item in fields(SamplingSettings):
            sampling[item.name] = self._read("sampling", item.name, sampling[item.name])
        return Settings.from_dict(data, source="settings")

    def _read(self, group: str, name: str, current: Any) -> Any:
        widget = self.query_one(f"#{group}-{name}")
        key = name if group == "setting" else f"{group}.{name}"
        if isinstance(widget, (Select, Switch)):
            return widget.value
        assert isinstance(widget, Input)
        text = widget.value.strip()
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            return widget.value
        try:
            return type(current)(text)
        except ValueError:
            kind = "whole number" if isinstance(current, int) else "number"
            raise SettingsError(f"{key}: {widget.value!r} is not a {kind}") from None

    @on(Button.Pressed, "#settings-save")
    def action_save(self) -> None:
        try:
            settings = self.collect()
            if not self.hosted:
                save_settings(settings)
            elif self.player_file is not None:
                save_player_settings(settings, self.player_file)
        except (SettingsError, OSError) as error:
            line = self.query_one("#settings-error", Static)
            line.update(Text(for_player(strip_unsafe(str(error)))))
            line.display = True
            return
        self.dismiss(settings)

    @on(Button.Pressed, "#settings-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
