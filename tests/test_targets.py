"""One rule for fields a model does not take, for every model: ``defaults``
reach only the targets whose model takes a field, a target's own field must be
its model's, and ``outputFormat`` is every model's (what the output is written
as). Provider-owned fields may repeat what imagebuild sends, nothing else."""

from __future__ import annotations

import pytest

from imagebuild.pipeline import open_session
from imagebuild.registry.models import builtin_registry
from tests.conftest import Project

# A valid request for each model the registry knows, and one generic Runware model.
MODELS = {
    "local": "model: local",
    "generic": 'model: "runware:101@1"',
    "ia15": 'model: "imagineart:1@5"',
    "ia15pro": 'model: "imagineart:1.5-pro@0"',
    "ia20": 'model: "imagineart:2.0@0", width: 2048, height: 2048',
    "comfy": "model: imagineart/imagineart-1.5-preview/text-to-image",
}


def test_every_registered_model_is_covered() -> None:
    registered = {info.model for info in builtin_registry().by_model.values()}
    written = {line.split("model: ")[1].split(",")[0].strip('"') for line in MODELS.values()}
    assert registered <= written


def manifest(defaults: str, extra: str = "") -> str:
    lines = [
        f"  - {{name: {name}, {fields}, prompt: a fox{extra}}}" for name, fields in MODELS.items()
    ]
    return "version: 1\n" + defaults + "targets:\n" + "\n".join(lines) + "\n"


def test_a_default_output_format_reaches_every_model(project: Project) -> None:
    project.write(manifest("defaults: {outputFormat: JPG}\n"))
    for target in open_session("imagebuild.yaml").targets:
        assert target.outputs == (f"out/{target.name}.jpg",), target.name
        assert target.request["outputFormat"] == "JPG"
    assert project.run("validate").code == 0


def test_a_targets_own_output_beats_the_default_format(project: Project) -> None:
    project.write(manifest("defaults: {outputFormat: JPG}\n", ", output: out/NAME.png"))
    text = project.manifest.read_text()
    for name in MODELS:
        text = text.replace("out/NAME.png", f"out/{name}.png", 1)
    project.write(text)
    for target in open_session("imagebuild.yaml").targets:
        assert target.output_format == "PNG", target.name
        assert target.request["outputFormat"] == "PNG"


def test_a_targets_own_format_must_match_its_output(project: Project) -> None:
    project.write(manifest("", ", outputFormat: WEBP, output: x.png"))
    result = project.run("validate")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == len(MODELS)
    assert all("output x.png does not match outputFormat WEBP" in line for line in lines)


def test_a_default_no_model_takes_is_a_typo(project: Project) -> None:
    project.write(manifest("defaults: {outputQualty: 90}\n"))
    result = project.run("validate")
    assert (result.code, result.err.strip()) == (
        1,
        "imagebuild.yaml:2:12: unknown field 'outputQualty' (did you mean 'outputQuality'?):"
        " no target's model takes it",
    )


def test_a_default_reaches_only_the_models_that_take_it(project: Project) -> None:
    # RunComfy's model has no outputQuality; the others take it.
    project.write(manifest("defaults: {outputQuality: 90}\n"))
    targets = {target.name: target for target in open_session("imagebuild.yaml").targets}
    assert "outputQuality" not in targets["comfy"].request
    assert targets["local"].request["outputQuality"] == 90
    assert project.run("validate").code == 0


def test_a_targets_own_field_its_model_lacks_is_refused(project: Project) -> None:
    project.write(
        "version: 1\ntargets:\n  - name: comfy\n"
        "    model: imagineart/imagineart-1.5-preview/text-to-image\n"
        "    prompt: a fox\n    outputQuality: 90\n"
    )
    result = project.run("validate")
    assert result.code == 1
    assert result.err.startswith("imagebuild.yaml:6:5: target comfy: unknown field 'outputQuality'")


@pytest.mark.parametrize("model", ["generic", "ia15", "ia15pro", "ia20"])
def test_include_cost_true_is_what_imagebuild_sends(project: Project, model: str) -> None:
    project.write(
        f"version: 1\ntargets:\n  - {{name: a, {MODELS[model]}, prompt: a fox, includeCost: true}}\n"
    )
    assert project.run("validate").code == 0
    (target,) = open_session("imagebuild.yaml").targets
    assert "includeCost" not in target.request


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("includeCost", "false", "which sends True: imagebuild always asks for the cost"),
        ("deliveryMethod", "sync", "which sends 'async': results are collected by polling"),
        ("taskUUID", "00000000-0000-4000-8000-000000000000", "imagebuild chooses and journals"),
    ],
)
def test_other_values_of_provider_owned_fields_are_refused_with_the_reason(
    project: Project, field: str, value: str, reason: str
) -> None:
    project.write(
        f"version: 1\ntargets:\n  - name: a\n    {MODELS['ia15']}\n    prompt: a fox\n"
        f"    {field}: {value}\n"
    )
    result = project.run("validate")
    assert result.code == 1
    assert f"target a: field '{field}' is set by imagebuild" in result.err
    assert reason in result.err


def test_a_model_id_one_edit_from_a_registered_one_is_a_typo(project: Project) -> None:
    project.write('version: 1\ntargets:\n  - {name: a, model: "imagineart:1@6", prompt: a fox}\n')
    result = project.run("validate")
    assert (result.code, result.err.strip()) == (
        1,
        "imagebuild.yaml:3:22: target a: unknown model 'imagineart:1@6' (did you mean"
        " 'imagineart:1@5'?); to use a Runware model of exactly that id, set provider: runware"
        " on the target",
    )
    project.write(
        'version: 1\ntargets:\n  - {name: a, model: "imagineart:1@6", provider: runware,'
        " prompt: a fox}\n"
    )
    assert project.run("validate").code == 0
