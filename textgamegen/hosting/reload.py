"""``serve-model`` follows the registry: when a registered name's production version
changes (``textgamegen models promote`` or ``rollback``, or a retrain that passed the
gate), the new version is loaded beside the old one and swapped in, without a restart.

A thread looks at where the name's link points every ``interval_s`` seconds (a
``readlink``, nothing is read from the model). On a change it loads the new version in
that thread, so the model thread keeps serving meanwhile, then hands the engine to the
service (``ModelService.replace_engine``): requests already taken finish on the old model,
the next ones get the new. A version that fails to load is reported and the old one
keeps serving; the watch tries again when production changes again.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from textgamegen.hosting.completion import CompletionEngine


class EngineHolder(Protocol):
    def replace_engine(self, engine: CompletionEngine) -> None: ...


def production_marker(models_dir: Path, name: str) -> str:
    """What changes when production does: the real folder the name points to."""
    return os.path.realpath(Path(models_dir) / name)


class ProductionWatch:
    """Reloads ``service``'s model when ``name``'s production version changes.

    Args:
        service: what serves the model (``ModelService``).
        models_dir: the folder the name is registered in.
        name: the registered name.
        load: loads the name's production version as an engine (the command's loader).
        interval_s: how often the link is read.
        say: where the reload is reported (stderr).
    """

    def __init__(
        self,
        service: EngineHolder,
        models_dir: Path,
        name: str,
        load: Callable[[], CompletionEngine],
        interval_s: float = 2.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.models_dir = Path(models_dir)
        self.name = name
        self.load = load
        self.interval_s = interval_s
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.serving = production_marker(self.models_dir, name)
        self.reloads = 0
        self.changed = threading.Event()
        """Set after each reload (or failed reload), for whoever waits on one."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="model-reload")

    def start(self) -> ProductionWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def check(self) -> bool:
        """Reload now if production moved. Returns whether a new model is being served."""
        marker = production_marker(self.models_dir, self.name)
        if marker == self.serving:
            return False
        version = Path(marker).name
        try:
            engine = self.load()
        except Exception as error:  # noqa: BLE001 - the old model keeps serving
            self.say(
                f"textgamegen serve-model: {self.name} version {version} did not load, "
                f"still serving the one before: {error}"
            )
            self.serving = marker  # tried; a later promote or rollback tries again
            self.changed.set()
            return False
        self.service.replace_engine(engine)
        self.serving = marker
        self.reloads += 1
        self.say(
            f"textgamegen serve-model: now serving {self.name} version {version} "
            f"({engine.weights_text()})"
        )
        self.changed.set()
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()
