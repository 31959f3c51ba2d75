"""From a parsed manifest to target specs: vars, defaults, matrix, templates,
and located errors for everything the manifest's own structure forbids."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebuild.errors import Location, ManifestError
from imagebuild.manifest.expand import Manifest, TargetSpec, load_manifest
from imagebuild.manifest.limits import Limits


def expand(tmp_path: Path, text: str) -> Manifest:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_manifest(path, display="m.yaml")


def failure(tmp_path: Path, text: str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        expand(tmp_path, text)
    return caught.value


def by_name(manifest: Manifest) -> dict[str, TargetSpec]:
    return {spec.name: spec for spec in manifest.targets}


def test_vars_may_use_earlier_vars_and_keep_types(tmp_path: Path) -> None:
    manifest = expand(
        tmp_path,
        """\
version: 1
vars:
  base: 512
  double: "{{ base * 2 }}"
  label: "w{{ double }}"
  size: {w: "{{ base }}", tags: ["{{ label }}"]}
targets:
  - name: a
""",
    )
    assert manifest.variables == {
        "base": 512,
        "double": 1024,
        "label": "w1024",
        "size": {"w": 512, "tags": ["w1024"]},
    }


def test_a_var_using_a_later_var_is_an_error_at_its_value(tmp_path: Path) -> None:
    error = failure(
        tmp_path, 'version: 1\nvars:\n  early: "{{ late }}"\n  late: 1\ntargets:\n  - name: a\n'
    )
    assert error.location == Location("m.yaml", 3, 10)
    assert "undefined" in error.message
    assert "late" in error.message


def test_vars_are_available_to_targets(tmp_path: Path) -> None:
    manifest = expand(
        tmp_path,
        'version: 1\nvars:\n  brand: Acme\ntargets:\n  - name: a\n    prompt: "{{ brand }} logo"\n',
    )
    assert manifest.targets[0].fields["prompt"] == "Acme logo"


DEFAULTS = """\
version: 1
defaults:
  model: local
  width: 512
  tags: [base, shared]
  options:
    quality: 80
    style: {tone: warm, grain: 1}
targets:
  - name: merged
    width: 1024
    tags: [own]
    options:
      style: {grain: 2}
      extra: true
  - name: plain
"""


def test_defaults_deep_merge_under_targets(tmp_path: Path) -> None:
    specs = by_name(expand(tmp_path, DEFAULTS))
    assert specs["merged"].fields == {
        "name": "merged",
        "model": "local",
        "width": 1024,  # scalar: the target wins
        "tags": ["own"],  # list: replaced, not concatenated
        "options": {  # mappings merge key by key, at every depth
            "quality": 80,
            "style": {"tone": "warm", "grain": 2},
            "extra": True,
        },
    }
    assert specs["plain"].fields == {
        "name": "plain",
        "model": "local",
        "width": 512,
        "tags": ["base", "shared"],
        "options": {"quality": 80, "style": {"tone": "warm", "grain": 1}},
    }


def test_merging_does_not_change_the_defaults(tmp_path: Path) -> None:
    manifest = expand(tmp_path, DEFAULTS)
    assert manifest.source.data["defaults"]["options"]["style"] == {"tone": "warm", "grain": 1}


def test_origins_say_where_each_field_was_written(tmp_path: Path) -> None:
    specs = by_name(expand(tmp_path, DEFAULTS))
    assert specs["merged"].origins == {
        "name": ("targets", 0, "name"),
        "model": ("defaults", "model"),
        "width": ("targets", 0, "width"),
        "tags": ("targets", 0, "tags"),
        "options": ("targets", 0, "options"),
    }
    assert specs["plain"].origins["width"] == ("defaults", "width")
    assert specs["plain"].origin(("options", "style", "tone")) == (
        "defaults",
        "options",
        "style",
        "tone",
    )
    assert specs["merged"].origin(("tags", 0)) == ("targets", 0, "tags", 0)
    # no field, or an unknown one: the target's name
    assert specs["plain"].origin(()) == ("targets", 1, "name")
    assert specs["plain"].origin(("seed",)) == ("targets", 1, "name")


def test_target_error_is_located_where_the_field_was_written(tmp_path: Path) -> None:
    manifest = expand(tmp_path, DEFAULTS)
    specs = by_name(manifest)
    from_defaults = manifest.target_error(specs["plain"], "too wide", ("width",))
    assert str(from_defaults) == "m.yaml:4:10: target plain: too wide"
    from_target = manifest.target_error(specs["merged"], "too wide", ("width",))
    assert str(from_target) == "m.yaml:11:12: target merged: too wide"


MATRIX = """\
version: 1
vars:
  home: tokyo
