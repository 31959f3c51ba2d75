"""Every bad input is one located line and exit code 1, never a traceback,
and nothing already built is touched."""

from __future__ import annotations

import pytest

from tests.conftest import Project

CASES = {
    "yaml-syntax": (
        'version: 1\ntargets:\n  - name: a\n    prompt: "unclosed\n    width: 5\n',
        "imagebuild.yaml:4:13: YAML syntax error: found unexpected end of stream",
    ),
    "unknown-field": (
        "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hello\n    widht: 512\n",
        "imagebuild.yaml:6:5: target a: unknown field 'widht' (did you mean 'width'?)",
    ),
    "out-of-range": (
        "version: 1\ntargets:\n  - name: a\n    model: imagineart:1@5\n    prompt: hello\n"
        "    outputQuality: 100\n",
        "imagebuild.yaml:6:20: target a: outputQuality: 100 is out of range (maximum 99)",
    ),
    "size-pair": (
        "version: 1\ntargets:\n  - name: pro\n    model: imagineart:1.5-pro@0\n    prompt: hello\n"
        "    width: 1024\n    height: 1024\n",
        "imagebuild.yaml:6:12: target pro: size 1024x1024 is not allowed for imagineart:1.5-pro@0;"
        " allowed: 4096x4096,",
    ),
    "width-without-height": (
        "version: 1\ntargets:\n  - name: a\n    model: imagineart:1@5\n    prompt: hello\n"
        "    width: 2048\n",
        "imagebuild.yaml:6:12: target a: width and height go together",
    ),
    "undefined-variable": (
        'version: 1\ntargets:\n  - name: "a-{{ city }}"\n    matrix:\n      city: [x]\n'
        '    model: local\n    prompt: "hello {{ cty }}"\n',
        "imagebuild.yaml:7:13: target a-x: undefined template variable: 'cty' is undefined",
    ),
    "sandbox-violation": (
        "version: 1\ntargets:\n  - name: a\n    model: local\n"
        "    prompt: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"\n",
        "imagebuild.yaml:5:13: target a: template sandbox violation:",
    ),
    "duplicate-after-expansion": (
        'version: 1\ntargets:\n  - name: "a-{{ n }}"\n    matrix:\n      n: [1, 2]\n'
        "    model: local\n    prompt: hi\n  - name: a-2\n    model: local\n    prompt: hi\n",
        "imagebuild.yaml:8:11: target a-2: duplicate target name 'a-2' (also defined at line 3)",
    ),
    "output-escapes": (
        "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n"
        "    output: ../outside/a.png\n",
        "imagebuild.yaml:6:13: target a: output '../outside/a.png' escapes the manifest folder",
    ),
    "absolute-output": (
        "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n    output: /tmp/a.png\n",
        "imagebuild.yaml:6:13: target a: output '/tmp/a.png' escapes the manifest folder",
    ),
    "unknown-model": (
        "version: 1\ntargets:\n  - name: a\n    model: imagineart-1.5\n    prompt: hi\n",
        "imagebuild.yaml:4:12: target a: unknown model 'imagineart-1.5' (did you mean 'imagineart:1@5'?)",
    ),
    "unknown-provider": (
        "version: 1\ntargets:\n  - name: a\n    provider: runwear\n    prompt: hi\n",
        "imagebuild.yaml:4:15: target a: unknown provider 'runwear'; known: local, runware, runcomfy",
    ),
    "enum": (
        "version: 1\ntargets:\n  - name: a\n    model: imagineart:2.0@0\n    prompt: hello\n"
        "    width: 2048\n    height: 2048\n    resolution: 4K\n",
        "imagebuild.yaml:8:17: target a: resolution: '4K' is not allowed; allowed: 1K, 1.5K, 2K",
    ),
    "managed-field": (
        "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n"
        "    taskUUID: 00000000-0000-4000-8000-000000000000\n",
        "imagebuild.yaml:6:15: target a: field 'taskUUID' is set by imagebuild: imagebuild chooses and journals task ids",
    ),
    "key-in-manifest": (
        "version: 1\nproviders:\n  runware: {apiKey: secret}\ntargets:\n  - name: a\n    prompt: hi\n",
        "imagebuild.yaml:3:13: providers.runware.apiKey: keys come from the environment",
    ),
    "provider-setting-typo": (
        "version: 1\nproviders:\n  runware:\n    concurrency: 8\n    batchSise: 4\n"
        "targets:\n  - name: a\n    prompt: hi\n",
        "imagebuild.yaml:5:5: providers.runware.batchSise: unknown setting 'batchSise'"
        " (did you mean 'batchSize'?)",
    ),
    "provider-setting-value": (
        "version: 1\nproviders:\n  runcomfy: {pollFirst: soon}\ntargets:\n  - name: a\n"
        "    prompt: hi\n",
        "imagebuild.yaml:3:25: providers.runcomfy.pollFirst: 'soon' is not a positive float",
    ),
    "unknown-top-level": (
        "version: 1\ntargts: []\n",
        "imagebuild.yaml:2:1: unknown top-level key 'targts' (did you mean 'targets'?)",
    ),
    "bad-name": (
        'version: 1\ntargets:\n  - name: "hero {{ 1 }}"\n    prompt: hi\n',
        "imagebuild.yaml:3:11: invalid target name 'hero 1'",
    ),
    "matrix-not-list": (
        "version: 1\ntargets:\n  - name: a\n    matrix:\n      city: tokyo\n    prompt: hi\n",
        "imagebuild.yaml:5:13: matrix variable 'city' must be a non-empty list",
    ),
    "format-mismatch": (
        "version: 1\ntargets:\n  - name: a\n    prompt: hi\n    outputFormat: JPG\n    output: a.png\n",
        "imagebuild.yaml:6:13: target a: output a.png does not match outputFormat JPG",
    ),
    "missing-input": (
        "version: 1\ntargets:\n  - name: a\n    prompt: hi\n    seedImage: photos/none.png\n",
        "imagebuild.yaml:5:16: target a: input file not found: photos/none.png",
    ),
    "duplicate-key": (
        "version: 1\ntargets:\n  - name: a\n    prompt: hi\n    prompt: again\n",
        "imagebuild.yaml:5:5: duplicate key 'prompt'",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "plan", "build"])
