"""All served models, and the watcher thread that keeps them current.

The manager maps a request's ``ModelSpec`` to a model's registry and runs
the polling loop: every ``poll_seconds`` it re-reads the model config file
(if one is watched and it changed) and lets every registry catch up with its
base path. A failure in one poll is logged and the next poll tries again;
the watcher never dies of a bad model.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from serving.config import ModelSettings
from serving.errors import invalid_argument, not_found
from serving.model_registry import (
    Loader,
    ModelRegistry,
    describe_request,
    unknown_label,
)
from serving.servable import Servable

# Returns the models to serve when they changed since the last call, else None.
SettingsSource = Callable[[], Optional[Sequence[ModelSettings]]]


def version_choice(spec: model_pb2.ModelSpec) -> tuple:
    """``(version, label)`` of a ModelSpec; at most one is not None."""
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    return version, label


class ModelManager:
    """The registries of all models plus the thread that polls them."""

    def __init__(
        self,
        models: Sequence[ModelSettings],
        poll_seconds: float = 2.0,
        settle_seconds: float = 1.0,
        loader: Loader = Servable.load,
        settings_source: Optional[SettingsSource] = None,
    ):
        self._poll_seconds = poll_seconds
        self._settle_seconds = settle_seconds
        self._loader = loader
        self._settings_source = settings_source
        self._registries: Dict[str, ModelRegistry] = {}
        self._apply_settings(models)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _apply_settings(self, models: Sequence[ModelSettings]) -> None:
        registries = dict(self._registries)
        for settings in models:
            if settings.name in registries:
                registries[settings.name].update_settings(settings)
            else:
                registries[settings.name] = ModelRegistry(
                    settings, loader=self._loader, settle_seconds=self._settle_seconds
                )
        removed = [
            registries.pop(name)
            for name in list(registries)
            if name not in {m.name for m in models}
        ]
        self._registries = registries  # one assignment: request threads see old or new
        for registry in removed:
            logging.info("Model %s left the config; unloading it", registry.name)
            registry.unload_all()

    # --- Requests -----------------------------------------------------------------

    def registry(
        self, name: str, version: Optional[int] = None, label: Optional[str] = None
    ) -> ModelRegistry:
        registry = self._registries.get(name)
        if registry is None:
            if label is not None:
                raise unknown_label(label)
            raise not_found(
                f"Servable not found for request: {describe_request(name, version)}"
            )
        return registry

    @contextlib.contextmanager
    def acquire(self, spec: model_pb2.ModelSpec) -> Iterator[Servable]:
        """The servable ``spec`` asks for, held for the duration of the block."""
        version, label = version_choice(spec)
        with self.registry(spec.name, version, label).acquire(
            version, label
        ) as servable:
            yield servable

    def statuses(
        self, spec: model_pb2.ModelSpec
    ) -> List[get_model_status_pb2.ModelVersionStatus]:
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        version = spec.version.value if spec.HasField("version") else None
        registry = self._registries.get(spec.name)
        if registry is None:
            if version is None:
                raise not_found(f"Could not find any versions of model {spec.name}")
            raise not_found(f"Could not find version {version} of model {spec.name}")
        return registry.statuses(version)

    def inflight(self) -> int:
        return sum(registry.inflight() for registry in self._registries.values())

    def models(self) -> List[str]:
        return sorted(self._registries)

    # --- Watching -------------------------------------------------------------------

    def poll(self) -> bool:
        """One pass: reread the config if it changed, then every model's path.

        Returns whether some model has a version directory still being
        written.
        """
        if self._settings_source is not None:
            try:
                models = self._settings_source()
                if models is not None:
                    self._apply_settings(models)
            except Exception:
                logging.exception(
                    "Keeping the previous model config; the new one failed"
                )
        waiting = False
        for registry in list(self._registries.values()):
            try:
                pending = registry.poll()
            except Exception:
                logging.exception(
                    "Polling %s failed; trying again next time", registry.name
                )
                continue
            waiting = waiting or pending
        return waiting

    def start(self, startup_wait_seconds: float = 60.0) -> None:
        """Loads what is there now, then keeps watching in a daemon thread.

        Version directories still being copied at start are waited for (up
        to ``startup_wait_seconds``), as TF Serving waits for every aspired
        version before it opens its port: otherwise a version pushed just
        before start would be missing, and requests for "latest" would get
        an older one until the next poll.
        """
        deadline = time.monotonic() + startup_wait_seconds
        while self.poll() and time.monotonic() < deadline:
            time.sleep(max(0.05, min(self._settle_seconds, self._poll_seconds)))
        self._thread = threading.Thread(
            target=self._watch, name="model-watcher", daemon=True
        )
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.poll()

    def stop(self) -> None:
        """Stops watching (after the poll under way, if any) and unloads all."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for registry in list(self._registries.values()):
            registry.unload_all()