targets:
  - name: "poster-{{ city }}-{{ matrix.format.name }}"
    matrix:
      city: ["{{ home }}", paris]
      format:
        - {name: square, w: 1024}
        - {name: story, w: 576}
    width: "{{ format.w }}"
    height: "{{ matrix.format.w }}"
    prompt: "{{ city }} at night"
    output: "out/{{ name }}.png"
"""


def test_matrix_expands_into_one_target_per_combination_in_order(tmp_path: Path) -> None:
    names = [spec.name for spec in expand(tmp_path, MATRIX).targets]
    assert names == [
        "poster-tokyo-square",
        "poster-tokyo-story",
        "poster-paris-square",
        "poster-paris-story",
    ]


def test_matrix_variables_are_available_directly_and_as_matrix(tmp_path: Path) -> None:
    spec = by_name(expand(tmp_path, MATRIX))["poster-paris-story"]
    assert spec.fields["width"] == 576
    assert spec.fields["height"] == 576
    assert spec.fields["prompt"] == "paris at night"
    assert spec.matrix == {"city": "paris", "format": {"name": "story", "w": 576}}
    assert "matrix" not in spec.fields


def test_matrix_values_are_rendered_with_the_vars(tmp_path: Path) -> None:
    spec = expand(tmp_path, MATRIX).targets[0]
    assert spec.matrix["city"] == "tokyo"


def test_name_is_available_to_other_fields(tmp_path: Path) -> None:
    specs = by_name(expand(tmp_path, MATRIX))
    assert specs["poster-tokyo-square"].fields["output"] == "out/poster-tokyo-square.png"
    manifest = expand(
        tmp_path,
        'version: 1\ndefaults:\n  output: "out/{{ name }}.webp"\ntargets:\n  - name: hero\n',
    )
    assert manifest.targets[0].fields["output"] == "out/hero.webp"


def test_spec_entry_is_the_index_in_the_targets_list(tmp_path: Path) -> None:
    text = MATRIX + "  - name: logo\n"
    assert [spec.entry for spec in expand(tmp_path, text).targets] == [0, 0, 0, 0, 1]


def test_include_resolves_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "style.j2").write_text("moody, {{ brand }}", encoding="utf-8")
    manifest = expand(
        tmp_path,
        "version: 1\nvars:\n  brand: Acme\ntargets:\n  - name: a\n"
        "    prompt: \"poster, {% include 'prompts/style.j2' %}\"\n",
    )
    assert manifest.targets[0].fields["prompt"] == "poster, moody, Acme"


def test_manifest_knows_its_root_and_display_name(tmp_path: Path) -> None:
    manifest = expand(tmp_path, "version: 1\ntargets:\n  - name: a\n")
    assert manifest.root == tmp_path.resolve()
    assert manifest.display == "m.yaml"


def test_duplicate_names_after_expansion_name_both_places(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        """\
version: 1
targets:
  - name: hero
  - name: other
  - name: "{{ 'he' ~ 'ro' }}"
