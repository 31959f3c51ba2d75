"""``build --shard I/N`` in separate clones sharing one cache, then ``lock merge``
in another: every target built once, the merged lock complete, nothing to buy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from imagebuild.emulators import Faults, RunwareEmulator, serve
from imagebuild.pipeline import open_session
from imagebuild.planning.shard import Shard, shard_names
from imagebuild.workspace import CACHE_ENV
from tests.conftest import Project

KEY = "rw-test-key-shards-0123456789abcdef0123456789"

# A master, its edit and three variants (one unit), and eight priced tiles.
CAMPAIGN = """\
version: 1
providers:
  runware: {pollFirst: 0.05, pollInterval: 0.05, prices: {"runware:101@1": 0.01}}
defaults:
  model: "runware:101@1"
  width: 128
  height: 128
targets:
  - name: hero
    prompt: a glass teapot on a counter
  - name: hero-night
    prompt: the same teapot at night
    seedImage: {target: hero}
    strength: 0.5
  - name: "hero-{{ size }}"
    from: hero-night
    matrix:
      size: [96, 64, 32]
    transform:
      - resize: {width: "{{ size }}", height: "{{ size }}"}
  - name: "tile-{{ n }}"
    matrix:
      n: [1, 2, 3, 4, 5, 6, 7, 8]
    prompt: "tile number {{ n }}"
"""
HERO_UNIT = {"hero", "hero-night", "hero-96", "hero-64", "hero-32"}
TILES = {f"tile-{n}" for n in range(1, 9)}
GENERATED = {"hero", "hero-night", *TILES}
FRAGMENT = "imagebuild.shard-{}-of-3.lock.json"


@pytest.fixture
def runware(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunwareEmulator]:
    emulator = RunwareEmulator(api_key=KEY, faults=Faults(latency=0.02))
    monkeypatch.setenv(CACHE_ENV, str(project.root / "shared-cache"))
    with serve(emulator) as url:
        monkeypatch.setenv("RUNWARE_API_URL", f"{url}/v1")
        monkeypatch.setenv("RUNWARE_API_KEY", KEY)
        yield emulator


def clone(project: Project, name: str, text: str = CAMPAIGN) -> Path:
    root = project.root / name
    root.mkdir(exist_ok=True)
    (root / "imagebuild.yaml").write_text(text)
    return root


def build_shards(project: Project, text: str = CAMPAIGN) -> list[dict[str, Any]]:
    reports = []
    for index in (1, 2, 3):
        root = clone(project, f"clone-{index}", text)
        reports.append(
            project.build(str(root / "imagebuild.yaml"), "--shard", f"{index}/3", "-j", "4")
        )
    return reports


def fragment(project: Project, index: int) -> dict[str, dict[str, object]]:
    path = project.root / f"clone-{index}" / FRAGMENT.format(index)
    targets: dict[str, dict[str, object]] = orjson.loads(path.read_bytes())["targets"]
    return targets


def merge(project: Project, text: str = CAMPAIGN) -> Path:
    """A fourth clone that downloads the three fragments and merges them."""
    root = clone(project, "merge", text)
    for index in (1, 2, 3):
        shutil.copy(project.root / f"clone-{index}" / FRAGMENT.format(index), root)
    fragments = [str(root / FRAGMENT.format(index)) for index in (1, 2, 3)]
    result = project.run("lock", "merge", str(root / "imagebuild.yaml"), *fragments)
    assert result.code == 0, result.err
    return root


def test_three_shards_then_a_merge_build_everything_once(
    project: Project, runware: RunwareEmulator
) -> None:
    reports = build_shards(project)
    assert runware.stats.billed == len(GENERATED)
    shares = [set(fragment(project, index)) for index in (1, 2, 3)]
    assert sum(map(len, shares)) == len(HERO_UNIT | TILES)
    assert set().union(*shares) == HERO_UNIT | TILES
    assert sum(1 for share in shares if share >= HERO_UNIT) == 1
    built = [sorted(t["name"] for t in report["targets"]) for report in reports]
    assert [sorted(share) for share in shares] == built
    for index in (1, 2, 3):
        assert not (project.root / f"clone-{index}" / "imagebuild.lock.json").exists()

    root = merge(project)
    merged = orjson.loads((root / "imagebuild.lock.json").read_bytes())["targets"]
    assert set(merged) == HERO_UNIT | TILES
    assert merged == {
        name: e for index in (1, 2, 3) for name, e in fragment(project, index).items()
    }
    assert len({merged[name]["taskUUID"] for name in GENERATED}) == len(GENERATED)
    actions = project.actions(str(root / "imagebuild.yaml"))
    assert set(actions.values()) == {"restore"}  # outputs come from the shared cache
    report = project.build(str(root / "imagebuild.yaml"))
    assert report["summary"]["restored"] == len(HERO_UNIT | TILES)
    assert runware.stats.billed == len(GENERATED)


def test_shards_read_the_main_lock_and_their_fragments_cover_every_target(
    project: Project, runware: RunwareEmulator
) -> None:
    build_shards(project)
    root = merge(project)
    committed = (root / "imagebuild.lock.json").read_bytes()
    changed = CAMPAIGN.replace(
        '"tile number {{ n }}"', "\"tile number {{ n }}{{ '!' if n == 3 else '' }}\""
    )
    for index in (1, 2, 3):
        (clone(project, f"clone-{index}", changed) / "imagebuild.lock.json").write_bytes(committed)
    reports = build_shards(project, changed)
    assert runware.stats.billed == len(GENERATED) + 1
    generated = [t["name"] for r in reports for t in r["targets"] if t["action"] == "generate"]
    assert generated == ["tile-3"]
    before = orjson.loads(committed)["targets"]
    shares = [fragment(project, index) for index in (1, 2, 3)]
    assert set().union(*shares) == HERO_UNIT | TILES
    for share in shares:
        for name, entry in share.items():
            assert (entry == before[name]) == (name != "tile-3")
    for index in (1, 2, 3):
        lock = project.root / f"clone-{index}" / "imagebuild.lock.json"
        assert lock.read_bytes() == committed  # the main lock is left alone
    merged_root = merge(project, changed)
    assert set(project.actions(str(merged_root / "imagebuild.yaml")).values()) == {"restore"}


def test_target_selection_and_shard_take_the_intersection(
    project: Project, runware: RunwareEmulator
) -> None:
    root = clone(project, "clone-1")
    report = project.build(str(root / "imagebuild.yaml"), "--shard", "1/3", "-t", "tile-*")
    names = {t["name"] for t in report["targets"]}
    session = open_session(str(root / "imagebuild.yaml"))
    whole_share = shard_names(session.targets, Shard(1, 3), session.prices())
    assert names == whole_share & TILES
    assert names and whole_share - names
    assert set(fragment(project, 1)) == names
    assert runware.stats.billed == len(names)


def test_an_empty_shard_writes_an_empty_fragment(project: Project) -> None:
    root = clone(
        project,
        "clone-1",
        "version: 1\ntargets:\n  - {name: one, model: local, prompt: x, width: 16, height: 16}\n",
    )
    report = project.build(str(root / "imagebuild.yaml"), "--shard", "2/2")
    assert report["targets"] == []
    assert orjson.loads((root / "imagebuild.shard-2-of-2.lock.json").read_bytes())["targets"] == {}
