"""The settings screen: the model, the device and the sampling values.

Models come from the registry (shipped and user models) plus "template", the fallback
that needs no model. Saving writes the config TOML with ``config.save_settings`` and
dismisses with the new ``Settings``; the app then reloads the generator if needed.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from textgamegen.config import SamplingSettings, Settings, SettingsError, save_settings
from textgamegen.engine.safe_text import strip_unsafe

DEVICES = ("auto", "cpu", "cuda")


def model_choices(current: str) -> list[tuple[str, str]]:
    """(label, value) for every installed model, "template", and the current one.

    The registry is read here, not at start-up; a broken registry still leaves "template".
    """
    choices: list[tuple[str, str]] = []
    try:
        from textgamegen.generation.registry import list_models

        models = list_models()
    except Exception:  # noqa: BLE001 - a missing or broken registry leaves the fallback
        models = []
    for info in models:
        choices.append((f"{info.name}  ({info.source})", info.name))
    choices.append(("template  (no model, deterministic)", "template"))
    if current not in {value for _, value in choices}:
        choices.insert(0, (f"{current}  (as configured)", current))
    return choices


def _field_doc(name: str) -> str:
    # The dataclass field docstrings are not kept at run time; a short label suffices.
    return name.replace("_", " ")


class SettingsScreen(ModalScreen[Settings | None]):
    """Edit and save the settings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="settings.cancel"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the settings", id="settings.save"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        settings = self.settings
        with Vertical(id="settings-box", classes="dialog"):
            yield Label("Settings", classes="dialog-title")
            with VerticalScroll(id="settings-form"):
                with Horizontal(classes="setting"):
                    yield Label("model", classes="setting-label")
                    yield Select(
                        model_choices(settings.model),
                        value=settings.model,
                        allow_blank=False,
                        id="setting-model",
                    )
                with Horizontal(classes="setting"):
                    yield Label("device", classes="setting-label")
                    yield Select(
                        [(device, device) for device in DEVICES],
                        value=settings.device,
                        allow_blank=False,
                        id="setting-device",
                    )
                with Horizontal(classes="setting"):
                    yield Label("show model panel", classes="setting-label")
                    yield Switch(settings.show_model_panel, id="setting-show_model_panel")
                with Horizontal(classes="setting"):
                    yield Label("autosave every (turns)", classes="setting-label")
                    yield Input(
                        str(settings.autosave_every), type="integer", id="setting-autosave_every"
                    )
                yield Label("Sampling", classes="dialog-subtitle")
                for item in fields(SamplingSettings):
                    value = getattr(settings.sampling, item.name)
                    with Horizontal(classes="setting"):
                        yield Label(_field_doc(item.name), classes="setting-label")
                        if isinstance(value, bool):
                            yield Switch(value, id=f"sampling-{item.name}")
                        else:
                            kind = "integer" if isinstance(value, int) else "number"
                            yield Input(str(value), type=kind, id=f"sampling-{item.name}")
            yield Static(id="settings-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="settings-save", variant="primary")
                yield Button("Cancel", id="settings-cancel")

    def on_mount(self) -> None:
        self.query_one("#settings-error").display = False

    def collect(self) -> Settings:
        """Build Settings from the form; SettingsError names the bad field."""
        data: dict[str, Any] = {
            "model": self.query_one("#setting-model", Select).value,
            "device": self.query_one("#setting-device", Select).value,
            "show_model_panel": self.query_one("#setting-show_model_panel", Switch).value,
            "autosave_every": _number(self.query_one("#setting-autosave_every", Input), int),
        }
        sampling: dict[str, Any] = {}
        for item in fields(SamplingSettings):
            widget = self.query_one(f"#sampling-{item.name}")
            default = getattr(self.settings.sampling, item.name)
            if isinstance(widget, Switch):
                sampling[item.name] = widget.value
            else:
                assert isinstance(widget, Input)
                sampling[item.name] = _number(widget, type(default), f"sampling.{item.name}")
        data["sampling"] = sampling
        return Settings.from_dict(data, source="settings")

    @on(Button.Pressed, "#settings-save")
    def action_save(self) -> None:
        try:
            settings = self.collect()
            save_settings(settings)
        except (SettingsError, OSError) as error:
            line = self.query_one("#settings-error", Static)
            line.update(Text(strip_unsafe(str(error))))
            line.display = True
            return
        self.dismiss(settings)

    @on(Button.Pressed, "#settings-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _number(widget: Input, kind: type, key: str = "") -> int | float:
    key = key or (widget.id or "").removeprefix("setting-")
    try:
        return kind(widget.value.strip())
    except ValueError:
        raise SettingsError(f"{key}: {widget.value!r} is not a {kind.__name__}") from None
