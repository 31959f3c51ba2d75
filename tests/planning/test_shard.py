"""CI shards: the same share on every machine, whole graph components, balanced by cost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from imagebuild.cli import main
from imagebuild.errors import UsageError
from imagebuild.pipeline import open_session
from imagebuild.planning.lock import LockFile
from imagebuild.planning.shard import Shard, assign, fragment, shard_names, static_cost, units
from imagebuild.targets import Target

# A master, its edit and three variants (one unit); six priced tiles and four
# free ones. imagineart:1@5 costs $0.03 an image in the registry.
CAMPAIGN = """\
version: 1
providers:
  runware:
    prices: {"runware:101@1": 0.01}
targets:
  - name: hero
    model: "runware:101@1"
    prompt: a teapot
    width: 128
    height: 128
  - name: hero-night
    model: "runware:101@1"
    prompt: the teapot at night
    seedImage: {target: hero}
    strength: 0.5
    width: 128
    height: 128
  - name: "hero-{{ size }}"
    from: hero-night
    matrix:
      size: [64, 32, 16]
    transform:
      - resize: {width: "{{ size }}", height: "{{ size }}"}
  - name: "poster-{{ n }}"
    matrix:
      n: [1, 2, 3, 4, 5, 6]
    model: "imagineart:1@5"
    prompt: "poster {{ n }}"
    width: 2048
    height: 2048
    numberResults: "{{ 2 if n == 1 else 1 }}"
  - name: "draft-{{ n }}"
    matrix:
      n: [1, 2, 3, 4]
    model: local
    prompt: "draft {{ n }}"
"""
HERO_UNIT = {"hero", "hero-night", "hero-64", "hero-32", "hero-16"}


def targets_of(tmp_path: Path, text: str = CAMPAIGN, provider: str | None = None) -> list[Target]:
    path = tmp_path / "imagebuild.yaml"
    path.write_text(text, encoding="utf-8")
    return open_session(str(path), provider=provider).targets


def prices_of(tmp_path: Path) -> dict[str, dict[str, float]]:
    return open_session(str(tmp_path / "imagebuild.yaml")).prices()


@pytest.mark.parametrize(
    ("text", "index", "count"), [("1/3", 1, 3), ("3/3", 3, 3), (" 2/10 ", 2, 10), ("1/1", 1, 1)]
)
def test_parse(text: str, index: int, count: int) -> None:
    shard = Shard.parse(text)
    assert (shard.index, shard.count) == (index, count)
    assert str(shard) == f"{index}/{count}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/3", "--shard 0/3: I must be between 1 and N"),
        ("4/3", "--shard 4/3: I must be between 1 and N"),
        ("1/0", "--shard 1/0: I must be between 1 and N"),
        ("1", "--shard 1: expected I/N, such as 1/3"),
        ("a/b", "--shard a/b: expected I/N, such as 1/3"),
        ("-1/3", "--shard -1/3: expected I/N, such as 1/3"),
        ("1/3/5", "--shard 1/3/5: expected I/N, such as 1/3"),
    ],
)
def test_a_bad_shard_is_a_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        Shard.parse(text)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_a_bad_shard_on_the_command_line_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets_of(tmp_path)
    assert main(["build", str(tmp_path / "imagebuild.yaml"), "--shard", "5/4"]) == 2
    assert capsys.readouterr().err == "--shard 5/4: I must be between 1 and N\n"
    assert not (tmp_path / "imagebuild.shard-5-of-4.lock.json").exists()


def test_fragment_path_sits_beside_the_manifest() -> None:
    assert Shard(2, 3).fragment_path(Path("campaigns/spring.yaml")) == Path(
        "campaigns/spring.shard-2-of-3.lock.json"
    )


def test_units_are_the_connected_components(tmp_path: Path) -> None:
    found = {unit.names for unit in units(targets_of(tmp_path), prices_of(tmp_path))}
    assert tuple(sorted(HERO_UNIT)) in found
    assert len(found) == 1 + 6 + 4
    assert all(len(names) == 1 for names in found if "hero" not in names)


def test_a_unit_joined_only_through_a_shared_downstream_stays_whole(tmp_path: Path) -> None:
    """Two masters composited into one image are one unit, though neither reads the other."""
    text = """\
version: 1
defaults: {model: local, width: 32, height: 32}
targets:
  - {name: left, prompt: left}
  - {name: right, prompt: right}
  - name: both
    from: left
    transform: [{composite: {image: {target: right}}}]
  - {name: alone, prompt: alone}
