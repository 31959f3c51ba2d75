"""The emulators' image store: renders once, in the background when asked early."""

from __future__ import annotations

import asyncio

from imagebuild.emulators.images import ImageStore
from imagebuild.render import RenderSpec, render

SPEC = RenderSpec(96, 64, seed=11, prompt="a lighthouse at dusk")


def test_prepare_renders_in_the_background_before_anyone_reads() -> None:
    async def scenario() -> tuple[bool, tuple[bytes, str] | None]:
        store = ImageStore()
        store.add_spec("one", SPEC)
        store.prepare("one")
        pending = store._entries["one"].pending
        assert pending is not None
        await asyncio.wait_for(asyncio.shield(pending), timeout=10)
        return pending.done(), await store.read("one")

    finished, image = asyncio.run(scenario())
    assert finished
    assert image == (render(SPEC), "image/png")


def test_prepare_and_read_share_one_render() -> None:
    async def scenario() -> list[tuple[bytes, str] | None]:
        store = ImageStore()
        store.add_spec("one", SPEC)
        store.prepare("one")
        first = store._entries["one"].pending
        store.prepare("one")
        assert store._entries["one"].pending is first
        return list(await asyncio.gather(store.read("one"), store.read("one")))

    assert asyncio.run(scenario()) == [(render(SPEC), "image/png")] * 2


def test_preparing_an_image_the_store_no_longer_has_is_harmless() -> None:
    async def scenario() -> tuple[bytes, str] | None:
        store = ImageStore()
        store.add_spec("one", SPEC)
        store.clear()
        store.prepare("one")
        return await store.read("one")

    assert asyncio.run(scenario()) is None
