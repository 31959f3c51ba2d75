"""Build the provider objects a plan needs, and nothing else."""

from __future__ import annotations

from typing import Any

from imagebuild.errors import ImageBuildError
from imagebuild.providers.base import Provider
from imagebuild.registry.models import Registry


def create_providers(
    names: set[str], settings: dict[str, dict[str, Any]], registry: Registry
) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name in sorted(names):
        if name == "local":
            from imagebuild.providers.local import LocalProvider

            sizes = {
                model: info.sizes[0] for model, info in registry.by_model.items() if info.sizes
            }
            providers[name] = LocalProvider(sizes)
        else:
            raise ImageBuildError(
                f"provider '{name}' is not available in this version of imagebuild"
            )
    return providers