"""
    found = {unit.names for unit in units(targets_of(tmp_path, text), {})}
    assert found == {("both", "left", "right"), ("alone",)}


def test_static_cost_is_the_price_times_the_results_in_micro_dollars(tmp_path: Path) -> None:
    by_name = {target.name: target for target in targets_of(tmp_path)}
    prices = prices_of(tmp_path)
    assert static_cost(by_name["poster-1"], prices) == 60_000
    assert static_cost(by_name["poster-2"], prices) == 30_000
    assert static_cost(by_name["hero"], prices) == 10_000  # providers.runware.prices
    assert static_cost(by_name["hero-64"], prices) == 0  # derived
    assert static_cost(by_name["draft-1"], prices) == 0
    assert static_cost(by_name["hero"], {}) == 0  # the generic model has no price of its own


def test_every_target_is_in_exactly_one_shard(tmp_path: Path) -> None:
    targets = targets_of(tmp_path)
    prices = prices_of(tmp_path)
    for count in (1, 2, 3, 5, 30):
        shares = [shard_names(targets, Shard(i, count), prices) for i in range(1, count + 1)]
        assert sum(len(share) for share in shares) == len(targets)
        assert set().union(*shares) == {target.name for target in targets}
        assert sum(1 for share in shares if share >= HERO_UNIT) == 1


def test_balance_by_cost_then_count(tmp_path: Path) -> None:
    shares = assign(units(targets_of(tmp_path), prices_of(tmp_path)), 3)
    names = [{name for unit in share for name in unit.names} for share in shares]
    costs = [sum(unit.cost for unit in share) for share in shares]
    # Largest first: poster-1 ($0.06) alone, the five $0.03 posters round the
    # three shards, the $0.02 hero unit to the cheapest. The optimum's largest
    # share is $0.09 too.
    assert costs == [90_000, 80_000, 60_000]
    assert names[0] == {"poster-1", "poster-6"}
    assert names[1] == {"poster-2", "poster-4", *HERO_UNIT}
    # Free targets change no cost: they go to the cheapest shard, then the smallest.
    assert names[2] == {"poster-3", "poster-5", "draft-1", "draft-2", "draft-3", "draft-4"}


def test_free_units_balance_by_count(tmp_path: Path) -> None:
    text = "version: 1\ndefaults: {model: local}\ntargets:\n" + "".join(
        f"  - {{name: t{n:02}, prompt: p{n}}}\n" for n in range(10)
    )
    shares = assign(units(targets_of(tmp_path, text), {}), 4)
    assert sorted(len(share) for share in shares) == [2, 2, 3, 3]


def test_assignment_ignores_order_and_provider_override(tmp_path: Path) -> None:
    targets = targets_of(tmp_path)
    prices = prices_of(tmp_path)
    expected = [shard_names(targets, Shard(i, 3), prices) for i in (1, 2, 3)]
    shuffled = list(targets)
    random.Random(5).shuffle(shuffled)
    assert [shard_names(shuffled, Shard(i, 3), prices) for i in (1, 2, 3)] == expected
    previews = targets_of(tmp_path, provider="local")
    assert [shard_names(previews, Shard(i, 3), prices) for i in (1, 2, 3)] == expected


def test_assignment_does_not_depend_on_what_was_built(tmp_path: Path) -> None:
    """The lock, the cache and the outputs are not consulted: a build changes nothing."""
    text = CAMPAIGN.replace('"runware:101@1"', "local").replace('"imagineart:1@5"', "local")
    text = text.replace("width: 2048\n    height: 2048\n", "width: 32\n    height: 32\n")
    targets = targets_of(tmp_path, text)
    before = [shard_names(targets, Shard(i, 2), {}) for i in (1, 2)]
    assert main(["build", str(tmp_path / "imagebuild.yaml"), "-t", "draft-*"]) == 0
    after = [shard_names(targets_of(tmp_path, text), Shard(i, 2), {}) for i in (1, 2)]
    assert after == before


def test_fragment_holds_the_shards_entries_and_is_always_written(tmp_path: Path) -> None:
    entries = {
        name: {"seed": seed, "outputs": [{"path": f"out/{name}.png", "sha256": "ab" * 32}]}
        for seed, name in enumerate("abc")
    }
    lock = LockFile(tmp_path / "imagebuild.lock.json", {"a": entries["a"], "b": entries["b"]})
    shard_lock = fragment(lock, Shard(1, 2), tmp_path / "imagebuild.yaml", {"a", "c"})
    assert shard_lock.path == tmp_path / "imagebuild.shard-1-of-2.lock.json"
    assert shard_lock.entries == {"a": entries["a"]}
    shard_lock.write()
    assert LockFile.read(shard_lock.path).entries == {"a": entries["a"]}
    assert not lock.path.exists()
    shard_lock.put("c", entries["c"])
    assert "c" not in lock.entries