def test_bad_input_is_one_located_line(project: Project, case: str, command: str) -> None:
    text, expected = CASES[case]
    project.write(text)
    result = project.run(command)
    assert result.code == 1
    assert result.err.startswith(expected), result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    assert not project.lock.exists()


def test_every_problem_of_a_manifest_is_reported(project: Project) -> None:
    project.write(
        "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n    widht: 5\n"
        "  - name: b\n    model: local\n    prompt: hi\n    numberResults: 99\n"
    )
    result = project.run("validate")
    assert result.code == 1
    assert result.err.splitlines() == [
        "imagebuild.yaml:6:5: target a: unknown field 'widht' (did you mean 'width'?)",
        "imagebuild.yaml:10:20: target b: numberResults: 99 is out of range (maximum 20)",
    ]


def test_a_bad_edit_leaves_built_outputs_and_lock_alone(project: Project) -> None:
    good = "version: 1\ntargets:\n  - name: a\n    model: local\n    prompt: hi\n    width: 32\n    height: 32\n"
    project.write(good)
    assert project.run("build").code == 0
    lock = project.lock.read_bytes()
    image = (project.root / "out/a.png").read_bytes()
    project.write(good.replace("width: 32", "width: 99999"))
    result = project.run("build")
    assert result.code == 1
    assert "width: 99999 is out of range (maximum 6592)" in result.err
    assert project.lock.read_bytes() == lock
    assert (project.root / "out/a.png").read_bytes() == image


def test_missing_manifest(project: Project) -> None:
    result = project.run("plan", "nowhere.yaml")
    assert (result.code, result.err.strip()) == (1, "nowhere.yaml:1:1: manifest not found")


def test_usage_error_exits_2_with_one_line(project: Project) -> None:
    result = project.run("build", "--jobs", "many")
    assert result.code == 2
    assert result.err.strip() == (
        "imagebuild build: argument -j/--jobs: invalid int value: 'many'"
        " (see imagebuild build --help)"
    )


def test_usage_error_under_json_is_a_json_document(project: Project) -> None:
    result = project.run("build", "--json", "--max-cost", "-1")
    assert result.code == 2
    problem = result.json()["error"]
    assert problem["kind"] == "UsageError"
    assert problem["exitCode"] == 2
    assert "is not an amount of USD (0 or more)" in problem["problems"][0]["message"]
