"""Build the provider objects a plan needs, and nothing else.

Third-party providers plug in through the ``imagebuild.providers`` entry
point group: the entry point names the provider and loads a callable
``(settings: dict, environ: Mapping[str, str]) -> Provider``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from imagebuild.errors import ImageBuildError
from imagebuild.providers.base import Provider
from imagebuild.registry.models import Registry

ENTRY_POINT_GROUP = "imagebuild.providers"
Factory = Callable[[dict[str, Any], Mapping[str, str]], Provider]


def create_providers(
    names: set[str],
    settings: dict[str, dict[str, Any]],
    registry: Registry,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Provider]:
    return {
        name: _factory(name, registry)(dict(settings.get(name, {})), environ)
        for name in sorted(names)
    }


class ProviderSet:
    """The providers of a build, each made when a step first needs it: a
    restore that falls back to generating may need one the plan did not."""

    def __init__(
        self,
        settings: dict[str, dict[str, Any]],
        registry: Registry,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._environ = environ
        self._made: dict[str, Provider] = {}

    def __getitem__(self, name: str) -> Provider:
        provider = self._made.get(name)
        if provider is None:
            made = create_providers({name}, self._settings, self._registry, self._environ)
            provider = self._made[name] = made[name]
        return provider


def _factory(name: str, registry: Registry) -> Factory:
    if name == "local":
        from imagebuild.providers.local import LocalProvider

        sizes = {model: info.sizes[0] for model, info in registry.by_model.items() if info.sizes}
        return lambda settings, environ: LocalProvider(sizes)
    if name == "runware":
        from imagebuild.providers.runware import RunwareProvider

        return RunwareProvider.from_settings
    if name == "runcomfy":
        from imagebuild.providers.runcomfy import RunComfyProvider

        return RunComfyProvider.from_settings
    from importlib.metadata import entry_points  # only for a provider not built in

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            factory: Factory = entry_point.load()
            return factory
    raise ImageBuildError(f"no provider named '{name}' is installed")