""",
    )
    assert error.target == "hero"
    assert error.location == Location("m.yaml", 5, 11)
    assert "duplicate target name 'hero'" in error.message
    assert "line 3" in error.message


def test_duplicate_names_within_one_matrix(tmp_path: Path) -> None:
    error = failure(
        tmp_path, 'version: 1\ntargets:\n  - name: "x-{{ c }}"\n    matrix:\n      c: [1, 2, 1]\n'
    )
    assert error.target == "x-1"
    assert "duplicate target name 'x-1'" in error.message


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ('"bad name"', "'bad name'"),
        ("-leading", "'-leading'"),
        (".hidden", "'.hidden'"),
        ("a/b", "'a/b'"),
        ('""', "''"),
        ("123", "123"),
        ("[a]", "['a']"),
    ],
)
def test_invalid_names_are_errors_at_the_name(tmp_path: Path, name: str, shown: str) -> None:
    error = failure(tmp_path, f"version: 1\ntargets:\n  - name: {name}\n")
    assert error.message == (f"invalid target name {shown}: use letters, digits, '.', '_' and '-'")
    assert error.location == Location("m.yaml", 3, 11)


@pytest.mark.parametrize("name", ["a", "A9", "9a", "a.b_c-D9", "hero-tokyo.v2"])
def test_valid_names_are_accepted(tmp_path: Path, name: str) -> None:
    manifest = expand(tmp_path, f"version: 1\ntargets:\n  - name: {name}\n")
    assert manifest.targets[0].name == name


def test_invalid_name_made_by_a_template(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        'version: 1\ntargets:\n  - name: "p {{ c }}"\n    matrix:\n      c: [x]\n',
    )
    assert "invalid target name 'p x'" in error.message


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    error = failure(tmp_path, "version: 1\ntargts:\n  - name: a\n")
    assert error.message == "unknown top-level key 'targts' (did you mean 'targets'?)"
    assert error.location == Location("m.yaml", 2, 1)


def test_unknown_top_level_key_without_a_close_match(tmp_path: Path) -> None:
    error = failure(tmp_path, "version: 1\nzzzzzz: 1\ntargets:\n  - name: a\n")
    assert error.message == "unknown top-level key 'zzzzzz'"


def test_missing_version_is_an_error_at_the_start(tmp_path: Path) -> None:
    error = failure(tmp_path, "targets:\n  - name: a\n")
    assert str(error) == "m.yaml:1:1: version must be 1"


@pytest.mark.parametrize("version", ["2", '"1"', "1.1", "null"])
def test_wrong_version_is_an_error_at_the_value(tmp_path: Path, version: str) -> None:
    error = failure(tmp_path, f"targets:\n  - name: a\nversion: {version}\n")
    assert str(error) == "m.yaml:3:10: version must be 1"


@pytest.mark.parametrize("targets", ["targets: []\n", "targets:\n", "targets: hero\n", ""])
def test_targets_must_be_a_non_empty_list(tmp_path: Path, targets: str) -> None:
    error = failure(tmp_path, "version: 1\n" + targets)
    assert error.message == "targets must be a non-empty list"


def test_a_document_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    error = failure(tmp_path, "- name: a\n")
    assert "a manifest is a mapping" in str(error)


@pytest.mark.parametrize("key", ["vars", "defaults", "providers"])
def test_sections_must_be_mappings(tmp_path: Path, key: str) -> None:
    error = failure(tmp_path, f"version: 1\n{key}: [a]\ntargets:\n  - name: a\n")
    assert str(error) == f"m.yaml:2:{len(key) + 3}: {key} must be a mapping"


def test_empty_sections_are_allowed(tmp_path: Path) -> None:
    manifest = expand(tmp_path, "version: 1\nvars:\ndefaults:\nproviders:\ntargets:\n  - name: a\n")
    assert manifest.variables == {}
    assert manifest.providers == {}


@pytest.mark.parametrize("secret", ["key", "token", "apiKey", "api_key"])
def test_provider_settings_with_credentials_are_rejected(tmp_path: Path, secret: str) -> None:
    error = failure(
        tmp_path,
        "version: 1\nproviders:\n  runware:\n    url: http://localhost:1\n"
        f"    {secret}: abc\ntargets:\n  - name: a\n",
    )
    assert error.message.startswith(f"providers.runware.{secret}: ")
    assert "environment" in error.message
    assert error.location is not None
    assert error.location.line == 5


def test_provider_settings_without_credentials_are_kept(tmp_path: Path) -> None:
    manifest = expand(
        tmp_path,
        "version: 1\nproviders:\n  runware:\n    url: http://localhost:1\n    concurrency: 4\n"
        "    prices: {'imagineart:1@5': 0.02}\ntargets:\n  - name: a\n",
    )
    assert manifest.providers == {
        "runware": {
            "url": "http://localhost:1",
            "concurrency": 4,
            "prices": {"imagineart:1@5": 0.02},
        }
    }


def test_provider_settings_must_be_a_mapping(tmp_path: Path) -> None:
    error = failure(tmp_path, "version: 1\nproviders:\n  runware: fast\ntargets:\n  - name: a\n")
    assert str(error) == "m.yaml:3:12: provider settings for 'runware' must be a mapping"


def test_template_error_in_a_target_field_names_the_value_and_target(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        'version: 1\ntargets:\n  - name: hero\n    width: 512\n    prompt: "a {{ colour }} fox"\n',
    )
    assert error.target == "hero"
    assert str(error).startswith("m.yaml:5:13: target hero: undefined template variable")


def test_template_error_in_a_nested_value_is_located_at_that_value(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        "version: 1\ntargets:\n  - name: hero\n    outpaint:\n"
        '      top: 64\n      bottom: "{{ 1/0 }}"\n',
    )
    assert error.location == Location("m.yaml", 6, 15)
    assert error.target == "hero"
    assert "ZeroDivisionError" in error.message


def test_template_error_in_a_default_is_located_in_defaults(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        'version: 1\ndefaults:\n  output: "out/{{ nam }}.png"\ntargets:\n  - name: hero\n',
    )
    assert error.location == Location("m.yaml", 3, 11)
    assert error.target == "hero"


def test_template_error_in_the_name_is_located_at_the_name(tmp_path: Path) -> None:
    error = failure(tmp_path, 'version: 1\ntargets:\n  - name: "hero-{{ cty }}"\n')
    assert error.location == Location("m.yaml", 3, 11)
    assert error.target is None


def test_sandbox_violation_is_a_located_manifest_error(tmp_path: Path) -> None:
    error = failure(
        tmp_path, "version: 1\ntargets:\n  - name: a\n    prompt: \"{{ ''.__class__ }}\"\n"
    )
    assert error.location == Location("m.yaml", 4, 13)
    assert "sandbox" in error.message


@pytest.mark.parametrize(
    ("target", "message", "where"),
    [
        ("  - hero\n", "a target must be a mapping", (3, 5)),
        ("  - prompt: fox\n", "target has no name", (3, 5)),
        ("  - name: a\n    matrix: [1, 2]\n", "matrix must be a mapping of lists", (4, 13)),
    ],
)
def test_malformed_targets(
    tmp_path: Path, target: str, message: str, where: tuple[int, int]
) -> None:
    error = failure(tmp_path, "version: 1\ntargets:\n" + target)
    assert error.message == message
    assert error.location == Location("m.yaml", *where)


def test_matrix_error_is_located_at_the_offending_entry(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        'version: 1\ntargets:\n  - name: "a{{ x }}"\n    matrix:\n      x: [1]\n      y: []\n',
    )
    assert error.message == "matrix variable 'y' must be a non-empty list"
    assert error.location == Location("m.yaml", 6, 10)


def test_matrix_exclude_of_an_unknown_variable_is_located_in_the_exclude(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        'version: 1\ntargets:\n  - name: "a{{ x }}"\n    matrix:\n      x: [1]\n'
        "      exclude:\n        - x: 1\n        - colour: red\n",
    )
    assert error.message == "matrix exclude names unknown variable 'colour'"
    assert error.location is not None
    assert error.location.line == 8


def test_a_matrix_of_only_include_entries(tmp_path: Path) -> None:
    manifest = expand(
        tmp_path,
        'version: 1\ntargets:\n  - name: "a{{ x }}"\n    matrix:\n      include:\n'
        "        - x: 1\n        - x: 2\n",
    )
    assert [spec.name for spec in manifest.targets] == ["a1", "a2"]


def limited(tmp_path: Path, text: str, limits: Limits) -> Manifest:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_manifest(path, display="m.yaml", limits=limits)


SIX_AXES = (
    'version: 1\ntargets:\n  - name: "t-{{ p }}{{ q }}{{ r }}{{ s }}{{ t }}{{ u }}"\n    matrix:\n'
    + "".join(f"      {axis}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for axis in "pqrstu")
)


def test_a_matrix_over_the_target_limit_is_refused_before_it_expands(tmp_path: Path) -> None:
    error = failure(tmp_path, SIX_AXES)
    assert str(error) == (
        "m.yaml:4:5: this matrix brings the manifest to 1,000,000 targets, over the limit of"
        " 25,000 (IMAGEBUILD_MAX_TARGETS=N raises it)"
    )


def test_the_target_limit_counts_every_entry(tmp_path: Path) -> None:
    text = (
        'version: 1\ntargets:\n  - name: "a{{ x }}"\n    matrix: {x: [1, 2, 3]}\n'
        "  - name: b\n  - name: c\n"
    )
    assert len(limited(tmp_path, text, Limits(targets=5)).targets) == 5
    with pytest.raises(ManifestError) as caught:
        limited(tmp_path, text, Limits(targets=4))
    assert str(caught.value) == (
        "m.yaml:6:5: the manifest has more than 4 targets, over the limit of 4"
        " (IMAGEBUILD_MAX_TARGETS=N raises it)"
    )
    with pytest.raises(ManifestError, match="4:5: this matrix brings the manifest to 3 targets"):
        limited(tmp_path, text, Limits(targets=2))


def test_the_target_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        'version: 1\ntargets:\n  - name: "a{{ x }}{{ y }}"\n    matrix: {x: [1, 2, 3], y: [1, 2]}\n'
    )
    monkeypatch.setenv("IMAGEBUILD_MAX_TARGETS", "5")
    assert "IMAGEBUILD_MAX_TARGETS" in str(failure(tmp_path, text))
    monkeypatch.setenv("IMAGEBUILD_MAX_TARGETS", "6")
    assert len(expand(tmp_path, text).targets) == 6


def test_include_and_exclude_comparisons_are_steps(tmp_path: Path) -> None:
    text = (
        'version: 1\ntargets:\n  - name: "a{{ x }}{{ y }}"\n    matrix:\n'
        "      x: [1, 2, 3, 4]\n      y: [1, 2, 3, 4]\n      exclude: [{x: 1}, {y: 2}]\n"
    )
    assert len(limited(tmp_path, text, Limits(steps=32)).targets) == 9
    with pytest.raises(ManifestError, match="4:5: templates and matrices take too many steps"):
        limited(tmp_path, text, Limits(steps=31))


@pytest.mark.parametrize(
    ("key", "keyword"), [("exlude", "exclude"), ("excludes", "exclude"), ("inclde", "include")]
)
def test_a_misspelt_include_or_exclude_is_an_error_at_the_key(
    tmp_path: Path, key: str, keyword: str
) -> None:
    error = failure(
        tmp_path,
        'version: 1\ntargets:\n  - name: "a-{{ c }}"\n    matrix:\n      c: [x, y]\n'
        f"      {key}: [{{c: x}}]\n",
    )
    assert str(error) == (
        f"m.yaml:6:7: matrix key '{key}' is not a variable any template of this target uses"
        f" (did you mean '{keyword}'?); to keep a variable of that name, use it in a template,"
        f' such as the name: "...-{{{{ {key} }}}}"'
    )


def test_a_variable_named_like_a_keyword_is_kept_when_a_template_uses_it(tmp_path: Path) -> None:
    manifest = expand(
        tmp_path,
        'version: 1\ndefaults:\n  prompt: "tea with {{ includes }}"\ntargets:\n'
        '  - name: "a-{{ c }}"\n    matrix:\n      c: [x, y]\n      includes: [milk]\n',
    )
    assert [spec.fields["prompt"] for spec in manifest.targets] == ["tea with milk"] * 2


def test_prices_of_any_provider_are_checked_at_their_entry(tmp_path: Path) -> None:
    error = failure(
        tmp_path,
        "version: 1\nproviders:\n  local:\n    prices: {local: -1}\ntargets:\n  - name: a\n",
    )
    assert str(error) == (
        "m.yaml:4:21: providers.local.prices.local: -1 is not a price (USD per image, a number from 0)"
    )


def test_a_template_over_a_limit_is_located_at_its_value(tmp_path: Path) -> None:
    error = failure(
        tmp_path, "version: 1\ntargets:\n  - name: a\n    prompt: \"{{ 'a' * 10**9 }}\"\n"
    )
    assert error.location == Location("m.yaml", 4, 13)
    assert error.target == "a"
    assert "IMAGEBUILD_MAX_STRING=N raises it" in error.message
