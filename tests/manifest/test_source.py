"""YAML loading with source positions: every key and value keeps its line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagebuild.errors import Location, ManifestError
from imagebuild.manifest import source as source_module
from imagebuild.manifest.limits import Limits
from imagebuild.manifest.source import load_source, parse_source

NESTED = """\
# a comment first, so the root mapping starts on line 2
campaign:
  title: Spring
  sizes:
    - 512
    - {w: 640, h: 480}
  tags: [a, b]
"""


def syntax_error(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_source(text, "m.yaml")
    return caught.value


def test_nested_mapping_values_have_their_positions() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.values[()] == (2, 1)
    assert source.values[("campaign",)] == (3, 3)
    assert source.values[("campaign", "title")] == (3, 10)
    assert source.values[("campaign", "tags")] == (7, 9)


def test_sequence_items_and_flow_mappings_have_their_positions() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.values[("campaign", "sizes")] == (5, 5)
    assert source.values[("campaign", "sizes", 0)] == (5, 7)
    assert source.values[("campaign", "sizes", 1)] == (6, 7)
    assert source.values[("campaign", "sizes", 1, "w")] == (6, 11)
    assert source.values[("campaign", "sizes", 1, "h")] == (6, 19)
    assert source.values[("campaign", "tags", 0)] == (7, 10)
    assert source.values[("campaign", "tags", 1)] == (7, 13)


def test_keys_have_their_own_positions() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.keys[("campaign",)] == (2, 1)
    assert source.keys[("campaign", "sizes")] == (4, 3)
    assert source.keys[("campaign", "sizes", 1, "w")] == (6, 8)
    assert source.keys[("campaign", "sizes", 1, "h")] == (6, 16)
    # sequence items have no key
    assert ("campaign", "sizes", 0) not in source.keys


def test_data_is_plain_python() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.data == {
        "campaign": {"title": "Spring", "sizes": [512, {"w": 640, "h": 480}], "tags": ["a", "b"]}
    }
    assert source.has(("campaign", "sizes", 1, "w"))
    assert not source.has(("campaign", "sizes", 2))


def test_locate_returns_a_location_with_the_display_path() -> None:
    source = parse_source(NESTED, "manifests/demo.yaml")
    location = source.locate(("campaign", "sizes", 1, "h"))
    assert location == Location("manifests/demo.yaml", 6, 19)
    assert str(location) == "manifests/demo.yaml:6:19"


def test_locate_falls_back_to_the_nearest_located_ancestor() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.locate(("campaign", "sizes", 1, "depth")) == Location("m.yaml", 6, 7)
    assert source.locate(("campaign", "sizes", 7, "w")) == Location("m.yaml", 5, 5)
    assert source.locate(("campaign", "colour", "hex")) == Location("m.yaml", 3, 3)
    # nothing located on the way: the start of the file
    assert source.locate(("nowhere", 0)) == Location("m.yaml", 1, 1)


def test_locate_key_prefers_the_key_and_falls_back_to_the_value() -> None:
    source = parse_source(NESTED, "m.yaml")
    assert source.locate(("campaign", "title"), key=True) == Location("m.yaml", 3, 3)
    assert source.locate(("campaign", "title")) == Location("m.yaml", 3, 10)
    # a sequence item has no key: its value position is the answer
    assert source.locate(("campaign", "sizes", 0), key=True) == Location("m.yaml", 5, 7)
    # an unknown path under a key: the nearest ancestor's value
    assert source.locate(("campaign", "title", "x"), key=True) == Location("m.yaml", 3, 10)


def test_locate_in_an_empty_document_is_line_one_column_one() -> None:
    source = parse_source("", "m.yaml")
    assert source.locate(("targets", 0, "name")) == Location("m.yaml", 1, 1)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_an_empty_mapping(text: str) -> None:
    assert parse_source(text, "m.yaml").data == {}


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    error = syntax_error("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert error.location == Location("m.yaml", 4, 3)
    assert "duplicate key 'c'" in error.message
    assert str(error).startswith("m.yaml:4:3: ")


def test_duplicate_key_in_a_flow_mapping_is_located() -> None:
    error = syntax_error("size: {w: 1, w: 2}\n")
    assert error.location == Location("m.yaml", 1, 14)


@pytest.mark.parametrize(
    ("text", "shown", "where"),
    [
        ("1: x\n", "1", (1, 1)),
        ("a:\n  true: x\n", "True", (2, 3)),
        ("a: 1\nnull: x\n", "None", (2, 1)),
        ("a:\n  - 2.5: x\n", "2.5", (2, 5)),
    ],
)
def test_non_string_keys_are_errors_at_the_key(
    text: str, shown: str, where: tuple[int, int]
) -> None:
    error = syntax_error(text)
    assert error.message == f"mapping keys must be strings, got {shown}"
    assert error.location == Location("m.yaml", *where)


def test_a_sequence_as_key_is_an_error() -> None:
    error = syntax_error("a: 1\n[1, 2]: x\n")
    assert error.location == Location("m.yaml", 2, 1)
    assert error.message.startswith("mapping keys must be strings")


def test_a_sequence_as_key_is_not_reported_as_none() -> None:
    error = syntax_error("[1, 2]: x\n")
    assert "None" not in error.message


def test_unclosed_quote_points_at_the_opening_quote() -> None:
    error = syntax_error('name: hero\nprompt: "a red fox\nwidth: 512\n')
    assert str(error).startswith("m.yaml:2:9: ")
    assert "YAML syntax error" in str(error)
    assert "quoted scalar" in error.message


def test_unclosed_single_quote_points_at_the_opening_quote() -> None:
    error = syntax_error("a: 1\nb: 'never closed\n\nc: 2\n")
    assert str(error).startswith("m.yaml:2:4: ")


def test_bad_mapping_indentation_points_at_the_offending_line() -> None:
    error = syntax_error("defaults:\n  width: 512\n   height: 512\nversion: 1\n")
    assert re.match(r"m\.yaml:3:\d+: YAML syntax error: ", str(error))


def test_bad_sequence_indentation_points_at_the_offending_line() -> None:
    error = syntax_error("version: 1\ntargets:\n  - name: a\n - name: b\n")
    assert re.match(r"m\.yaml:4:\d+: YAML syntax error: ", str(error))


def test_tab_indentation_is_a_located_syntax_error() -> None:
    error = syntax_error("targets:\n\t- name: a\n")
    assert re.match(r"m\.yaml:2:\d+: YAML syntax error: ", str(error))


def test_undefined_alias_is_a_located_syntax_error() -> None:
    error = syntax_error("a: 1\nb: *nothing\n")
    assert str(error).startswith("m.yaml:2:4: YAML syntax error")


def test_aspect_ratio_stays_a_string_not_a_base_60_integer() -> None:
    data = parse_source("plain: 16:9\nquoted: \"16:9\"\nsingle: '4:3'\n", "m.yaml").data
    assert data == {"plain": "16:9", "quoted": "16:9", "single": "4:3"}
    assert all(isinstance(value, str) for value in data.values())


def test_ordinary_scalars_keep_their_yaml_types() -> None:
    data = parse_source(
        'width: 12\nhex: 0x10\nsep: 1_000\nratio: 1.5\nflag: true\nnothing: null\ntext: "12"\n',
        "m.yaml",
    ).data
    assert data == {
        "width": 12,
        "hex": 16,
        "sep": 1000,
        "ratio": 1.5,
        "flag": True,
        "nothing": None,
        "text": "12",
    }
    assert type(data["width"]) is int
    assert type(data["flag"]) is bool


def test_merge_key_copies_the_anchored_mapping() -> None:
    text = "base: &base\n  width: 512\n  height: 256\nhero:\n  <<: *base\n  prompt: fox\n"
    source = parse_source(text, "m.yaml")
    assert source.data["hero"] == {"width": 512, "height": 256, "prompt": "fox"}
    # merged values are located where they were written: at the anchor
    assert source.values[("hero", "width")] == (2, 10)
    assert source.values[("hero", "prompt")] == (6, 11)


def test_merge_key_with_a_list_of_anchors() -> None:
    text = "a: &a {w: 1}\nb: &b {h: 2}\nc:\n  <<: [*a, *b]\n"
    assert parse_source(text, "m.yaml").data["c"] == {"w": 1, "h": 2}


def test_merge_key_can_be_overridden_by_an_explicit_key() -> None:
    text = "base: &base\n  width: 512\n  height: 256\nhero:\n  <<: *base\n  width: 1024\n"
    assert parse_source(text, "m.yaml").data["hero"] == {"width": 1024, "height": 256}


def test_load_source_reads_a_file_and_shows_the_display_name(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    source = load_source(path, display="campaign.yaml")
    assert source.data == {"version": 1}
    assert source.path == "campaign.yaml"
    assert load_source(path).path == str(path)


def test_load_source_of_a_missing_file_is_a_located_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_source(tmp_path / "absent.yaml", display="absent.yaml")
    assert str(caught.value) == "absent.yaml:1:1: manifest not found"


def test_load_source_of_non_utf8_bytes_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("prompt: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ManifestError) as caught:
        load_source(path, display="latin1.yaml")
    assert str(caught.value).startswith("latin1.yaml:1:1: cannot read manifest")


def test_a_merged_anchor_met_again_through_an_alias_is_not_a_duplicate_key() -> None:
    data = parse_source("a: &a {x: 1}\nb: &b {<<: *a, x: 2}\nc: *b\n", "m.yaml").data
    assert data == {"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 2}}


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "version: 1\ntargets: &t [{name: a, x: *t}]\n",
            (2, 24),
            "recursive alias: this value contains itself",
        ),
        ("a: &a {<<: *a}\n", (1, 8), "recursive alias: this value contains itself"),
        ("a:\n  <<: 5\n", (2, 7), "expected a mapping or list of mappings for merging"),
        ("a:\n  <<: 'str'\n", (2, 7), "expected a mapping or list of mappings for merging"),
        ("a: !custom x\n", (1, 4), "unsupported YAML tag !custom"),
        ("a: !!pair [b: 1]\n", (1, 4), "unsupported YAML tag !!pair"),
        (
            "a: !!set {b, c}\n",
            (1, 4),
            "this value is a YAML set (!!set), which JSON has no type for; write a list",
        ),
        ("a: !!omap [b: 1]\n", (1, 4), "a YAML ordered map (!!omap)"),
        (
            "a: 2024-01-01\n",
            (1, 4),
            "'2024-01-01' is a YAML date (!!timestamp), which JSON has no type for; quote it",
        ),
        ("a: !!binary aGVsbG8=\n", (1, 4), "is YAML binary data (!!binary)"),
        ("a: .nan\n", (1, 4), "'.nan' is not a JSON number (NaN and infinities have no JSON form)"),
        ("a: [-.inf]\n", (1, 5), "'-.inf' is not a JSON number"),
        ("a: 1.0e+999\n", (1, 4), "'1.0e+999' is not a JSON number"),
        ("seed: 18446744073709551616\n", (1, 7), "is beyond the 64-bit integers JSON readers take"),
        ("a: -9223372036854775809\n", (1, 4), "is beyond the 64-bit integers"),
        ("a: " + "7" * 5000 + "\n", (1, 4), "cannot be read as int"),
        ("a: !!int twelve\n", (1, 4), "'twelve' cannot be read as int"),
        ('a: "\\ud800"\n', (1, 7), "YAML syntax error"),
    ],
)
def test_what_json_cannot_hold_is_refused_where_it_is_written(
    text: str, where: tuple[int, int], message: str
) -> None:
    error = syntax_error(text)
    assert error.location == Location("m.yaml", *where)
    assert message in error.message
    assert "\n" not in str(error)


def test_json_edges_are_kept() -> None:
    data = parse_source(
        "big: 18446744073709551615\nlow: -9223372036854775808\nquoted: '2024-01-01'\n"
        "text: !!str 12\nfloat: 1.5e+300\n",
        "m.yaml",
    ).data
    assert data == {
        "big": 2**64 - 1,
        "low": -(2**63),
        "quoted": "2024-01-01",
        "text": "12",
        "float": 1.5e300,
    }


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: b\n  c\x07d\n", (2, 4)), ("a: é\x01\n", (1, 5)), ("\x1b", (1, 1))],
)
def test_a_control_character_is_one_line_at_its_place(text: str, where: tuple[int, int]) -> None:
    error = syntax_error(text)
    assert error.location == Location("m.yaml", *where)
    control = next(c for c in text if ord(c) < 32 and c != "\n")
    assert error.message.startswith(f"character U+{ord(control):04X} is not allowed in YAML")
    assert "\n" not in str(error)


ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n"
    for previous, name in zip("abcdef", "bcdefg", strict=True)
)


def test_an_alias_bomb_is_refused_where_it_grows_past_the_limit() -> None:
    error = syntax_error(ALIAS_BOMB)
    # b..g expand to 111, 1,111, ... values: f, at line 6, is the first past 500,000.
    assert error.location == Location("m.yaml", 6, 4)
    assert error.message == (
        "this value expands to 1,111,111 YAML values (aliases expanded), over the limit of"
        " 500,000 (IMAGEBUILD_MAX_NODES=N raises it)"
    )


def test_the_node_limit_counts_aliases_and_can_be_raised() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    with pytest.raises(ManifestError, match="expands to 20 YAML values"):
        parse_source(text, "m.yaml", Limits(nodes=19))
    assert parse_source(text, "m.yaml", Limits(nodes=20)).data["b"] == [[1, 2, 3]] * 3


def test_aliases_of_long_strings_count_their_bytes() -> None:
    text = f"a: &a {'x' * 1000}\nb: [{', '.join(['*a'] * 20)}]\n"
    with pytest.raises(ManifestError, match=r"2:4: this value expands to 20,\d+ bytes"):
        parse_source(text, "m.yaml", Limits(bytes=20_000))


def test_nesting_deeper_than_the_limit_is_refused_at_the_deepest_value() -> None:
    error = syntax_error("v: " + "[" * 70 + "]" * 70 + "\n")
    assert error.location == Location("m.yaml", 1, 67)
    assert (
        error.message
        == "values nest too deeply, over the limit of 64 (IMAGEBUILD_MAX_DEPTH=N raises it)"
    )
    assert parse_source("v: " + "[" * 70 + "]" * 70, "m.yaml", Limits(depth=80)).data


def test_an_alias_used_deeper_than_its_anchor_counts_its_own_depth() -> None:
    text = "a: &a [[[1]]]\nb: [[[[*a]]]]\n"
    with pytest.raises(ManifestError, match="values nest too deeply") as caught:
        parse_source(text, "m.yaml", Limits(depth=8))
    assert caught.value.location == Location("m.yaml", 2, 7)
    assert parse_source(text, "m.yaml", Limits(depth=9)).data["b"] == [[[[[[[1]]]]]]]


def test_pyyaml_without_libyaml_stops_at_the_depth_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "_Loader", source_module._PureLoader)
    error = syntax_error("v: " + "[" * 500 + "]" * 500 + "\n")
    assert error.message.startswith("values nest too deeply, over the limit of 64")
    assert error.location == Location("m.yaml", 1, 67)
    assert parse_source(NESTED, "m.yaml").data["campaign"]["title"] == "Spring"


def test_a_manifest_file_over_the_byte_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(ManifestError) as caught:
        load_source(path, "big.yaml", Limits(bytes=1000))
    assert str(caught.value) == (
        "big.yaml:1:1: the manifest is 2,004 bytes, over the limit of 1,000"
        " (IMAGEBUILD_MAX_BYTES=N raises it)"
    )
