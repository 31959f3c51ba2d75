"""Deterministic offline image renderer behind the ``local`` provider and the API emulators."""

from imagebuild.render.renderer import render
from imagebuild.render.spec import OutputFormat, RenderSpec

__all__ = ["OutputFormat", "RenderSpec", "render"]
